"""captum-interactions: sparse AND/OR interactions for PyTorch interpretability.

>>> import torch, captum_interactions as ci
>>> v = torch.tensor([0.0, 1.0, 2.0, 5.0])
>>> ci.and_transform(v).tolist()
[0.0, 1.0, 2.0, 2.0]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._transforms import (
    and_transform,
    inverse_and_transform,
    inverse_or_transform,
    or_transform,
    reconstruct,
)
from ._version import __version__
from .exceptions import (
    ConvergenceWarning,
    CostWarning,
    InteractionError,
    MissingDependencyError,
    ResultFormatError,
)
from .extraction import extract, extract_shared
from .first_order import banzhaf_values, shapley_values
from .result import ExtractionInfo, Interaction, InteractionResult, SharedExtraction
from .salience import merge_singletons, salient_masks

__all__ = [
    "AndOrInteractions",
    "ConvergenceWarning",
    "CostWarning",
    "ExtractionInfo",
    "HarsanyiInteractions",
    "Interaction",
    "InteractionError",
    "InteractionResult",
    "MissingDependencyError",
    "ResultFormatError",
    "SharedExtraction",
    "__version__",
    "and_transform",
    "banzhaf_values",
    "extract",
    "extract_shared",
    "inverse_and_transform",
    "inverse_or_transform",
    "merge_singletons",
    "or_transform",
    "reconstruct",
    "salient_masks",
    "shapley_values",
]

if TYPE_CHECKING:
    from .attribution import AndOrInteractions, HarsanyiInteractions

#: Names imported on first use: ``captum.attr`` (and, through it, matplotlib) is slow to
#: import and not needed by users who only run the transforms, extraction or graphs.
_LAZY = {"AndOrInteractions": "attribution", "HarsanyiInteractions": "attribution"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)

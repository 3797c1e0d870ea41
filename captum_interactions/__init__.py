"""captum-interactions: sparse AND/OR interactions for PyTorch interpretability.

>>> import torch, captum_interactions as ci
>>> v = torch.tensor([0.0, 1.0, 2.0, 5.0])
>>> ci.and_transform(v).tolist()
[0.0, 1.0, 2.0, 2.0]

Names load on first use: ``import captum_interactions`` itself imports neither torch nor
captum, so the command line starts at once.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .exceptions import (
    ConvergenceWarning,
    CostWarning,
    InteractionError,
    MissingDependencyError,
    OversubscriptionWarning,
    ResultFormatError,
)

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
    "OversubscriptionWarning",
    "ResultFormatError",
    "SharedExtraction",
    "__version__",
    "and_transform",
    "attribution_maps",
    "banzhaf_values",
    "extract",
    "extract_shared",
    "inverse_and_transform",
    "inverse_or_transform",
    "merge_singletons",
    "moebius_coefficients",
    "or_transform",
    "reconstruct",
    "salient_masks",
    "shapley_values",
]

if TYPE_CHECKING:
    from ._transforms import (
        and_transform,
        inverse_and_transform,
        inverse_or_transform,
        moebius_coefficients,
        or_transform,
        reconstruct,
    )
    from .attribution import AndOrInteractions, HarsanyiInteractions
    from .extraction import extract, extract_shared
    from .first_order import banzhaf_values, shapley_values
    from .result import (
        ExtractionInfo,
        Interaction,
        InteractionResult,
        SharedExtraction,
        attribution_maps,
    )
    from .salience import merge_singletons, salient_masks

#: Public names and the module that defines each, imported on first use.
_LAZY = {
    **dict.fromkeys(("and_transform", "inverse_and_transform", "inverse_or_transform",
                     "moebius_coefficients", "or_transform", "reconstruct"), "_transforms"),
    **dict.fromkeys(("AndOrInteractions", "HarsanyiInteractions"), "attribution"),
    **dict.fromkeys(("extract", "extract_shared"), "extraction"),
    **dict.fromkeys(("banzhaf_values", "shapley_values"), "first_order"),
    **dict.fromkeys(("ExtractionInfo", "Interaction", "InteractionResult", "SharedExtraction",
                     "attribution_maps"), "result"),
    **dict.fromkeys(("merge_singletons", "salient_masks"), "salience"),
}
#: Core submodules reachable as attributes (``captum_interactions.subsets``, ...); the
#: adapters, graphs and runs are imported by name (the core never imports them).
_SUBMODULES = ("attribution", "costs", "extraction", "first_order", "modes", "result",
               "salience", "subsets", "values")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*__all__, *_SUBMODULES})

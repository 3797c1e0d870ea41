"""The run application: resumable studies of models × prompts, their analysis and report.

A run computes one :class:`~captum_interactions.InteractionResult` per model and prompt
(:mod:`.execute`, :mod:`.compute`), keeps them in a run folder with a manifest, atomic
writes and resume (:mod:`.folder`, :mod:`.store`), compares the models (:mod:`.analysis`)
and writes a report (:mod:`.report`), in this process or on a Ray cluster
(:mod:`.ray_executor`), with torch threads matched to the cores (:mod:`.threads`).
:mod:`.reanalysis` redoes extraction and comparison from the saved values without the
models, :mod:`.screening` finds each model's next word before a run, and :mod:`.scoring`
measures each model's capability on the prompts (claim 2). :mod:`.specs` reads prompt files
and model specifications, :mod:`.options` the options, and :mod:`.cli` is the
``captum-interactions`` command line. This package sits on top of the others: it imports
the core, the adapters and the graphs; nothing imports it.

Example (it needs the pretrained models, so it is not run here)::

    from captum_interactions.runs import load_run, run

    summary = run(["smollm2-135m", "gemma-3-270m"], "prompts.jsonl", "out", n_players=8)
    data = load_run("out")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from captum_interactions._devices import check_device

    from .analysis import compare_models
    from .execute import InteractionRun, RunSummary, run
    from .folder import RunData, RunFolderError, load_run
    from .options import RunOptions
    from .ray_executor import RayExecutor
    from .reanalysis import reanalyse
    from .report import write_report
    from .scoring import Capability, capability
    from .screening import ScreenRow, screen
    from .specs import ModelSpec, ModelSpecError, PromptFileError, PromptSpec, read_prompts

__all__ = [
    "Capability",
    "InteractionRun",
    "ModelSpec",
    "ModelSpecError",
    "PromptFileError",
    "PromptSpec",
    "RayExecutor",
    "RunData",
    "RunFolderError",
    "RunOptions",
    "RunSummary",
    "ScreenRow",
    "capability",
    "check_device",
    "compare_models",
    "load_run",
    "read_prompts",
    "reanalyse",
    "run",
    "screen",
    "write_report",
]

#: Public names and the module that defines each, imported on first use (the command line
#: starts without loading torch, models or plots).
_LAZY = {
    "check_device": "captum_interactions._devices",
    "compare_models": ".analysis",
    **dict.fromkeys(("Capability", "capability"), ".scoring"),
    **dict.fromkeys(("InteractionRun", "RunSummary", "run"), ".execute"),
    **dict.fromkeys(("RunData", "RunFolderError", "load_run"), ".folder"),
    "RunOptions": ".options",
    "RayExecutor": ".ray_executor",
    "reanalyse": ".reanalysis",
    "write_report": ".report",
    **dict.fromkeys(("ScreenRow", "screen"), ".screening"),
    **dict.fromkeys(("ModelSpec", "ModelSpecError", "PromptFileError", "PromptSpec",
                     "read_prompts"), ".specs"),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)

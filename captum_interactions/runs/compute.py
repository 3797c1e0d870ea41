"""What every executor computes, in this process (:mod:`.execute`) or on a Ray cluster
(:mod:`.ray_executor`): one model's result on one prompt with a run's options, its learned
baseline, and shared extractions (:class:`SharedJob`, solved by a :data:`SharedSolver`).
The first two need a model's adapter, so they are shown in
:class:`~captum_interactions.runs.InteractionRun`'s tests rather than here.

>>> job = SharedJob([torch.tensor([0.0, 1.0, 1.0, 2.0]), torch.tensor([0.0, 1.0, 0.0, 1.0])],
...                 ["a", "b"])
>>> (solved,) = solve_here(False)([job], {})  # one job: one result per model
>>> [result.and_interactions.shape for result in solved]
[torch.Size([4]), torch.Size([4])]
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from captum_interactions.adapters import PlayerWarning
from captum_interactions.extraction import extract_shared
from captum_interactions.result import InteractionResult

from .options import RunOptions
from .specs import PromptSpec

__all__ = ["SharedJob", "SharedSolver", "compute", "learn_baseline", "solve_here"]


def learn_baseline(adapter, prompts: Sequence[PromptSpec], options: RunOptions, *,
                   show_progress: bool = False):
    """A baseline learned for the model of ``adapter`` on the run's prompts (Ren et al.)."""
    from captum_interactions.adapters.learned_baseline import train_baseline

    return train_baseline(
        adapter, [p.text for p in prompts], players=[p.players for p in prompts],
        targets=[p.target for p in prompts], n_players=options.n_players,
        seed=options.seed, show_progress=show_progress,
    )


def compute(adapter, baseline, prompt: PromptSpec, options: RunOptions, *,
            show_progress: bool = False, mode: str | None = None
            ) -> tuple[InteractionResult, list[str]]:
    """The result of one model (its adapter and baseline) on one prompt with the run's
    options, seeded, and what the player selection said (for the log: the report says it
    per prompt); ``mode`` overrides the options' (``"none"``: values, no extraction)."""
    from captum_interactions.adapters.llm import LLMInteractions

    torch.manual_seed(options.seed)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always", PlayerWarning)
        result = LLMInteractions(adapter).attribute(
            prompt.text,
            players=None if prompt.players is None else list(prompt.players),
            target=prompt.target,
            foil=prompt.foil,
            baseline=baseline,
            n_players=options.n_players,
            mode=options.mode if mode is None else mode,
            qcoef=options.qcoef,
            solver=options.solver,
            show_progress=show_progress,
        )
    notes = []
    for warning in said:
        if issubclass(warning.category, PlayerWarning):
            notes.append(str(warning.message))
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename,
                                   warning.lineno)
    return result, notes


@dataclass(frozen=True)
class SharedJob:
    """One shared extraction: the values of every model of a group on one prompt."""

    values: list[torch.Tensor]
    players: list[str]


#: Maps shared-extraction jobs and the options of ``extract_shared`` to one list of results
#: per job (per model of its group), in order; results may come one job at a time.
SharedSolver = Callable[[list[SharedJob], dict[str, Any]], Iterable[list[InteractionResult]]]


def solve_here(show_progress: bool) -> SharedSolver:
    """Shared extraction in this process, one job after the other."""
    def solve(jobs: list[SharedJob], options: dict[str, Any]):
        for job in jobs:
            yield extract_shared(job.values, players=job.players, show_progress=show_progress,
                                 **options)

    return solve

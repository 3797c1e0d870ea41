"""One model's result on one prompt with a run's options, and its learned baseline: what
every executor computes, in this process (:mod:`.execute`) or in a Ray actor
(:mod:`.ray_executor`). Both need a model's adapter, so they are shown in
:class:`~captum_interactions.runs.InteractionRun`'s tests rather than here.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch

from captum_interactions.adapters import PlayerWarning
from captum_interactions.result import InteractionResult

from .options import RunOptions
from .specs import PromptSpec

__all__ = ["compute", "learn_baseline"]


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

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

import dataclasses
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

__all__ = ["SharedFit", "SharedJob", "SharedSolver", "compute", "fit_shared", "learn_baseline",
           "solve_here"]


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


@dataclass(frozen=True)
class SharedFit:
    """One shared extraction of a run: ``models`` fitted jointly, each on the values of its
    independent result in ``originals``, saved under prompt id ``item``.

    Attributes:
        item (str): the prompt id the results are saved and returned under.
        models (list[str]): the model labels, in the order of ``originals``.
        originals (list[InteractionResult]): each model's independent result.
        players (list[str]): the players the results are labelled with.
        note (dict): metadata added to each result (``shared_with``, ``anchor``, ...).
    """

    item: str
    models: list[str]
    originals: list[InteractionResult]
    players: list[str]
    note: dict[str, Any]


def fit_shared(folder, kind: str, fits: Sequence[SharedFit], options: RunOptions,
               solve: SharedSolver) -> dict[tuple[str, str], InteractionResult]:
    """The results of ``fits`` by ``(model, item)``: reused from the run folder (a
    :class:`~captum_interactions.runs.folder.RunFolder`, under ``kind``) where valid for the
    run's shared options and the originals, else solved by ``solve`` (all at once) and saved
    as each arrives. A result keeps its original's target, baseline, value kind and
    metadata, with its validity key as ``run_key`` and the fit's ``note``."""
    out, todo = {}, []
    for fit in fits:
        key = {"options": options.shared_options(), "models": list(fit.models),
               "independent": [r.metadata.get("run_key") for r in fit.originals]}
        paths = {m: folder.result_path(kind, m, fit.item) for m in fit.models}
        loaded = {m: folder.load_valid(path, key) for m, path in paths.items()}
        if all(result is not None for result in loaded.values()):
            out.update({(m, fit.item): result for m, result in loaded.items()})
        else:
            todo.append((fit, key, paths))
    jobs = [SharedJob([r.values for r in fit.originals], list(fit.players))
            for fit, _, _ in todo]
    for (fit, key, paths), solved in zip(todo, solve(jobs, options.shared_extraction()),
                                         strict=True):
        for model, original, result in zip(fit.models, fit.originals, solved, strict=True):
            result = dataclasses.replace(
                result, target=original.target, target_text=original.target_text,
                baseline=original.baseline, value_kind=original.value_kind,
                metadata={**original.metadata, "run_key": key, **fit.note})
            folder.save_result(paths[model], result)
            out[model, fit.item] = result
    return out

"""Re-analysis of a run without its models: other extraction or comparison options, in
seconds, into a named folder inside the run.

Every result of a run keeps the model's values ``v(T)`` over all masks, so everything after
the forward passes can be redone from them: the sparse extraction (``mode``, ``qcoef``,
``solver``), shared extraction (``shared``, ``alpha``, ``shared_qcoef``, ``pcoef``) and the
comparison (``tau``, ``merge_singletons``). :func:`reanalyse` writes a complete run folder
(results, comparison files, report) to ``<run>/analyses/<name>/`` and never writes to the
run itself. Options that change the forward passes (``n_players``, ``baseline``, ``dtype``,
``seed``) need the models: run them again into a new folder.

Command line: ``captum-interactions reanalyse RUN NAME --qcoef 0.1 --tau 0.1``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch

from captum_interactions.exceptions import InteractionError
from captum_interactions.extraction import extract

from .execute import InteractionRun, RunSummary
from .folder import load_run
from .specs import SAFE_NAME, ModelSpec

__all__ = ["EXTRACTION_OPTIONS", "MODEL_OPTIONS", "reanalyse"]

logger = logging.getLogger(__name__)

#: Options that change the forward passes: a re-analysis cannot change them.
MODEL_OPTIONS = ("n_players", "baseline", "dtype", "seed", "screen")
#: Options that change the extraction of each result from its values.
EXTRACTION_OPTIONS = ("mode", "qcoef", "solver")


def reanalyse(
    run_dir: str | os.PathLike,
    name: str,
    *,
    show_progress: bool = False,
    report: bool = True,
    **changes: Any,
) -> RunSummary:
    """Redo the extraction and comparison of the run in ``run_dir`` with ``changes`` (options
    of :class:`~captum_interactions.runs.RunOptions`), into ``run_dir/analyses/name``.

    Results whose extraction options are unchanged are copied; the others are re-extracted
    from their saved values, all prompts of one model and size at once. A second call with
    the same name and options redoes only what is missing; with other options it is
    refused (name the new analysis apart).

    Returns:
        RunSummary of the analysis folder (``computed`` lists the re-extracted results).

    Raises:
        InteractionError: a change to an option that needs the models, an unknown option, a
            bad name, or a run folder without results.
    """
    if not isinstance(name, str) or not SAFE_NAME.match(name):
        raise InteractionError(
            f"an analysis name is made of letters, digits, '.', '_' and '-' (it names a "
            f"folder), got {name!r}"
        )
    needs_models = sorted(set(changes) & set(MODEL_OPTIONS))
    if needs_models:
        raise InteractionError(
            f"{', '.join(needs_models)} change(s) the models' forward passes, which a "
            "re-analysis does not redo; run the models again into a new folder "
            "(captum-interactions run ... -o NEW) with the new options"
        )
    source = load_run(run_dir)
    unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(source.options)})
    if unknown:
        raise InteractionError(f"unknown option(s) {unknown}; a re-analysis changes "
                               f"{', '.join(EXTRACTION_OPTIONS)} and the comparison options")
    if not source.results:
        raise InteractionError(f"{run_dir} holds no results to re-analyse yet; run it first")
    options = dataclasses.replace(source.options, **changes)
    job = InteractionRun([ModelSpec.recorded(label, spec) for label, spec in
                          source.models.items()], source.prompts,
                         Path(run_dir) / "analyses" / name, options=options)
    refit = any(getattr(options, key) != getattr(source.options, key)
                for key in EXTRACTION_OPTIONS)
    with job.folder.lock():
        session = job.folder.begin_session("none (re-analysis of saved values)", job.models,
                                           job.prompts)
        results = job.existing()
        summary = RunSummary(job.out_dir, reused=len(results))
        todo = defaultdict(list)  # (model, number of players) -> prompts
        for model in job.models:
            for prompt in job.prompts:
                found = source.results.get((model.label, prompt.id))
                if found is not None and (model.label, prompt.id) not in results:
                    todo[model, found.n_players].append(prompt)
        for (model, _), prompts in todo.items():
            originals = [source.results[model.label, p.id] for p in prompts]
            fresh = _extracted(originals, options, show_progress) if refit else originals
            for prompt, original, result in zip(prompts, originals, fresh, strict=True):
                result = dataclasses.replace(
                    result, players=list(original.players), target=original.target,
                    target_text=original.target_text,
                    baseline=original.baseline, value_kind=original.value_kind,
                    metadata={**original.metadata, "session": session,
                              "run_key": job.folder.item_key(model, prompt),
                              "reanalysis_of": str(Path(run_dir).resolve())})
                job.folder.save_result(
                    job.folder.result_path("independent", model.label, prompt.id), result)
                job.folder.record_item(model.label, prompt.id, {
                    "session": session, "seconds": 0.0, "target": result.target_text})
                results[model.label, prompt.id] = result
                summary.computed.append((model.label, prompt.id))
        job.folder.manifest["reanalysis_of"] = str(Path(run_dir).resolve())
        job.folder.save_manifest(job.models, job.prompts)
        logger.info("re-analysis %s: %d result(s) %s, %d reused", name,
                    len(summary.computed), "re-extracted" if refit else "copied",
                    summary.reused)
        return job.finish(results, summary, show_progress=show_progress, report=report)


def _extracted(originals, options, show_progress: bool):
    """The results re-extracted from their values with the options' extraction."""
    values = torch.stack([result.values for result in originals])
    return extract(values, mode=options.mode, qcoef=options.qcoef, solver=options.solver,
                   players=list(originals[0].players), show_progress=show_progress)

"""Running a study: models × prompts into a run folder, resumable, with a report.

For every model and prompt a run computes one :class:`InteractionResult` (the values of all
``2**n`` masks and the extracted AND and OR interactions) and saves it the moment it is done.
Across models it compares the results of every prompt on which two models predict the same
next word (the others are skipped and counted), optionally runs shared extraction within
each group of agreeing models, and writes graphs, overlap tables (:mod:`.analysis`), each
model's capability on the prompts (:mod:`.scoring`) and a report (:mod:`.report`).
Started again with the same options, a run reuses every valid result and computes only what
is missing (:mod:`.folder`).

>>> run(["gpt-17"], "prompts.txt", "out")
Traceback (most recent call last):
...
captum_interactions.runs.specs.ModelSpecError: unknown model 'gpt-17'; known models: ...
"""

from __future__ import annotations

import functools
import gc
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from captum_interactions._devices import check_device
from captum_interactions.adapters import select_players
from captum_interactions.exceptions import InteractionError, ResultFormatError
from captum_interactions.extraction import check_extraction
from captum_interactions.result import InteractionResult

from .compute import SharedFit, SharedSolver, compute, fit_shared, learn_baseline, solve_here
from .folder import RunFolder
from .options import EXECUTORS, RunOptions
from .scoring import ScoreStore, answer_of, write_capability
from .specs import ModelSpec, PromptFileError, PromptSpec, read_prompts
from .threads import other_load, plan_threads, torch_threads

if TYPE_CHECKING:
    from .ray_executor import RayExecutor
    from .screening import ScreenRow

__all__ = ["InteractionRun", "RunSummary", "run"]


logger = logging.getLogger(__name__)

Results = dict[tuple[str, str], InteractionResult]
#: Screens prompts: each model's next word on each (:mod:`.screening`), here or on a cluster.
Screener = Callable[[list[PromptSpec]], list["ScreenRow"]]


@dataclass
class RunSummary:
    """What one session of a run did.

    Attributes:
        out_dir (Path): the run folder.
        report (Path | None): the Markdown report, if written.
        computed (list[tuple[str, str]]): (model, prompt) pairs computed in this session.
        reused (int): results found valid on disk and not recomputed.
        compared (int): (model pair, prompt) combinations compared.
        skipped (int): (model pair, prompt) combinations not compared because the two models
            predict different next words.
        screened_out (list[str]): prompts skipped before any masked evaluation because the
            models predict different next words (``RunOptions.screen``).
        seconds (float): wall time of the session.
    """

    out_dir: Path
    report: Path | None = None
    computed: list[tuple[str, str]] = field(default_factory=list)
    reused: int = 0
    compared: int = 0
    skipped: int = 0
    screened_out: list[str] = field(default_factory=list)
    seconds: float = 0.0


class InteractionRun:
    """A models × prompts run in an output folder; checks everything on construction.

    Construction validates the models, prompts, options and output folder and loads no
    model, so every input error surfaces before the long work of :meth:`execute`.

    Args:
        models (sequence of str or ModelSpec): model specifications (see
            :class:`~captum_interactions.runs.specs.ModelSpec`).
        prompts (path or sequence of PromptSpec): a prompt file or parsed prompts (see
            :func:`~captum_interactions.runs.specs.parse_prompts`).
        out_dir (path): the run folder; created if missing, resumed if it holds this run.
        options (RunOptions, optional): run options.
    """

    def __init__(
        self,
        models: Sequence[str | ModelSpec],
        prompts: str | os.PathLike | Sequence[PromptSpec],
        out_dir: str | os.PathLike,
        *,
        options: RunOptions | None = None,
    ) -> None:
        self.options = options or RunOptions()
        if isinstance(models, str):
            models = [models]
        self.models = [m if isinstance(m, ModelSpec) else ModelSpec.parse(m) for m in models]
        if not self.models:
            raise InteractionError("a run needs at least one model")
        labels = [m.label for m in self.models]
        duplicates = sorted({label for label in labels if labels.count(label) > 1})
        if duplicates:
            raise InteractionError(
                f"model label(s) {duplicates} are used twice; name the models apart with "
                "'label=spec'"
            )
        if isinstance(prompts, (str, os.PathLike)):
            prompts = read_prompts(prompts)
        self.prompts = list(prompts)
        if not self.prompts:
            raise InteractionError("a run needs at least one prompt")
        for prompt in self.prompts:  # automatic players come from the text: check them now
            answer_of(prompt)  # and a capability answer, if given
            if prompt.players is None:
                try:
                    select_players(prompt.text, n_players=self.options.n_players)
                except InteractionError as error:
                    raise PromptFileError(f"{prompt.where or prompt.id}: {error}") from error
        if self.options.shared and len(self.models) > 1:
            check_extraction(self.options.n_players, models=len(self.models),
                             qcoef=self.options.shared_qcoef, solver=self.options.solver)
        self.folder = RunFolder(out_dir, self.options)
        self.out_dir = self.folder.path
        self.scores = ScoreStore(self.out_dir, self.options.dtype)
        self.skipped: list[PromptSpec] = []  # by screening (:meth:`screen_prompts`)

    @property
    def scored_prompts(self) -> list[PromptSpec]:
        """The prompts each model's capability is scored on: those computed and those
        screening skipped (where models disagree, their capability may differ most)."""
        return [*self.prompts, *self.skipped]

    def existing(self) -> Results:
        """Valid results already in the folder, by ``(model label, prompt id)``."""
        found = {}
        for model in self.models:
            for prompt in self.prompts:
                path = self.folder.result_path("independent", model.label, prompt.id)
                result = self.folder.load_valid(path, self.folder.item_key(model, prompt))
                if result is not None:
                    found[model.label, prompt.id] = result
        return found


    # ------------------------------------------------------------------------- the work
    def execute(
        self,
        *,
        device: torch.device | str | None = None,
        show_progress: bool = True,
        report: bool = True,
        executor: str | RayExecutor = "in-process",
        threads: int | None = None,
    ) -> RunSummary:
        """Compute what is missing, compare the models and write the report.

        Args:
            device (device or str, optional): where the models run (default: CUDA if
                available, else CPU).
            show_progress (bool): a progress bar for the run and one for each prompt.
            report (bool): write ``report.md`` and its figures.
            executor (str or RayExecutor): ``"in-process"`` (default: this process, one
                model at a time) or ``"ray"`` (a Ray cluster, see
                :class:`~captum_interactions.runs.ray_executor.RayExecutor`, which also
                takes its options); both write the same folder and results.
            threads (int, optional): torch threads per worker (default: as many as the
                cores left free by other processes, see :mod:`.threads`).
        """
        start = time.perf_counter()
        if executor == "ray" or not isinstance(executor, str):
            from .ray_executor import RayExecutor

            runner = RayExecutor() if executor == "ray" else executor
            if not isinstance(runner, RayExecutor):
                raise TypeError(f"executor must be one of {list(EXECUTORS)} or a RayExecutor, "
                                f"got {type(executor).__name__}")
            summary = runner.execute(self, device=device, show_progress=show_progress,
                                     report=report, threads=threads)
        elif executor == "in-process":
            device = check_device(device)
            plan = plan_threads(threads, load=other_load())
            with self.folder.lock(), torch_threads(plan):
                summary = self._execute(device, show_progress=show_progress, report=report)
        else:
            raise InteractionError(f"unknown executor {executor!r}; use one of "
                                   f"{list(EXECUTORS)}")
        summary.seconds = time.perf_counter() - start
        return summary

    def _execute(self, device: torch.device, *, show_progress: bool, report: bool
                 ) -> RunSummary:
        """:meth:`execute` in this process, with the folder held."""
        from tqdm.auto import tqdm

        from .screening import screen

        screener = functools.partial(screen, self.models, device=device,
                                     dtype=self.options.torch_dtype,
                                     show_progress=show_progress)
        session, results, summary = self.begin(str(device), screener)
        total = len(self.models) * len(self.prompts)
        with tqdm(total=total, initial=len(results), desc="run", unit="result",
                  disable=not show_progress) as bar:
            for model in self.models:
                todo = [p for p in self.prompts if (model.label, p.id) not in results]
                unscored = self.scores.missing(model, self.scored_prompts)
                if not todo and not unscored:
                    continue
                bar.set_postfix_str(f"loading {model.label}")
                adapter = model.load(device=device, dtype=self.options.torch_dtype)
                self.scores.measure(adapter, model, unscored)  # capability: a pass per word
                baseline = self._baseline(adapter, model, show_progress) if todo else None
                for prompt in todo:
                    bar.set_postfix_str(f"{model.label} / {prompt.id}")
                    begun = time.perf_counter()
                    result, notes = compute(adapter, baseline, prompt, self.options,
                                            show_progress=show_progress)
                    results[model.label, prompt.id] = self.keep(
                        model, prompt, result, session=session,
                        seconds=time.perf_counter() - begun, notes=notes)
                    summary.computed.append((model.label, prompt.id))
                    bar.update()
                del adapter, baseline
                gc.collect()
        return self.finish(results, summary, show_progress=show_progress, report=report)

    def begin(self, where: str, screener: Screener) -> tuple[int, Results, RunSummary]:
        """Start a session (with the folder held) computed ``where``: record it, screen the
        prompts with ``screener`` (:meth:`screen_prompts`), find the valid results; return
        the session's number, those results and the summary to fill."""
        session = self.folder.begin_session(where, self.models, self.prompts)
        screened_out = self.screen_prompts(screener)
        results = self.existing()
        logger.info("session %d: %d of %d results already in %s (%s)", session, len(results),
                    len(self.models) * len(self.prompts), self.out_dir, where)
        return session, results, RunSummary(self.out_dir, reused=len(results),
                                            screened_out=screened_out)

    def screen_prompts(self, screener: Screener) -> list[str]:
        """With two or more models and ``options.screen``: replace :attr:`prompts` by the
        prompts to compute (:func:`~captum_interactions.runs.screening.screen_run`;
        ``screener`` screens those not screened before), record the screening in the
        manifest and ``screened_out.csv``; return the ids of the prompts skipped."""
        if not self.options.screen or len(self.models) < 2:
            return []
        from .screening import screen_records, screen_run
        from .store import write_csv

        self.prompts, skipped = screen_run(self.folder, self.models, self.prompts, screener)
        self.skipped = [row.prompt for row in skipped]
        self.folder.save_manifest(self.models, self.prompts)
        write_csv(self.out_dir / "screened_out.csv", screen_records(skipped))
        if skipped:
            logger.info("skipped %d prompt(s) before any masked evaluation: the models predict "
                        "different words (screened_out.csv)", len(skipped))
        return [row.prompt.id for row in skipped]

    def finish(self, results: Results, summary: RunSummary, *, show_progress: bool = False,
               report: bool = True, solve_shared: SharedSolver | None = None) -> RunSummary:
        """Shared extraction (if asked) with its mismatched-pair control
        (:mod:`.joint_control`), the comparison files and the report, from every model's
        result on every prompt (with the folder held); fills ``summary``.

        ``solve_shared`` maps shared-extraction jobs to their results, those of the
        matched and of the mismatched pairs (default: one after the other in this process;
        the Ray executor runs them as tasks)."""
        by_extraction = {"independent": results}
        solve = solve_shared or solve_here(show_progress)
        shared = self._shared_results(results, solve) if self.options.shared else None
        labels, prompts = [m.label for m in self.models], [p.id for p in self.prompts]
        mismatched = {}
        if shared is not None:
            from .joint_control import fit_mismatched

            by_extraction["shared"] = shared
            mismatched = fit_mismatched(self.folder, self.options, labels, prompts, results,
                                        solve)
        from .analysis import analyse

        counts = analyse(self.out_dir, by_extraction, models=labels, prompts=prompts,
                         options=self.options, mismatched=mismatched)
        write_capability(self.out_dir, manifest=self.folder.manifest, options=self.options,
                         models=labels, prompts=prompts, matrix=counts.matrix)
        summary.compared, summary.skipped = counts.compared, counts.skipped
        if report:
            from .report import write_report

            summary.report = write_report(self.out_dir)
        return summary

    def _baseline(self, adapter, model: ModelSpec, show_progress: bool):
        """The baseline argument for ``model``: the option, or its learned baseline (trained
        and saved if the folder has none)."""
        if self.options.baseline != "learned":
            return self.options.baseline
        stored = self.stored_baseline(model)
        if stored is not None:
            return stored
        logger.info("training a baseline for %s on %d prompts", model.label, len(self.prompts))
        learned = learn_baseline(adapter, self.prompts, self.options,
                                 show_progress=show_progress)
        self.folder.save_result(self.folder.baseline_path(model.label), learned)
        return learned

    def stored_baseline(self, model: ModelSpec):
        """The learned baseline of ``model`` saved in the folder, or ``None`` (also when
        damaged: it is trained again)."""
        from captum_interactions.adapters.learned_baseline import LearnedBaseline

        path = self.folder.baseline_path(model.label)
        if path.exists():
            try:
                return LearnedBaseline.load(path)
            except ResultFormatError as error:
                logger.warning("retraining the baseline of %s: %s", model.label, error)
        return None

    def keep(self, model: ModelSpec, prompt: PromptSpec, result: InteractionResult, *,
             session: int, seconds: float, notes: Sequence[str] = (),
             where: str | None = None) -> InteractionResult:
        """Save a computed result with its run metadata, note it in the manifest (with
        ``where`` it was computed, if given) and log it (with the ``notes`` of
        :func:`compute`); return it."""
        for note in notes:
            logger.info("%s / %s: %s", model.label, prompt.id, note)
        result.metadata.update(
            model=model.label, prompt_id=prompt.id, meta=prompt.meta, session=session,
            seconds=seconds, run_key=self.folder.item_key(model, prompt),
        )
        self.folder.save_result(
            self.folder.result_path("independent", model.label, prompt.id), result)
        entry = {"session": session, "seconds": round(seconds, 3), "target": result.target_text}
        self.folder.record_item(model.label, prompt.id,
                                entry if where is None else {**entry, "where": where})
        self.folder.save_manifest(self.models, self.prompts)
        logger.info("%s / %s: %.1f s, explains %r%s", model.label, prompt.id, seconds,
                    result.target_text, "" if where is None else f" ({where})")
        return result

    # ------------------------------------------------------------------ shared extraction
    def _shared_results(self, results: Results, solve: SharedSolver) -> Results | None:
        """Shared extraction within every group of models that predict the same word on a
        prompt (saved as each finishes, reused when valid); a model that agrees with no
        other keeps its independent result. ``None`` when no two models agree on any
        prompt."""
        fits = []
        for prompt in self.prompts:
            groups: dict[Any, list[str]] = {}
            for model in self.models:
                key = results[model.label, prompt.id].target_key
                groups.setdefault(key, []).append(model.label)
            fits += [SharedFit(prompt.id, group, [results[m, prompt.id] for m in group],
                               results[group[0], prompt.id].players, {"shared_with": group})
                     for group in groups.values() if len(group) > 1]
        if not fits:
            return None
        return {**results, **fit_shared(self.folder, "shared", fits, self.options, solve)}


def run(
    models: Sequence[str | ModelSpec],
    prompts: str | os.PathLike | Sequence[PromptSpec],
    out_dir: str | os.PathLike,
    *,
    device: torch.device | str | None = None,
    show_progress: bool = True,
    report: bool = True,
    executor: str | RayExecutor = "in-process",
    ray_address: str | None = None,
    threads: int | None = None,
    **options: Any,
) -> RunSummary:
    """Run (or resume) models × prompts in ``out_dir``; keyword options go to :class:`RunOptions`.

    ``executor``, ``threads``: see :meth:`InteractionRun.execute`; ``ray_address`` (with
    ``executor="ray"``) names the Ray cluster to join (default: ``RAY_ADDRESS`` or a local one).

    Example (it needs the pretrained models, so it is not run here)::

        summary = run(["smollm2-135m", "gemma-3-270m"], "prompts.jsonl", "out", n_players=8)
        print(summary.report)
    """
    if ray_address is not None:
        if executor != "ray":
            raise InteractionError(
                f"ray_address={ray_address!r} is for executor='ray', got executor="
                f"{executor!r}; give executor='ray' (or RayExecutor(address=...) alone)")
        from .ray_executor import RayExecutor

        executor = RayExecutor(address=ray_address)
    return InteractionRun(models, prompts, out_dir, options=RunOptions(**options)).execute(
        device=device, show_progress=show_progress, report=report, executor=executor,
        threads=threads,
    )

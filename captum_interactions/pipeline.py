"""The resumable models × prompts pipeline behind ``captum-interactions run``.

For every model and prompt the pipeline computes one :class:`InteractionResult` (the values
of all ``2**n`` masks and the extracted AND and OR interactions) and saves it the moment it
is done. Across models it compares the results of every prompt on which two models predict
the same next word (the others are skipped and counted), optionally runs shared extraction
within each group of agreeing models, and writes GraphML graphs, overlap tables and a report.

A run folder holds::

    manifest.json                    options, models, prompts, sessions, finished items
    run.log                          what happened, session by session (command line)
    results/<model>/<prompt>.npz     one InteractionResult per model and prompt
    baselines/<model>.npz            learned baselines (with baseline="learned")
    shared/<model>/<prompt>.npz      shared-extraction results (with shared=True)
    graphs/<extraction>/<model>/<prompt>.graphml   AND-OR graphs
    comparison.json, overlap.csv     pairwise overlap per prompt, means and intervals
    report.md, figures/*.png         the report (see :mod:`captum_interactions.report`)

Every file is written atomically (temporary file, then :func:`os.replace`), so a run may be
killed at any moment. Started again with the same options, it reuses every valid result and
computes only what is missing; a result is valid when it loads and was made with the same
options, model, prompt, players and target.

>>> RunOptions(n_players=8).results_options()["n_players"]
8
"""

from __future__ import annotations

import csv
import dataclasses
import gc
import io
import json
import logging
import math
import os
import tempfile
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ._store import atomic_path, read_json, write_json, write_text
from ._version import __version__
from .exceptions import InteractionError, ResultFormatError
from .result import InteractionResult
from .specs import ModelSpec, PromptSpec, read_prompts

if TYPE_CHECKING:
    from captum_interactions.graphs.comparison import OverlapMatrix

__all__ = [
    "EXTRACTIONS",
    "InteractionRun",
    "RunData",
    "RunFolderError",
    "RunOptions",
    "RunSummary",
    "check_device",
    "compare_models",
    "load_run",
    "run",
]

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
FORMAT = "captum-interactions/run"
#: Extraction kinds of a run: per model, and joint over agreeing models.
EXTRACTIONS = ("independent", "shared")
_DTYPES = {
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float64": torch.float64,
}
_RESULT_OPTIONS = ("n_players", "baseline", "mode", "qcoef", "solver", "dtype", "seed")
_ANALYSIS_OPTIONS = ("shared", "alpha", "shared_qcoef", "pcoef", "tau", "merge_singletons")


class RunFolderError(InteractionError):
    """The output folder cannot hold this run (unwritable, foreign, or other options)."""


@dataclass(frozen=True)
class RunOptions:
    """Options of a run.

    Attributes:
        n_players (int): players per prompt when the prompt names none (default 10): the
            last content words (see :mod:`captum_interactions.adapters.text`).
        baseline (str): how absent words are replaced: ``"pad"`` (default), ``"unk"``,
            ``"bos"``, ``"eos"``, ``"zero"``, ``"mean"``, a vocabulary entry, or
            ``"learned"`` (a baseline trained per model on the run's prompts, Ren et al.).
        mode (str): extraction mode, ``"and_or"`` (default), ``"and"`` or ``"none"``.
        qcoef (float): noise bound coefficient of independent extraction (0.05).
        solver (str): extraction solver (``"auto"``).
        shared (bool): also run shared extraction within each group of models that predict
            the same word (it biases toward sharing; independent results are always made).
        alpha, shared_qcoef, pcoef (float): options of shared extraction (0.1, 0.02, 0.5).
        dtype (str): model dtype: ``"float32"``, ``"float16"``, ``"bfloat16"`` or ``"float64"``.
        seed (int): seed set before every model-prompt computation and for the statistics.
        tau (float): salience threshold of the graphs, comparisons and report (0.05).
        merge_singletons (bool): graphs, comparisons and report use the merged-singleton
            view (``OR{i}`` added into ``AND{i}``; the split of a single word's effect between
            the two fires on the same masks and is arbitrary, so comparing it across models
            would count noise). Default ``True``; the saved results are never merged.
    """

    n_players: int = 10
    baseline: str = "pad"
    mode: str = "and_or"
    qcoef: float = 0.05
    solver: str = "auto"
    shared: bool = False
    alpha: float = 0.1
    shared_qcoef: float = 0.02
    pcoef: float = 0.5
    dtype: str = "float32"
    seed: int = 0
    tau: float = 0.05
    merge_singletons: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.n_players, bool) or not isinstance(self.n_players, int):
            raise TypeError(f"n_players must be an int, got {self.n_players!r}")
        if not 1 <= self.n_players <= 20:
            raise InteractionError(
                f"n_players={self.n_players}: a run evaluates 2**n masks per prompt and model; "
                "use 1 <= n_players <= 20 (8-12 is typical)"
            )
        if self.dtype not in _DTYPES:
            raise InteractionError(f"dtype {self.dtype!r} is not one of {sorted(_DTYPES)}")
        for name in ("qcoef", "shared_qcoef", "pcoef"):
            if not getattr(self, name) >= 0:
                raise InteractionError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("alpha", "tau"):
            if not 0 <= getattr(self, name) <= 1:
                raise InteractionError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        from .extraction import check_solver

        check_solver(self.solver, joint=self.shared)  # before any model runs

    @property
    def torch_dtype(self) -> torch.dtype:
        """The model dtype as a ``torch.dtype``."""
        return _DTYPES[self.dtype]

    def results_options(self) -> dict[str, Any]:
        """Options that change the per-model results (they must match to resume a run)."""
        return {name: getattr(self, name) for name in _RESULT_OPTIONS}

    def analysis_options(self) -> dict[str, Any]:
        """Options of the cross-model analysis (free to change when resuming)."""
        return {name: getattr(self, name) for name in _ANALYSIS_OPTIONS}

    def salience(self) -> dict[str, Any]:
        """Keyword arguments that select salient interactions (``salient``, graphs, overlap)."""
        return {"tau": self.tau, "merge_singletons": self.merge_singletons}


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
        seconds (float): wall time of the session.
    """

    out_dir: Path
    report: Path | None = None
    computed: list[tuple[str, str]] = field(default_factory=list)
    reused: int = 0
    compared: int = 0
    skipped: int = 0
    seconds: float = 0.0


# ----------------------------------------------------------------------------- reading
@dataclass
class RunData:
    """Everything a run folder holds, loaded (see :func:`load_run`).

    Attributes:
        out_dir (Path): the run folder.
        options (RunOptions): the options of its last session.
        models (dict[str, str]): model label -> specification.
        prompts (list[PromptSpec]): the prompts.
        results (dict): ``(model, prompt id) -> InteractionResult``, independent extraction.
        shared (dict): the same for shared extraction (empty without it); a model that agrees
            with no other model on a prompt keeps its independent result there.
        manifest (dict): the raw manifest.
    """

    out_dir: Path
    options: RunOptions
    models: dict[str, str]
    prompts: list[PromptSpec]
    results: dict[tuple[str, str], InteractionResult]
    shared: dict[tuple[str, str], InteractionResult]
    manifest: dict[str, Any]

    def complete_prompts(self) -> list[PromptSpec]:
        """Prompts with a result for every model."""
        return [p for p in self.prompts if all((m, p.id) in self.results for m in self.models)]

    def table(self, extraction: str = "independent") -> dict[str, list[InteractionResult]]:
        """``{model: [result per complete prompt]}`` for :func:`compare_models`."""
        source = self.results if extraction == "independent" else self.shared
        prompts = self.complete_prompts()
        return {m: [source[m, p.id] for p in prompts] for m in self.models}

    def extractions(self) -> list[str]:
        """The extractions present: ``["independent"]`` or ``["independent", "shared"]``."""
        return list(EXTRACTIONS) if self.shared else ["independent"]


def _read_manifest(out_dir: Path) -> dict[str, Any]:
    path = out_dir / MANIFEST
    try:
        manifest = read_json(path)
    except FileNotFoundError as error:
        raise RunFolderError(
            f"{out_dir} holds no {MANIFEST}; it is not a captum-interactions run folder"
        ) from error
    except (OSError, ValueError) as error:
        raise RunFolderError(
            f"{path} is unreadable ({error}); move it away to start the run afresh (valid "
            "results in the folder are reused)"
        ) from error
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise RunFolderError(f"{path} is not a captum-interactions run manifest")
    return manifest


def _result_path(out_dir: Path, kind: str, model: str, prompt: str) -> Path:
    return out_dir / kind / model / f"{prompt}.npz"


def load_run(out_dir: str | os.PathLike) -> RunData:
    """Load the manifest and every readable result of a run folder.

    >>> load_run("no/such/folder")
    Traceback (most recent call last):
    ...
    captum_interactions.pipeline.RunFolderError: no/such/folder holds no manifest.json; ...
    """
    out_dir = Path(out_dir)
    manifest = _read_manifest(out_dir)
    options = RunOptions(**manifest["options"], **manifest.get("analysis", {}))
    prompts = [
        PromptSpec(p["id"], p["prompt"], None if p["players"] is None else tuple(
            tuple(w) if isinstance(w, list) else w for w in p["players"]),
            p["target"], p.get("meta", {}))
        for p in manifest.get("prompts", [])
    ]
    models = dict(manifest.get("models", {}))
    loaded: dict[str, dict[tuple[str, str], InteractionResult]] = {"results": {}, "shared": {}}
    for kind, found in loaded.items():
        for model in models:
            for prompt in prompts:
                path = _result_path(out_dir, kind, model, prompt.id)
                if path.exists():
                    try:
                        found[model, prompt.id] = InteractionResult.load(path)
                    except ResultFormatError as error:
                        logger.warning("skipping %s: %s", path, error)
    shared = loaded["shared"]
    if shared:
        shared = {key: shared.get(key, result) for key, result in loaded["results"].items()}
    return RunData(out_dir, options, models, prompts, loaded["results"], shared, manifest)


def compare_models(
    table: Mapping[str, Sequence[InteractionResult]],
    *,
    tau: float = 0.05,
    merge_singletons: bool = True,
    seed: int = 0,
) -> OverlapMatrix:
    """Pairwise overlap of models over prompts, skipping pairs that predict different words.

    :func:`captum_interactions.graphs.overlap_matrix` with bootstrap intervals over prompts
    and chance levels; the skipped pairs are counted in ``n_skipped_target`` (no warning).
    """
    from captum_interactions.graphs.comparison import overlap_matrix

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # callers report the skipped pairs
        return overlap_matrix(table, tau, merge_singletons=merge_singletons, match_target=True,
                              rng=seed)


# -------------------------------------------------------------------------------- a run
class InteractionRun:
    """A models × prompts run in an output folder; checks everything on construction.

    Construction validates the models, prompts, options and output folder and loads no
    model, so every input error surfaces before the long work of :meth:`execute`.

    Args:
        models (sequence of str or ModelSpec): model specifications (see
            :class:`~captum_interactions.specs.ModelSpec`).
        prompts (path or sequence of PromptSpec): a prompt file or parsed prompts.
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
        self.out_dir = Path(out_dir)
        self._manifest = self._open_folder()

    def _open_folder(self) -> dict[str, Any]:
        out = self.out_dir
        if out.exists() and not out.is_dir():
            raise RunFolderError(f"output folder {out} is a file; choose a folder path")
        try:
            out.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=out):
                pass
        except OSError as error:
            raise RunFolderError(
                f"output folder {out} is not writable ({error.strerror}); choose a folder you "
                "can write to"
            ) from error
        if not (out / MANIFEST).exists():
            if any(entry.name != "run.log" for entry in out.iterdir()):
                raise RunFolderError(
                    f"output folder {out} is not empty and holds no {MANIFEST}; it is not a "
                    "captum-interactions run. Choose a new or empty folder"
                )
            return {"format": FORMAT, "options": self.options.results_options(),
                    "sessions": [], "items": {}}
        manifest = _read_manifest(out)
        wanted = self.options.results_options()
        differ = {key: (manifest["options"].get(key), value) for key, value in wanted.items()
                  if manifest["options"].get(key) != value}
        if differ:
            changes = ", ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in differ.items())
            raise RunFolderError(
                f"output folder {out} holds a run with other options ({changes}); resume it "
                "with the same options or choose a new output folder"
            )
        return manifest

    def _item_key(self, model: ModelSpec, prompt: PromptSpec) -> dict[str, Any]:
        """What a result depends on, in its JSON form (as it reads back from a file)."""
        spec = prompt.to_dict()
        return json.loads(json.dumps({
            "options": self.options.results_options(),
            "model": model.source,
            "prompt": spec["prompt"],
            "players": spec["players"],
            "target": spec["target"],
        }))

    def _load_valid(self, path: Path, key: dict[str, Any]) -> InteractionResult | None:
        if not path.exists():
            return None
        try:
            result = InteractionResult.load(path)
        except ResultFormatError as error:
            logger.warning("recomputing %s: %s", path, error)
            return None
        if result.metadata.get("run_key") != key:
            logger.warning("recomputing %s: it was made with other options or inputs", path)
            return None
        return result

    def existing(self) -> dict[tuple[str, str], InteractionResult]:
        """Valid results already in the folder, by ``(model label, prompt id)``."""
        found = {}
        for model in self.models:
            for prompt in self.prompts:
                path = _result_path(self.out_dir, "results", model.label, prompt.id)
                result = self._load_valid(path, self._item_key(model, prompt))
                if result is not None:
                    found[model.label, prompt.id] = result
        return found

    def _save_manifest(self) -> None:
        self._manifest["models"] = {m.label: m.source for m in self.models}
        self._manifest["prompts"] = [p.to_dict() for p in self.prompts]
        self._manifest["analysis"] = self.options.analysis_options()
        write_json(self.out_dir / MANIFEST, self._manifest)

    # ------------------------------------------------------------------------- the work
    def execute(
        self,
        *,
        device: torch.device | str | None = None,
        show_progress: bool = True,
        report: bool = True,
    ) -> RunSummary:
        """Compute what is missing, compare the models and write the report.

        Args:
            device (device or str, optional): where the models run (default: CUDA if
                available, else CPU).
            show_progress (bool): a progress bar for the run and one for each prompt.
            report (bool): write ``report.md`` and its figures.
        """
        from tqdm.auto import tqdm

        start = time.perf_counter()
        device = check_device(device)
        session = len(self._manifest["sessions"]) + 1
        self._manifest["sessions"].append(
            {"session": session, "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
             "device": str(device), "version": __version__}
        )
        self._save_manifest()
        results = self.existing()
        summary = RunSummary(self.out_dir, reused=len(results))
        total = len(self.models) * len(self.prompts)
        logger.info("session %d: %d of %d results already in %s", session, len(results), total,
                    self.out_dir)
        with tqdm(total=total, initial=len(results), desc="run", unit="result",
                  disable=not show_progress) as bar:
            for model in self.models:
                todo = [p for p in self.prompts if (model.label, p.id) not in results]
                if not todo:
                    continue
                bar.set_postfix_str(f"loading {model.label}")
                adapter = model.load(device=device, dtype=self.options.torch_dtype)
                baseline = self._baseline(adapter, model, show_progress)
                for prompt in todo:
                    bar.set_postfix_str(f"{model.label} / {prompt.id}")
                    results[model.label, prompt.id] = self._compute(
                        adapter, baseline, model, prompt, session, show_progress
                    )
                    summary.computed.append((model.label, prompt.id))
                    bar.update()
                del adapter, baseline
                gc.collect()
        self._analyse(results, summary)
        if report:
            from .report import write_report

            summary.report = write_report(self.out_dir)
        summary.seconds = time.perf_counter() - start
        return summary

    def _baseline(self, adapter, model: ModelSpec, show_progress: bool):
        """The baseline argument for ``model``: the option, or its learned baseline."""
        if self.options.baseline != "learned":
            return self.options.baseline
        from captum_interactions.adapters.learned_baseline import LearnedBaseline, train_baseline

        path = self.out_dir / "baselines" / f"{model.label}.npz"
        if path.exists():
            try:
                return LearnedBaseline.load(path)
            except ResultFormatError as error:
                logger.warning("retraining the baseline of %s: %s", model.label, error)
        logger.info("training a baseline for %s on %d prompts", model.label, len(self.prompts))
        learned = train_baseline(
            adapter, [p.text for p in self.prompts], players=[p.players for p in self.prompts],
            targets=[p.target for p in self.prompts], n_players=self.options.n_players,
            seed=self.options.seed, show_progress=show_progress,
        )
        with atomic_path(path) as tmp:
            learned.save(tmp)
        return learned

    def _compute(self, adapter, baseline, model, prompt, session, show_progress):
        from captum_interactions.adapters.llm import LLMInteractions

        torch.manual_seed(self.options.seed)
        begun = time.perf_counter()
        result = LLMInteractions(adapter).attribute(
            prompt.text,
            players=None if prompt.players is None else list(prompt.players),
            target=prompt.target,
            baseline=baseline,
            n_players=self.options.n_players,
            mode=self.options.mode,
            qcoef=self.options.qcoef,
            solver=self.options.solver,
            show_progress=show_progress,
        )
        seconds = time.perf_counter() - begun
        result.metadata.update(
            model=model.label, prompt_id=prompt.id, meta=prompt.meta, session=session,
            seconds=seconds, run_key=self._item_key(model, prompt),
        )
        path = _result_path(self.out_dir, "results", model.label, prompt.id)
        with atomic_path(path) as tmp:
            result.save(tmp)
        self._manifest["items"][f"{model.label}/{prompt.id}"] = {
            "session": session, "seconds": round(seconds, 3), "target": result.target_text,
        }
        self._save_manifest()
        logger.info("%s / %s: %.1f s, explains %r", model.label, prompt.id, seconds,
                    result.target_text)
        return result

    # ----------------------------------------------------------------------- analysis
    def _shared(self, prompt: PromptSpec, group: list[str], results) -> dict[str, Any]:
        """Shared extraction over the models of ``group`` on ``prompt`` (saved, resumable)."""
        from .extraction import extract_shared

        key = {
            "options": {k: getattr(self.options, k)
                        for k in ("alpha", "shared_qcoef", "pcoef", "solver")},
            "models": group,
            "independent": [results[m, prompt.id].metadata["run_key"] for m in group],
        }
        paths = {m: _result_path(self.out_dir, "shared", m, prompt.id) for m in group}
        loaded = {m: self._load_valid(path, key) for m, path in paths.items()}
        if all(result is not None for result in loaded.values()):
            return loaded
        shared = extract_shared(
            [results[m, prompt.id].values for m in group], alpha=self.options.alpha,
            qcoef=self.options.shared_qcoef, pcoef=self.options.pcoef,
            solver=self.options.solver, players=results[group[0], prompt.id].players,
        )
        out = {}
        for m, result in zip(group, shared, strict=True):
            independent = results[m, prompt.id]
            result = dataclasses.replace(
                result,
                target=independent.target,
                target_text=independent.target_text,
                baseline=independent.baseline,
                value_kind=independent.value_kind,
                metadata={**independent.metadata, "run_key": key, "shared_with": group},
            )
            with atomic_path(paths[m]) as tmp:
                result.save(tmp)
            out[m] = result
        return out

    def _shared_results(self, results) -> dict[tuple[str, str], InteractionResult] | None:
        """Shared extraction within every group of models that predict the same word on a
        prompt; a model that agrees with no other keeps its independent result. ``None`` when
        no two models agree on any prompt."""
        out, any_group = dict(results), False
        for prompt in self.prompts:
            groups: dict[str, list[str]] = {}
            for model in self.models:
                groups.setdefault(_target_word(results[model.label, prompt.id]), []).append(
                    model.label)
            for group in groups.values():
                if len(group) > 1:
                    any_group = True
                    out.update({(m, prompt.id): r
                                for m, r in self._shared(prompt, group, results).items()})
        return out if any_group else None

    def _analyse(self, results, summary: RunSummary) -> None:
        """Graphs of every result, shared extraction and the cross-model overlap tables."""
        from captum_interactions.graphs.build import and_or_graph
        from captum_interactions.graphs.io import write_graph

        labels = [m.label for m in self.models]
        by_extraction = {"independent": results}
        shared = self._shared_results(results) if self.options.shared else None
        if shared is not None:
            by_extraction["shared"] = shared
        for name, found in by_extraction.items():
            for (model, prompt), result in found.items():
                path = self.out_dir / "graphs" / name / model / f"{prompt}.graphml"
                with atomic_path(path) as tmp:
                    write_graph(and_or_graph(result, **self.options.salience()), tmp)
        comparison: dict[str, Any] = {
            **self.options.salience(),
            "models": labels,
            "prompts": [p.id for p in self.prompts],
            "explained": {p.id: {m: results[m, p.id].target_text for m in labels}
                          for p in self.prompts},
            "extractions": {},
        }
        rows = []
        if len(labels) > 1:
            for name, found in by_extraction.items():
                table = {m: [found[m, p.id] for p in self.prompts] for m in labels}
                matrix = compare_models(table, **self.options.salience(), seed=self.options.seed)
                comparison["extractions"][name] = _matrix_json(matrix, comparison["prompts"])
                rows += [{"extraction": name, **row} for row in matrix.to_records()]
                if name == "independent":
                    summary.skipped = int(matrix.n_skipped_target.triu(1).sum())
                    summary.compared = int(matrix.n_samples.triu(1).sum())
                    logger.info(
                        "compared %d (model pair, prompt) combinations; skipped %d where the "
                        "two models predict different next words", summary.compared,
                        summary.skipped,
                    )
        write_json(self.out_dir / "comparison.json", comparison)
        write_text(self.out_dir / "overlap.csv", _csv(rows))


def check_device(device: torch.device | str | None) -> torch.device:
    """The device to run on (default: CUDA if available); an error if it cannot be used.

    >>> check_device("cpu")
    device(type='cpu')
    """
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except RuntimeError as error:
        raise InteractionError(
            f"unknown device {device!r} ({error}); use e.g. 'cpu', 'cuda' or 'cuda:1'"
        ) from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InteractionError(
            f"device {str(device)!r} was asked for but CUDA is not available on this machine "
            "(torch.cuda.is_available() is False); use --device cpu or install a CUDA build "
            "of PyTorch"
        )
    if device.type == "cuda" and device.index is not None and (
        device.index >= torch.cuda.device_count()
    ):
        raise InteractionError(
            f"device {str(device)!r} does not exist: this machine has "
            f"{torch.cuda.device_count()} CUDA device(s)"
        )
    return device


def _target_word(result: InteractionResult) -> str:
    """The explained next word as :func:`~captum_interactions.graphs.overlap_matrix` matches
    it (its text, stripped), so shared groups and compared pairs agree."""
    if result.target_text is not None:
        return result.target_text.strip()
    return f"token id {result.target}"


def _finite(value: Any) -> Any:
    """Nested lists with NaN and infinities as ``None`` (strict JSON)."""
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value if isinstance(value, (int, str)) or math.isfinite(value) else None


def _matrix_json(matrix: OverlapMatrix, prompts: list[str]) -> dict[str, Any]:
    """An overlap matrix as strict JSON: means, intervals, per-prompt values of every pair."""
    names = matrix.names
    per_prompt = {
        f"{names[i]} vs {names[j]}": {
            metric: dict(zip(prompts, _finite(values[:, i, j].tolist()), strict=True))
            for metric, values in matrix.per_sample.items()
        }
        for i, j in combinations(range(len(names)), 2)
    }
    return {
        "mean": {k: _finite(v.tolist()) for k, v in matrix.mean.items()},
        "ci_low": {k: _finite(v.tolist()) for k, v in matrix.ci_low.items()},
        "ci_high": {k: _finite(v.tolist()) for k, v in matrix.ci_high.items()},
        "order": {k: _finite(v.tolist()) for k, v in matrix.order.items()},
        "n_samples": matrix.n_samples.tolist(),
        "n_skipped_target": matrix.n_skipped_target.tolist(),
        "per_prompt": per_prompt,
        "settings": matrix.settings,
    }


def _csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return buffer.getvalue()


def run(
    models: Sequence[str | ModelSpec],
    prompts: str | os.PathLike | Sequence[PromptSpec],
    out_dir: str | os.PathLike,
    *,
    device: torch.device | str | None = None,
    show_progress: bool = True,
    report: bool = True,
    **options: Any,
) -> RunSummary:
    """Run (or resume) models × prompts in ``out_dir``; keyword options go to :class:`RunOptions`.

    Example (it needs the pretrained models, so it is not run here)::

        summary = run(["smollm2-135m", "gemma-3-270m"], "prompts.jsonl", "out", n_players=8)
        print(summary.report)
    """
    return InteractionRun(models, prompts, out_dir, options=RunOptions(**options)).execute(
        device=device, show_progress=show_progress, report=report
    )

"""The resumable models × prompts pipeline behind ``captum-interactions run``.

For every model and prompt the pipeline computes one :class:`InteractionResult` (values of all
``2**n`` masks plus the extracted AND and OR interactions) and saves it, with its AND-OR graph
as GraphML, the moment it is done. Across models it compares the results of every prompt on
which the models predict the same next word (the others are skipped and counted), optionally
runs shared extraction, and writes the overlap tables and a report.

A run folder holds::

    manifest.json                    options, models, prompts, sessions, finished items
    results/<model>/<prompt>.npz     one InteractionResult per model and prompt
    graphs/<model>/<prompt>.graphml  its AND-OR graph
    shared/<model>/<prompt>.npz      shared-extraction results (with shared=True)
    comparison.json, overlap.csv     cross-model overlap per prompt and on average
    report.md, figures/*.png         the report (see :mod:`captum_interactions.report`)

Every file is written atomically, so a run can be killed at any moment: started again with
the same options it reuses every valid result and computes only what is missing. A result is
valid when it loads and was made with the same options, model, prompt and players.

>>> RunOptions(n_players=8).results_options()["n_players"]
8
"""

from __future__ import annotations

import csv
import dataclasses
import gc
import inspect
import io
import logging
import math
import os
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import torch

from ._store import atomic_path, read_json, write_json, write_text
from ._version import __version__
from .exceptions import InteractionError, ResultFormatError
from .result import InteractionResult
from .specs import ModelSpec, PromptSpec, read_prompts

__all__ = ["InteractionRun", "RunFolderError", "RunOptions", "RunSummary", "run"]

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
FORMAT = "captum-interactions/run"
_DTYPES = {
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float64": torch.float64,
}


class RunFolderError(InteractionError):
    """The output folder cannot hold this run (unwritable, foreign, or other options)."""


@dataclass(frozen=True)
class RunOptions:
    """Options of a run.

    Attributes:
        n_players (int): players per prompt when the prompt names none (default 10).
        baseline (str): how absent words are replaced (``"pad"``, ``"unk"``, ``"zero"``,
            ``"mean"``, ...; see :class:`~captum_interactions.adapters.LLMInteractions`).
        mode (str): extraction mode, ``"and_or"`` (default), ``"and"`` or ``"none"``.
        qcoef (float): noise bound coefficient of independent extraction (0.05).
        solver (str): extraction solver (``"auto"``).
        shared (bool): also run shared extraction across the models that agree on a prompt.
        alpha, shared_qcoef, pcoef (float): options of shared extraction (0.1, 0.02, 0.5).
        dtype (str): model dtype: ``"float32"``, ``"float16"``, ``"bfloat16"`` or ``"float64"``.
        seed (int): seed set before every model-prompt computation.
        tau (float): salience threshold of the comparisons and the report (0.05).
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
        if not 0 <= self.alpha <= 1:
            raise InteractionError(f"alpha must be in [0, 1], got {self.alpha}")
        if not 0 <= self.tau <= 1:
            raise InteractionError(f"tau must be in [0, 1], got {self.tau}")

    @property
    def torch_dtype(self) -> torch.dtype:
        """The model dtype as a ``torch.dtype``."""
        return _DTYPES[self.dtype]

    def results_options(self) -> dict[str, Any]:
        """Options that change the per-model results (they must match to resume a run)."""
        return {
            name: getattr(self, name)
            for name in ("n_players", "baseline", "mode", "qcoef", "solver", "dtype", "seed")
        }

    def shared_options(self) -> dict[str, Any]:
        """Options that change the shared-extraction results."""
        return {"alpha": self.alpha, "qcoef": self.shared_qcoef, "pcoef": self.pcoef,
                "solver": self.solver}


@dataclass
class RunSummary:
    """What a run did.

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


def _supports(function: Any, name: str) -> bool:
    parameters = inspect.signature(function).parameters
    return name in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )


class InteractionRun:
    """A models × prompts run in an output folder; checks everything on construction.

    Construction validates the models, prompts, options and output folder and loads nothing,
    so every input error surfaces before the long work of :meth:`execute`.

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

    # ---------------------------------------------------------------------- the folder
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
        path = out / MANIFEST
        if not path.exists():
            if any(entry.name != "run.log" for entry in out.iterdir()):
                raise RunFolderError(
                    f"output folder {out} is not empty and holds no {MANIFEST}; it is not a "
                    "captum-interactions run. Choose a new or empty folder"
                )
            return {
                "format": FORMAT,
                "version": __version__,
                "options": self.options.results_options(),
                "sessions": [],
                "items": {},
            }
        try:
            manifest = read_json(path)
        except (OSError, ValueError) as error:
            raise RunFolderError(
                f"{path} is unreadable ({error}); move it away to start the run afresh "
                "(valid results in the folder are reused)"
            ) from error
        if manifest.get("format") != FORMAT:
            raise RunFolderError(f"{path} is not a captum-interactions run manifest")
        wanted = self.options.results_options()
        differ = {
            key: (manifest["options"].get(key), value)
            for key, value in wanted.items()
            if manifest["options"].get(key) != value
        }
        if differ:
            changes = ", ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in differ.items())
            raise RunFolderError(
                f"output folder {out} holds a run with other options ({changes}); resume it "
                "with the same options or choose a new output folder"
            )
        return manifest

    def _result_path(self, kind: str, model: str, prompt: str, suffix: str = ".npz") -> Path:
        return self.out_dir / kind / model / f"{prompt}{suffix}"

    def _item_key(self, model: ModelSpec, prompt: PromptSpec) -> dict[str, Any]:
        return {
            "options": self.options.results_options(),
            "model": model.source,
            "prompt": prompt.text,
            "players": None if prompt.players is None else list(prompt.players),
            "target": prompt.target,
        }

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
        fixed: dict[str, list[str]] = {}
        for model in self.models:
            for prompt in self.prompts:
                path = self._result_path("results", model.label, prompt.id)
                result = self._load_valid(path, self._item_key(model, prompt))
                if result is None:
                    continue
                players = fixed.setdefault(prompt.id, result.players)
                if result.players != players:
                    logger.warning("recomputing %s: its players differ from the run's", path)
                    continue
                found[model.label, prompt.id] = result
        return found

    def _save_manifest(self) -> None:
        self._manifest["models"] = {m.label: m.source for m in self.models}
        self._manifest["prompts"] = [p.to_dict() for p in self.prompts]
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
            show_progress (bool): progress bars for the run and for each prompt.
            report (bool): write ``report.md`` and its figures.
        """
        from tqdm.auto import tqdm

        start = time.perf_counter()
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        session = len(self._manifest["sessions"]) + 1
        self._manifest["sessions"].append(
            {"session": session, "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
             "device": str(device), "version": __version__}
        )
        self._save_manifest()
        results = self.existing()
        summary = RunSummary(self.out_dir, reused=len(results))
        total = len(self.models) * len(self.prompts)
        logger.info("%d of %d results already computed in %s", len(results), total, self.out_dir)
        with tqdm(total=total, initial=len(results), desc="run", unit="result",
                  disable=not show_progress) as bar:
            for model in self.models:
                todo = [p for p in self.prompts if (model.label, p.id) not in results]
                if not todo:
                    continue
                bar.set_postfix_str(f"loading {model.label}")
                adapter = model.load(device=device, dtype=self.options.torch_dtype)
                for prompt in todo:
                    bar.set_postfix_str(f"{model.label} / {prompt.id}")
                    results[model.label, prompt.id] = self._compute(
                        adapter, model, prompt, results, session, show_progress
                    )
                    summary.computed.append((model.label, prompt.id))
                    bar.update()
                del adapter
                gc.collect()
        self._compare(results, summary)
        if report:
            from .report import write_report

            summary.report = write_report(self.out_dir)
        summary.seconds = time.perf_counter() - start
        return summary

    def _compute(self, adapter, model, prompt, results, session, show_progress):
        from captum_interactions.adapters import LLMInteractions

        players = next(
            (r.players for (_, pid), r in results.items() if pid == prompt.id), prompt.players
        )
        explainer = LLMInteractions(adapter)
        kwargs = {}
        if _supports(explainer.attribute, "show_progress"):
            kwargs["show_progress"] = show_progress
        torch.manual_seed(self.options.seed)
        begun = time.perf_counter()
        result = explainer.attribute(
            prompt.text,
            players=None if players is None else list(players),
            target=prompt.target,
            baseline=self.options.baseline,
            n_players=self.options.n_players,
            mode=self.options.mode,
            qcoef=self.options.qcoef,
            solver=self.options.solver,
            **kwargs,
        )
        seconds = time.perf_counter() - begun
        result.metadata.update(
            model=model.label, prompt_id=prompt.id, prompt=prompt.text, meta=prompt.meta,
            run_key=self._item_key(model, prompt), session=session, seconds=seconds,
        )
        path = self._result_path("results", model.label, prompt.id)
        with atomic_path(path) as tmp:
            result.save(tmp)
        self._write_graph(result, self._result_path("graphs", model.label, prompt.id, ".graphml"))
        self._manifest["items"][f"{model.label}/{prompt.id}"] = {
            "result": str(path.relative_to(self.out_dir)),
            "session": session,
            "seconds": round(seconds, 3),
            "target": result.target_text,
        }
        self._save_manifest()
        logger.info("%s / %s: %.1f s, predicts %r", model.label, prompt.id, seconds,
                    result.target_text)
        return result

    def _write_graph(self, result: InteractionResult, path: Path) -> None:
        from captum_interactions.graphs import and_or_graph, write_graphml

        graph = and_or_graph(result, tau=self.options.tau)
        with atomic_path(path) as tmp:
            write_graphml(graph, tmp)

    # ---------------------------------------------------------------------- comparisons
    def _shared(self, prompt: PromptSpec, group: list[str], results) -> dict[str, Any]:
        """Shared extraction over the models of ``group`` on ``prompt`` (saved, resumable)."""
        from .extraction import extract_shared

        key = {
            "options": self.options.shared_options(),
            "models": group,
            "independent": [results[m, prompt.id].metadata["run_key"] for m in group],
        }
        paths = {m: self._result_path("shared", m, prompt.id) for m in group}
        loaded = {m: self._load_valid(path, key) for m, path in paths.items()}
        if all(result is not None for result in loaded.values()):
            return loaded
        shared = extract_shared(
            [results[m, prompt.id].values for m in group], alpha=self.options.alpha,
            qcoef=self.options.shared_qcoef, pcoef=self.options.pcoef,
            solver=self.options.solver,
        )
        out = {}
        for m, result in zip(group, shared, strict=True):
            independent = results[m, prompt.id]
            result = dataclasses.replace(
                result,
                players=independent.players,
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

    def _shared_results(self, results) -> dict[tuple[str, str], InteractionResult]:
        """Per prompt, shared extraction within every group of models that predict the same
        word; a model that agrees with no other keeps its independent result."""
        out = dict(results)
        for prompt in self.prompts:
            groups: dict[str, list[str]] = {}
            for model in self.models:
                word = _target_word(results[model.label, prompt.id])
                groups.setdefault(word, []).append(model.label)
            for group in groups.values():
                if len(group) > 1:
                    shared = self._shared(prompt, group, results)
                    out.update({(m, prompt.id): r for m, r in shared.items()})
        return out

    def _compare(self, results, summary: RunSummary) -> None:
        """Overlap of every model pair on the prompts where both predict the same word."""
        from captum_interactions.graphs import overlap_matrix

        labels = [m.label for m in self.models]
        extractions = {"independent": results}
        if self.options.shared and len(labels) > 1:
            extractions["shared"] = self._shared_results(results)
        comparison: dict[str, Any] = {
            "tau": self.options.tau,
            "models": labels,
            "prompts": [p.id for p in self.prompts],
            "predicted": {
                p.id: {m: results[m, p.id].target_text for m in labels} for p in self.prompts
            },
            "extractions": {},
        }
        rows = []
        if len(labels) > 1:
            for name, by_item in extractions.items():
                table = {m: [by_item[m, p.id] for p in self.prompts] for m in labels}
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)  # skips are logged below
                    matrix = overlap_matrix(table, tau=self.options.tau, rng=self.options.seed)
                comparison["extractions"][name] = _matrix_json(matrix)
                rows += [{"extraction": name, **row} for row in matrix.to_records()]
            independent = comparison["extractions"]["independent"]
            pairs = len(labels) * (len(labels) - 1) // 2
            summary.skipped = sum(independent["n_skipped_target"][i][j]
                                  for i, j in combinations(range(len(labels)), 2))
            summary.compared = pairs * len(self.prompts) - summary.skipped
            logger.info(
                "compared %d (model pair, prompt) combinations; skipped %d where the models "
                "predict different next words", summary.compared, summary.skipped,
            )
        write_json(self.out_dir / "comparison.json", comparison)
        write_text(self.out_dir / "overlap.csv", _csv(rows))


def _target_word(result: InteractionResult) -> str:
    """The explained next word as :func:`~captum_interactions.graphs.overlap_matrix` compares
    it (its text, stripped), so shared groups and compared pairs agree."""
    if result.target_text is not None:
        return result.target_text.strip()
    return f"token id {result.target}"


def _finite(value: Any) -> Any:
    """Nested lists with NaN and infinities as ``None`` (strict JSON)."""
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value if isinstance(value, (int, str)) or math.isfinite(value) else None


def _matrix_json(matrix) -> dict[str, Any]:
    """An :class:`~captum_interactions.graphs.OverlapMatrix` as strict JSON."""
    def tensors(group: dict[str, torch.Tensor]) -> dict[str, Any]:
        return {name: _finite(value.tolist()) for name, value in group.items()}

    return {
        "names": matrix.names,
        "mean": tensors(matrix.mean),
        "ci_low": tensors(matrix.ci_low),
        "ci_high": tensors(matrix.ci_high),
        "order": tensors(matrix.order),
        "per_sample": tensors(matrix.per_sample),
        "n_samples": matrix.n_samples.tolist(),
        "n_skipped_target": matrix.n_skipped_target.tolist(),
        "n_skipped_players": matrix.n_skipped_players.tolist(),
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

    Example (a sketch; it needs the pretrained models)::

        summary = run(["smollm2-135m", "gemma-3-270m"], "prompts.jsonl", "out", n_players=8)
        print(summary.report)
    """
    return InteractionRun(models, prompts, out_dir, options=RunOptions(**options)).execute(
        device=device, show_progress=show_progress, report=report
    )

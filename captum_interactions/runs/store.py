"""Crash-safe files for resumable runs: atomic writes and a JSON manifest.

Every file is written to a temporary name in its final folder, flushed to disk and then
renamed over the final name (:func:`os.replace` is atomic), so a run killed at any moment
leaves either the old file, the new file or no file, never a truncated one.

>>> import tempfile
>>> folder = Path(tempfile.mkdtemp())
>>> write_json(folder / "a.json", {"x": 1})
PosixPath('...a.json')
>>> read_json(folder / "a.json")
{'x': 1}
>>> sorted(p.name for p in folder.iterdir())   # no temporary file is left behind
['a.json']
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["atomic_path", "read_json", "write_json", "write_text"]


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success move it over ``path`` atomically.

    The temporary name keeps the suffix of ``path`` (writers that pick a format from the
    suffix, like ``savefig``, keep working). On an exception the temporary file is removed
    and ``path`` is untouched.

    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "out.txt"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("done")
    >>> target.read_text()
    'done'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(handle)
    tmp = Path(name)
    try:
        yield tmp
        with tmp.open("rb+") as written:
            os.fsync(written.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; return ``path``."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def write_json(path: str | Path, data: Any) -> Path:
    """Write ``data`` as indented JSON to ``path`` atomically; return ``path``."""
    return write_text(path, json.dumps(data, indent=1, sort_keys=False) + "\n")


def read_json(path: str | Path) -> Any:
    """Read a JSON file written by :func:`write_json`."""
    return json.loads(Path(path).read_text(encoding="utf-8"))

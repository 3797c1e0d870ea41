"""Crash-safe files: every file the library writes is written whole or not at all.

A file is written to a temporary name in its final folder (``.partial.<token>.<name>``, so a
writer that picks a format from the suffix keeps working), flushed to disk and renamed over
the final name with :func:`os.replace`, which is atomic: a process killed at any moment leaves
the old file, the new file or no file, never a truncated one. The temporary file is created
with mode ``0o666`` less the umask, like any file the user's programs create (a bare
:func:`tempfile.mkstemp` would make it ``0o600``). Temporary files left behind by a killed
process are found by :func:`partial_files`.

>>> import tempfile
>>> folder = Path(tempfile.mkdtemp())
>>> with atomic_path(folder / "out.txt") as tmp:
...     _ = tmp.write_text("done")
>>> (folder / "out.txt").read_text(), partial_files(folder)
('done', [])
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

__all__ = ["PARTIAL_PREFIX", "atomic_path", "partial_files"]

#: Name prefix of temporary files being written.
PARTIAL_PREFIX = ".partial."


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success move it over ``path`` atomically.

    The caller writes the temporary path (by name); on an exception it is removed and
    ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f"{PARTIAL_PREFIX}{secrets.token_hex(6)}.{path.name}"
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))  # umask applies
    try:
        yield tmp
        with tmp.open("rb+") as written:
            os.fsync(written.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def partial_files(folder: str | os.PathLike[str]) -> list[Path]:
    """Temporary files of unfinished writes anywhere below ``folder``."""
    return sorted(Path(folder).rglob(f"{PARTIAL_PREFIX}*"))

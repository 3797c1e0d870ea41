"""The text files of a run folder: strict JSON (the manifest, the comparison) and text,
written atomically (:mod:`captum_interactions._files`).

>>> import tempfile
>>> folder = Path(tempfile.mkdtemp())
>>> write_json(folder / "a.json", {"x": 1})
PosixPath('...a.json')
>>> read_json(folder / "a.json")
{'x': 1}
>>> write_json(folder / "b.json", {"x": float("nan")})
Traceback (most recent call last):
...
captum_interactions.exceptions.InteractionError: b.json would not be strict JSON ...
>>> sorted(p.name for p in folder.iterdir())   # no temporary file is left behind
['a.json']
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from captum_interactions._files import atomic_path
from captum_interactions.exceptions import InteractionError

__all__ = ["read_json", "write_csv", "write_json", "write_text"]


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; return ``path``."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def write_json(path: str | Path, data: Any) -> Path:
    """Write ``data`` as indented, strict JSON to ``path`` atomically; return ``path``.

    NaN and infinities are refused (strict JSON has none; other readers would choke)."""
    try:
        text = json.dumps(data, indent=1, sort_keys=False, allow_nan=False)
    except ValueError as error:
        raise InteractionError(
            f"{Path(path).name} would not be strict JSON ({error}); replace NaN and infinite "
            "numbers (e.g. in a prompt's 'meta') with null or a string"
        ) from error
    return write_text(path, text + "\n")


def write_csv(path: str | Path, rows: Sequence[dict[str, Any]]) -> Path:
    """Write records (the columns of the first) as CSV to ``path`` atomically; ``None`` is an
    empty cell. An empty table is an empty file."""
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return write_text(path, buffer.getvalue())


def read_json(path: str | Path) -> Any:
    """Read a JSON file written by :func:`write_json`."""
    return json.loads(Path(path).read_text(encoding="utf-8"))

"""The built wheel exposes captum_interactions.adapters, .graphs and .runs (with the demo's
data), and nothing generic."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_wheel_installs_subpackages_under_the_package(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(tmp_path / "dist"), str(ROOT)],
        check=True, capture_output=True,
    )
    (wheel,) = (tmp_path / "dist").glob("captum_interactions-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    assert not {"adapters", "graphs"} & tops, f"generic top-level packages in the wheel: {tops}"
    assert "captum_interactions/adapters/__init__.py" in names
    assert "captum_interactions/graphs/__init__.py" in names
    assert "captum_interactions/py.typed" in names
    assert "captum_interactions/_solvers/__init__.py" in names
    assert "captum_interactions/runs/data/demo_prompts.jsonl" in names  # the demo's prompts

    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(target), str(wheel)],
        check=True, capture_output=True,
    )
    code = (
        "import captum_interactions, captum_interactions.adapters, captum_interactions.graphs;"
        "print(captum_interactions.__file__);print(captum_interactions.adapters.__file__);"
        "print(captum_interactions.graphs.__file__)"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True,
        cwd=tmp_path, env=env,
    ).stdout.split()
    assert all(path.startswith(str(target)) for path in out), out


@pytest.mark.slow  # starts a Python interpreter
def test_bare_import_pulls_in_no_extras():
    code = (
        "import sys, captum_interactions, captum_interactions.adapters, "
        "captum_interactions.graphs, captum_interactions.runs;"
        "heavy = {'transformers', 'transformer_lens', 'matplotlib', 'pandas', 'shapiq', 'ray'};"
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout.strip()
    assert out == "[]"

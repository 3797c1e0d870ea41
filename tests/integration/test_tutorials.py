"""Every tutorial runs end to end in fast mode (``--fast``), as the notebook generated from
its script (``tutorials/notebooks.py``) in a Jupyter kernel, so neither can rot."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import nbclient
import pytest

TUTORIALS = Path(__file__).resolve().parents[2] / "tutorials"

#: Files each tutorial writes into its --out folder.
OUTPUTS = {
    "01_captum_tabular": ["and_or_graph.png", "and_or_graph.graphml", "applicant.npz",
                          "waterfall.png"],
    "02_transformer_lens": ["player_graph.png"],
    "03_compare_llms": ["comparison.png"],
    "04_training_checkpoints": ["checkpoints.png", "run/manifest.json",
                                "checkpoints/step200/config.json"],
    "05_checkpoint_ladder": ["ladder.png", "seed0/step0/config.json",
                             "seed1/step200/config.json"],
}
#: The pretrained models each tutorial loads.
REAL_MODELS = {"02_transformer_lens": ("smollm2-135m",),
               "03_compare_llms": ("smollm2-135m", "gemma-3-270m")}


def _param(name: str):
    marks = [pytest.mark.slow]
    if name in REAL_MODELS:
        marks.append(pytest.mark.real_model(*REAL_MODELS[name]))
    return pytest.param(name, marks=marks, id=name)


def _notebooks():
    """``tutorials/notebooks.py``, which is a script in a folder of scripts, not a package."""
    spec = importlib.util.spec_from_file_location("notebooks", TUTORIALS / "notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_notebook(name: str, folder: Path) -> str:
    """Execute the tutorial's notebook in fast mode, writing to ``folder``; return what it
    printed. The kernel starts in the tutorials' folder, which is then on its path as a
    script's folder is (tutorial 5 imports tutorial 4)."""
    notebook = _notebooks().tutorial_notebook(
        TUTORIALS / f"{name}.py", ["--fast", "--out", str(folder)]
    )
    client = nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": TUTORIALS}}
    )
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as error:
        pytest.fail(f"{name} failed in its notebook:\n{str(error)[-4000:]}")
    return "".join(
        output.text for cell in notebook.cells if cell.cell_type == "code"
        for output in cell.outputs if output.output_type == "stream" and output.name == "stdout"
    )


@pytest.mark.parametrize("name", list(OUTPUTS))
def test_notebook_holds_the_whole_script(name):
    """Every line of the script between its docstring and its ``__main__`` block is in the
    notebook's code cells, in order, and each cell is valid Python on its own."""
    script = TUTORIALS / f"{name}.py"
    notebook = _notebooks().tutorial_notebook(script, ["--fast"])
    markdown, title, *code, run = notebook.cells
    module = ast.parse(script.read_text())
    lines = script.read_text().splitlines()[module.body[0].end_lineno:module.body[-1].lineno - 1]
    cells = "\n".join(cell.source for cell in code).splitlines()
    assert [line for line in cells if line.strip()] == [line for line in lines if line.strip()]
    for cell in code:
        ast.parse(cell.source)
    assert markdown.cell_type == "markdown"
    assert markdown.source.startswith("# Tutorial")
    assert title.source.startswith("__doc__ = 'Tutorial")
    assert run.source == "main(['--fast'])"


def test_every_tutorial_is_tested():
    assert [p.stem for p in _notebooks().tutorial_scripts()] == sorted(OUTPUTS)


@pytest.mark.parametrize("name", [_param(name) for name in OUTPUTS])
def test_tutorial_runs_in_fast_mode(name, tmp_path, monkeypatch):
    # The kernel inherits this environment: offline whatever the calling shell exported.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    stdout = run_notebook(name, tmp_path)
    for output in OUTPUTS[name]:
        assert (tmp_path / output).is_file(), f"{name} did not write {output}"
    if name == "01_captum_tabular":  # the rule's two conjunctions are found
        assert "conjunction employed & income among the 8 strongest terms: True" in stdout
        assert "conjunction collateral & savings among the 8 strongest terms: True" in (
            stdout)
        # a regressor with the defaults: raw output, Shapley values equal to Captum's
        line = next(line for line in stdout.splitlines() if line.startswith("regressor"))
        assert "value_kind 'raw'" in line
        assert float(line.rsplit("= ", 1)[1]) < 1e-4
    if name == "02_transformer_lens":  # a whole word of several tokens and a contrast
        assert "' Montmartre' takes the tokens" in stdout
        assert "' Paris vs London': v = log p(Paris) - log p(London)" in stdout
    if name == "05_checkpoint_ladder":  # every step next to its controls, then claim 2
        assert sum(line.startswith(f"{step:4d} | ") for step in (0, 25, 50, 100, 200)
                   for line in stdout.splitlines()) == 5
        assert "Untrained (step 0): Jaccard" in stdout
        assert "Across the ladder: " in stdout

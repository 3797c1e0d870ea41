"""Every tutorial runs end to end in fast mode (``--fast``), so none of them can rot."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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


def test_every_tutorial_is_tested():
    assert sorted(p.stem for p in TUTORIALS.glob("[0-9]*.py")) == sorted(OUTPUTS)


@pytest.mark.parametrize("name", [_param(name) for name in OUTPUTS])
def test_tutorial_runs_in_fast_mode(name, tmp_path):
    env = {**os.environ, "MPLBACKEND": "Agg", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, str(TUTORIALS / f"{name}.py"), "--fast", "--out", str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    for output in OUTPUTS[name]:
        assert (tmp_path / output).is_file(), f"{name} did not write {output}"
    if name == "01_captum_tabular":  # the rule's two conjunctions are found
        assert "conjunction employed & income among the 8 strongest terms: True" in done.stdout
        assert "conjunction collateral & savings among the 8 strongest terms: True" in (
            done.stdout)
        # a regressor with the defaults: raw output, Shapley values equal to Captum's
        line = next(line for line in done.stdout.splitlines() if line.startswith("regressor"))
        assert "value_kind 'raw'" in line
        assert float(line.rsplit("= ", 1)[1]) < 1e-4
    if name == "02_transformer_lens":  # a whole word of several tokens and a contrast
        assert "' Montmartre' takes the tokens" in done.stdout
        assert "' Paris vs London': v = log p(Paris) - log p(London)" in done.stdout
    if name == "05_checkpoint_ladder":  # every step next to its controls, then claim 2
        assert sum(line.startswith(f"{step:4d} | ") for step in (0, 25, 50, 100, 200)
                   for line in done.stdout.splitlines()) == 5
        assert "Untrained (step 0): Jaccard" in done.stdout
        assert "Across the ladder: " in done.stdout

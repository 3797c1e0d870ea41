"""A 16-player image model: the solve is announced, shown and stopped at the time limit."""

from __future__ import annotations

import re
import time

import pytest
import torch

from captum_interactions import ConvergenceWarning, CostWarning
from captum_interactions.attribution import AndOrInteractions


@pytest.mark.slow
def test_sixteen_superpixels_finish_within_the_time_limit_with_their_gap(capsys):
    torch.manual_seed(0)
    cnn = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.AvgPool2d(4),
        torch.nn.Flatten(), torch.nn.Linear(8 * 4 * 4, 10),
    ).eval()
    image = torch.randn(1, 3, 16, 16)
    # 4x4 superpixels: 16 players, allowed by the default limit of 20
    segments = (torch.arange(16)[:, None] // 4 * 4 + torch.arange(16)[None, :] // 4)[None, None]
    start = time.monotonic()
    with pytest.warns(CostWarning) as caught, pytest.warns(ConvergenceWarning):
        (result,) = AndOrInteractions(cnn).attribute(
            image, target=3, feature_mask=segments, perturbations_per_eval=4096,
            show_progress=True, time_limit=15,
        )
    elapsed = time.monotonic() - start
    costs = [str(w.message) for w in caught if w.category is CostWarning]
    assert re.search(r"16 players: .*\(about \d+(\.\d)? (min|h) per sample\)", costs[0])
    assert re.search(r"'pdhg' on 1 sample\(s\) of n=16 players may take about", costs[1])
    assert elapsed < 15 + 60  # the limit, plus the 65,536 model evaluations
    info = result.extraction
    assert info.solver == "pdhg"
    assert info.converged is False
    assert 0 < info.gap < 1  # a certified gap, reported
    assert info.dual <= result.objective
    assert result.matching_error() < 1e-8
    progress = capsys.readouterr().err
    assert "And Or Interactions attribution" in progress  # the model calls
    assert re.search(r"pdhg: .*gap=", progress)  # the solver, with its gap

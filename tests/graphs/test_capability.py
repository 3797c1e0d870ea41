"""Sharing against capability over model pairs: the rank correlation against scipy, planted
monotone relations, its bootstrap interval, bad input and the plot."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import scipy.stats
import torch
from helpers.games import random_result

from captum_interactions.exceptions import InteractionError
from captum_interactions.graphs import (
    overlap_matrix,
    plot_sharing_vs_capability,
    sharing_vs_capability,
)

METRIC = "jaccard_minus_jaccard_cross_prompt"


def random_matrix(models: int, samples: int = 6, *, seed: int = 0):
    """Models with independent random results on the same players (a salient set each)."""
    table = {f"m{m}": [random_result(5, seed=seed + 100 * m + s, density=0.4)
                       for s in range(samples)] for m in range(models)}
    return overlap_matrix(table, n_bootstrap=50, seed=seed)


def planted(matrix, sharing: dict[tuple[str, str], float]):
    """``matrix`` with the metric's mean replaced by ``sharing`` per unordered pair."""
    mean = matrix.mean[METRIC].clone()
    for (a, b), value in sharing.items():
        i, j = matrix.names.index(a), matrix.names.index(b)
        mean[i, j] = mean[j, i] = value
    return dataclasses.replace(matrix, mean={**matrix.mean, METRIC: mean})


@pytest.mark.parametrize("combine", ["min", "max", "mean"])
def test_rho_is_scipys_spearman_of_the_pairs(combine):
    matrix = random_matrix(5)
    capability = {"m0": -3.0, "m1": -1.0, "m2": -2.5, "m3": -0.5, "m4": -4.0}
    found = sharing_vs_capability(matrix, capability, combine=combine, n_bootstrap=200)
    join = {"min": min, "max": max, "mean": lambda a, b: (a + b) / 2}[combine]
    names = matrix.names
    pairs = [(i, j) for i in range(5) for j in range(i + 1, 5)]
    x = [join(capability[names[i]], capability[names[j]]) for i, j in pairs]
    y = [float(matrix[METRIC][i, j]) for i, j in pairs]
    assert found.pairs == [(names[i], names[j]) for i, j in pairs]
    assert found.capability == x
    assert found.sharing == pytest.approx(y)
    assert found.rho == pytest.approx(scipy.stats.spearmanr(x, y).statistic, abs=1e-12)
    assert found.n_pairs == 10
    assert found.note == ""
    assert found.ci_low <= found.rho <= found.ci_high


@pytest.mark.parametrize("resample", ["pairs", "models"])
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_a_planted_monotone_relation_gives_rho_one_with_its_interval(resample, sign):
    matrix = random_matrix(7, samples=3)
    capability = {f"m{m}": float(m) for m in range(7)}
    # sharing a strictly monotone function of the pair's capability (mean: no ties)
    sharing = {(a, b): sign * math.exp((capability[a] + capability[b]) / 2)
               for k, a in enumerate(matrix.names) for b in matrix.names[k + 1:]}
    found = sharing_vs_capability(planted(matrix, sharing), capability, combine="mean",
                                  resample=resample, n_bootstrap=300)
    assert found.rho == pytest.approx(sign)
    assert found.ci_low == pytest.approx(sign)
    assert found.ci_high == pytest.approx(sign)


def test_the_interval_covers_no_relation_when_there_is_none():
    matrix = random_matrix(9, samples=4, seed=3)
    rng = np.random.default_rng(0)
    capability = {name: float(rng.normal()) for name in matrix.names}
    sharing = {(a, b): float(rng.normal()) for k, a in enumerate(matrix.names)
               for b in matrix.names[k + 1:]}
    for resample in ("pairs", "models"):
        found = sharing_vs_capability(planted(matrix, sharing), capability, resample=resample)
        assert found.ci_low < 0 < found.ci_high, resample
    by_pairs = sharing_vs_capability(planted(matrix, sharing), capability)
    by_models = sharing_vs_capability(planted(matrix, sharing), capability, resample="models")
    # pairs sharing a model are dependent: resampling models gives the wider interval
    assert by_models.ci_high - by_models.ci_low > by_pairs.ci_high - by_pairs.ci_low


def test_too_few_pairs_is_an_error_or_a_reasoned_nan():
    with pytest.raises(InteractionError, match=r"at least 3 pairs, i\.e\. 3 models; "
                                               r"this matrix has 2 model"):
        sharing_vs_capability(random_matrix(2), {"m0": 1.0, "m1": 2.0})
    matrix = random_matrix(3)
    nan = planted(matrix, {("m0", "m1"): math.nan})  # a pair never compared
    found = sharing_vs_capability(nan, {"m0": 1.0, "m1": 2.0, "m2": 3.0})
    assert math.isnan(found.rho)
    assert found.n_pairs == 2
    assert "2 of 3 pairs have a finite" in found.note
    flat = sharing_vs_capability(matrix, {"m0": 1.0, "m1": 1.0, "m2": 1.0})
    assert math.isnan(flat.rho)
    assert "capability is the same" in flat.note


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"metric": "jacard"}, "'jacard' is not a metric of this matrix; available differences"),
    ({"combine": "median"}, "unknown combine 'median'; valid"),
    ({"resample": "prompts"}, "unknown resample 'prompts'; valid"),
    ({"n_bootstrap": -1}, "n_bootstrap must be an int >= 0"),
])
def test_bad_options_are_named(kwargs, match):
    with pytest.raises(InteractionError, match=match):
        sharing_vs_capability(random_matrix(3), {"m0": 1.0, "m1": 2.0, "m2": 3.0}, **kwargs)


def test_chosen_pairs_only():
    matrix = random_matrix(6)
    capability = {f"m{m}": float(m) for m in range(6)}
    chosen = [("m1", "m0"), ("m2", "m3"), ("m4", "m5")]
    found = sharing_vs_capability(matrix, capability, pairs=chosen)
    assert found.pairs == [("m0", "m1"), ("m2", "m3"), ("m4", "m5")]
    y = [float(matrix[METRIC][i, i + 1]) for i in (0, 2, 4)]
    assert found.rho == pytest.approx(scipy.stats.spearmanr([0, 2, 4], y).statistic)
    with pytest.raises(InteractionError, match="two different models of the matrix"):
        sharing_vs_capability(matrix, capability, pairs=[("m0", "m9")] * 3)
    with pytest.raises(InteractionError, match="at least 3 different model pairs"):
        sharing_vs_capability(matrix, capability, pairs=[("m0", "m1"), ("m1", "m0"),
                                                         ("m2", "m3")])


def test_bad_capability_is_named():
    matrix = random_matrix(3)
    with pytest.raises(InteractionError, match=r"no value for model\(s\) \['m2'\]"):
        sharing_vs_capability(matrix, {"m0": 1.0, "m1": 2.0})
    with pytest.raises(InteractionError, match="a number or a \\(value, low, high\\) triple"):
        sharing_vs_capability(matrix, {"m0": 1.0, "m1": 2.0, "m2": (1.0, 2.0)})
    with pytest.raises(TypeError, match="takes an OverlapMatrix"):
        sharing_vs_capability({"jaccard": torch.zeros(3, 3)}, {})


def test_records_and_the_plot():
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    matrix = random_matrix(4)
    capability = {"m0": (-2.0, -2.5, -1.5), "m1": (-1.0, -1.2, -0.8), "m2": -3.0, "m3": -0.5}
    found = sharing_vs_capability(matrix, capability, n_bootstrap=100)
    rows = found.to_records()
    assert len(rows) == 6
    assert rows[0]["model_a"] == "m0"
    assert rows[0]["metric"] == METRIC
    assert rows[0]["capability"] == min(-2.0, -1.0)
    assert rows[0]["rho"] == found.rho
    assert found.capability_low[0] == -2.5
    assert math.isnan(found.capability_low[1])
    _figure, ax = plot_sharing_vs_capability(found, figure=Figure())
    assert "Spearman ρ" in ax.get_title()
    assert "6 pairs" in ax.get_title()
    assert len(ax.lines) >= 6

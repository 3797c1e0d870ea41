"""Overlap plots render with the Agg backend and show the numbers they are given."""

from __future__ import annotations

import math

import matplotlib
import pytest
import torch
from helpers.games import planted_result

from captum_interactions import InteractionError
from captum_interactions.graphs.comparison import overlap, overlap_matrix
from captum_interactions.graphs.plots import (
    plot_cancellation,
    plot_order_histogram,
    plot_overlap_heatmap,
)

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def result(generator: torch.Generator, base: tuple[torch.Tensor, torch.Tensor], noise: float):
    """A result near ``base`` (AND and OR terms): sparse noise added to both."""
    size = base[0].shape[0]
    and_i, or_i = (
        part + noise * torch.randn(size, generator=generator, dtype=torch.float64)
        * (torch.rand(size, generator=generator) < 0.2)
        for part in base
    )
    return planted_result(and_i, or_i)


@pytest.fixture(scope="module")
def results():
    generator = torch.Generator().manual_seed(0)
    bases = [tuple(torch.randn(32, generator=generator, dtype=torch.float64)
                   * (torch.rand(32, generator=generator) < 0.3) for _ in range(2))
             for _ in range(6)]
    return {f"step-{m}": [result(generator, base, 0.3 * (m + 1)) for base in bases]
            for m in range(3)}


@pytest.fixture(scope="module")
def matrix(results):
    return overlap_matrix(results, n_bootstrap=200, n_chance=5)


def test_heatmap_annotates_every_cell(matrix):
    fig, ax = plot_overlap_heatmap(matrix, "weighted_overlap")
    texts = [text.get_text() for text in ax.texts]
    assert len(texts) == 9
    value = float(matrix["weighted_overlap"][0, 1])
    low, high = float(matrix.ci_low["weighted_overlap"][0, 1]), float(
        matrix.ci_high["weighted_overlap"][0, 1])
    assert texts[1] == f"{value:.2f}\n[{low:.2f}, {high:.2f}]"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["step-0", "step-1", "step-2"]
    assert ax.images[0].get_clim() == (0, 1)
    fig.canvas.draw()
    plt.close(fig)
    fig, ax = plot_overlap_heatmap(matrix, "n_shared", annotate=False)
    assert not ax.texts
    plt.close(fig)


def test_order_histogram_of_a_matrix_pools_or_picks_pairs(matrix):
    fig, ax = plot_order_histogram(matrix, fractions=False)
    heights = [bar.get_height() for bar in ax.patches]
    off = ~torch.eye(3, dtype=torch.bool)
    shared = matrix.order["order_counts_shared"][off].sum(0)[1:].tolist()
    rest = matrix.order["order_counts_not_shared"][off].sum(0)[1:].tolist()
    assert heights == shared + rest
    plt.close(fig)
    fig, ax = plot_order_histogram(matrix, pair=("step-0", "step-2"))
    heights = [bar.get_height() for bar in ax.patches]
    assert sum(heights[:5]) == pytest.approx(1.0)
    assert sum(heights[5:]) == pytest.approx(1.0)
    plt.close(fig)
    with pytest.raises(InteractionError, match=r"not in the matrix; models: \['step-0'"):
        plot_order_histogram(matrix, pair=("step-0", "step-9"))


def test_cancellation_chart_for_a_pair_and_a_matrix(results, matrix):
    pair = overlap(results["step-0"][0], results["step-1"][0])
    fig, ax = plot_cancellation(pair)
    heights = [bar.get_height() for bar in ax.patches]
    expected = [*pair["order_cancellation_shared"][1:], pair["cancellation_shared"],
                *pair["order_cancellation_not_shared"][1:], pair["cancellation_not_shared"]]
    assert heights == pytest.approx(expected, nan_ok=True)
    assert [t.get_text() for t in ax.get_xticklabels()][-1] == "all"
    plt.close(fig)
    fig, ax = plot_cancellation(matrix)
    heights = [bar.get_height() for bar in ax.patches]
    row = matrix["cancellation_shared"][0, 1:]
    assert heights[0] == pytest.approx(float(row[~row.isnan()].mean()))
    fig.canvas.draw()
    plt.close(fig)


def test_plots_reject_other_inputs(results):
    pair = overlap(results["step-0"][0], results["step-1"][0])
    with pytest.raises(TypeError, match="takes the result of overlap_matrix"):
        plot_overlap_heatmap(pair)
    with pytest.raises(TypeError, match="overlap_matrix"):
        plot_cancellation({"jaccard": 1.0})
    with pytest.raises(InteractionError, match="'dice' is not a metric of this overlap"):
        plot_overlap_heatmap(overlap_matrix(results, n_bootstrap=0, n_chance=0), "dice")
    assert math.isfinite(pair["jaccard"])

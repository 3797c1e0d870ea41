"""Figures a reader can read: no text outside the figure, no label over another, one scale
across panels, and every figure says how much of the result it shows."""

from __future__ import annotations

import matplotlib
import pytest
import torch
from helpers.games import random_result
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from captum_interactions.graphs import (
    and_or_graph,
    draw_and_or_graph,
    draw_player_graph,
    overlap_matrix,
    player_graph,
    plot_overlap_pairs,
    plot_top_interactions,
)

matplotlib.use("Agg")

#: Player names as long as a tabular data set's columns.
LONG = ["household income", "number of credit cards", "years at current address",
        "outstanding balance", "age", "months since last missed payment", "employed"]


def _long_result(seed: int, **fields):
    return random_result(len(LONG), seed=seed, density=0.4, players=LONG,
                         target_text=" approved", **fields)


def _texts(fig: Figure) -> list[tuple[str, object]]:
    """The texts drawn in the axes (labels, values), with their extents in pixels."""
    canvas = FigureCanvasAgg(fig)  # as savefig renders it (a bare Figure has no renderer)
    canvas.draw()
    renderer = canvas.get_renderer()
    return [(text.get_text(), text.get_window_extent(renderer))
            for ax in fig.axes for text in ax.texts if text.get_text().strip()]


def _outside(fig: Figure) -> list[float]:
    """How far (inches) the drawn artists reach past each edge of the figure: left, bottom,
    right, top; empty when everything is inside."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    drawn = fig.get_tightbbox(canvas.get_renderer())  # what was drawn, in inches
    width, height = fig.get_size_inches()
    past = [-drawn.x0, -drawn.y0, drawn.x1 - width, drawn.y1 - height]
    return [round(edge, 3) for edge in past] if max(past) > 0.01 else []


def test_top_interactions_fit_share_a_scale_and_count_what_they_show():
    results = {"logistic regression": _long_result(0), "gradient boosting": _long_result(1)}
    fig, axes = plot_top_interactions(results, n_top=6, figure=Figure())
    assert _outside(fig) == []
    assert axes[0].get_xlim() == axes[1].get_xlim()
    for ax, result in zip(axes, results.values(), strict=True):
        total = len(result.salient())
        assert ax.get_title().endswith(f"\n{min(6, total)} of {total} salient terms")
        assert max(len(line) for label in ax.get_yticklabels()
                   for line in label.get_text().split("\n")) <= 30  # wrapped


def test_and_or_graph_labels_never_run_into_the_output():
    result = _long_result(2)
    fig, ax = draw_and_or_graph(and_or_graph(result), max_interactions=15, figure=Figure())
    assert _outside(fig) == []
    texts = dict(_texts(fig))
    output = next(ext for text, ext in texts.items() if text.startswith(" approved\nv(N)"))
    terms = [ext for text, ext in texts.items() if "   " in text]  # "label   +value"
    assert terms
    assert all(ext.x1 < output.x0 for ext in terms)
    total = len(result.salient())
    assert ax.get_title().endswith(f"the strongest 15 of {total} salient terms")


def test_player_graph_of_ten_players_is_a_matrix_of_numbers():
    result = random_result(10, seed=3, density=0.3, players=[f"word{i}" for i in range(10)])
    graph = player_graph(result)
    fig, ax = draw_player_graph(graph, figure=Figure())
    assert _outside(fig) == []
    shown = {text.get_text() for text in ax.texts}
    for *_, data in graph.edges(data=True):
        if data["positive"] > 0:
            assert f"+{data['positive']:.2g}" in shown
        if data["negative"] > 0:
            assert f"-{data['negative']:.2g}" in shown
    circle = draw_player_graph(graph, view="circle", max_links=5, figure=Figure())[1]
    links = sum((d["positive"] > 0) + (d["negative"] > 0) for *_, d in graph.edges(data=True))
    assert circle.get_title().endswith(f"the strongest 5 of {links} links")
    assert len(circle.patches) == 5


def test_two_models_get_every_metric_with_interval_and_chance_not_a_four_cell_map():
    generator = torch.Generator().manual_seed(4)
    results = {name: [random_result(5, seed=generator) for _ in range(6)]
               for name in ("checkpoint 1000", "checkpoint 2000")}
    matrix = overlap_matrix(results, n_bootstrap=100, n_chance=5)
    fig, ax = plot_overlap_pairs(matrix, ["weighted_overlap", "jaccard"], figure=Figure())
    assert _outside(fig) == []
    assert [t.get_text() for t in ax.get_yticklabels()] == ["weighted overlap", "jaccard"]
    assert ax.get_title() == "checkpoint 1000 vs checkpoint 2000 (6 samples)"
    means = sorted(round(float(line.get_xdata()[0]), 6) for line in ax.lines
                   if line.get_marker() == "o")
    assert means == sorted(round(float(matrix[m][0, 1]), 6)
                           for m in ("weighted_overlap", "jaccard"))
    controls = {marker: [float(line.get_xdata()[0]) for line in ax.lines
                         if line.get_marker() == marker] for marker in "Ds^"}
    # jaccard has all three controls, weighted overlap the cross-prompt one only
    assert controls["D"] == pytest.approx([float(matrix["jaccard_chance_uniform"][0, 1])])
    assert controls["s"] == pytest.approx([float(matrix["jaccard_chance_order"][0, 1])])
    assert sorted(controls["^"]) == pytest.approx(sorted(
        float(matrix[f"{m}_cross_prompt"][0, 1]) for m in ("weighted_overlap", "jaccard")))


def test_a_figure_to_draw_into_must_be_empty_and_exclusive():
    result = _long_result(5)
    full = Figure()
    full.subplots()
    with pytest.raises(Exception, match="empty figure"):
        plot_top_interactions(result, figure=full)
    fig = Figure()
    with pytest.raises(Exception, match="axes= or figure=, not both"):
        plot_top_interactions(result, figure=fig, axes=[fig.subplots()])

"""Plots of results and of overlap results (matplotlib, imported only when a plot is made).

Every function returns ``(fig, ax)`` like Captum's plots and draws into ``ax`` when given.

* :func:`plot_top_interactions`: the strongest interactions of one or more results (e.g.
  models on one prompt), side by side.
* :func:`plot_overlap_heatmap`: one metric of an :class:`OverlapMatrix` across models or
  checkpoints, with the mean (and its confidence interval) in every cell.
* :func:`plot_overlap_pairs`: for a few models, every pair's metrics with their confidence
  intervals and chance levels (where a heat-map would be mostly its diagonal).
* :func:`plot_order_histogram`: how the shared and the non-shared salient interactions are
  spread over orders.
* :func:`plot_cancellation`: positive-negative cancellation of shared vs non-shared sets,
  per order (one pair) or per model (a matrix).

>>> import matplotlib
>>> matplotlib.use("Agg")
>>> from captum_interactions import InteractionResult, and_transform
>>> from captum_interactions.graphs.comparison import overlap
>>> v = torch.tensor([0.0, 1.0, 2.0, 5.0])
>>> w = torch.tensor([0.0, 1.0, 0.0, 1.0])
>>> a = InteractionResult(["x", "y"], v, and_transform(v), torch.zeros(4))
>>> b = InteractionResult(["x", "y"], w, and_transform(w), torch.zeros(4))
>>> fig, ax = plot_order_histogram(overlap(a, b), fractions=False)
>>> [float(bar.get_height()) for bar in ax.patches]
[1.0, 0.0, 1.0, 1.0]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import torch

from captum_interactions.exceptions import InteractionError
from captum_interactions.result import InteractionResult

from ._mpl import NOT_SHARED, SHARED, figure_axes, figure_row, sign_color, wrap_label
from .comparison import OverlapMatrix, PairOverlap

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "plot_cancellation",
    "plot_order_histogram",
    "plot_overlap_heatmap",
    "plot_overlap_pairs",
    "plot_top_interactions",
]

#: Controls drawn next to a metric: suffix of the metric name, marker, legend label.
_CONTROLS = (
    ("_chance_uniform", "D", "uniform chance: random salient sets of matched size"),
    ("_chance_order", "s", "order-preserving chance: random sets with the same orders"),
    ("_cross_prompt", "^", "cross-prompt: A and B on different prompts"),
)
#: Characters per line of an interaction's label in the bar charts.
_LABEL_WIDTH = 30
#: Metrics that live in [0, 1], drawn on a fixed colour scale.
_UNIT = ("weighted_overlap", "jaccard", "cover_ratio", "top_k_overlap", "cancellation")


def _check_overlap(result: object, purpose: str) -> None:
    if not isinstance(result, (PairOverlap, OverlapMatrix)):
        raise TypeError(
            f"{purpose} takes the result of overlap(a, b) or overlap_matrix(results), got "
            f"{type(result).__name__}"
        )


def _pair_index(matrix: OverlapMatrix, pair: tuple[str, str]) -> tuple[int, int]:
    try:
        return matrix.names.index(str(pair[0])), matrix.names.index(str(pair[1]))
    except ValueError:
        raise InteractionError(
            f"pair {pair!r} names a model that is not in the matrix; models: {matrix.names}"
        ) from None


def plot_overlap_heatmap(
    matrix: OverlapMatrix,
    metric: str = "jaccard",
    *,
    ax: Axes | None = None,
    annotate: bool = True,
    cmap: str = "viridis",
) -> tuple[Figure, Axes]:
    """Heat-map of one metric of an :class:`OverlapMatrix` (row = model A, column = B).

    Parameters
    ----------
    matrix : OverlapMatrix
        From :func:`overlap_matrix`.
    metric : str
        Any key of ``matrix`` ("jaccard", "weighted_overlap", "jaccard_cross_prompt", ...).
    ax : matplotlib Axes, optional
        Draw into these axes instead of a new figure.
    annotate : bool
        Write the mean (and the confidence interval, when computed) into each cell.
    cmap : str
        Matplotlib colour map.

    Returns
    -------
    (Figure, Axes)
    """
    if not isinstance(matrix, OverlapMatrix):
        raise TypeError(
            f"plot_overlap_heatmap takes the result of overlap_matrix(results), got "
            f"{type(matrix).__name__}"
        )
    if metric not in matrix:
        raise InteractionError(
            f"{metric!r} is not a metric of this overlap matrix; available: {list(matrix)}"
        )
    values = matrix[metric].cpu()
    low, high = matrix.ci_low[metric].cpu(), matrix.ci_high[metric].cpu()
    size = len(matrix.names)
    cell = 1.0 if annotate and bool(torch.isfinite(low).any()) else 0.7  # room for intervals
    fig, ax = figure_axes(ax, (1.5 + cell * size, 0.8 + cell * 0.85 * size),
                          "plot_overlap_heatmap")
    unit = metric.startswith(_UNIT)
    image = ax.imshow(values.numpy(), cmap=cmap, vmin=0 if unit else None,
                      vmax=1 if unit else None)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(size), matrix.names, rotation=45, ha="right")
    ax.set_yticks(range(size), matrix.names)
    ax.set_xlabel("model B")
    ax.set_ylabel("model A")
    if annotate:
        middle = float(values.nan_to_num(0).mean())
        for i in range(size):
            for j in range(size):
                text = f"{float(values[i, j]):.2f}"
                if math.isfinite(low[i, j]) and math.isfinite(high[i, j]):
                    text += f"\n[{float(low[i, j]):.2f}, {float(high[i, j]):.2f}]"
                dark = (float(values[i, j]) < 0.5) if unit else float(values[i, j]) < middle
                ax.text(j, i, text, ha="center", va="center", fontsize="x-small",
                        color="white" if dark else "black")
    ax.set_title(metric.replace("_", " "), fontsize="medium")
    return fig, ax


def plot_overlap_pairs(
    matrix: OverlapMatrix,
    metrics: Sequence[str] = ("weighted_overlap", "jaccard"),
    *,
    ax: Axes | None = None,
    figure: Figure | None = None,
) -> tuple[Figure, Axes]:
    """Every model pair's metrics as points with confidence intervals, next to chance.

    The view for a few models, where a heat-map would be mostly its diagonal: one row per
    unordered pair and metric, the mean over samples (dot) with its bootstrap interval
    (line) and the controls the matrix holds (hollow markers): uniform chance (random
    salient sets of matched size), order-preserving chance, and the cross-prompt control
    (A and B on different prompts), on a common 0-1 axis for the unit metrics.

    Parameters
    ----------
    matrix : OverlapMatrix
        From :func:`overlap_matrix`.
    metrics : sequence of str
        Keys of ``matrix``; default weighted overlap and Jaccard.
    ax : matplotlib Axes, optional
        Draw into these axes instead of a new figure.
    figure : matplotlib Figure, optional
        An empty figure to draw into (resized to fit), e.g. one made without pyplot.

    Returns
    -------
    (Figure, Axes)
    """
    from matplotlib.lines import Line2D

    if not isinstance(matrix, OverlapMatrix):
        raise TypeError(f"plot_overlap_pairs takes the result of overlap_matrix(results), got "
                        f"{type(matrix).__name__}")
    unknown = [metric for metric in metrics if metric not in matrix]
    if isinstance(metrics, str) or not metrics or unknown:
        raise InteractionError(f"metrics must be a list of metrics of this overlap matrix "
                               f"(available: {list(matrix)}), got {metrics!r}")
    size = len(matrix.names)
    pairs = [(i, j) for i in range(size) for j in range(i + 1, size)]
    if not pairs:
        raise InteractionError("plot_overlap_pairs needs at least two models in the matrix")
    rows = [(i, j, metric) for i, j in pairs for metric in metrics]
    if len(pairs) == 1:  # the pair goes to the title
        (i, j), = pairs
        labels = [metric.replace("_", " ") for metric in metrics]
        title = (f"{matrix.names[i]} vs {matrix.names[j]} "
                 f"({int(matrix.n_samples[i, j])} samples)")
    else:
        labels = [f"{matrix.names[i]} vs {matrix.names[j]}: {metric.replace('_', ' ')} "
                  f"(n={int(matrix.n_samples[i, j])})" for i, j, metric in rows]
        title = "overlap of every model pair (n: samples compared)"
    fig, ax = figure_axes(ax, (4.8 + 0.075 * max(map(len, labels)), 1.6 + 0.38 * len(rows)),
                          "plot_overlap_pairs", figure=figure)
    for y, (i, j, metric) in enumerate(rows):
        mean = float(matrix[metric][i, j])
        low, high = float(matrix.ci_low[metric][i, j]), float(matrix.ci_high[metric][i, j])
        if math.isfinite(low) and math.isfinite(high):
            ax.plot([low, high], [y, y], color=SHARED, lw=2, solid_capstyle="butt")
        ax.plot([mean], [y], "o", color=SHARED, ms=7)
        ax.annotate(f"{mean:.2f}", (mean, y), xytext=(0, 7), textcoords="offset points",
                    ha="center", fontsize="x-small")
        for suffix, marker, _ in _CONTROLS:
            if f"{metric}{suffix}" in matrix:
                level = float(matrix[f"{metric}{suffix}"][i, j])
                ax.plot([level], [y], marker, mfc="white", mec=NOT_SHARED, ms=6)
    ax.set_yticks(range(len(rows)), labels, fontsize="small")
    ax.set_ylim(len(rows) - 0.5, -0.7)
    if all(metric.startswith(_UNIT) for metric in metrics):
        ax.set_xlim(-0.02, 1.02)
    ax.grid(axis="x", alpha=0.3)
    shown = [(marker, label) for suffix, marker, label in _CONTROLS
             if any(f"{metric}{suffix}" in matrix for metric in metrics)]
    ax.legend(handles=[
        Line2D([], [], color=SHARED, marker="o", lw=2, label="mean over samples, 95% interval"),
        *(Line2D([], [], ls="", marker=marker, mfc="white", mec=NOT_SHARED, label=label)
          for marker, label in shown),
    ], loc="upper center", bbox_to_anchor=(0.5, -0.1), frameon=False, fontsize="x-small")
    ax.set_title(title, fontsize="medium")
    return fig, ax


def _order_counts(result: PairOverlap | OverlapMatrix, pair: tuple[str, str] | None):
    """(shared, not shared) counts per order; a matrix pools all pairs i != j by default."""
    if isinstance(result, PairOverlap):
        return (torch.tensor(result["order_counts_shared"], dtype=torch.float64),
                torch.tensor(result["order_counts_not_shared"], dtype=torch.float64))
    shared, rest = result.order["order_counts_shared"], result.order["order_counts_not_shared"]
    if pair is not None:
        i, j = _pair_index(result, pair)
        return shared[i, j].cpu(), rest[i, j].cpu()
    off = ~torch.eye(len(result.names), dtype=torch.bool, device=shared.device)
    return shared[off].sum(0).cpu(), rest[off].sum(0).cpu()


def _grouped_bars(
    ax: Axes, groups: list[str], series: dict[str, tuple[list[float], str]], *, rotate: bool
) -> None:
    width = 0.8 / len(series)
    for index, (label, (heights, color)) in enumerate(series.items()):
        offsets = [g + (index - (len(series) - 1) / 2) * width for g in range(len(groups))]
        ax.bar(offsets, heights, width=width, color=color, label=label)
    ax.set_xticks(range(len(groups)), groups, rotation=45 if rotate else 0,
                  ha="right" if rotate else "center")
    ax.legend(frameon=False, fontsize="small")


def plot_order_histogram(
    result: PairOverlap | OverlapMatrix,
    *,
    pair: tuple[str, str] | None = None,
    fractions: bool = True,
    ax: Axes | None = None,
) -> tuple[Figure, Axes]:
    """Orders of the shared vs the non-shared salient interactions (model A's side).

    Parameters
    ----------
    result : PairOverlap or OverlapMatrix
        From :func:`overlap` or :func:`overlap_matrix`.
    pair : (str, str), optional
        For a matrix: the two models (A, B); by default all pairs of different models
        pooled over samples.
    fractions : bool
        Plot each set's distribution over orders (fractions) instead of counts.
    ax : matplotlib Axes, optional
        Draw into these axes instead of a new figure.

    Returns
    -------
    (Figure, Axes)
    """
    _check_overlap(result, "plot_order_histogram")
    shared, rest = _order_counts(result, pair)
    shared, rest = shared[1:], rest[1:]  # order 0 (the empty set) is never an interaction
    if fractions:
        shared = shared / shared.sum() if shared.sum() > 0 else shared
        rest = rest / rest.sum() if rest.sum() > 0 else rest
    fig, ax = figure_axes(ax, (1.5 + 0.5 * len(shared), 3.5), "plot_order_histogram")
    _grouped_bars(ax, [str(order) for order in range(1, len(shared) + 1)],
                  {"shared": (shared.tolist(), SHARED), "not shared": (rest.tolist(), NOT_SHARED)},
                  rotate=False)
    ax.set_xlabel("order |S|")
    ax.set_ylabel("fraction of the set" if fractions else "salient interactions")
    ax.set_title("orders of shared vs non-shared salient interactions", fontsize="medium")
    return fig, ax


def plot_cancellation(
    result: PairOverlap | OverlapMatrix,
    *,
    ax: Axes | None = None,
) -> tuple[Figure, Axes]:
    """Positive-negative cancellation ``1 - |Σ I| / Σ |I|`` of shared vs non-shared sets.

    For one pair: per order and over all orders ("all"), with model A's values. For a
    matrix: per model (as A), the mean over its partners of the per-pair means.

    Parameters
    ----------
    result : PairOverlap or OverlapMatrix
        From :func:`overlap` or :func:`overlap_matrix`.
    ax : matplotlib Axes, optional
        Draw into these axes instead of a new figure.

    Returns
    -------
    (Figure, Axes)
    """
    _check_overlap(result, "plot_cancellation")
    if isinstance(result, PairOverlap):
        shared = [*result["order_cancellation_shared"][1:], result["cancellation_shared"]]
        rest = [*result["order_cancellation_not_shared"][1:], result["cancellation_not_shared"]]
        groups = [*(str(order) for order in range(1, len(shared))), "all"]
        xlabel = "order |S|"
    else:
        off = ~torch.eye(len(result.names), dtype=torch.bool)
        means = {key: torch.where(off, result[key].cpu(), math.nan).nanmean(1).tolist()
                 for key in ("cancellation_shared", "cancellation_not_shared")}
        shared, rest = means["cancellation_shared"], means["cancellation_not_shared"]
        groups, xlabel = result.names, "model"
    fig, ax = figure_axes(ax, (1.5 + 0.55 * len(groups), 3.5), "plot_cancellation")
    _grouped_bars(ax, groups, {"shared": (shared, SHARED), "not shared": (rest, NOT_SHARED)},
                  rotate=isinstance(result, OverlapMatrix))
    ax.set_ylim(0, 1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("cancellation ratio")
    ax.set_title("positive-negative cancellation (0 = none, 1 = full)", fontsize="medium")
    return fig, ax


def plot_top_interactions(
    results: InteractionResult | Mapping[str, InteractionResult],
    tau: float = 0.05,
    *,
    n_top: int = 8,
    merge_singletons: bool = True,
    axes: Sequence[Axes] | None = None,
    figure: Figure | None = None,
) -> tuple[Figure, list[Axes]]:
    """Bar charts of the ``n_top`` strongest salient interactions of each result, side by side.

    Bars are red for positive and blue for negative values; OR interactions are hatched.
    Every panel uses the same value scale and says how many of its salient terms it shows;
    long labels are wrapped, and a new figure is sized to fit them.

    Parameters
    ----------
    results : InteractionResult or mapping of name to InteractionResult
        One result, or several (e.g. models on the same prompt) drawn left to right.
    tau, merge_singletons
        Which interactions are salient, as in :meth:`InteractionResult.salient`.
    n_top : int
        How many of the strongest salient interactions each panel shows (default 8).
    axes : sequence of matplotlib Axes, optional
        One axes per result to draw into, instead of a new figure.
    figure : matplotlib Figure, optional
        An empty figure to draw into (resized to fit), e.g. one made without pyplot.

    Returns
    -------
    (Figure, list of Axes)

    Examples
    --------
    >>> from captum_interactions import InteractionResult, and_transform
    >>> v = torch.tensor([0.0, 1.0, 2.0, 5.0])
    >>> result = InteractionResult(["a", "b"], v, and_transform(v), torch.zeros(4))
    >>> fig, (ax,) = plot_top_interactions({"toy": result})
    >>> [label.get_text() for label in ax.get_yticklabels()], ax.get_title()
    (['b', 'a & b', 'a'], 'toy\\n3 of 3 salient terms')
    """
    if isinstance(results, InteractionResult):
        results = {"result": results}
    if not isinstance(results, Mapping) or not all(
        isinstance(result, InteractionResult) for result in results.values()
    ):
        raise TypeError("plot_top_interactions takes an InteractionResult or a mapping of names "
                        "to InteractionResult")
    if isinstance(n_top, bool) or not isinstance(n_top, int) or n_top < 1:
        raise InteractionError(f"n_top must be a positive int, got {n_top!r}")
    salient = {name: result.salient(tau, merge_singletons=merge_singletons)
               for name, result in results.items()}
    labels = {name: [wrap_label(term.label, _LABEL_WIDTH) for term in found[:n_top]]
              for name, found in salient.items()}
    lines = max((sum(label.count("\n") + 1 for label in found) for found in labels.values()),
                default=1)
    widest = max((len(line) for found in labels.values() for label in found
                  for line in label.split("\n")), default=1)
    size = (len(results) * (2.6 + 0.075 * widest), 1.6 + 0.2 * max(lines, 1))
    fig, axes = figure_row(axes, len(results), size, "plot_top_interactions", figure=figure)
    values = [term.value for found in salient.values() for term in found[:n_top]]
    reach = max((abs(value) for value in values), default=1.0) or 1.0
    low = -1.08 * reach if min(values, default=0.0) < 0 else -0.04 * reach
    high = 1.08 * reach if max(values, default=0.0) > 0 else 0.04 * reach
    for ax, (name, found) in zip(axes, salient.items(), strict=True):
        shown = found[:n_top]
        heights = [term.value for term in shown]
        ax.barh(range(len(shown)), heights, color=[sign_color(v) for v in heights],
                hatch=["//" if term.type == "or" else "" for term in shown], edgecolor="white")
        ax.set_yticks(range(len(shown)), labels[name], fontsize="small")
        ax.set_ylim(len(shown) - 0.5 if shown else 0.5, -0.5)
        ax.set_xlim(low, high)  # one scale for every panel
        ax.axvline(0, color="black", lw=0.6)
        target = results[name].target_text
        title = name if target is None else f"{name}: {target.strip()!r}"
        ax.set_title(f"{title}\n{len(shown)} of {len(found)} salient terms",
                     fontsize="medium")
        ax.set_xlabel("interaction (AND solid, OR hatched)", fontsize="small")
    return fig, axes

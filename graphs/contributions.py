"""Plots of one result's contributions (matplotlib, imported only when a plot is made).

Both functions return ``(fig, ax)`` like Captum's plots and draw into ``ax`` when given; the
bar chart of the strongest terms is :func:`~captum_interactions.graphs.plot_top_interactions`.

* :func:`plot_waterfall`: how the terms add up from ``v(∅)`` to ``v(N)`` (universal matching
  at the full input): the strongest terms one by one, the rest together, and the noise.
* :func:`plot_token_heatmap`: the prompt as text, each player word coloured by its
  first-order value (Shapley or Banzhaf), for results of text.

>>> import matplotlib
>>> matplotlib.use("Agg")
>>> import torch
>>> from captum_interactions import InteractionResult, and_transform
>>> v = torch.tensor([0.0, 1.0, 2.0, 5.0])
>>> result = InteractionResult(["a", "b"], v, and_transform(v), torch.zeros(4))
>>> fig, ax = plot_waterfall(result)
>>> [label.get_text() for label in ax.get_yticklabels()]
['v(∅)', 'b', 'a & b', 'a', 'v(N)']
>>> fig, ax = plot_token_heatmap(result)
>>> [text.get_text() for text in ax.texts]
['a', '+2', 'b', '+3']
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal

from captum_interactions.exceptions import InteractionError
from captum_interactions.result import InteractionResult

from ._mpl import NEGATIVE, POSITIVE, figure_axes, sign_color, wrap_label

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["plot_token_heatmap", "plot_waterfall"]

#: Characters per line of a term's label, and per row of the token heat-map.
_LABEL_WIDTH, _LINE_WIDTH = 30, 64
#: The game whose first-order view is drawn, in words.
_GAMES = {"values": "of the model's values v", "interactions": "of v + q (the interactions)",
          "noise": "of the noise q"}
#: Inches per character and per text row of the token heat-map.
_CHAR, _LINE = 0.105, 0.5


def _check(result: object, purpose: str) -> None:
    if not isinstance(result, InteractionResult):
        raise TypeError(f"{purpose} takes an InteractionResult, got {type(result).__name__}")


def plot_waterfall(
    result: InteractionResult,
    tau: float = 0.05,
    *,
    n_top: int = 10,
    merge_singletons: bool = True,
    ax: Axes | None = None,
    figure: Figure | None = None,
) -> tuple[Figure, Axes]:
    """Waterfall from ``v(∅)`` to ``v(N)``: each of the ``n_top`` strongest salient terms,
    then the other terms together, then the noise ``q(∅) - q(N)``.

    At the full input every term fires, so ``v(N) = v(∅) + Σ_{S≠∅} (I_and(S) + I_or(S)) +
    q(∅) - q(N)`` exactly; the bars add up to ``v(N)``.

    Parameters
    ----------
    result : InteractionResult
        The result to draw.
    tau, merge_singletons
        Which interactions are salient, as in :meth:`InteractionResult.salient`.
    n_top : int
        How many of the strongest salient terms get their own bar (default 10).
    ax : matplotlib Axes, optional
        Draw into these axes instead of a new figure.
    figure : matplotlib Figure, optional
        An empty figure to draw into (resized to fit).

    Returns
    -------
    (Figure, Axes)
    """
    _check(result, "plot_waterfall")
    if isinstance(n_top, bool) or not isinstance(n_top, int) or n_top < 1:
        raise InteractionError(f"n_top must be a positive int, got {n_top!r}")
    and_i, or_i = result.interactions(merge_singletons=merge_singletons)
    shown = result.salient(tau, merge_singletons=merge_singletons)[:n_top]
    total = float(and_i[1:].sum() + or_i[1:].sum())
    rest = total - sum(term.value for term in shown)
    noise = float(result.q[0] - result.q[-1])
    scale = max(abs(total), float(result.values.abs().max()), 1e-300)
    rows = [(wrap_label(term.label, _LABEL_WIDTH), term.value, term.type) for term in shown]
    others = int(and_i[1:].count_nonzero() + or_i[1:].count_nonzero()) - len(shown)
    if others > 0 and abs(rest) > 1e-12 * scale:
        rows.append((f"{others} other terms", rest, "rest"))
    if abs(noise) > 1e-12 * scale:
        rows.append(("noise q(∅) − q(N)", noise, "rest"))
    start, end = float(result.values[0]), float(result.values[-1])
    lines = sum(label.count("\n") + 1 for label, _, _ in rows) + 2
    widest = max((len(line) for label, _, _ in rows for line in label.split("\n")), default=4)
    fig, ax = figure_axes(ax, (3.8 + 0.075 * widest, 1.2 + 0.28 * lines), "plot_waterfall",
                          figure=figure)
    level = start
    ax.plot([start], [0], "o", color="black")
    for y, (_, value, kind) in enumerate(rows, start=1):
        ax.barh(y, value, left=level, color=sign_color(value), edgecolor="white",
                hatch="//" if kind == "or" else "", alpha=0.45 if kind == "rest" else 1.0)
        ax.annotate(f"{value:+.3g}", (level + value, y), xytext=(4 if value >= 0 else -4, 0),
                    textcoords="offset points", va="center", fontsize="x-small",
                    ha="left" if value >= 0 else "right")
        ax.plot([level + value] * 2, [y - 0.4, y + 0.6], color="grey", lw=0.5)
        level += value
    ax.plot([end], [len(rows) + 1], "o", color="black")
    ax.axvline(start, color="grey", lw=0.6, ls=":")
    ax.axvline(end, color="black", lw=0.6, ls="--")
    ax.set_yticks(range(len(rows) + 2), ["v(∅)", *(label for label, _, _ in rows), "v(N)"],
                  fontsize="small")
    ax.set_ylim(len(rows) + 1.6, -0.6)
    ax.use_sticky_edges = False  # bars stick to their base: room for the value labels
    ax.margins(x=0.12)
    target = "" if result.target_text is None else f" for {result.target_text.strip()!r}"
    ax.set_title(f"v(∅) = {start:.4g} to v(N) = {end:.4g}{target}: {end - start:+.3g}",
                 fontsize="medium")
    ax.set_xlabel("value (AND solid, OR hatched, pale: summed)", fontsize="small")
    return fig, ax


def _segments(result: InteractionResult) -> list[tuple[str, int | None]]:
    """The prompt cut into ``(text, player)`` pieces: player words and, between them, the
    other words (``None``); only the players when the result has no prompt and spans."""
    prompt, spans = result.metadata.get("prompt"), result.metadata.get("player_spans")
    if not isinstance(prompt, str) or not spans or len(spans) != result.n_players:
        return [(label, index) for index, label in enumerate(result.players)]
    pieces: list[tuple[str, int | None]] = []
    cursor = 0
    for start, end, player in sorted((s, e, i) for i, (s, e) in enumerate(spans)):
        pieces += [(word, None) for word in re.findall(r"\S+", prompt[cursor:start])]
        pieces.append((prompt[start:end], player))
        cursor = end
    pieces += [(word, None) for word in re.findall(r"\S+", prompt[cursor:])]
    return pieces


def plot_token_heatmap(
    result: InteractionResult,
    attribution: Literal["shapley", "banzhaf"] = "shapley",
    *,
    of: Literal["values", "interactions", "noise"] = "values",
    ax: Axes | None = None,
    figure: Figure | None = None,
) -> tuple[Figure, Axes]:
    """The prompt with each player word coloured by its first-order value.

    Words that are not players are grey; the value is printed under each player (red
    positive, blue negative, one colour scale symmetric around zero). Results of
    :class:`~captum_interactions.adapters.LLMInteractions` show their whole prompt (from
    ``metadata["prompt"]`` and ``["player_spans"]``) followed by the target; other results
    show their players in order.

    Parameters
    ----------
    result : InteractionResult
        The result to draw.
    attribution, of
        Which first-order view, as in :meth:`InteractionResult.attribution_map`.
    ax, figure
        Where to draw, as in :func:`plot_waterfall`; returns ``(Figure, Axes)``.
    """
    _check(result, "plot_token_heatmap")
    values = result.first_order(attribution, of).tolist()
    pieces = _segments(result)
    if result.target_text is not None:
        pieces.append((f"→ {result.target_text.strip()}", -1))
    placed, x, line = [], 0.0, 0
    for text, player in pieces:
        width = len(text) + 1.0
        if x and x + width > _LINE_WIDTH:
            x, line = 0.0, line + 1
        placed.append((text, player, x, line, width))
        x += width + 0.6
    fig, ax = figure_axes(ax, (0.4 + _CHAR * _LINE_WIDTH, 0.9 + _LINE * (line + 1)),
                          "plot_token_heatmap", figure=figure)
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import LinearSegmentedColormap, Normalize
    from matplotlib.patches import Rectangle

    reach = max((abs(value) for value in values), default=1.0) or 1.0
    norm = Normalize(-reach, reach)
    cmap = LinearSegmentedColormap.from_list("sign", [NEGATIVE, "#ffffff", POSITIVE])
    for text, player, x, row, width in placed:
        y = -row * 1.6
        if player is None:
            face, edge = "#eeeeee", "none"
        elif player < 0:
            face, edge = "white", "black"
        else:
            face, edge = cmap(norm(values[player])), "none"
        ax.add_patch(Rectangle((x, y - 0.45), width, 0.9, facecolor=face, edgecolor=edge))
        ax.text(x + width / 2, y, text, ha="center", va="center", fontsize="small",
                color="#666666" if player is None else "black")
        if player is not None and player >= 0:
            ax.text(x + width / 2, y - 0.72, f"{values[player]:+.2g}", ha="center", va="center",
                    fontsize="x-small", color=sign_color(values[player]))
    ax.set_xlim(-0.5, _LINE_WIDTH + 0.5)
    ax.set_ylim(-line * 1.6 - 1.1, 0.7)
    ax.set_axis_off()
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, orientation="horizontal",
                 fraction=0.08, pad=0.02, shrink=0.5,
                 label=f"{attribution.capitalize()} value of each word, {_GAMES[of]}")
    return fig, ax

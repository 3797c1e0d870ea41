"""Drawing the interaction graphs with matplotlib (imported only when a drawing is made).

Both functions return ``(fig, ax)`` like Captum's plots and draw into ``ax`` when given.
They are laid out for what a reader can take in: 10-12 players and the 20-30 strongest
interactions.

* :func:`draw_and_or_graph`: three columns, players on the left (in player order), the
  strongest interactions in the middle (strongest at the top; square = AND, diamond = OR,
  red = positive, blue = negative, area ~ |I|) with their labels and values, the output on
  the right; line width of an interaction's link to the output ~ |I|.
* :func:`draw_player_graph`: players on a circle (area ~ |attribution|, colour = its sign),
  positive and negative pair strength as two separate curved edges with their values (red
  and blue, width ~ strength); or, beyond 6 players, a matrix of the pair strengths.

>>> import matplotlib
>>> matplotlib.use("Agg")
>>> from captum_interactions import InteractionResult, and_transform
>>> from captum_interactions.graphs.build import and_or_graph
>>> v = torch.tensor([0.0, 1.0, 2.0, 5.0])
>>> result = InteractionResult(["a", "b"], v, and_transform(v), torch.zeros(4))
>>> fig, ax = draw_and_or_graph(and_or_graph(result))
>>> [text.get_text() for text in ax.texts][:2]
['a', 'b']
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal

import networkx as nx

from captum_interactions.exceptions import InteractionError

from ._mpl import NEGATIVE, POSITIVE, figure_axes, sign_color

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["draw_and_or_graph", "draw_player_graph"]

_MARKERS = {"and": "s", "or": "D"}
#: Inches per character of "small" and "x-small" labels, and per row of a drawing.
_SMALL, _X_SMALL, _ROW = 0.075, 0.062, 0.3
#: Up to this many players, draw_player_graph draws a circle by default, beyond a matrix.
_CIRCLE_PLAYERS = 6


def _check_kind(graph: nx.Graph, kind: str, builder: str) -> None:
    if not isinstance(graph, nx.Graph) or graph.graph.get("kind") != kind:
        got = graph.graph.get("kind") if isinstance(graph, nx.Graph) else type(graph).__name__
        raise InteractionError(
            f"expected a graph made by {builder}(result) (graph attribute kind={kind!r}), got "
            f"{got!r}; build it with captum_interactions.graphs.{builder}"
        )


def _players(graph: nx.Graph) -> list[str]:
    """Player node ids in player order."""
    players = [node for node, kind in graph.nodes(data="kind") if kind == "player"]
    return sorted(players, key=lambda node: graph.nodes[node]["index"])


def _legend(ax: Axes, extra: list | None = None) -> None:
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=POSITIVE, lw=3, label="positive"),
               Line2D([], [], color=NEGATIVE, lw=3, label="negative"), *(extra or [])]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0),
              ncol=len(handles), frameon=False, fontsize="small")


def draw_and_or_graph(
    graph: nx.DiGraph,
    *,
    max_interactions: int = 30,
    ax: Axes | None = None,
    figure: Figure | None = None,
    title: str | None = None,
) -> tuple[Figure, Axes]:
    """Draw an AND-OR graph made by :func:`~captum_interactions.graphs.and_or_graph`.

    The columns are laid out in inches from the longest labels, so nothing overlaps: a new
    figure is as wide as its labels need.

    Parameters
    ----------
    graph : networkx.DiGraph
        The AND-OR graph.
    max_interactions : int
        Draw only the strongest interactions (by rank), 30 by default; the title says how
        many of how many are shown.
    ax : matplotlib Axes, optional
        Draw into these axes instead of a new figure.
    figure : matplotlib Figure, optional
        An empty figure to draw into (resized to fit), e.g. one made without pyplot.
    title : str, optional
        Defaults to the explained target.

    Returns
    -------
    (Figure, Axes)
    """
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D

    _check_kind(graph, "and_or", "and_or_graph")
    players = _players(graph)
    every = sorted((node for node, kind in graph.nodes(data="kind") if kind == "interaction"),
                   key=lambda node: graph.nodes[node]["rank"])
    terms = every[:max_interactions]
    output = graph.nodes["output"]
    texts = {node: f"{graph.nodes[node]['label']}   {graph.nodes[node]['value']:+.3g}"
             for node in terms}
    out_text = f"{output['label']}\nv(N) = {output['value']:.3g}"
    # columns in inches: player labels | players | terms and their labels | output | its label
    x_players = 0.3 + _SMALL * max((len(graph.nodes[p]["label"]) for p in players), default=1)
    x_terms = x_players + 2.2
    x_output = x_terms + 0.6 + _X_SMALL * max((len(text) for text in texts.values()),
                                              default=1)
    width = x_output + 0.5 + _SMALL * max(len(line) for line in out_text.split("\n"))
    rows = max(len(players), len(terms), 1)
    fig, ax = figure_axes(ax, (width, 1.6 + _ROW * rows), "draw_and_or_graph", figure=figure)

    def spread(count: int) -> list[float]:  # evenly over the rows, top to bottom
        return [rows - 1 - (i + 0.5) * rows / count + 0.5 for i in range(count)]

    place = {node: (x_players, y) for node, y in zip(players, spread(len(players)), strict=True)}
    place.update({node: (x_terms, y) for node, y in zip(terms, spread(len(terms)), strict=True)})
    place["output"] = (x_output, (rows - 1) / 2)
    strongest = max((graph.nodes[node]["strength"] for node in terms), default=1.0) or 1.0

    members, member_colors, links, link_colors, link_widths = [], [], [], [], []
    for node in terms:
        data = graph.nodes[node]
        for player in graph.predecessors(node):
            members.append([place[player], place[node]])
            member_colors.append(sign_color(data["value"]))
        links.append([place[node], place["output"]])
        link_colors.append(sign_color(data["value"]))
        link_widths.append(0.5 + 3.0 * data["strength"] / strongest)
    ax.add_collection(LineCollection(members, colors=member_colors, linewidths=0.8,
                                     alpha=0.25, zorder=1))
    ax.add_collection(LineCollection(links, colors=link_colors, linewidths=link_widths,
                                     alpha=0.3, zorder=1))

    for node in players:
        x, y = place[node]
        ax.scatter([x], [y], s=90, color="#34495e", zorder=3)
        ax.text(x - 0.15, y, graph.nodes[node]["label"], ha="right", va="center",
                fontsize="small")
    for node in terms:
        x, y = place[node]
        data = graph.nodes[node]
        area = 25 + 175 * data["strength"] / strongest
        ax.scatter([x], [y], s=area, marker=_MARKERS[data["type"]],
                   color=sign_color(data["value"]), edgecolor="white", zorder=3)
        ax.text(x + 0.15, y, texts[node], ha="left", va="center", fontsize="x-small",
                zorder=4, bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85,
                                "pad": 0.5})
    x, y = place["output"]
    ax.scatter([x], [y], s=160, marker="o", color="#2c3e50", zorder=3)
    ax.text(x + 0.2, y, out_text, ha="left", va="center", fontsize="small")

    ax.set_xlim(0, width)
    ax.set_ylim(-0.6, rows - 0.4)
    ax.set_axis_off()
    if title is None:
        title = f"AND-OR interactions for {output['label']!r}"
    shown = (f"all {len(every)} salient terms" if len(terms) == len(every)
             else f"the strongest {len(terms)} of {len(every)} salient terms")
    ax.set_title(f"{title}\n{shown}", fontsize="medium")
    _legend(ax, [Line2D([], [], ls="", marker=_MARKERS["and"], color="gray", label="AND"),
                 Line2D([], [], ls="", marker=_MARKERS["or"], color="gray", label="OR")])
    return fig, ax


def draw_player_graph(
    graph: nx.Graph,
    *,
    view: Literal["auto", "circle", "matrix"] = "auto",
    max_links: int = 12,
    ax: Axes | None = None,
    figure: Figure | None = None,
    title: str | None = None,
) -> tuple[Figure, Axes]:
    """Draw a player graph made by :func:`~captum_interactions.graphs.player_graph`.

    Parameters
    ----------
    graph : networkx.Graph
        The player graph.
    view : {"auto", "circle", "matrix"}
        ``"circle"``: players on a circle (area ~ |attribution|, colour = its sign) joined by
        the ``max_links`` strongest links, a red and a blue curve for the positive and the
        negative strength of a pair, each with its value. ``"matrix"``: every pair's
        positive (above the diagonal) and negative (below) strength as numbers on a grid,
        the players' attributions on the diagonal; readable for any number of players.
        ``"auto"`` (default): the circle up to 6 players, the matrix beyond.
    max_links : int
        Links drawn in the circle view (the strongest; the title says how many of how many).
    ax : matplotlib Axes, optional
        Draw into these axes instead of a new figure.
    figure : matplotlib Figure, optional
        An empty figure to draw into (resized to fit), e.g. one made without pyplot.
    title : str, optional
        Defaults to a description of the encoding.

    Returns
    -------
    (Figure, Axes)
    """
    _check_kind(graph, "player", "player_graph")
    if view not in ("auto", "circle", "matrix"):
        raise InteractionError(f"view must be 'auto', 'circle' or 'matrix', got {view!r}")
    if isinstance(max_links, bool) or not isinstance(max_links, int) or max_links < 1:
        raise InteractionError(f"max_links must be a positive int, got {max_links!r}")
    players = _players(graph)
    if view == "auto":
        view = "circle" if len(players) <= _CIRCLE_PLAYERS else "matrix"
    draw = _player_circle if view == "circle" else _player_matrix
    return draw(graph, players, max_links=max_links, ax=ax, figure=figure, title=title)


def _player_circle(graph, players, *, max_links, ax, figure, title):
    from matplotlib.patches import FancyArrowPatch

    fig, ax = figure_axes(ax, (6.5, 6.8), "draw_player_graph", figure=figure)
    count = max(len(players), 1)
    place = {node: (math.sin(2 * math.pi * i / count), math.cos(2 * math.pi * i / count))
             for i, node in enumerate(players)}  # clockwise from the top
    links = sorted(((data[kind], u, v, kind) for u, v, data in graph.edges(data=True)
                    for kind in ("positive", "negative") if data[kind] > 0), reverse=True)
    strongest = links[0][0] if links else 1.0
    for strength, u, v, kind in links[:max_links]:
        color, bend = (POSITIVE, 0.15) if kind == "positive" else (NEGATIVE, -0.15)
        ax.add_patch(FancyArrowPatch(
            place[u], place[v], arrowstyle="-", connectionstyle=f"arc3,rad={bend}",
            color=color, alpha=0.6, linewidth=0.5 + 5.0 * strength / strongest, zorder=1))
        # the arc is a quadratic Bézier with its control point at the chord's middle plus
        # bend × (dy, -dx); the curve's middle is halfway there
        (x0, y0), (x1, y1) = place[u], place[v]
        mx, my = (x0 + x1) / 2 + bend / 2 * (y1 - y0), (y0 + y1) / 2 - bend / 2 * (x1 - x0)
        ax.text(mx, my, f"{'+' if kind == 'positive' else '-'}{strength:.2g}", color=color,
                ha="center", va="center", fontsize="x-small", zorder=4,
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 0.3})
    largest = max((abs(graph.nodes[node]["attribution"]) for node in players),
                  default=1.0) or 1.0
    for node in players:
        data = graph.nodes[node]
        x, y = place[node]
        ax.scatter([x], [y], s=60 + 540 * abs(data["attribution"]) / largest,
                   color=sign_color(data["attribution"]), edgecolor="white", zorder=3)
        ax.text(1.2 * x, 1.2 * y, f"{data['label']}\n{data['attribution']:+.2g}",
                ha="center", va="center", fontsize="small")
    ax.set_xlim(-1.5, 1.5)
    ax.set_ylim(-1.5, 1.5)
    ax.set_aspect("equal")
    ax.set_axis_off()
    if title is None:
        title = (f"players ({graph.graph['attribution']} value as size and colour) linked by "
                 "the strength of shared salient interactions")
    shown = min(max_links, len(links))
    title += (f"\nall {len(links)} links" if shown == len(links)
              else f"\nthe strongest {shown} of {len(links)} links")
    ax.set_title(title, fontsize="small")
    _legend(ax)
    return fig, ax


def _player_matrix(graph, players, *, max_links, ax, figure, title):
    import numpy as np

    count = len(players)
    labels = [graph.nodes[node]["label"] for node in players]
    side = 1.2 + 0.075 * max((len(label) for label in labels), default=1) + 0.55 * count
    fig, ax = figure_axes(ax, (side + 0.6, side + 0.4), "draw_player_graph", figure=figure)
    positive, negative = np.zeros((count, count)), np.zeros((count, count))
    index = {node: i for i, node in enumerate(players)}
    for u, v, data in graph.edges(data=True):
        i, j = sorted((index[u], index[v]))
        positive[i, j], negative[j, i] = data["positive"], data["negative"]
    largest = max(positive.max(initial=0), negative.max(initial=0)) or 1.0
    upper = np.triu(np.ones((count, count), dtype=bool), 1)
    ax.imshow(np.ma.masked_where(~upper, positive), cmap="Reds", vmin=0, vmax=largest * 1.6)
    ax.imshow(np.ma.masked_where(~upper.T, negative), cmap="Blues", vmin=0,
              vmax=largest * 1.6)
    for i in range(count):
        for j in range(count):
            if i == j:
                value = graph.nodes[players[i]]["attribution"]
                text, color = f"{value:+.2g}", sign_color(value)
            else:
                value = positive[i, j] if j > i else negative[i, j]
                if value == 0:
                    continue
                text, color = f"{'+' if j > i else '-'}{value:.2g}", "black"
            ax.text(j, i, text, ha="center", va="center", fontsize="x-small", color=color,
                    fontweight="bold" if i == j else "normal")
    ax.set_xticks(range(count), labels, rotation=45, ha="right", fontsize="small")
    ax.set_yticks(range(count), labels, fontsize="small")
    ax.set_xticks(np.arange(count + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(count + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="white", lw=1.5)
    ax.tick_params(which="minor", length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if title is None:
        title = (f"pair strength of shared salient interactions: positive above, negative "
                 f"below the diagonal;\n{graph.graph['attribution']} values on the diagonal")
    ax.set_title(title, fontsize="small")
    return fig, ax

"""Drawing the interaction graphs with matplotlib (imported only when a drawing is made).

Both functions return ``(fig, ax)`` like Captum's plots and draw into ``ax`` when given.
They are laid out for what a reader can take in: 10-12 players and the 20-30 strongest
interactions.

* :func:`draw_and_or_graph`: three columns, players on the left (in player order), the
  strongest interactions in the middle (strongest at the top; square = AND, diamond = OR,
  red = positive, blue = negative, area ~ |I|) with their labels and values, the output on
  the right; line width of an interaction's link to the output ~ |I|.
* :func:`draw_player_graph`: players on a circle (area ~ |attribution|, colour = its sign),
  positive and negative pair strength as two separate curved edges (red and blue, width ~
  strength).

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
from typing import TYPE_CHECKING

import networkx as nx

from captum_interactions.exceptions import InteractionError

from ._mpl import NEGATIVE, POSITIVE, figure_axes, sign_color

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["draw_and_or_graph", "draw_player_graph"]

_MARKERS = {"and": "s", "or": "D"}


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
    title: str | None = None,
) -> tuple[Figure, Axes]:
    """Draw an AND-OR graph made by :func:`~captum_interactions.graphs.and_or_graph`.

    Parameters
    ----------
    graph : networkx.DiGraph
        The AND-OR graph.
    max_interactions : int
        Draw only the strongest interactions (by rank), 30 by default.
    ax : matplotlib Axes, optional
        Draw into these axes instead of a new figure.
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
    terms = sorted((node for node, kind in graph.nodes(data="kind") if kind == "interaction"),
                   key=lambda node: graph.nodes[node]["rank"])[:max_interactions]
    rows = max(len(players), len(terms), 1)
    fig, ax = figure_axes(ax, (9.0, max(3.5, 0.3 * rows + 1.2)), "draw_and_or_graph")

    def spread(count: int) -> list[float]:  # evenly over the rows, top to bottom
        return [rows - 1 - (i + 0.5) * rows / count + 0.5 for i in range(count)]

    place = {node: (0.0, y) for node, y in zip(players, spread(len(players)), strict=True)}
    place.update({node: (1.0, y) for node, y in zip(terms, spread(len(terms)), strict=True)})
    place["output"] = (2.4, (rows - 1) / 2)
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
                                     alpha=0.45, zorder=1))

    for node in players:
        x, y = place[node]
        data = graph.nodes[node]
        ax.scatter([x], [y], s=90, color="#34495e", zorder=3)
        ax.text(x - 0.06, y, data["label"], ha="right", va="center", fontsize="small")
    for node in terms:
        x, y = place[node]
        data = graph.nodes[node]
        area = 25 + 175 * data["strength"] / strongest
        ax.scatter([x], [y], s=area, marker=_MARKERS[data["type"]],
                   color=sign_color(data["value"]), edgecolor="white", zorder=3)
        ax.text(x + 0.07, y, f"{data['label']}   {data['value']:+.3g}", ha="left", va="center",
                fontsize="x-small", zorder=4,
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 0.5})
    output = graph.nodes["output"]
    x, y = place["output"]
    ax.scatter([x], [y], s=160, marker="o", color="#2c3e50", zorder=3)
    ax.text(x, y - 0.6, f"{output['label']}\nv(N) = {output['value']:.3g}", ha="center",
            va="top", fontsize="small")

    ax.set_xlim(-0.7, 2.8)
    ax.set_ylim(-1.2 - 0.02 * rows, rows - 0.3)
    ax.set_axis_off()
    hidden = sum(1 for _, kind in graph.nodes(data="kind") if kind == "interaction") - len(terms)
    if title is None:
        title = f"AND-OR interactions for {output['label']!r}"
        if hidden:
            title += f" (strongest {len(terms)}; {hidden} more not drawn)"
    ax.set_title(title, fontsize="medium")
    _legend(ax, [Line2D([], [], ls="", marker=_MARKERS["and"], color="gray", label="AND"),
                 Line2D([], [], ls="", marker=_MARKERS["or"], color="gray", label="OR")])
    return fig, ax


def draw_player_graph(
    graph: nx.Graph,
    *,
    ax: Axes | None = None,
    title: str | None = None,
) -> tuple[Figure, Axes]:
    """Draw a player graph made by :func:`~captum_interactions.graphs.player_graph`.

    Parameters
    ----------
    graph : networkx.Graph
        The player graph.
    ax : matplotlib Axes, optional
        Draw into these axes instead of a new figure.
    title : str, optional
        Defaults to a description of the encoding.

    Returns
    -------
    (Figure, Axes)
    """
    from matplotlib.patches import FancyArrowPatch

    _check_kind(graph, "player", "player_graph")
    fig, ax = figure_axes(ax, (6.5, 6.5), "draw_player_graph")
    players = _players(graph)
    count = max(len(players), 1)
    place = {node: (math.sin(2 * math.pi * i / count), math.cos(2 * math.pi * i / count))
             for i, node in enumerate(players)}  # clockwise from the top
    strongest = max((max(data["positive"], data["negative"])
                     for _, _, data in graph.edges(data=True)), default=1.0) or 1.0
    for u, v, data in graph.edges(data=True):
        for strength, color, bend in ((data["positive"], POSITIVE, 0.12),
                                      (data["negative"], NEGATIVE, -0.12)):
            if strength > 0:
                ax.add_patch(FancyArrowPatch(
                    place[u], place[v], arrowstyle="-", connectionstyle=f"arc3,rad={bend}",
                    color=color, alpha=0.6, linewidth=0.5 + 5.0 * strength / strongest,
                    zorder=1))
    largest = max((abs(graph.nodes[node]["attribution"]) for node in players),
                  default=1.0) or 1.0
    for node in players:
        data = graph.nodes[node]
        x, y = place[node]
        ax.scatter([x], [y], s=60 + 540 * abs(data["attribution"]) / largest,
                   color=sign_color(data["attribution"]), edgecolor="white", zorder=3)
        ax.text(1.18 * x, 1.18 * y, data["label"], ha="center", va="center",
                fontsize="small")
    ax.set_xlim(-1.45, 1.45)
    ax.set_ylim(-1.45, 1.45)
    ax.set_aspect("equal")
    ax.set_axis_off()
    if title is None:
        title = (f"players ({graph.graph['attribution']} value as node size and colour) linked "
                 "by the strength of shared salient interactions")
    ax.set_title(title, fontsize="small")
    _legend(ax)
    return fig, ax

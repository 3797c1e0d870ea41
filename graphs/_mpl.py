"""Lazy matplotlib access shared by the drawing and plotting modules."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING

from captum_interactions._optional import require
from captum_interactions.exceptions import InteractionError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "NEGATIVE",
    "NOT_SHARED",
    "POSITIVE",
    "SHARED",
    "figure_axes",
    "figure_row",
    "sign_color",
    "wrap_label",
]

#: Colours used by every drawing: sign of a value, and shared vs non-shared sets.
POSITIVE, NEGATIVE = "#c0392b", "#2874a6"
SHARED, NOT_SHARED = "#27ae60", "#95a5a6"


def figure_axes(
    ax: Axes | None, figsize: tuple[float, float], purpose: str, *,
    figure: Figure | None = None,
) -> tuple[Figure, Axes]:
    """``(fig, ax)``: the figure of ``ax``; or one axes on ``figure`` (empty, resized to
    ``figsize`` inches), or on a new pyplot figure of ``figsize``."""
    if ax is not None and figure is None:
        return ax.figure, ax
    fig, (ax,) = figure_row(None if ax is None else [ax], 1, figsize, purpose, figure=figure)
    return fig, ax


def figure_row(
    axes: Sequence[Axes] | None, count: int, figsize: tuple[float, float], purpose: str,
    *, figure: Figure | None = None,
) -> tuple[Figure, list[Axes]]:
    """``(fig, axes)``: the figure of ``count`` given axes; or ``count`` axes in a row on
    ``figure`` (an empty figure, e.g. made without pyplot, resized to ``figsize`` inches), or
    on a new pyplot figure of ``figsize``."""
    if axes is not None and figure is not None:
        raise InteractionError(f"{purpose} takes axes= or figure=, not both")
    if figure is not None:
        if figure.axes:
            raise InteractionError(f"{purpose} draws into an empty figure=, this one has "
                                   f"{len(figure.axes)} axes; pass axes= to draw into those")
        figure.set_size_inches(*figsize)
        figure.set_layout_engine("constrained")
        return figure, list(figure.subplots(1, count, squeeze=False)[0])
    if axes is None:
        plt = require("matplotlib.pyplot", purpose=purpose)
        fig, grid = plt.subplots(1, count, squeeze=False, figsize=figsize, layout="constrained")
        return fig, list(grid[0])
    axes = list(axes)
    if len(axes) != count:
        raise InteractionError(f"{purpose} draws {count} panel(s) and needs as many axes, got "
                               f"{len(axes)}")
    return axes[0].figure, axes


def wrap_label(label: str, width: int = 28) -> str:
    """``label`` broken into lines of at most ``width`` characters after its ``&`` and ``|``
    joints (between an interaction's players), and at spaces inside a longer player.

    >>> print(wrap_label("capital | France | capital#2 | Germany | capital#3", 20))
    capital | France |
    capital#2 |
    Germany | capital#3
    """
    lines: list[str] = []
    for piece in re.split(r"(?<=[&|]) ", label):  # "a & b & c" -> "a &", "b &", "c"
        if lines and len(lines[-1]) + 1 + len(piece) <= width:
            lines[-1] += " " + piece
        else:
            lines += textwrap.wrap(piece, width) or [piece]
    return "\n".join(lines)


def sign_color(value: float) -> str:
    """Red for positive, blue for negative (and zero) values."""
    return POSITIVE if value > 0 else NEGATIVE

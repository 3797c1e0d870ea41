"""Lazy matplotlib access shared by the drawing and plotting modules."""

from __future__ import annotations

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
]

#: Colours used by every drawing: sign of a value, and shared vs non-shared sets.
POSITIVE, NEGATIVE = "#c0392b", "#2874a6"
SHARED, NOT_SHARED = "#27ae60", "#95a5a6"


def figure_axes(
    ax: Axes | None, figsize: tuple[float, float], purpose: str
) -> tuple[Figure, Axes]:
    """``(fig, ax)``: the figure of ``ax``, or a new figure of ``figsize`` inches."""
    plt = require("matplotlib.pyplot", purpose=purpose)
    if ax is None:
        return plt.subplots(figsize=figsize)
    return ax.figure, ax


def figure_row(
    axes: Sequence[Axes] | None, count: int, figsize: tuple[float, float], purpose: str
) -> tuple[Figure, list[Axes]]:
    """``(fig, axes)``: the figure of ``count`` given axes, or a new figure of ``figsize``
    inches with ``count`` axes in a row."""
    if axes is None:
        plt = require("matplotlib.pyplot", purpose=purpose)
        fig, grid = plt.subplots(1, count, squeeze=False, figsize=figsize, layout="constrained")
        return fig, list(grid[0])
    axes = list(axes)
    if len(axes) != count:
        raise InteractionError(f"{purpose} draws {count} panel(s) and needs as many axes, got "
                               f"{len(axes)}")
    return axes[0].figure, axes


def sign_color(value: float) -> str:
    """Red for positive, blue for negative (and zero) values."""
    return POSITIVE if value > 0 else NEGATIVE

"""Möbius coefficients to and from ``shapiq.InteractionValues`` (shapiq imported on use).

The export is lossless: the coefficients of the game that a result's AND and OR terms
rebuild (:func:`~captum_interactions.moebius_coefficients`), one entry per
non-zero coefficient in an explicit ``interaction_lookup`` (shapiq would enumerate every
subset without one), and ``baseline_value = m(∅)`` (shapiq overwrites the empty coefficient
with it). Other indices come from shapiq's own ``MoebiusConverter``. Only the constructor
arguments, ``dict_values``, ``baseline_value``, ``index`` and ``n_players`` are used: they
are the same in shapiq 1.4 (Python 3.10/3.11) and 1.5+ (Python 3.12+; checked on 1.6 and
1.8).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from ._optional import require
from .exceptions import InteractionError
from .subsets import check_n_players, n_players_of, to_indices, to_mask

if TYPE_CHECKING:
    from shapiq import InteractionValues

__all__ = ["INDICES", "check_index", "coefficients_from_shapiq", "to_interaction_values"]

#: shapiq indices an export can take: Möbius itself, or one computed by shapiq's converter.
INDICES = ("Moebius", "SV", "BV", "SII", "k-SII", "STII", "FSII", "FBII")
#: Indices that are per-player values (order 1).
_VALUES = ("SV", "BV")


def check_index(index: str, order: int | None, n: int) -> int:
    """The order of the export (checked); raise before any work for a bad index or order."""
    if index not in INDICES:
        raise InteractionError(f"index={index!r} is not supported; choose one of {list(INDICES)}")
    if index == "Moebius":
        if order not in (None, n):
            raise InteractionError(
                f"order={order!r}: a Möbius export holds every order of the game (up to "
                f"n_players={n}); leave order unset, or choose an index such as 'k-SII'"
            )
        return n
    if index in _VALUES:
        if order not in (None, 1):
            raise InteractionError(f"index={index!r} is a per-player value: order must be 1 "
                                   f"or unset, got {order!r}")
        return 1
    order = 2 if order is None else order
    if isinstance(order, bool) or not isinstance(order, int) or not 1 <= order <= n:
        raise InteractionError(f"order must be an int from 1 to n_players={n} for "
                               f"index={index!r}, got {order!r}")
    return order


def to_interaction_values(
    coefficients: torch.Tensor, *, index: str = "Moebius", order: int | None = None
) -> InteractionValues:
    """``shapiq.InteractionValues`` of the game with Möbius coefficients ``coefficients``
    (``[2**n]``, by bitmask); ``index`` and ``order`` as in
    :meth:`~captum_interactions.InteractionResult.to_shapiq`."""
    n = n_players_of(coefficients.shape[-1])
    order = check_index(index, order, n)
    interaction_values = require("shapiq.interaction_values", purpose="to_shapiq")
    coefficients = coefficients.detach().to("cpu", torch.float64)
    masks = [0, *torch.nonzero(coefficients[1:]).flatten().add(1).tolist()]
    values = coefficients[masks].numpy()
    moebius = interaction_values.InteractionValues(
        values=values,
        index="Moebius",
        max_order=n,
        min_order=0,
        n_players=n,
        interaction_lookup={to_indices(mask): position for position, mask in enumerate(masks)},
        estimated=False,
        baseline_value=float(values[0]),
    )
    if index == "Moebius":
        return moebius
    converter = require("shapiq.game_theory.moebius_converter", purpose="to_shapiq")
    return converter.MoebiusConverter(moebius)(index=index, order=order)


def coefficients_from_shapiq(values: Any) -> torch.Tensor:
    """The ``[2**n]`` float64 Möbius coefficients (by bitmask) held by a
    ``shapiq.InteractionValues`` of index ``"Moebius"``; ``m(∅)`` is its baseline value when
    the empty set is not listed."""
    if not all(hasattr(values, name) for name in ("dict_values", "index", "n_players")):
        raise TypeError(f"expected a shapiq.InteractionValues, got {type(values).__name__}")
    if values.index != "Moebius":
        raise InteractionError(
            f"from_shapiq reads Möbius coefficients (AND interactions); got index "
            f"{values.index!r}, which cannot be turned back into a game. Compute the Möbius "
            "transform instead, e.g. shapiq.ExactComputer(n_players, game)('Moebius')"
        )
    n = check_n_players(int(values.n_players))
    coefficients = torch.zeros(1 << n, dtype=torch.float64)
    coefficients[0] = float(values.baseline_value)
    for players, value in values.dict_values.items():
        if len(set(players)) != len(players) or not all(0 <= int(i) < n for i in players):
            raise InteractionError(f"interaction {players!r} is not a set of players 0..{n - 1}")
        coefficients[to_mask(int(i) for i in players)] = float(value)
    return coefficients

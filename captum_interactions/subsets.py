"""Subsets of players as integer bitmasks.

Convention used everywhere in captum-interactions: a mask ``T`` over ``n`` players is an
integer in ``0 .. 2**n - 1`` whose bit ``i`` is set when player ``i`` is present. Vectors
over all masks (values, interactions) are indexed by that integer, so entry ``0`` is the
empty set and entry ``2**n - 1`` the full set.

>>> to_mask((0, 2))
5
>>> to_indices(5)
(0, 2)
>>> to_labels(5, ["the", "cat", "sat"])
('the', 'sat')
>>> masks_of_order(3, 2).tolist()
[3, 5, 6]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache

import torch

from .costs import MAX_PLAYERS
from .exceptions import InteractionError

__all__ = [
    "MASK_CONVENTION",
    "MAX_PLAYERS",
    "all_masks",
    "check_labels",
    "check_n_players",
    "mask_bits",
    "masks_of_order",
    "n_players_of",
    "order",
    "orders",
    "to_indices",
    "to_labels",
    "to_mask",
]

#: Text stored with every result so that a reader knows how vectors are indexed.
MASK_CONVENTION = "bitmask: index T over all 2**n subsets, bit i set = player i present"



def check_n_players(n: int) -> int:
    """Return ``n`` if it is a valid number of players, else raise a clear error."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n_players must be an int, got {type(n).__name__} ({n!r})")
    if not 0 <= n <= MAX_PLAYERS:
        raise InteractionError(
            f"n_players={n} is out of range: vectors over all 2**n masks need 0 <= n <= "
            f"{MAX_PLAYERS} (2**{MAX_PLAYERS} entries already take 8 GiB in float64). "
            "Group input elements into fewer players (feature_mask) to reduce n."
        )
    return n


def n_players_of(length: int) -> int:
    """Number of players ``n`` for a vector of length ``2**n``; error if not a power of two.

    >>> n_players_of(8)
    3
    """
    if length < 1 or length & (length - 1):
        raise InteractionError(
            f"expected a last dimension of length 2**n (one entry per mask of n players), "
            f"got length {length}; pad or recompute the values over all 2**n masks"
        )
    return check_n_players(length.bit_length() - 1)


def check_labels(labels: Sequence[object] | None, n: int, *, source: str) -> list[str]:
    """One unique label (a string) per player: ``labels`` checked, or ``x0 .. x{n-1}``.

    ``source`` says where ``n`` comes from, for the message (e.g. ``"the feature_mask"``).

    >>> check_labels(None, 2, source="the values")
    ['x0', 'x1']
    >>> check_labels(["a", "a"], 2, source="the values")
    Traceback (most recent call last):
    ...
    captum_interactions.exceptions.InteractionError: player labels must be unique; ...
    """
    if labels is None:
        return [f"x{i}" for i in range(n)]
    if isinstance(labels, (str, bytes)):
        raise TypeError(
            f"player labels must be a sequence with one label per player, not one string "
            f"({labels!r}); wrap a single label in a list"
        )
    labels = [str(label) for label in labels]
    if len(labels) != n:
        raise InteractionError(
            f"{len(labels)} player labels were given but {source} define(s) {n} players; "
            "give one label per player"
        )
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise InteractionError(
            f"player labels must be unique; {repeated} occur more than once in {labels}"
        )
    return labels


def to_mask(indices: Iterable[int]) -> int:
    """Bitmask of a collection of player indices (duplicates are an error)."""
    mask = 0
    for i in indices:
        if isinstance(i, bool) or not isinstance(i, int) or i < 0:
            raise InteractionError(f"player indices must be non-negative ints, got {i!r}")
        if mask >> i & 1:
            raise InteractionError(f"player index {i} appears twice in {tuple(indices)!r}")
        mask |= 1 << i
    return mask


def to_indices(mask: int) -> tuple[int, ...]:
    """Sorted player indices present in ``mask``."""
    return tuple(i for i in range(int(mask).bit_length()) if mask >> i & 1)


def to_labels(mask: int, players: Sequence[str]) -> tuple[str, ...]:
    """Player labels present in ``mask``."""
    indices = to_indices(mask)
    if indices and indices[-1] >= len(players):
        raise InteractionError(
            f"mask {mask} names player {indices[-1]} but only {len(players)} players exist"
        )
    return tuple(players[i] for i in indices)


def order(mask: int) -> int:
    """Number of players in ``mask`` (its popcount)."""
    return int(mask).bit_count()


def all_masks(n: int, *, device: torch.device | str | None = None) -> torch.Tensor:
    """All ``2**n`` masks in integer order, as an int64 tensor."""
    return torch.arange(1 << check_n_players(n), device=device)


@lru_cache(maxsize=32)
def _orders_cpu(n: int) -> torch.Tensor:
    counts = torch.zeros(1, dtype=torch.int64)
    for _ in range(n):  # popcount table doubles: orders of masks with the new bit are +1
        counts = torch.cat([counts, counts + 1])
    return counts


def orders(n: int, *, device: torch.device | str | None = None) -> torch.Tensor:
    """Order (popcount) of every mask ``0 .. 2**n - 1``.

    >>> orders(2).tolist()
    [0, 1, 1, 2]
    """
    return _orders_cpu(check_n_players(n)).to(device)


def masks_of_order(n: int, k: int, *, device: torch.device | str | None = None) -> torch.Tensor:
    """Masks with exactly ``k`` players, increasing."""
    return torch.nonzero(orders(n, device=device) == k).flatten()


def mask_bits(n: int, *, device: torch.device | str | None = None) -> torch.Tensor:
    """Boolean matrix ``[2**n, n]``: entry ``[T, i]`` says whether player ``i`` is in ``T``.

    >>> mask_bits(2).int().tolist()
    [[0, 0], [1, 0], [0, 1], [1, 1]]
    """
    masks = all_masks(n, device=device)
    return (masks[:, None] >> torch.arange(n, device=device)) & 1 == 1

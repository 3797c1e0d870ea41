"""Fast AND (Harsanyi/Möbius) and OR interaction transforms.

Each transform is a butterfly: one pass of differences (or sums) along every player axis
of the ``[2] * n`` view of a vector over all ``2**n`` masks, so it costs ``O(n * 2**n)``
time and ``O(2**n)`` memory and never builds a ``2**n x 2**n`` matrix. All functions work
on the last dimension, keep every leading (batch) dimension, and run on the input's
device and dtype (integers and booleans are promoted to float64).

>>> v = torch.tensor([0.0, 1.0, 2.0, 5.0])   # v(∅), v({0}), v({1}), v({0, 1})
>>> and_transform(v).tolist()                  # I_and({0, 1}) = 5 - 1 - 2 + 0
[0.0, 1.0, 2.0, 2.0]
>>> inverse_and_transform(and_transform(v)).tolist()
[0.0, 1.0, 2.0, 5.0]
>>> reconstruct(and_transform(v / 2), or_transform(v / 2)).tolist()
[0.0, 1.0, 2.0, 5.0]
"""

from __future__ import annotations

import torch

from .exceptions import InteractionError
from .subsets import n_players_of, orders

__all__ = [
    "and_transform",
    "inverse_and_transform",
    "inverse_or_transform",
    "moebius_coefficients",
    "or_transform",
    "reconstruct",
]


def _checked(values: torch.Tensor, name: str) -> tuple[torch.Tensor, int]:
    """Validate a vector (or batch of vectors) over all masks; return it and ``n``.

    Integer and boolean inputs come back as float64 (exact up to ``2**53``), so the
    differences of the transforms cannot wrap around.
    """
    if not isinstance(values, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor with last dimension 2**n, got "
            f"{type(values).__name__}; wrap it with torch.as_tensor(...)"
        )
    if values.dim() == 0:
        raise InteractionError(f"{name} must have a last dimension of length 2**n, got a scalar")
    n = n_players_of(values.shape[-1])
    if not (values.is_floating_point() or values.is_complex()):
        values = values.to(torch.float64)
    # One cheap reduction: a sum is finite whenever every entry is (the full check runs
    # only when it is not, e.g. on overflow, to count and report the bad entries).
    if (values.is_floating_point() or values.is_complex()) and not bool(
        torch.isfinite(values.sum())
    ):
        finite = torch.isfinite(values)
        if not bool(finite.all()):
            bad = int((~finite).sum())
            raise InteractionError(
                f"{name} contains {bad} non-finite entries (NaN or inf) out of "
                f"{values.numel()}; interactions of non-finite values are undefined. "
                "Check the model outputs (e.g. log of a zero probability)."
            )
    return values, n


def _butterfly_(x: torch.Tensor, n: int, *, subtract: bool) -> torch.Tensor:
    """In place: for every player i, x[T ∪ {i}] -= x[T] (or +=) for all T without i."""
    lead = x.shape[:-1]
    for i in range(n):
        view = x.view(*lead, 1 << (n - 1 - i), 2, 1 << i)
        if subtract:
            view[..., 1, :] -= view[..., 0, :]
        else:
            view[..., 1, :] += view[..., 0, :]
    return x


def _fresh(values: torch.Tensor) -> torch.Tensor:
    return values.clone(memory_format=torch.contiguous_format)


# Unchecked building blocks for solvers that apply the transforms (or their adjoints) in every
# iteration: the public functions' finiteness check is a host sync that has no place there.
def _subset_sums(x: torch.Tensor, n: int) -> torch.Tensor:
    """``out[..., T] = Σ_{S ⊆ T} x[..., S]`` (zeta transform; a new tensor)."""
    return _butterfly_(_fresh(x), n, subtract=False)


def _superset_sums(x: torch.Tensor, n: int) -> torch.Tensor:
    """``out[..., S] = Σ_{T ⊇ S} x[..., T]`` (the adjoint of :func:`_subset_sums`)."""
    return _butterfly_(x.flip(-1), n, subtract=False).flip(-1)


def and_transform(values: torch.Tensor) -> torch.Tensor:
    """AND interactions (Harsanyi dividends): ``I(S) = Σ_{L ⊆ S} (-1)^{|S|-|L|} v(L)``.

    Args:
        values (Tensor): ``[..., 2**n]``, ``values[..., T]`` is ``v(T)`` for bitmask ``T``.

    Returns:
        Tensor of the same shape, indexed by bitmask ``S``.
    """
    values, n = _checked(values, "values")
    return _butterfly_(_fresh(values), n, subtract=True)


def inverse_and_transform(interactions: torch.Tensor) -> torch.Tensor:
    """Values from AND interactions: ``v(T) = Σ_{S ⊆ T} I(S)``."""
    interactions, n = _checked(interactions, "interactions")
    return _subset_sums(interactions, n)


def or_transform(values: torch.Tensor) -> torch.Tensor:
    """OR interactions: ``I(S) = -Σ_{L ⊆ S} (-1)^{|S|-|L|} v(N \\ L)`` and ``I(∅) = v(∅)``.

    With them ``v(T) = I(∅) + Σ_{S ≠ ∅, S ∩ T ≠ ∅} I(S)`` for every ``T``.
    """
    values, n = _checked(values, "values")
    # v(N \ L) is v read backwards: the complement of bitmask L is (2**n - 1) - L.
    result = _butterfly_(values.flip(-1), n, subtract=True).neg_()
    result[..., 0] = values[..., 0]
    return result


def inverse_or_transform(interactions: torch.Tensor) -> torch.Tensor:
    """Values from OR interactions: ``v(T) = I(∅) + Σ_{S ≠ ∅, S ∩ T ≠ ∅} I(S)``."""
    interactions, n = _checked(interactions, "interactions")
    nonempty = interactions.clone()
    nonempty[..., 0] = 0
    sums = _subset_sums(nonempty, n)  # sums[L] = Σ_{∅ ≠ S ⊆ L} I(S)
    # Σ over S meeting T = Σ over all S minus Σ over S inside the complement of T.
    return interactions[..., :1] + sums[..., -1:] - sums.flip(-1)


def _check_pair(and_interactions: torch.Tensor, or_interactions: torch.Tensor) -> None:
    """AND and OR interactions of one shape on one device, else a clear error."""
    if and_interactions.shape != or_interactions.shape:
        raise InteractionError(
            f"AND and OR interactions must have the same shape, got "
            f"{tuple(and_interactions.shape)} and {tuple(or_interactions.shape)}"
        )
    if and_interactions.device != or_interactions.device:
        raise InteractionError(
            f"AND interactions are on {and_interactions.device} but OR interactions on "
            f"{or_interactions.device}; move both to one device with .to(device)"
        )


def reconstruct(and_interactions: torch.Tensor, or_interactions: torch.Tensor) -> torch.Tensor:
    """Universal matching: the values rebuilt from AND and OR interactions together.

    For interactions extracted from ``v`` with noise ``q`` this equals ``v + q``.
    """
    _check_pair(and_interactions, or_interactions)
    return inverse_and_transform(and_interactions) + inverse_or_transform(or_interactions)


def moebius_coefficients(and_interactions: torch.Tensor,
                         or_interactions: torch.Tensor) -> torch.Tensor:
    """Möbius coefficients ``m`` of the game that AND and OR interactions rebuild together.

    ``Σ_{R ⊆ T} m(R)`` equals :func:`reconstruct` on every mask ``T``. An OR term fires when
    ``S`` meets ``T``: ``1 - Π_{i ∈ S} (1 - [i ∈ T]) = Σ_{∅ ≠ R ⊆ S} (-1)^{|R|+1} [R ⊆ T]``, so

    ``m(∅) = I_and(∅) + I_or(∅)`` and ``m(R) = I_and(R) + (-1)^{|R|+1} Σ_{S ⊇ R} I_or(S)``.

    Coefficients stay exactly zero where no term reaches them (a sparse result stays sparse,
    unlike ``and_transform(reconstruct(...))``, which equals this up to rounding).

    >>> I_and = torch.tensor([1.0, 0.0, 0.0, 0.0])
    >>> I_or = torch.tensor([0.0, 0.0, 0.0, 2.0])       # OR{0, 1} = 2: v = 1, 3, 3, 3
    >>> moebius_coefficients(I_and, I_or).tolist()
    [1.0, 2.0, 2.0, -2.0]
    >>> inverse_and_transform(moebius_coefficients(I_and, I_or)).tolist()
    [1.0, 3.0, 3.0, 3.0]
    """
    and_interactions, n = _checked(and_interactions, "and_interactions")
    or_interactions, _ = _checked(or_interactions, "or_interactions")
    _check_pair(and_interactions, or_interactions)
    # at R != ∅ the supersets of R never include ∅; the empty set's own term is set below
    sign = 1.0 - 2.0 * (orders(n, device=or_interactions.device) % 2 == 0).to(
        or_interactions.dtype)
    coefficients = and_interactions + sign * _superset_sums(or_interactions, n)
    coefficients[..., 0] = and_interactions[..., 0] + or_interactions[..., 0]
    return coefficients

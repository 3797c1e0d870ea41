"""Games with known answers: results whose interactions are planted, value vectors of a
planted sparse game, and smooth log-odds-like values."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

import captum_interactions as ci
from captum_interactions import InteractionResult

__all__ = ["lm_like", "planted_game", "planted_result", "random_result"]

Terms = Mapping[int, float] | torch.Tensor


def _vector(terms: Terms | None, n: int) -> torch.Tensor:
    if isinstance(terms, torch.Tensor):
        return terms.to(torch.float64)
    out = torch.zeros(1 << n, dtype=torch.float64)
    for mask, value in (terms or {}).items():
        out[mask] = value
    return out


def planted_result(
    and_terms: Terms,
    or_terms: Terms | None = None,
    *,
    n: int | None = None,
    players: Sequence[str] | None = None,
    **fields,
) -> InteractionResult:
    """A result whose interactions are exactly the planted ones (``{mask: value}`` or a
    ``[2**n]`` tensor each), its values rebuilt by universal matching. ``n`` defaults to the
    tensors' size, else 3."""
    if n is None:
        sized = next((t for t in (and_terms, or_terms) if isinstance(t, torch.Tensor)), None)
        n = 3 if sized is None else sized.shape[-1].bit_length() - 1
    and_i, or_i = _vector(and_terms, n), _vector(or_terms, n)
    players = list(players) if players is not None else [f"w{i}" for i in range(n)]
    return InteractionResult(players, ci.reconstruct(and_i, or_i), and_i, or_i, **fields)


def random_result(
    n: int,
    *,
    seed: int | torch.Generator = 0,
    density: float = 0.3,
    players: Sequence[str] | None = None,
    **fields,
) -> InteractionResult:
    """A result with random sparse AND and OR terms (each entry non-zero with probability
    ``density``, standard normal), its values rebuilt by universal matching."""
    generator = seed if isinstance(seed, torch.Generator) else (
        torch.Generator().manual_seed(seed))

    def terms() -> torch.Tensor:
        values = torch.randn(1 << n, generator=generator, dtype=torch.float64)
        return values * (torch.rand(1 << n, generator=generator) < density)

    return planted_result(terms(), terms(), players=players, **fields)


def planted_game(n: int = 6) -> tuple[torch.Tensor, dict[tuple[str, int], float]]:
    """v(T) = 0.5 + 2 [0,1 ⊆ T] - 1.5 [2,3 ⊆ T] + [4 ∈ T or 5 ∈ T], and its planted terms."""
    masks = torch.arange(1 << n)
    has = [(masks >> i) & 1 == 1 for i in range(n)]
    values = (
        0.5 + 2.0 * (has[0] & has[1]) - 1.5 * (has[2] & has[3]) + 1.0 * (has[4] | has[5])
    ).to(torch.float64)
    planted = {("and", 0b000011): 2.0, ("and", 0b001100): -1.5, ("or", 0b110000): 1.0}
    return values, planted


def lm_like(n: int, batch: int, seed: int) -> torch.Tensor:
    """Smooth, dense log-odds-like values ``[batch, 2**n]``: a logistic of a random low-order
    game."""
    generator = torch.Generator().manual_seed(seed)
    bits = ci.subsets.mask_bits(n).to(torch.float64)
    weights = torch.randn(batch, n, generator=generator, dtype=torch.float64)
    pair = torch.randn(batch, n, n, generator=generator, dtype=torch.float64) / n
    score = bits @ weights.T + torch.einsum("ti,bij,tj->tb", bits, pair, bits)
    return (3 * torch.tanh(score / 2) - 4).T.contiguous()

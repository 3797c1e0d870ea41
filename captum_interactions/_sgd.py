"""The lab's reference optimiser: projected SGD with momentum on ``p`` and ``q``.

Reproduces the published recipe (Li & Zhang 2023; Chen et al. 2024): ``p`` and ``q``
start at zero, momentum 0.9, the learning rate decays log-linearly from ``lr`` to
``lr / 10`` over the iterations, and ``q`` is clipped into ``[-bound, bound]`` before
every step. Vectorised over a batch of samples with closed-form subgradients (adjoint
butterflies instead of autograd over dense ``2**n x 2**n`` matrices). Kept for comparison
and reproduction: it stops well above the optimum that the LP solvers reach.

>>> v = torch.tensor([[0.0, 1.0, 1.0, 1.0]], dtype=torch.float64)
>>> p, q = solve(v, torch.zeros(1, dtype=torch.float64), lr=0.1, iterations=200)
>>> p.shape, bool((q == 0).all())
(torch.Size([1, 4]), True)
"""

from __future__ import annotations

import torch

from ._transforms import _butterfly_, and_transform, or_transform

__all__ = ["solve"]


def _and_adjoint(x: torch.Tensor, n: int) -> torch.Tensor:
    """``A^T x`` for the Möbius transform ``A``: alternating sums over supersets."""
    return _butterfly_(x.flip(-1).clone(), n, subtract=True).flip(-1)


def solve(
    values: torch.Tensor,
    bound: torch.Tensor,
    *,
    lr: float = 1e-6,
    iterations: int = 20_000,
    momentum: float = 0.9,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(p, q)`` after projected SGD on ``Σ_{S≠∅} |I_and(S)| + |I_or(S)|`` (``[batch, 2**n]``)."""
    n = values.shape[-1].bit_length() - 1
    p = torch.zeros_like(values)
    q = torch.zeros_like(values)
    velocity_p, velocity_q = torch.zeros_like(p), torch.zeros_like(q)
    rates = torch.logspace(0, -1, iterations, dtype=torch.float64) * lr
    limit = bound[:, None]
    for rate in rates.tolist():
        q = torch.maximum(torch.minimum(q, limit), -limit)
        half = (values + q) / 2
        sign_and = and_transform(half + p).sign_()
        sign_or = or_transform(half - p).sign_()
        sign_and[..., 0] = 0
        sign_or[..., 0] = 0
        grad_and = _and_adjoint(sign_and, n)
        # OR transform = -(Möbius of v read backwards) on S ≠ ∅, so its adjoint reverses.
        grad_or = -_and_adjoint(sign_or, n).flip(-1)
        velocity_p = momentum * velocity_p + grad_and - grad_or
        velocity_q = momentum * velocity_q + (grad_and + grad_or) / 2
        p = p - rate * velocity_p
        q = q - rate * velocity_q
    q = torch.maximum(torch.minimum(q, limit), -limit)
    return p, q

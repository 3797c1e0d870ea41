"""The extraction LP's objective and duality: the loss every solver minimises and the dual
lower bound that certifies any solver's point.

The single-model LP (variables: AND and OR interactions of non-empty sets, the noise ``q``
and one free constant ``ξ``)::

    min Σ_{S≠∅} |a_S| + |o_S|   s.t.   Σ_{∅≠S⊆T} a_S - Σ_{∅≠S⊆N\\T} o_S - q_T + ξ = v_T,
                                       |q_T| <= bound

The OR part uses ``Σ_{S∩T≠∅} o_S = Σ_S o_S - Σ_{S⊆N\\T} o_S`` with the constant absorbed in
``ξ``. Joint extraction of ``M`` models adds the decomposition rows of a shared ``p̄`` and
replaces ``|x|`` by the pattern norm ``(1-α) max_m |x_m| + α Σ_m |x_m|``.

>>> x = torch.tensor([[3.0], [-1.0]])            # one pattern, two models
>>> pattern_norm(x, alpha=0.5).item()             # 0.5 * 3 + 0.5 * 4
3.5
>>> dual_pattern_norm(x, alpha=0.0).item()        # max(3 / 1, 4 / 1)
4.0
"""

from __future__ import annotations

import torch

from captum_interactions._transforms import _subset_sums, _superset_sums

__all__ = ["adjoint", "dual_bound", "dual_pattern_norm", "loss", "pattern_norm"]


def adjoint(y: torch.Tensor, w: torch.Tensor | None, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``K^T`` of the constraint map on the interaction columns: the AND and OR parts.

    Rows ``y`` (matching, ``Σ_{∅≠S⊆T} a_S - Σ_{∅≠S⊆N\\T} o_S``) and ``w`` (decomposition,
    ``½(Σ_{∅≠S⊆T} a_S + Σ_{∅≠S⊆N\\T} o_S)``); entry 0 of both outputs is meaningless.
    """
    up = y if w is None else y + w / 2
    down = -y if w is None else w / 2 - y
    return _superset_sums(up, n), _subset_sums(down, n).flip(-1)


def pattern_norm(x: torch.Tensor, alpha: float) -> torch.Tensor:
    """``(1-α) max_m |x_m| + α Σ_m |x_m|`` over the model dimension ``-2``."""
    magnitude = x.abs()
    return (1 - alpha) * magnitude.amax(-2) + alpha * magnitude.sum(-2)


def dual_pattern_norm(z: torch.Tensor, alpha: float) -> torch.Tensor:
    """Dual norm of :func:`pattern_norm`: ``max_k (top-k sum of |z|) / (1 - α + α k)``."""
    top = z.abs().sort(dim=-2, descending=True).values.cumsum(-2)
    k = torch.arange(1, z.shape[-2] + 1, dtype=z.dtype, device=z.device)[:, None]
    return (top / (1 - alpha + alpha * k)).amax(-2)


def loss(and_i: torch.Tensor, or_i: torch.Tensor, alpha: float) -> torch.Tensor:
    """The (joint) extraction objective over non-empty sets: ``[batch, M, 2**n] -> [batch]``."""
    return (pattern_norm(and_i[..., 1:], alpha) + pattern_norm(or_i[..., 1:], alpha)).sum(-1)


def dual_bound(
    values: torch.Tensor,
    noise_bound: torch.Tensor,
    y: torch.Tensor,
    *,
    with_or: bool,
    alpha: float = 0.0,
    w: torch.Tensor | None = None,
    p_bound: torch.Tensor | None = None,
) -> torch.Tensor:
    """A lower bound on the extraction optimum from any dual vectors (weak duality).

    Shapes: ``values, y, w`` are ``[batch, M, 2**n]``, bounds ``[batch, M]``; ``w`` (the
    duals of the decomposition rows ``|p_m| <= p_bound``) only for joint extraction. The
    duals are projected onto ``Σ_T y = Σ_T w = Σ_m w = 0`` (the free constants and the free
    shared ``p̄``) and scaled into the dual-norm ball of the loss, so the returned value
    ``Σ v·y - noise_bound Σ|y| - p_bound Σ|w|`` is a valid bound for any input.
    """
    n = values.shape[-1].bit_length() - 1
    y = y - y.mean(-1, keepdim=True)
    if w is not None:
        w = w - w.mean(-1, keepdim=True)
        w = w - w.mean(-2, keepdim=True)
    up, down = adjoint(y, w, n)
    worst = dual_pattern_norm(up[..., 1:], alpha).amax(-1)
    if with_or:
        worst = torch.maximum(worst, dual_pattern_norm(down[..., 1:], alpha).amax(-1))
    scale = worst.clamp(min=1)[:, None, None]
    bound = (values * y).sum((-1, -2)) - (noise_bound * y.abs().sum(-1)).sum(-1)
    if w is not None:
        bound = bound - (p_bound * w.abs().sum(-1)).sum(-1)
    return bound / scale[:, 0, 0]

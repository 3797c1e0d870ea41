"""Extraction LPs solved by HiGHS (through ``scipy.optimize.linprog``), and LP duality.

The single-model LP (variables: AND and OR interactions of non-empty sets split into
positive and negative parts, the noise ``q`` and one free constant ``ξ``)::

    min Σ a⁺ + a⁻ + o⁺ + o⁻   s.t.   Σ_{∅≠S⊆T} a_S - Σ_{∅≠S⊆N\\T} o_S - q_T + ξ = v_T,
                                     |q_T| <= bound

The OR part uses ``Σ_{S∩T≠∅} o_S = Σ_S o_S - Σ_{S⊆N\\T} o_S`` with the constant absorbed in
``ξ``. The shared (multi-model) LP and the dual bound used as an optimality certificate by
every solver are here too. Constraint matrices are sparse: the subset-inclusion matrix is a
Kronecker power of ``[[1, 0], [1, 1]]`` with ``3**n`` non-zeros, built once per ``n``.

>>> v = torch.tensor([[0.0, 1.0, 1.0, 1.0]], dtype=torch.float64)
>>> a, o, q, y = solve_single(v, torch.zeros(1, dtype=torch.float64), with_or=True)
>>> o.round(decimals=6).tolist()
[[0.0, 0.0, 0.0, 1.0]]
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.optimize
import scipy.sparse as sp
import torch

from ._transforms import _subset_sums, _superset_sums
from .exceptions import InteractionError

__all__ = [
    "adjoint",
    "dual_bound",
    "dual_pattern_norm",
    "loss",
    "pattern_norm",
    "solve_shared",
    "solve_single",
]


@lru_cache(maxsize=4)
def _inclusion(n: int) -> sp.csr_matrix:
    """``[T, S] = 1`` when ``∅ ≠ S ⊆ T`` (rows: all masks, columns: non-empty masks)."""
    factor = sp.csr_matrix(np.array([[1.0, 0.0], [1.0, 1.0]]))
    matrix = sp.csr_matrix(np.ones((1, 1)))
    for _ in range(n):
        matrix = sp.kron(factor, matrix, format="csr")
    return matrix[:, 1:].tocsr()


@lru_cache(maxsize=4)
def _exclusion(n: int) -> sp.csr_matrix:
    """``[T, S] = 1`` when ``∅ ≠ S ⊆ N \\ T`` (the inclusion matrix with rows reversed)."""
    return _inclusion(n)[::-1].tocsr()


def _linprog(cost, a_eq, b_eq, bounds, a_ub=None, b_ub=None, *, method: str, options: dict):
    result = scipy.optimize.linprog(
        cost, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method=method,
        options=options,
    )
    if result.status != 0:
        raise InteractionError(
            f"HiGHS did not solve the extraction LP (status {result.status}: {result.message}); "
            "try solver='ipm' or solver='pdhg'"
        )
    return result


def solve_single(
    values: torch.Tensor,
    bound: torch.Tensor,
    *,
    with_or: bool,
    method: str = "highs-ipm",
    options: dict | None = None,
) -> tuple[torch.Tensor, ...]:
    """AND and OR interactions, noise ``q`` and duals ``y`` for every row of ``values``.

    ``values`` is ``[batch, 2**n]``; entry 0 of the interactions is 0 (the empty set is
    carried by the free constant).
    """
    size = values.shape[-1]
    n = size.bit_length() - 1
    inclusion = _inclusion(n)
    blocks = [inclusion, -inclusion]
    if with_or:
        exclusion = _exclusion(n)
        blocks += [-exclusion, exclusion]
    blocks += [-sp.identity(size, format="csr"), sp.csr_matrix(np.ones((size, 1)))]
    a_eq = sp.hstack(blocks, format="csc")
    n_interaction = len(blocks[:-2]) * (size - 1)
    cost = np.r_[np.ones(n_interaction), np.zeros(size + 1)]
    out = torch.zeros(4, *values.shape, dtype=torch.float64)
    for row, (v, b) in enumerate(zip(values.cpu().numpy(), bound.cpu().tolist(), strict=True)):
        bounds = [(0, None)] * n_interaction + [(-b, b)] * size + [(None, None)]
        result = _linprog(cost, a_eq, v, bounds, method=method, options=options or {})
        x = result.x
        out[3, row] = torch.from_numpy(result.eqlin.marginals)
        parts = x[:n_interaction].reshape(-1, 2, size - 1)
        net = parts[:, 0] - parts[:, 1]
        out[0, row, 1:] = torch.from_numpy(net[0])
        if with_or:
            out[1, row, 1:] = torch.from_numpy(net[1])
        out[2, row] = torch.from_numpy(x[n_interaction : n_interaction + size])
    a, o, q, y = out.to(values.device).unbind(0)
    return a, o, q, y


def _assemble(rows: list[list[tuple[int, sp.spmatrix]]], width: int) -> sp.csc_matrix:
    """Stack row blocks, each a list of ``(first column, block)``, into one sparse matrix."""
    data, row_index, col_index, offset = [], [], [], 0
    for blocks in rows:
        for first, block in blocks:
            block = block.tocoo()
            data.append(block.data)
            row_index.append(block.row + offset)
            col_index.append(block.col + first)
        offset += blocks[0][1].shape[0]
    return sp.csc_matrix(
        (np.concatenate(data), (np.concatenate(row_index), np.concatenate(col_index))),
        shape=(offset, width),
    )


def solve_shared(
    values: torch.Tensor,
    noise_bound: torch.Tensor,
    p_bound: torch.Tensor,
    *,
    alpha: float,
    method: str = "highs-ipm",
    options: dict | None = None,
) -> tuple[torch.Tensor, ...]:
    """Joint extraction of ``M`` models on one sample (``values``: ``[M, 2**n]``).

    Variables per model: interactions of non-empty sets split into positive and negative
    parts ``a⁺, a⁻, o⁺, o⁻ ≥ 0``, noise ``q`` (``|q| <= noise_bound``), model part ``p``
    (``|p| <= p_bound``) and two free constants; shared: ``p̄`` and per pattern and type
    ``t ≥ x⁺_m + x⁻_m`` for every model. Rows: ``2 v_and = v + q + 2(p̄ + p)`` and
    ``2 v_or = v + q - 2(p̄ + p)``. Objective ``Σ (1-α) t + α Σ_m (x⁺_m + x⁻_m)``.
    Returns ``a, o, q``, the full decomposition ``p̄ + p`` and the duals ``y, w`` of
    :func:`dual_bound` (each ``[M, 2**n]``).
    """
    n_models, size = values.shape
    n, m = size.bit_length() - 1, size - 1
    two_inclusion, two_exclusion = 2 * _inclusion(n), 2 * _exclusion(n)
    eye_m, eye = sp.identity(m, format="csr"), sp.identity(size, format="csr")
    ones = sp.csr_matrix(np.ones((size, 1)))
    width = 4 * m + 2 * size + 2  # per model: a⁺, a⁻, o⁺, o⁻, q, p, ξ_and, ξ_or
    ap_, an_, op_, on_, q_, p_, xa_, xo_ = np.cumsum([0, m, m, m, m, size, size, 1])
    pbar, t_and = n_models * width, n_models * width + size
    t_or, total = t_and + m, t_and + 2 * m
    equalities, inequalities = [], []
    for k in range(n_models):
        at = k * width
        equalities.append([(at + ap_, two_inclusion), (at + an_, -two_inclusion),
                           (at + q_, -eye), (at + p_, -2 * eye), (at + xa_, ones),
                           (pbar, -2 * eye)])
        equalities.append([(at + op_, -two_exclusion), (at + on_, two_exclusion),
                           (at + q_, -eye), (at + p_, 2 * eye), (at + xo_, ones),
                           (pbar, 2 * eye)])
        for plus, minus, t_ in ((ap_, an_, t_and), (op_, on_, t_or)):
            inequalities.append([(at + plus, eye_m), (at + minus, eye_m), (t_, -eye_m)])
    cost = np.zeros(total)
    lower, upper = np.full(total, -np.inf), np.full(total, np.inf)
    for k in range(n_models):
        at = k * width
        cost[at : at + q_] = alpha
        lower[at : at + q_] = 0
        lower[at + q_ : at + p_], upper[at + q_ : at + p_] = -noise_bound[k], noise_bound[k]
        lower[at + p_ : at + xa_], upper[at + p_ : at + xa_] = -p_bound[k], p_bound[k]
    cost[t_and:] = 1 - alpha
    lower[t_and:] = 0
    lower[pbar] = upper[pbar] = 0  # p̄(∅) = 0: the constants ξ carry the empty set
    v = values.cpu().numpy()
    result = _linprog(
        cost, _assemble(equalities, total), np.repeat(v, 2, axis=0).ravel(),
        np.stack([lower, upper], -1), _assemble(inequalities, total),
        np.zeros(2 * n_models * m), method=method, options=options or {},
    )
    x = result.x
    # Duals of the rows 2 v_and and 2 v_or, mapped to the matching rows (y) and the
    # decomposition rows (w) of dual_bound: (2 v_and) = (match) + 2 (decomp), (2 v_or) =
    # (match) - 2 (decomp).
    marginals = torch.from_numpy(result.eqlin.marginals).view(n_models, 2, size)
    y = marginals[:, 0] + marginals[:, 1]
    w = 2 * (marginals[:, 0] - marginals[:, 1])
    per_model = torch.from_numpy(x[:pbar].reshape(n_models, width))
    zero = torch.zeros(n_models, 1, dtype=torch.float64)
    a = torch.cat([zero, per_model[:, ap_:an_] - per_model[:, an_:op_]], -1)
    o = torch.cat([zero, per_model[:, op_:on_] - per_model[:, on_:q_]], -1)
    q = per_model[:, q_:p_]
    p = per_model[:, p_:xa_] + torch.from_numpy(x[pbar:t_and])
    return tuple(t.to(values.device) for t in (a, o, q, p, y, w))


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

"""Exact extraction by HiGHS (through ``scipy.optimize.linprog``) on the sparse LP.

The LP of :mod:`._lp` with the interactions split into positive and negative parts (one model)
or, for ``M`` models, with a shared ``p̄`` and an epigraph variable per pattern and type for the
max of the joint loss. Constraint matrices are sparse: the subset-inclusion matrix is a
Kronecker power of ``[[1, 0], [1, 1]]`` with ``3**n`` non-zeros, built once per ``n``. One
sample at a time, on the CPU; any number of models.

>>> v = torch.tensor([[[0.0, 1.0, 1.0, 1.0]]], dtype=torch.float64)   # an OR of two players
>>> solution = solve(Problem(v, torch.zeros(1, 1, dtype=torch.float64)), show_progress=False)
>>> round(float(solution.dual[0]), 6)
1.0
"""

from __future__ import annotations

import time
from functools import lru_cache
from typing import Any

import numpy as np
import scipy.optimize
import scipy.sparse as sp
import torch
from tqdm.auto import tqdm

from captum_interactions.exceptions import InteractionError

from ._base import (
    MAPPING,
    Problem,
    Solution,
    Solver,
    Solves,
    choice,
    from_interactions,
    growing,
    past,
)
from ._lp import dual_bound

__all__ = ["SOLVER", "solve"]

#: Largest ``n``: the constraint matrix has ``3**n`` non-zeros per block.
MAX_PLAYERS = 12
#: Seconds per sample: about 1 s at n = 10 for one model, 10 s for two models (35 s for
#: three), 82 s for two at n = 11.
_SECONDS = growing(1.0, 10, 6.0)
_JOINT_SECONDS = growing(10.0, 10, 8.0)


_OUT_OF_TIME = (
    "HiGHS reached the time limit before the optimum and gives no partial point; raise "
    "time_limit, or use solver='ipm' or 'pdhg' (they return their best point with its "
    "certified gap)"
)


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


def _linprog(cost, a_eq, b_eq, bounds, a_ub=None, b_ub=None, *, method: str, options: dict,
             deadline: float | None):
    if deadline is not None:
        if past(deadline):
            raise InteractionError(_OUT_OF_TIME)
        options = {**options, "time_limit": deadline - time.monotonic()}
    result = scipy.optimize.linprog(
        cost, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method=method,
        options=options,
    )
    if result.status == 1 and past(deadline):
        raise InteractionError(_OUT_OF_TIME)
    if result.status != 0:
        raise InteractionError(
            f"HiGHS did not solve the extraction LP (status {result.status}: {result.message}); "
            "try solver='ipm' or solver='pdhg'"
        )
    return result


def _solve_single(
    values: torch.Tensor,
    bound: torch.Tensor,
    *,
    with_or: bool,
    method: str,
    options: dict,
    deadline: float | None,
    progress: tqdm,
) -> tuple[torch.Tensor, ...]:
    """AND and OR interactions, noise ``q`` and duals ``y`` of every row of ``values``
    (``[batch, 2**n]``); entry 0 of the interactions is 0 (the empty set is carried by the
    free constant)."""
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
        result = _linprog(cost, a_eq, v, bounds, method=method, options=options,
                          deadline=deadline)
        progress.update()
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


def _solve_joint(
    values: torch.Tensor,
    noise_bound: torch.Tensor,
    p_bound: torch.Tensor,
    *,
    alpha: float,
    method: str,
    options: dict,
    deadline: float | None,
) -> tuple[torch.Tensor, ...]:
    """Joint extraction of ``M`` models on one sample (``values``: ``[M, 2**n]``).

    Variables per model: interactions of non-empty sets split into positive and negative
    parts ``a⁺, a⁻, o⁺, o⁻ ≥ 0``, noise ``q`` (``|q| <= noise_bound``), model part ``p``
    (``|p| <= p_bound``) and two free constants; shared: ``p̄`` and per pattern and type
    ``t ≥ x⁺_m + x⁻_m`` for every model. Rows: ``2 v_and = v + q + 2(p̄ + p)`` and
    ``2 v_or = v + q - 2(p̄ + p)``. Objective ``Σ (1-α) t + α Σ_m (x⁺_m + x⁻_m)``.
    Returns the noise ``q``, the full decomposition ``p̄ + p`` and the duals ``y, w`` of
    :func:`._lp.dual_bound` (each ``[M, 2**n]``).
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
        np.zeros(2 * n_models * m), method=method, options=options, deadline=deadline,
    )
    x = result.x
    # Duals of the rows 2 v_and and 2 v_or, mapped to the matching rows (y) and the
    # decomposition rows (w) of dual_bound: (2 v_and) = (match) + 2 (decomp), (2 v_or) =
    # (match) - 2 (decomp).
    marginals = torch.from_numpy(result.eqlin.marginals).view(n_models, 2, size)
    y = marginals[:, 0] + marginals[:, 1]
    w = 2 * (marginals[:, 0] - marginals[:, 1])
    per_model = torch.from_numpy(x[:pbar].reshape(n_models, width))
    q = per_model[:, q_:p_]
    p = per_model[:, p_:xa_] + torch.from_numpy(x[pbar:t_and])
    return tuple(t.to(values.device) for t in (q, p, y, w))


def solve(
    problem: Problem,
    *,
    show_progress: bool = False,
    deadline: float | None = None,
    method: str = "highs-ipm",
    options: dict[str, Any] | None = None,
) -> Solution:
    """Solve every sample of ``problem`` with HiGHS, one at a time.

    Args:
        problem (Problem): one model or several (joint, with ``p_bound``).
        show_progress (bool): tqdm progress bar over the samples.
        deadline (float, optional): :func:`time.monotonic` time by which every sample's
            solve must end; HiGHS gives no partial point, so reaching it is an error. Its
            simplex methods stop at the deadline; its interior point method (the default)
            ignores the time limit within one LP, so the deadline is checked between samples.
        method (str): ``scipy.optimize.linprog`` method, ``"highs-ipm"`` (default),
            ``"highs-ds"`` or ``"highs"``.
        options (dict, optional): passed to ``linprog``.
    """
    settings = {"method": method, "options": dict(options or {}), "deadline": deadline}
    values = problem.values
    with tqdm(total=len(values), desc="highs", unit="sample", disable=not show_progress) as bar:
        if problem.joint:
            parts = []
            for row in range(len(values)):
                parts.append(_solve_joint(values[row], problem.noise_bound[row],
                                          problem.p_bound[row], alpha=problem.alpha,
                                          **settings))
                bar.update()
            q, p, y, w = (torch.stack(part) for part in zip(*parts, strict=True))
            dual = dual_bound(values, problem.noise_bound, y, with_or=True, alpha=problem.alpha,
                              w=w, p_bound=problem.p_bound)
            return Solution(p, q, dual, iterations=0,
                            converged=torch.ones(len(values), dtype=torch.bool))
        a, o, q, y = _solve_single(values[:, 0], problem.noise_bound[:, 0],
                                   with_or=problem.with_or, progress=bar, **settings)
    return from_interactions(problem, a[:, None], o[:, None], q[:, None], y[:, None],
                             iterations=0, converged=torch.ones(len(a), dtype=torch.bool))


_OPTIONS = {"method": choice("highs-ipm", "highs-ds", "highs"), "options": MAPPING}

#: HiGHS: exact for one model and for any number of models jointly, up to ``n = 12``.
SOLVER = Solver(
    name="highs",
    summary="HiGHS through scipy (exact, sparse LP, one sample at a time, CPU)",
    single=Solves(solve, _OPTIONS, MAX_PLAYERS,
                  seconds=lambda n, models, options: _SECONDS(n)),
    joint=Solves(solve, _OPTIONS, MAX_PLAYERS,
                 seconds=lambda n, models, options: _JOINT_SECONDS(n) * 3.5 ** (models - 2)),
)

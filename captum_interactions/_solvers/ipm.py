"""Exact single-model extraction with the structured interior-point method (solver ``"ipm"``).

The extraction LP has one equality row per mask ``T`` (universal matching, the constant of
``v`` a free column ``ξ``, which makes the solution invariant to a shift of ``v``) and the
interactions split into positive and negative parts::

    min  Σ_{S≠∅} a⁺_S + a⁻_S + o⁺_S + o⁻_S            (noise q = s - bound, 0 <= s <= 2 bound)
    s.t. Σ_{∅≠S⊆T} (a⁺-a⁻)_S - Σ_{∅≠S⊆N\\T} (o⁺-o⁻)_S - s_T + ξ = v_T - bound

Its normal matrix ``A diag(θ) A^T`` is dense (``2**n`` square) but has closed-form entries:
the AND part of the pair ``(T, T')`` is ``Σ_{∅≠S⊆T∩T'} θ_S``, a subset sum read at ``T & T'``,
and the OR part a subset sum read at ``N \\ (T | T')``. :func:`._interior_point.mehrotra` solves
it in float64 on the values' device: batched over samples on GPUs, one sample at a time on the
CPU (LAPACK factorises one matrix at a time, and samples that converge early stop). The joint
``"ipm"`` for several models is :mod:`.shared_ipm`.

>>> v = torch.tensor([[[0.0, 1.0, 1.0, 1.0]]], dtype=torch.float64)   # an OR of two players
>>> solution = solve(Problem(v, torch.zeros(1, 1, dtype=torch.float64)))
>>> round(float(solution.dual[0]), 6), solution.iterations < 20
(1.0, True)
"""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from captum_interactions._transforms import _subset_sums, _superset_sums

from . import shared_ipm
from ._base import (
    POSITIVE,
    POSITIVE_INT,
    Problem,
    Solution,
    Solver,
    Solves,
    from_interactions,
    growing,
)
from ._interior_point import code_masks, mehrotra, pad_empty, pair_codes, row_plan

__all__ = ["SOLVER", "SingleLP", "solve"]

#: Largest ``n``: the dense normal matrix takes ``8 * 4**n`` bytes (128 MiB at ``n = 12``).
MAX_PLAYERS = 12
#: Seconds per sample: 0.35 s at n = 10 (SmolLM2 values), 11 s at n = 12.
_SECONDS = growing(0.35, 10, 5.6)


class SingleLP:
    """The single-model extraction LP of a batch of value vectors ``[batch, 2**n]``
    (a :class:`._interior_point.LinearProgram`).

    Rows are the masks ``T`` in ``rows`` (all masks when ``None``); the constant of ``v`` is
    a free column of ones (``ξ``), so the AND part of row ``T`` is ``Σ_{∅≠S⊆T} a_S`` and the
    OR part ``-Σ_{∅≠S⊆N\\T} o_S``. Every interaction column is present whatever the rows.
    """

    def __init__(
        self,
        values: torch.Tensor,
        bound: torch.Tensor,
        *,
        with_or: bool,
        rows: torch.Tensor | None = None,
    ) -> None:
        self.n = values.shape[-1].bit_length() - 1
        self.m = values.shape[-1] - 1
        self.rows = rows
        self.plan: tuple[torch.Tensor, ...] | None = None  # the rows' pair codes, built once
        self.with_or = with_or
        self.with_noise = bool((bound > 0).any())
        self.n_interaction = (4 if with_or else 2) * self.m
        rhs = values if rows is None else values[:, rows]
        width = self.n_interaction + (rhs.shape[-1] if self.with_noise else 0)
        self.rhs = rhs
        self.free = rhs.new_ones(rhs.shape[-1], 1)  # the constant ξ enters every row
        self.cost = torch.zeros(values.shape[0], width, dtype=values.dtype, device=values.device)
        self.cost[:, : self.n_interaction] = 1
        self.upper = torch.full_like(self.cost, float("inf"))
        if self.with_noise:
            self.upper[:, self.n_interaction :] = 2 * bound[:, None]
            self.rhs = rhs - bound[:, None]  # q = s - bound

    def shift_free_(self, normal: torch.Tensor) -> torch.Tensor:
        """This LP's normal matrix is regular as it is: ``ρ = 0``."""
        return normal.new_zeros(len(normal), 1)

    def split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Net AND and OR interactions (``[batch, 2**n]``, zero where not learned) and the
        shifted noise ``s`` (``None`` without noise)."""
        m = self.m
        a = pad_empty(x[:, :m] - x[:, m : 2 * m])
        o = pad_empty(x[:, 2 * m : 3 * m] - x[:, 3 * m : 4 * m]) if self.with_or else (
            torch.zeros_like(a))
        s = x[:, self.n_interaction :] if self.with_noise else None
        return a, o, s

    def interaction_rows(self, x: torch.Tensor) -> torch.Tensor:
        """The interaction part of every row over all ``2**n`` masks (no noise)."""
        a, o, _ = self.split(x)
        out = _subset_sums(a, self.n)
        if self.with_or:
            out -= _subset_sums(o, self.n).flip(-1)
        return out

    def matvec(self, x: torch.Tensor) -> torch.Tensor:
        out = self.interaction_rows(x)
        if self.rows is not None:
            out = out[:, self.rows]
        if self.with_noise:
            out -= x[:, self.n_interaction :]
        return out

    def full_duals(self, y: torch.Tensor) -> torch.Tensor:
        """Row duals spread over all ``2**n`` masks (zero outside ``rows``)."""
        if self.rows is None:
            return y
        return y.new_zeros(y.shape[0], self.m + 1).index_copy_(-1, self.rows, y)

    def rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        noise = y
        y = self.full_duals(y)
        up = _superset_sums(y, self.n)[:, 1:]  # Σ_{T⊇S} y_T
        parts = [up, -up]
        if self.with_or:
            down = _subset_sums(y, self.n).flip(-1)[:, 1:]  # Σ_{T⊆N\\S} y_T
            parts += [-down, down]
        if self.with_noise:
            parts.append(-noise)
        return torch.cat(parts, dim=-1)

    def normal(self, theta: torch.Tensor) -> torch.Tensor:
        """``[[A diag(θ) A^T, 0], [0, 1]]``, dense ``[batch, rows + 1, rows + 1]`` (one gather)."""
        m, n = self.m, self.n
        if self.rows is None:
            both, neither = code_masks(n, theta.device)
            pair = pair_codes(n, theta.device)
        else:
            if self.plan is None:
                self.plan = row_plan(self.rows, n)
            both, neither, pair = self.plan
        table = _subset_sums(pad_empty(theta[:, :m] + theta[:, m : 2 * m]), n)[:, both]
        if self.with_or:
            sums = _subset_sums(pad_empty(theta[:, 2 * m : 3 * m] + theta[:, 3 * m : 4 * m]), n)
            table += sums[:, neither]
        table = torch.cat([table, torch.tensor([0.0, 1.0]).to(table).expand(len(table), 2)], -1)
        size = self.rhs.shape[-1] + 1
        matrix = table.index_select(-1, pair).view(-1, size, size)
        if self.with_noise:
            matrix.diagonal(dim1=-2, dim2=-1)[:, :-1].add_(theta[:, self.n_interaction :])
        return matrix


def _solve_batch(values, bound, *, with_or, tol, max_iter, progress, deadline):
    """Interactions ``a, o``, noise ``q`` and matching duals ``y`` of one batch of samples,
    the iterations and whether each sample converged."""
    lp = SingleLP(values, bound, with_or=with_or)
    fit = mehrotra(lp, tol=tol, max_iter=max_iter, progress=progress, deadline=deadline)
    a, o, s = lp.split(fit.x)
    q = s - bound[:, None] if s is not None else torch.zeros_like(a)
    return a, o, q, fit.y, fit.iterations, fit.converged


def solve(
    problem: Problem,
    *,
    show_progress: bool = False,
    deadline: float | None = None,
    tol: float = 1e-8,
    max_iter: int = 100,
) -> Solution:
    """Solve the single-model extraction LP of every sample of ``problem`` (``M = 1``).

    Args:
        problem (Problem): one model, ``n >= 1``, values of unit size (the registry's
            dispatch centres and scales them).
        show_progress (bool): tqdm progress bar over the interior-point iterations.
        deadline (float, optional): :func:`time.monotonic` time to stop at (best point).
        tol (float): relative gap and infeasibility at which a sample stops.
        max_iter (int): iteration limit.
    """
    values, bound = problem.values[:, 0], problem.noise_bound[:, 0]
    # On the CPU a batch gains nothing (LAPACK factorises one matrix at a time) and samples
    # that converge early would keep iterating: solve them one by one.
    step = 1 if values.device.type == "cpu" else len(values)
    parts = []
    with tqdm(desc="ipm", unit="iteration", disable=not show_progress) as progress:
        for start in range(0, len(values), step):
            parts.append(_solve_batch(values[start : start + step], bound[start : start + step],
                                      with_or=problem.with_or, tol=tol, max_iter=max_iter,
                                      progress=progress, deadline=deadline))
    a, o, q, y = (torch.cat([part[k] for part in parts])[:, None] for k in range(4))
    return from_interactions(problem, a, o, q, y, iterations=max(part[4] for part in parts),
                             converged=torch.cat([part[5] for part in parts]))


#: The structured interior point: exact, one model up to ``n = 12``; jointly 2 to 4 models
#: with ``M * 2**n <= 8192`` matching rows (:mod:`.shared_ipm`).
SOLVER = Solver(
    name="ipm",
    summary="structured interior point (exact, certified gap about 1e-8, any device)",
    single=Solves(solve, {"tol": POSITIVE, "max_iter": POSITIVE_INT}, MAX_PLAYERS,
                  seconds=lambda n, models, options: _SECONDS(n)),
    joint=shared_ipm.SOLVES,
)

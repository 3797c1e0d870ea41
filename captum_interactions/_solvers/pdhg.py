"""First-order extraction: restarted, diagonally preconditioned PDHG (Chambolle-Pock).

Works for one model and for joint extraction of ``M`` models, batched over samples, on the
values' device; every operator is a fast subset-sum butterfly (``O(n 2**n)``), so memory
stays ``O(M 2**n)`` per sample and ``n`` can go well beyond what an LP solver holds.

Primal variables: interactions ``a, o`` (non-empty sets) per model, free constants and,
for joint extraction, the shared ``p̄``. Rows per model: matching
``Z a - R o + ξ₁ ∈ v ± bound`` and (joint only) decomposition
``½(Z a + R o) + ξ₂ - p̄ ∈ ± p_bound``, where ``Z a`` are subset sums and ``R o`` the
subset sums of ``o`` read at complements. Step sizes follow Pock & Chambolle (ICCV 2011,
diagonal preconditioning with α = 1). The iterate is restarted from its running average
whenever that halves the certified gap (Applegate et al., "Practical large-scale linear
programming using primal-dual hybrid gradient", NeurIPS 2021). The stopping rule is a true
certificate: the gap between a feasible primal point (noise and ``p_m`` clipped into their
bounds, interactions recomputed by the transforms) and the dual bound of :mod:`._lp`.

>>> v = torch.tensor([[[0.0, 1.0, 1.0, 1.0]]], dtype=torch.float64)   # an OR of two players
>>> solution = solve(Problem(v, torch.zeros(1, 1, dtype=torch.float64)), tol=1e-6)
>>> round(float(solution.dual[0]), 4)
1.0
"""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from captum_interactions._transforms import _subset_sums, and_transform, or_transform
from captum_interactions.subsets import orders

from . import _lp
from ._base import (
    POSITIVE,
    POSITIVE_INT,
    Problem,
    Solution,
    Solver,
    Solves,
    clip,
    past,
    per_iteration,
)

__all__ = ["SOLVER", "solve"]

#: Largest ``n``: memory is ``O(M 2**n)`` per sample, so the vectors over all masks set it.
MAX_PLAYERS = 30
_OPTIONS = {"tol": POSITIVE, "max_iter": POSITIVE_INT, "check_every": POSITIVE_INT}
#: Seconds per iteration (2-core CPU): 0.26 ms at n = 6, 0.38 ms at n = 10, 1.6 ms at n = 16.
_ITERATION = per_iteration(1.7e-4, 8e-5, 2e-9)


def _seconds(n: int, models: int, options) -> float:
    """Typical iterations to the default tolerance on smooth (LM-like) values, measured:
    about 1,400 at n = 4, 1,800 at n = 6, 100,000 at n = 8 and over 200,000 at n = 10;
    rough values take longer. Capped at ``max_iter``."""
    iterations = min(options.get("max_iter", 200_000), 1500 * 3.0 ** max(n - 4, 0))
    return _ITERATION(n, models) * iterations


def _project_l1_ball(x: torch.Tensor, radius: torch.Tensor) -> torch.Tensor:
    """Euclidean projection of every column (dimension ``-2``) onto ``||·||_1 <= radius``."""
    magnitude = x.abs()
    top = magnitude.sort(dim=-2, descending=True).values
    k = torch.arange(1, x.shape[-2] + 1, dtype=x.dtype, device=x.device)[:, None]
    threshold = (top.cumsum(-2) - radius) / k
    count = (top > threshold).sum(-2, keepdim=True).clamp(min=1)
    level = threshold.gather(-2, count - 1).clamp(min=0)
    return x.sign() * (magnitude - level).clamp(min=0)


def _prox_loss(x: torch.Tensor, step: torch.Tensor, alpha: float) -> torch.Tensor:
    """Prox of ``step · ((1-α) max_m |x_m| + α Σ_m |x_m|)`` per pattern (column over models).

    Soft-thresholding by ``step α`` followed by the prox of the max-norm, which is the
    identity minus the projection onto the l1 ball of radius ``step (1-α)``.
    """
    soft = x.sign() * (x.abs() - step * alpha).clamp(min=0)
    if x.shape[-2] == 1:  # one model: the loss is |x|, alpha plays no role
        return x.sign() * (x.abs() - step).clamp(min=0)
    return soft - _project_l1_ball(soft, step * (1 - alpha))


class _Operators:
    """The LP of a :class:`Problem` as PDHG sees it: forward and adjoint maps, step sizes
    and the certificate of an iterate."""

    def __init__(self, problem: Problem) -> None:
        values = problem.values
        self.values, self.noise_bound = values, problem.noise_bound
        self.p_bound = problem.p_bound
        self.with_or, self.alpha = problem.with_or, problem.alpha
        self.joint = problem.joint
        self.n = problem.n
        size = 1 << self.n
        # Primal steps shrunk and dual steps grown by the same factor (any factor keeps
        # τσ|K|² <= 1); 0.01 converged fastest on language-model reward vectors at n = 10.
        weight = 0.01
        order = orders(self.n, device=values.device).to(values.dtype)
        rows_of = 2.0 ** (self.n - order)  # number of rows T ⊇ S (or T ⊆ N \ S)
        self.tau = weight / (rows_of * (1.5 if self.joint else 1.0))
        self.tau_xi = weight / size
        self.tau_pbar = weight / values.shape[-2]
        inside = 2.0**order - 1  # number of non-empty S ⊆ T
        outside = 2.0 ** (self.n - order) - 1  # number of non-empty S ⊆ N \ T
        self.sigma_y = 1 / (weight * (inside + (outside if self.with_or else 0) + 1))
        self.sigma_w = 1 / (weight * ((inside + outside) / 2 + 2))

    def forward(self, a, o, xi, pbar):
        n = self.n
        za = _subset_sums(a, n)
        ro = _subset_sums(o, n).flip(-1) if self.with_or else torch.zeros_like(za)
        r1 = za - ro + xi[..., :1]
        r2 = (za + ro) / 2 + xi[..., 1:] - pbar if self.joint else None
        return r1, r2

    def adjoint(self, y, w):
        up, down = _lp.adjoint(y, w, self.n)
        w_sum = w.sum(-1, keepdim=True) if w is not None else torch.zeros_like(y[..., :1])
        sums = [y.sum(-1, keepdim=True), w_sum]
        grad_xi = torch.cat(sums, -1)
        grad_pbar = -w.sum(-2, keepdim=True) if w is not None else None
        return up, down, grad_xi, grad_pbar

    def certify(self, a, o, xi, pbar, y, w):
        """Feasible ``(p, q)`` from a primal iterate, its loss, the dual bound and the gap."""
        r1, r2 = self.forward(a, o, xi, pbar)
        v = self.values
        q = clip(r1 - v, self.noise_bound[..., None])
        if not self.with_or:
            p = (v + q) / 2
        elif self.joint:
            p_model = clip(r2, self.p_bound[..., None])
            p = pbar + p_model
        else:
            p = (_subset_sums(a, self.n) + _subset_sums(o, self.n).flip(-1)) / 2
        p = p - p[..., :1]
        half = (v + q) / 2
        objective = _lp.loss(and_transform(half + p), or_transform(half - p), self.alpha)
        dual = _lp.dual_bound(  # the saddle-point duals are the negated LP duals
            v, self.noise_bound, -y, with_or=self.with_or, alpha=self.alpha,
            w=None if w is None else -w, p_bound=self.p_bound,
        )
        gap = (objective - dual) / objective.abs().clamp(min=1e-300)
        return p, q, objective, dual, gap


def solve(
    problem: Problem,
    *,
    show_progress: bool = False,
    deadline: float | None = None,
    tol: float = 1e-4,
    max_iter: int = 200_000,
    check_every: int = 64,
) -> Solution:
    """Solve the extraction LP of every sample to a relative certified gap ``tol``.

    Args:
        problem (Problem): one model or several (joint), values of unit size (the
            registry's dispatch centres and scales them: the step sizes are scale-free but
            the restarts compare gaps).
        show_progress (bool): tqdm progress bar over the iterations, with the worst gap.
        deadline (float, optional): :func:`time.monotonic` time to stop at (the best
            certified point so far).
        tol (float): relative duality gap at which a sample stops.
        max_iter (int): iteration limit; the best certified point so far is returned.
        check_every (int): iterations between certificate evaluations (and restarts).
    """
    values, alpha, with_or = problem.values, problem.alpha, problem.with_or
    ops = _Operators(problem)
    batch, models, size = values.shape
    a = torch.zeros_like(values)
    o = torch.zeros_like(values)
    xi = torch.zeros(batch, models, 2, dtype=values.dtype, device=values.device)
    pbar = torch.zeros(batch, 1, size, dtype=values.dtype, device=values.device)
    y = torch.zeros_like(values)
    w = torch.zeros_like(values) if ops.joint else None
    state = [a, o, xi, pbar, y, w]
    average = [t.clone() if t is not None else None for t in state]
    count = torch.zeros(batch, dtype=values.dtype, device=values.device)
    best = ops.certify(*state)
    best_gap, restart_gap = best[4], best[4]
    best_state = [t.clone() if t is not None else None for t in state]
    iteration = 0
    tau, sigma_y, sigma_w = ops.tau, ops.sigma_y, ops.sigma_w
    with tqdm(total=max_iter, desc="pdhg", unit="iteration",
              disable=not show_progress) as progress:
        for iteration in range(1, max_iter + 1):
            a, o, xi, pbar, y, w = state
            up, down, grad_xi, grad_pbar = ops.adjoint(y, w)
            a_new = _prox_loss(a - tau * up, tau, alpha)
            a_new[..., 0] = 0
            o_new = _prox_loss(o - tau * down, tau, alpha) if with_or else o
            if with_or:
                o_new[..., 0] = 0
            xi_new = xi - ops.tau_xi * grad_xi
            pbar_new = pbar - ops.tau_pbar * grad_pbar if ops.joint else pbar
            r1, r2 = ops.forward(2 * a_new - a, 2 * o_new - o, 2 * xi_new - xi,
                                     2 * pbar_new - pbar)
            centre = ops.values
            half = ops.noise_bound[..., None]
            shifted = y + sigma_y * r1
            y_new = shifted - sigma_y * torch.clamp(shifted / sigma_y, centre - half, centre + half)
            if ops.joint:
                shifted = w + sigma_w * r2
                limit = ops.p_bound[..., None]
                w_new = shifted - sigma_w * torch.clamp(shifted / sigma_w, -limit, limit)
            else:
                w_new = None
            state = [a_new, o_new, xi_new, pbar_new, y_new, w_new]
            count += 1
            for mean, new in zip(average, state, strict=True):
                if mean is not None:
                    mean += (new - mean) / count.view(-1, *[1] * (mean.dim() - 1))
            if iteration % check_every:
                continue
            for candidate in (state, average):
                result = ops.certify(*candidate)
                better = result[4] < best_gap
                best_gap = torch.where(better, result[4], best_gap)
                for kept, new in zip(best_state, candidate, strict=True):
                    if kept is not None:
                        kept.copy_(torch.where(better.view(-1, *[1] * (kept.dim() - 1)), new, kept))
            progress.update(check_every)
            progress.set_postfix(gap=f"{float(best_gap.max()):.1e}", refresh=False)
            if bool((best_gap <= tol).all()) or past(deadline):
                break
            restart = best_gap <= restart_gap / 2
            if bool(restart.any()):
                # Restart those samples from their best certified point (what makes PDHG
                # converge linearly on LPs); the others keep iterating and averaging.
                for index, kept in enumerate(best_state):
                    if kept is not None:
                        pick = restart.view(-1, *[1] * (kept.dim() - 1))
                        state[index] = torch.where(pick, kept, state[index])
                        average[index] = torch.where(pick, kept, average[index])
                count = torch.where(restart, 0, count)
                restart_gap = torch.where(restart, best_gap, restart_gap)
    p, q, _, dual, _ = ops.certify(*best_state)
    return Solution(p, q, dual, iteration, converged=best_gap <= tol)


#: Restarted PDHG: first-order with a certified gap, one model or any number jointly, any
#: ``n`` that fits in memory; batched on the values' device.
SOLVER = Solver(
    name="pdhg",
    summary="restarted PDHG (first-order, certified gap `tol`, batched, any device)",
    single=Solves(solve, _OPTIONS, MAX_PLAYERS, seconds=_seconds),
    joint=Solves(solve, _OPTIONS, MAX_PLAYERS, seconds=_seconds),
)

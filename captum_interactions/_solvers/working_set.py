"""Exact single-model extraction by row generation around the structured interior point.

With noise (``bound > 0``) most rows of the extraction LP are slack at the optimum: only the
masks whose noise bound is tight carry a non-zero dual (on SmolLM2 reward vectors 5-55% of
them at ``n = 10``, about 16% at ``n = 14``). This solver runs the interior-point method of
:mod:`.ipm` on a working set ``R`` of masks with every interaction column present, checks
the solution against all ``2**n`` masks with subset sums (``O(n 2**n)``), adds the most
violated masks (and those close to their bound), drops masks that are well inside their
bound with a zero dual (each mask at most once, so the rounds cannot cycle) and solves
again until no mask is violated. The dense normal matrix then has ``|R| + 1`` rows instead
of ``2**n + 1`` (about 2,700 instead of 16,385 for a SmolLM2 sample at ``n = 14``).

The final point is optimal for the full LP: it is feasible for every mask, and its duals
(zero outside ``R``) are feasible for the full dual because every column was priced in
each solve. :func:`._lp.dual_bound` certifies the gap.

>>> v = torch.tensor([[[0.0, 1.0, 1.0, 1.0]]], dtype=torch.float64)   # an OR of two players
>>> solution = solve(Problem(v, torch.tensor([[0.1]], dtype=torch.float64)))
>>> round(float(solution.dual[0]), 6)                                 # |OR{0,1}| = 1 - 2 * 0.1
0.8
"""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from captum_interactions.exceptions import InteractionError
from captum_interactions.subsets import orders

from ._base import (
    HALF_FRACTION,
    POSITIVE,
    POSITIVE_INT,
    Problem,
    Solution,
    Solver,
    Solves,
    from_interactions,
    growing,
    past,
)
from ._interior_point import mehrotra
from .ipm import SingleLP

__all__ = ["MAX_ROWS", "SOLVER", "solve"]

#: Largest ``n``: the subset-sum checks of all ``2**n`` masks stay cheap; the working set
#: (at most :data:`MAX_ROWS`) limits the rest.
MAX_PLAYERS = 20
#: Seconds per sample with noise: 2.6 s at n = 12, 25 s at n = 14 (SmolLM2 values).
_SECONDS = growing(4.5, 12, 3.1)

#: Largest working set (masks) before the solver gives up: its normal matrix takes
#: ``8 * MAX_ROWS**2`` bytes (512 MiB) and one factorisation about a second on a CPU core.
MAX_ROWS = 8192


def _initial_rows(n: int, device: torch.device) -> torch.Tensor:
    """Masks of order at most 1 or at least ``n - 1``: the grand coalition and its edges."""
    order = orders(n, device=device)
    return torch.nonzero((order <= 1) | (order >= n - 1)).flatten()


def _solve_one(values, bound, *, with_or, tol, max_iter, grow, margin, progress,
               deadline=None):
    """Row generation for one sample (``values [1, 2**n]`` of unit size): the final
    interactions, noise and duals over all masks, the interior-point iterations and whether
    the last solve converged."""
    n = values.shape[-1].bit_length() - 1
    rows = _initial_rows(n, values.device)
    dropped = torch.zeros(values.shape[-1], dtype=torch.bool, device=values.device)
    iterations = 0
    while True:
        problem = SingleLP(values, bound, with_or=with_or, rows=rows)
        fit = mehrotra(problem, tol=tol, max_iter=max_iter, deadline=deadline)
        x, y = fit.x, fit.y
        iterations += fit.iterations
        inner = problem.interaction_rows(x)
        noise = x[:, problem.n_interaction :] - bound[:, None] if problem.with_noise else 0
        # The free constant: every working row satisfies inner + ξ = v + q.
        xi = (values[:, rows] + noise - inner[:, rows]).mean(-1, keepdim=True)
        residual = inner + xi - values
        violation = residual.abs() - bound[:, None]
        violation[:, rows] = -torch.inf
        progress.set_postfix(rows=len(rows), refresh=False)
        progress.update()
        count = int((violation > tol).sum())
        if count == 0 or past(deadline):  # at the deadline: the best point so far
            a, o, _ = problem.split(x)
            return (a, o, residual, problem.full_duals(y), iterations,
                    fit.converged & (count == 0))
        if len(rows) >= MAX_ROWS:
            raise InteractionError(
                f"the working set of solver 'working_set' reached {len(rows)} masks and still "
                f"misses {count}; the noise bound is too tight for row generation at "
                f"n={n}: use solver='pdhg', a larger qcoef, or fewer players"
            )
        # Masks within `margin` of their bound come along: the next solution moves, and
        # each round costs a full interior-point solve.
        near = int((violation > -margin * bound[:, None]).sum())
        limit = min(near, max(64, int(grow * len(rows))), MAX_ROWS - len(rows))
        new = violation[0].topk(limit).indices
        # Masks well inside their bound with a zero dual leave (they only cost factorisation),
        # each at most once, so the rounds cannot cycle.
        slack = residual[0, rows].abs() < (1 - 2 * margin) * bound
        idle = (y[0].abs() <= 1e-6 * y.abs().max()) & slack & ~dropped[rows]
        dropped[rows[idle]] = True
        rows = torch.cat([rows[~idle], new]).sort().values


def solve(
    problem: Problem,
    *,
    show_progress: bool = False,
    deadline: float | None = None,
    tol: float = 1e-8,
    max_iter: int = 100,
    grow: float = 1.0,
    margin: float = 0.2,
) -> Solution:
    """Solve the extraction LP of every sample of ``problem`` (one model) by row generation.

    Args:
        problem (Problem): one model, values of unit size (the registry's dispatch centres
            and scales them); with a noise bound of ``0`` every mask is a working row.
        show_progress (bool): tqdm progress bar over the rounds.
        deadline (float, optional): :func:`time.monotonic` time to stop at (best point).
        tol (float): relative gap and infeasibility of each interior-point solve, and the
            violation (relative to the values' magnitude) below which a mask stays out.
        max_iter (int): interior-point iteration limit per solve.
        grow (float): at most ``grow * |R|`` (and at least 64) of the most violated masks
            join the working set ``R`` per round.
        margin (float): with violated masks, masks whose noise is within ``margin * bound``
            of the bound join too (most violated first); working masks whose noise is
            below ``(1 - 2 margin) * bound`` with a zero dual leave.

    Returns:
        The solution of the full LP; ``iterations`` counts the interior-point iterations of
        all rounds (of the slowest sample).
    """
    values, bound = problem.values[:, 0], problem.noise_bound[:, 0]
    parts = []
    with tqdm(desc="working set", unit="round", disable=not show_progress) as progress:
        for row in range(values.shape[0]):
            parts.append(_solve_one(
                values[row : row + 1], bound[row : row + 1], with_or=problem.with_or, tol=tol,
                max_iter=max_iter, grow=grow, margin=margin, progress=progress,
                deadline=deadline,
            ))
    a, o, q, y = (torch.cat([part[k] for part in parts])[:, None] for k in range(4))
    return from_interactions(problem, a, o, q, y, iterations=max(part[4] for part in parts),
                             converged=torch.cat([part[5] for part in parts]))


#: Row generation around the structured interior point: exact, one model, ``n = 11 .. 14``
#: with noise (beyond :data:`MAX_ROWS` working masks it stops with an error).
SOLVER = Solver(
    name="working_set",
    summary="row generation around the interior point (exact, one model, needs noise)",
    single=Solves(solve, {"tol": POSITIVE, "max_iter": POSITIVE_INT, "grow": POSITIVE,
                          "margin": HALF_FRACTION}, MAX_PLAYERS,
                  seconds=lambda n, models, options: _SECONDS(n)),
    joint=None,
)

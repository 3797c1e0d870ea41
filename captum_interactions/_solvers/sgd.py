"""The lab's reference optimiser: projected SGD with momentum on ``p`` and ``q``.

Reproduces the lab's published code step for step: the variables start at zero, momentum
0.9, the bounded variables (``q``, and the model parts ``p_m`` of a joint solve) are clipped
into their bounds before every step, and ``iterations`` iterations make ``iterations - 1``
updates (the lab's loop takes no step on its last iteration). The learning rate follows
``schedule``: ``"decay"`` (log-linearly from ``lr`` to ``lr / 10``: the single-model recipe
of Li & Zhang 2023, ``lr`` 1e-6 to 1e-4 over 20,000 iterations) or ``"constant"`` (the
shared recipe of Chen et al. 2024, whose script uses ``lr = 1e-7`` on the raw values, i.e.
``extract_shared(..., solver="sgd", lr=1e-7, normalize=False)``); by default ``"decay"`` for
one model and ``"constant"`` for several. Vectorised over a batch of samples with closed-form
subgradients (adjoint butterflies instead of autograd over dense ``2**n x 2**n``
matrices). Kept for comparison and reproduction: it stops well above the optimum that the
LP solvers reach.

>>> v = torch.tensor([[[0.0, 1.0, 1.0, 1.0]]], dtype=torch.float64)
>>> solution = solve(Problem(v, torch.zeros(1, 1, dtype=torch.float64)), lr=0.1, iterations=200)
>>> solution.p.shape, bool((solution.q == 0).all()), solution.dual
(torch.Size([1, 1, 4]), True, None)
"""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from captum_interactions._transforms import _butterfly_, and_transform, or_transform

from ._base import (
    FRACTION,
    POSITIVE,
    POSITIVE_INT,
    Problem,
    Solution,
    Solver,
    Solves,
    choice,
    clip,
    past,
    per_iteration,
)

__all__ = ["SOLVER", "solve"]

#: Largest ``n``: memory is ``O(M 2**n)`` per sample.
MAX_PLAYERS = 30


def _and_adjoint(x: torch.Tensor, n: int) -> torch.Tensor:
    """``A^T x`` for the Möbius transform ``A``: alternating sums over supersets."""
    return _butterfly_(x.flip(-1).clone(), n, subtract=True).flip(-1)


def _loss_subgradient(and_i: torch.Tensor, or_i: torch.Tensor, alpha: float):
    """Subgradients of ``(1-α) max_m |I^m(S)| + α Σ_m |I^m(S)|`` over ``S ≠ ∅`` (dim -2: m).

    Tied maxima share the max's weight (as autograd's ``amax``), so identical models get
    identical steps. With one model this is ``sign(I)``, the subgradient of the L1 loss.
    """
    grads = []
    for x in (and_i, or_i):
        grad = x.sign()
        if x.shape[-2] > 1:  # (one model: the sign alone, without the per-step overhead)
            magnitude = x.abs()
            top = (magnitude == magnitude.amax(-2, keepdim=True)).to(x)
            grad *= alpha + (1 - alpha) * top / top.sum(-2, keepdim=True)
        grad[..., 0] = 0
        grads.append(grad)
    return grads


def solve(
    problem: Problem,
    *,
    show_progress: bool = False,
    deadline: float | None = None,
    lr: float = 1e-6,
    iterations: int = 20_000,
    momentum: float = 0.9,
    schedule: str | None = None,
) -> Solution:
    """Projected SGD on the (joint) extraction loss of every sample of ``problem``.

    Args:
        problem (Problem): in the values' own units (the learning rate is in those units).
            Without ``p_bound`` every model gets one free ``p`` (independent extraction, the
            single-model recipe); with it ``p = p̄ + p_m``, a shared free ``p̄`` and bounded
            model parts.
        show_progress (bool): tqdm progress bar over the iterations.
        deadline (float, optional): :func:`time.monotonic` time to stop at (the point
            reached).
        lr, iterations, momentum: the recipe's learning rate, iterations (``iterations - 1``
            updates) and momentum.
        schedule (str, optional): ``"decay"`` or ``"constant"`` learning rate (default: the
            recipe of the problem: decay for one model, constant for a joint solve).

    Returns:
        The final point; no certificate (``dual`` is ``None``).
    """
    values, bound, p_bound, alpha = (problem.values, problem.noise_bound, problem.p_bound,
                                     problem.alpha)
    n = values.shape[-1].bit_length() - 1
    part = torch.zeros_like(values)  # p (independent) or p_m (joint)
    shared = torch.zeros_like(values[:, :1])  # p̄ (joint only)
    q = torch.zeros_like(values)
    velocity_part, velocity_shared, velocity_q = (torch.zeros_like(t) for t in (part, shared, q))
    if schedule is None:
        schedule = "constant" if p_bound is not None else "decay"
    rates = lr * (torch.ones(iterations, dtype=torch.float64) if schedule == "constant"
                  else torch.logspace(0, -1, iterations, dtype=torch.float64))
    rates = rates[:-1]  # the lab's last iteration takes no step
    limit = bound[..., None]
    part_limit = None if p_bound is None else p_bound[..., None]
    steps = 0
    for rate in tqdm(rates.tolist(), desc="sgd", unit="iteration", disable=not show_progress):
        if steps % 64 == 0 and past(deadline):
            break
        steps += 1
        q = clip(q, limit)
        if part_limit is not None:
            part = clip(part, part_limit)
        half = (values + q) / 2
        p = part + shared
        sign_and, sign_or = _loss_subgradient(and_transform(half + p), or_transform(half - p),
                                              alpha)
        grad_and = _and_adjoint(sign_and, n)
        # OR transform = -(Möbius of v read backwards) on S ≠ ∅, so its adjoint reverses.
        grad_or = -_and_adjoint(sign_or, n).flip(-1)
        grad_p = grad_and - grad_or
        velocity_part = momentum * velocity_part + grad_p
        velocity_q = momentum * velocity_q + (grad_and + grad_or) / 2
        part = part - rate * velocity_part
        q = q - rate * velocity_q
        if part_limit is not None:
            velocity_shared = momentum * velocity_shared + grad_p.sum(-2, keepdim=True)
            shared = shared - rate * velocity_shared
    q = clip(q, limit)
    if part_limit is not None:
        part = clip(part, part_limit)
    stopped = steps < len(rates)  # at the deadline: no tolerance, but short of the recipe
    converged = torch.zeros(len(values), dtype=torch.bool) if stopped else None
    return Solution(part + shared, q, None, steps + 1, converged)


_OPTIONS = {"lr": POSITIVE, "iterations": POSITIVE_INT, "momentum": FRACTION,
            "schedule": choice("decay", "constant")}
#: Seconds per iteration (2-core CPU): 0.19 ms at n = 6, 0.29 ms at n = 10, 0.56 ms at n = 14.
_ITERATION = per_iteration(1.5e-4, 4e-5, 1.8e-9)


def _seconds(n: int, models: int, options) -> float:
    return _ITERATION(n, models) * options.get("iterations", 20_000)

#: The lab's projected SGD, for reproduction: AND-OR for one model, and joint with a shared
#: ``p̄``; no optimality certificate.
SOLVER = Solver(
    name="sgd",
    summary="the lab's projected SGD (reproduction; stops above the optimum, no certificate)",
    single=Solves(solve, _OPTIONS, MAX_PLAYERS, modes=("and_or",), seconds=_seconds),
    joint=Solves(solve, _OPTIONS, MAX_PLAYERS, seconds=_seconds),
    unit_scale=False,
)

"""Extraction solvers behind one interface, and the registry that picks and runs them.

Every solver is one module that defines a :class:`~._base.Solver` record (``SOLVER``): its
name, whether it solves one model and/or several jointly (:class:`~._base.Solves`: the solve
function, its options with their checks, the largest ``n``) and whether it works on values of
unit size. A solve function takes a :class:`~._base.Problem` and returns a
:class:`~._base.Solution`. Adding a solver is one module plus one line in :data:`SOLVERS`.

:func:`check_solver` runs every check that needs no values (name, number of models, players,
mode, options), so callers can refuse bad input before any model runs; :func:`choose` resolves
``"auto"``; :func:`run_solver` centres and scales the values for the solver, runs it and
scales the solution back.

>>> sorted(SOLVERS)
['highs', 'ipm', 'pdhg', 'sgd', 'working_set']
>>> choose("auto", 10), choose("auto", 12, noisy=True), choose("auto", 10, models=2)
('ipm', 'working_set', 'ipm')
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import torch

from captum_interactions.exceptions import InteractionError

from . import highs, ipm, pdhg, sgd, working_set
from ._base import Problem, Solution, Solver, Solves, clip
from .shared_ipm import MAX_MATCHING_ROWS, MAX_MODELS

__all__ = [
    "AUTO",
    "SOLVERS",
    "Problem",
    "Solution",
    "Solver",
    "check_solver",
    "choose",
    "clip",
    "estimate_seconds",
    "run_solver",
]

#: Every solver by name.
SOLVERS: dict[str, Solver] = {
    solver.name: solver
    for solver in (ipm.SOLVER, working_set.SOLVER, highs.SOLVER, pdhg.SOLVER, sgd.SOLVER)
}
#: The name that lets :func:`choose` pick.
AUTO = "auto"
#: ``"auto"`` (one model) takes ``"ipm"`` up to this ``n``, then with noise ``"working_set"``
#: up to :data:`AUTO_WORKING_SET_MAX_N` (measured 2.8x faster than ``"ipm"`` at ``n = 11``,
#: 3.6x at ``n = 12``), without noise ``"ipm"`` as far as it goes; then ``"pdhg"``.
AUTO_IPM_MAX_N = 10
AUTO_WORKING_SET_MAX_N = 14
#: ``"auto"`` for joint extraction takes HiGHS up to this ``n`` where the joint ``"ipm"``
#: does not fit.
AUTO_HIGHS_MAX_N = 10


def choose(solver: str, n: int, *, models: int = 1, noisy: bool = False) -> str:
    """The solver that runs for ``solver`` (``"auto"`` picks by ``n``, the number of models
    and whether every sample has noise; any other name is returned as it is)."""
    if solver != AUTO:
        return solver
    if models > 1:
        if models <= MAX_MODELS and models << n <= MAX_MATCHING_ROWS:
            return "ipm"
        return "highs" if n <= AUTO_HIGHS_MAX_N else "pdhg"
    if noisy and AUTO_IPM_MAX_N < n <= AUTO_WORKING_SET_MAX_N:
        return "working_set"
    return "ipm" if n <= ipm.MAX_PLAYERS else "pdhg"


def _supporting(models: int, mode: str) -> list[str]:
    joint = models > 1
    return [name for name, solver in SOLVERS.items()
            if (solves := solver.joint if joint else solver.single) is not None
            and mode in solves.modes]


def check_solver(
    solver: str,
    *,
    models: int = 1,
    n: int | None = None,
    mode: str = "and_or",
    options: Mapping[str, Any] | None = None,
) -> Solves | None:
    """Raise :class:`InteractionError` (``TypeError`` for a non-string name) unless
    ``solver`` can solve ``models`` models in ``mode`` with these options; return how it
    does (``None`` for ``"auto"``, which picks once the values are known).

    Checks what is given: ``n`` (players) and ``options`` are checked when not ``None``.
    ``"auto"`` takes no options unless every solver it may pick accepts them.

    >>> check_solver("working_set", models=2)
    Traceback (most recent call last):
    ...
    captum_interactions.exceptions.InteractionError: solver 'working_set' does not solve ...
    """
    if not isinstance(solver, str):
        raise TypeError(f"solver must be a name (str), got {type(solver).__name__}")
    what = f"joint extraction of {models} models" if models > 1 else "one model"
    if mode != "and_or":
        what += f" in mode {mode!r}"
    if solver == AUTO:
        if options and n is not None:
            for name in {choose(AUTO, n, models=models, noisy=noisy) for noisy in (False, True)}:
                check_solver(name, models=models, n=n, mode=mode, options=options)
        return None
    if solver not in SOLVERS:
        raise InteractionError(
            f"unknown solver {solver!r}; valid solvers: {', '.join((AUTO, *SOLVERS))}"
        )
    spec = SOLVERS[solver]
    solves = spec.joint if models > 1 else spec.single
    if solves is None or mode not in solves.modes:
        raise InteractionError(
            f"solver {solver!r} does not solve {what}; use one of "
            f"{', '.join((AUTO, *_supporting(models, mode)))}"
        )
    if n is not None:
        reason = solves.fits(n, models)
        if reason is not None:
            raise InteractionError(
                f"{reason}; use solver='highs' (exact, n <= {highs.MAX_PLAYERS}) or "
                "solver='pdhg' (first-order)"
            )
        if n > solves.max_players:
            instead = ("" if solves.max_players >= pdhg.MAX_PLAYERS
                       else "use solver='pdhg' (first-order, up to n=30) or ")
            raise InteractionError(
                f"solver {solver!r} holds at most n={solves.max_players} players, got n={n}; "
                f"{instead}group the inputs into fewer players (feature_mask, players=[...])"
            )
    for name, value in (options or {}).items():
        if name not in solves.options:
            raise InteractionError(
                f"unknown option {name!r} for solver {solver!r} on {what}; it takes "
                f"{sorted(solves.options) or 'no options'}"
            )
        option = solves.options[name]
        if not option.check(value):
            raise InteractionError(
                f"option {name}={value!r} of solver {solver!r} must be {option.expected}"
            )
    return solves


def estimate_seconds(solver: str, n: int, *, models: int = 1,
                     options: Mapping[str, Any] | None = None) -> float:
    """Rough seconds per sample of a concrete solver (measured on a 2-core CPU; for
    iterative solvers, all their iterations: an upper bound)."""
    spec = SOLVERS[solver]
    solves = spec.joint if models > 1 else spec.single
    if n > solves.max_players:  # (it cannot run at all; the callers say why)
        return math.inf
    return 0.0 if solves.seconds is None else solves.seconds(n, models, options or {})


def run_solver(
    solver: str, problem: Problem, *, options: Mapping[str, Any], show_progress: bool = False,
    deadline: float | None = None,
) -> Solution:
    """Run a concrete solver (not ``"auto"``) on ``problem``; the solution is in the units of
    ``problem``.

    Solvers with ``unit_scale`` get every model's values centred on ``v(∅)`` and every sample
    divided by its largest ``|v(T) - v(∅)|`` (the loss ignores a shift of each model's values
    and is homogeneous in their scale), so default tolerances and starting points mean the
    same for every input. Past ``deadline`` (:func:`time.monotonic`) the solver returns its
    best point so far, unconverged. A noise bound above half a model's range of values is
    lowered to it, which changes nothing: that much noise already makes every value equal, and the
    optimum is zero either way (a bound of ``1e300`` would only break the arithmetic).
    """
    solves = check_solver(solver, models=problem.models, n=problem.n,
                          mode="and_or" if problem.with_or else "and", options=options)
    values = problem.values
    half_range = (values.amax(-1) - values.amin(-1)) / 2
    problem = replace(problem, noise_bound=torch.minimum(problem.noise_bound, half_range))
    settings = {"show_progress": show_progress, "deadline": deadline, **options}
    if not SOLVERS[solver].unit_scale:
        return solves.solve(problem, **settings)
    centred = replace(problem, values=problem.values - problem.values[..., :1])
    scale = centred.values.abs().amax((-1, -2)).clamp(min=1e-300)
    return solves.solve(centred.rescaled(scale), **settings).rescaled(scale)

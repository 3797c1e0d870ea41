"""The interface every extraction solver implements: a :class:`Problem` in, a :class:`Solution`
out, described by a :class:`Solver` record in the registry (:mod:`._solvers`).

A problem is the extraction LP of a batch of samples for ``M`` models (``M = 1``: one model):
values ``[batch, M, 2**n]``, noise bounds ``|q| <= noise_bound`` and, for joint extraction, the
bounds ``|p_m| <= p_bound`` of the model parts of the decomposition. A solution is the full
decomposition ``p`` (``p̄ + p_m`` when joint) and the noise ``q`` of every model, with a dual
lower bound on the optimum when the solver certifies one. Everything a caller derives from
them (interactions, objectives, gaps) is computed once, by :mod:`captum_interactions.extraction`.

>>> v = torch.tensor([[[0.0, 1.0, 2.0, 5.0]]], dtype=torch.float64)
>>> problem = Problem(v, torch.zeros(1, 1, dtype=torch.float64))
>>> problem.n, problem.models, problem.joint
(2, 1, False)
>>> clip(torch.tensor([-2.0, 0.5, 3.0]), torch.tensor(1.0)).tolist()
[-1.0, 0.5, 1.0]
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, NamedTuple, Protocol

import torch

from captum_interactions._transforms import inverse_and_transform, inverse_or_transform

from ._lp import dual_bound

__all__ = [
    "FRACTION",
    "HALF_FRACTION",
    "MAPPING",
    "POSITIVE",
    "POSITIVE_INT",
    "Option",
    "Problem",
    "Solution",
    "SolveFunction",
    "Solver",
    "Solves",
    "choice",
    "clip",
    "from_interactions",
    "growing",
    "past",
    "per_iteration",
]


@dataclass(frozen=True)
class Problem:
    """The extraction LP of a batch of samples, as every solver receives it.

    Attributes:
        values (Tensor): ``[batch, M, 2**n]`` float64, ``M`` models (1 for one model).
        noise_bound (Tensor): ``[batch, M]`` bounds of ``|q|``.
        p_bound (Tensor | None): ``[batch, M]`` bounds of the model parts ``|p_m|`` of a joint
            extraction (shared ``p̄``); ``None`` for independent extraction (one free ``p``).
        with_or (bool): learn OR interactions (mode ``"and_or"``); else AND only.
        alpha (float): weight of the sum in the joint loss ``(1-α) max_m |I^m| + α Σ_m |I^m|``.
    """

    values: torch.Tensor
    noise_bound: torch.Tensor
    p_bound: torch.Tensor | None = None
    with_or: bool = True
    alpha: float = 0.0

    @property
    def n(self) -> int:
        """Number of players."""
        return self.values.shape[-1].bit_length() - 1

    @property
    def models(self) -> int:
        """Number of models ``M``."""
        return self.values.shape[-2]

    @property
    def joint(self) -> bool:
        """Whether the models share the decomposition ``p̄`` (joint extraction)."""
        return self.p_bound is not None

    def rescaled(self, factor: torch.Tensor) -> Problem:
        """The same problem with values and bounds divided by ``factor`` (``[batch]``)."""
        scale = factor[:, None]
        return replace(
            self,
            values=self.values / scale[..., None],
            noise_bound=self.noise_bound / scale,
            p_bound=None if self.p_bound is None else self.p_bound / scale,
        )


@dataclass
class Solution:
    """What a solver found for every sample of a :class:`Problem`.

    Attributes:
        p (Tensor): ``[batch, M, 2**n]`` the full decomposition of each model.
        q (Tensor): ``[batch, M, 2**n]`` the noise (inside its bound up to the solver's
            tolerance; callers clip it with :func:`clip`).
        dual (Tensor | None): ``[batch]`` a certified lower bound on the optimal loss (weak
            duality); ``None`` for solvers without a certificate.
        iterations (int): iterations of the slowest sample.
        converged (Tensor | None): ``[batch]`` whether the solver reached its tolerance
            (not an iteration cap); ``None`` for solvers without one (the lab's SGD).
    """

    p: torch.Tensor
    q: torch.Tensor
    dual: torch.Tensor | None
    iterations: int
    converged: torch.Tensor | None = None

    def rescaled(self, factor: torch.Tensor) -> Solution:
        """The solution of the problem whose values were divided by ``factor`` (``[batch]``),
        in the original units (the loss is positively homogeneous)."""
        scale = factor[:, None, None]
        return replace(self, p=self.p * scale, q=self.q * scale,
                       dual=None if self.dual is None else self.dual * factor)


def clip(x: torch.Tensor, bound: torch.Tensor) -> torch.Tensor:
    """``x`` clipped into ``[-bound, bound]`` (``bound`` broadcasts against ``x``)."""
    return torch.maximum(torch.minimum(x, bound), -bound)


def from_interactions(
    problem: Problem,
    and_i: torch.Tensor,
    or_i: torch.Tensor,
    q: torch.Tensor,
    y: torch.Tensor,
    *,
    w: torch.Tensor | None = None,
    iterations: int,
    converged: torch.Tensor,
) -> Solution:
    """The solution of a solver that found interactions ``and_i``, ``or_i`` and noise ``q``
    (``[batch, M, 2**n]``) with the LP duals ``y`` (and ``w``) of :func:`._lp.dual_bound`:
    the decomposition ``p`` that reproduces the interactions (AND only: ``p = (v + q) / 2``,
    so that ``v_or = 0``) and the certified dual bound."""
    values = problem.values
    if problem.with_or:
        p = (inverse_and_transform(and_i) - inverse_or_transform(or_i)) / 2
    else:
        p = (values + q) / 2
    dual = dual_bound(values, problem.noise_bound, y, with_or=problem.with_or,
                      alpha=problem.alpha, w=w, p_bound=problem.p_bound)
    return Solution(p, q, dual, iterations, converged)


# ---------------------------------------------------------------------------------- options
class Option(NamedTuple):
    """A solver option: a check of its value and what the check expects (for messages)."""

    check: Callable[[Any], bool]
    expected: str


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


POSITIVE = Option(lambda x: _number(x) and math.isfinite(x) and x > 0, "a finite number > 0")
POSITIVE_INT = Option(lambda x: isinstance(x, int) and not isinstance(x, bool) and x > 0,
                      "an int > 0")
HALF_FRACTION = Option(lambda x: _number(x) and 0 <= x < 0.5, "a number in [0, 0.5)")
FRACTION = Option(lambda x: _number(x) and 0 <= x < 1, "a number in [0, 1)")


def choice(*values: str) -> Option:
    """An option that takes one of ``values``."""
    return Option(lambda x: x in values, f"one of {', '.join(map(repr, values))}")


#: Options passed through to another library.
MAPPING = Option(lambda x: isinstance(x, Mapping), "a dict")


# ---------------------------------------------------------------------------------- solvers
class SolveFunction(Protocol):
    """``solve(problem, *, show_progress, deadline, **options) -> Solution``: the solver
    shows a progress bar with ``show_progress`` and, past ``deadline`` (a
    :func:`time.monotonic` time, or ``None``), returns its best point so far (feasible once
    the caller clips the noise) with ``converged`` false."""

    def __call__(self, problem: Problem, *, show_progress: bool, deadline: float | None,
                 **options: Any) -> Solution: ...


def past(deadline: float | None) -> bool:
    """Whether ``deadline`` (a :func:`time.monotonic` time) has passed."""
    return deadline is not None and time.monotonic() > deadline


def growing(seconds: float, at: int, factor: float) -> Callable[[int], float]:
    """An estimate that takes ``seconds`` at ``n = at`` and grows ``factor``-fold per player."""
    return lambda n: seconds * factor ** (n - at)


def per_iteration(fixed: float, per_model: float, per_entry: float) -> Callable[[int, int], float]:
    """Seconds per iteration of a first-order solver on ``models`` models of ``n`` players:
    a fixed overhead (Python, small kernels) plus transforms of ``n 2**n`` operations."""
    return lambda n, models: fixed + models * (per_model + per_entry * n * 2.0**n)


def _fits_always(n: int, models: int) -> str | None:
    return None


@dataclass(frozen=True)
class Solves:
    """How a solver handles one kind of problem: one model, or several jointly.

    Attributes:
        solve (SolveFunction): the solver.
        options (dict[str, Option]): the options it takes, with their checks.
        max_players (int): the largest ``n`` it holds.
        fits (callable): ``(n, models) -> None``, or why the problem does not fit (for
            limits other than ``n``).
        seconds (callable): ``(n, models, options) -> seconds`` per sample, measured on a
            2-core CPU (an upper bound for iterative solvers: all their iterations).
        modes (tuple[str, ...]): the extraction modes it solves (``"and_or"``: AND and OR
            interactions, ``"and"``: AND only).
    """

    solve: SolveFunction
    options: Mapping[str, Option]
    max_players: int
    fits: Callable[[int, int], str | None] = _fits_always
    modes: tuple[str, ...] = ("and_or", "and")
    seconds: Callable[[int, int, Mapping[str, Any]], float] | None = None


@dataclass(frozen=True)
class Solver:
    """A registered extraction solver (see :data:`captum_interactions._solvers.SOLVERS`).

    Attributes:
        name (str): the name users pass as ``solver=``.
        summary (str): what it is, in a few words (for messages and docs).
        single (Solves | None): how it solves one model (``None``: it does not).
        joint (Solves | None): how it solves ``M >= 2`` models jointly (``None``: it does not).
        unit_scale (bool): whether it is handed centred values of unit size (the loss is
            invariant to a shift of each model's values and homogeneous in their scale);
            ``False`` for solvers whose settings are in the values' own units (the lab's SGD
            learning rate).
    """

    name: str
    summary: str
    single: Solves | None
    joint: Solves | None
    unit_scale: bool = True

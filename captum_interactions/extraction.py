"""Sparse AND-OR extraction: the sparsest interactions that explain ``v`` up to bounded noise.

One model (:func:`extract`) solves ``min Σ_{S≠∅} |I_and(S)| + |I_or(S)|`` over the
decomposition ``p`` and the noise ``|q| <= bound``; several models (:func:`extract_shared`)
share part of the decomposition (Chen et al., ICLR 2024). Both problems are linear programs.
Whatever the solver, the returned interactions are recomputed in float64 from the final
``p`` and ``q`` (``q`` clipped into its bound), so universal matching
``reconstruct(I_and, I_or) == v + q`` holds to float precision and ``|q| <= bound`` exactly.

Solvers (``solver=``):

- ``"ipm"``: exact (certified relative gap about ``1e-8``). An interior-point method on the
  structured LP: dense normal equations built from subset sums with one gather, one
  Cholesky per iteration, about 25 iterations; batched on GPUs, one sample at a time on the
  CPU. Fastest exact solver up to ``n = 10`` (and without noise); allowed up to ``n = 12``
  (``8 · 4**n`` bytes). For :func:`extract_shared` the same method on the joint LP (see
  ``_solvers/shared_ipm.py``: the loss as an atomic norm over sign vectors, ``M`` matching
  rows per mask, decomposition rows generated only for masks whose ``p`` bound binds): 2 to
  4 models with ``M · 2**n <= 8192``, 4-5x faster than HiGHS at ``n = 10``.
- ``"working_set"``: exact (same certificate as ``"ipm"``). Row generation around the
  interior-point method: it solves on a working set of masks (every interaction column
  present), checks all ``2**n`` masks with subset sums, adds the violated ones and solves
  again. With noise most masks are slack at the optimum, so the normal matrix shrinks from
  ``2**n`` rows to the working set (about 2,700 masks for a SmolLM2 sample at ``n = 14``);
  beyond 8192 working masks it stops with an error. One model only; needs ``qcoef > 0`` to
  gain anything.
- ``"highs"``: exact. HiGHS (``scipy.optimize.linprog``) on a sparse LP; one sample at a time;
  up to ``n = 12``; any number of models in :func:`extract_shared`.
- ``"pdhg"``: first-order. Restarted, preconditioned primal-dual hybrid gradient with fast
  transforms, batched, on the values' device, any ``n``; stops at a certified relative gap
  (``tol``, default ``1e-4``) or ``max_iter``. The transforms are badly conditioned (norm
  ``1.618**n``), so convergence is slow: use it where no exact solver fits, and read the
  gap it reports.
- ``"sgd"``: the lab's projected SGD with momentum (``lr=1e-6``, ``iterations=20_000``), for
  reproduction (one model, and shared extraction with a shared ``p̄`` as in Chen et al.);
  no optimality certificate.
- ``"auto"``: ``"ipm"`` for ``n <= 10``; with noise in every sample (``qcoef > 0`` and
  ``v(N) != v(∅)``) ``"working_set"`` for ``n = 11 .. 14`` (measured 2.8x faster than
  ``"ipm"`` at ``n = 11``, 3.6x at ``n = 12``), without noise ``"ipm"`` up to ``n = 12``
  (10.5 s for a SmolLM2 game at ``n = 12``, where ``"pdhg"`` stops at 2.6x the optimum after
  5 s); then ``"pdhg"`` (one model). Joint: ``"ipm"`` while ``M · 2**n <= 8192`` (two models
  up to ``n = 12``, three or four up to ``n = 11``), else ``"highs"`` up to ``n = 10``, else
  ``"pdhg"``.

Every result records how it was made in ``result.extraction`` (an
:class:`~captum_interactions.result.ExtractionInfo`): the solver, the objective of the solved
problem and, where the solver certifies it, a dual lower bound ``dual`` and the relative
``gap`` between them. Solvers show a progress bar with ``show_progress=True``.

>>> import torch
>>> v = torch.tensor([0.0, 0.0, 0.0, 1.0])          # an AND of two players
>>> result = extract(v, players=["a", "b"], qcoef=0.0)
>>> [(term.label, term.type, round(term.value, 6)) for term in result.salient()]
[('a & b', 'and', 1.0)]
>>> extract(v, mode="none").objective      # no extraction: the plain Harsanyi dividends
1.0
>>> extract(v, mode="half").objective      # no extraction: half to AND, half to OR
2.0
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

import torch

from ._solvers import (
    Problem,
    Solution,
    check_solver,
    choose,
    clip,
    estimate_seconds,
    run_solver,
)
from ._solvers._lp import loss
from ._transforms import _checked, and_transform, or_transform
from .costs import warn_slow_solve
from .exceptions import ConvergenceWarning, InteractionError
from .modes import MODES
from .result import ExtractionInfo, InteractionResult, SharedExtraction
from .subsets import check_labels

__all__ = ["SolvePlan", "check_extraction", "extract", "extract_shared"]

#: Modes that explain ``v`` in closed form, without an optimisation.
_CLOSED_FORM = ("none", "half")


# ------------------------------------------------------------------------------ checks
def _values_batch(values: Any, name: str) -> tuple[torch.Tensor, bool]:
    """``values`` as float64 ``[batch, 2**n]`` and whether the input was one sample."""
    values, _ = _checked(values, name)
    if values.dim() > 2:
        raise InteractionError(
            f"{name} must be [2**n] (one sample) or [batch, 2**n], got shape "
            f"{tuple(values.shape)}; flatten the leading dimensions with .reshape(-1, 2**n)"
        )
    if values.is_complex():
        raise InteractionError(f"{name} must be real, got dtype {values.dtype}")
    single = values.dim() == 1
    values = values.to(torch.float64).reshape(-1, values.shape[-1])
    if values.shape[0] == 0:
        raise InteractionError(f"{name} holds no sample (batch size 0)")
    return values, single


def _check_scale(scale: str | float) -> str | float:
    """``scale`` if valid: ``"vN-v0"``, ``"mean-vN-v0"`` or a finite number >= 0."""
    if isinstance(scale, str):
        if scale not in ("vN-v0", "mean-vN-v0"):
            raise InteractionError(
                f"unknown scale {scale!r}; use 'vN-v0' (per sample |v(N) - v(∅)|), "
                "'mean-vN-v0' (its mean over the batch) or a non-negative number"
            )
        return scale
    if isinstance(scale, bool) or not isinstance(scale, (int, float)):
        raise TypeError(f"scale must be a string or a number, got {type(scale).__name__}")
    if not (math.isfinite(scale) and scale >= 0):
        raise InteractionError(f"scale must be a finite number >= 0, got {scale}")
    return float(scale)


def _sample_scale(values: torch.Tensor, scale: str | float) -> torch.Tensor:
    """The scale of every sample (``[batch]``) for the values ``[batch, 2**n]``."""
    spread = (values[:, -1] - values[:, 0]).abs()
    if scale == "vN-v0":
        return spread
    if scale == "mean-vN-v0":
        return spread.mean().expand_as(spread)
    return torch.full_like(spread, float(scale))


def _coefficient(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not (math.isfinite(value) and value >= 0):
        raise InteractionError(
            f"{name}={value} makes no sense: the bound is {name} times a scale and must be "
            f"a finite number >= 0 (e.g. {name}=0.05, or 0 for no noise)"
        )
    return float(value)


def _flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value


def _needs_solver(mode: str, n: int, qcoef: float) -> bool:
    """Whether extraction in ``mode`` solves an LP (else it has a closed form: the modes
    ``"none"`` and ``"half"``, no players, or AND only without noise)."""
    return not (mode in _CLOSED_FORM or n == 0 or (mode == "and" and qcoef == 0))


class SolvePlan(NamedTuple):
    """The solver an extraction will run and its rough duration per sample."""

    solver: str
    seconds: float


def check_extraction(
    n: int,
    *,
    models: int = 1,
    mode: str = "and_or",
    qcoef: float = 0.05,
    scale: str | float = "vN-v0",
    solver: str = "auto",
    subtract_v0: bool = False,
    time_limit: float | None = None,
    **solver_options: Any,
) -> SolvePlan | None:
    """Every check of an extraction of ``n`` players that needs no values, with the keyword
    arguments of :func:`extract` (``models > 1``: of :func:`extract_shared`); returns the
    solver that will run (``"auto"`` resolved as for noisy values) and its rough duration,
    or ``None`` where no solver runs. Callers run it before the expensive model evaluations.

    >>> check_extraction(4, solver="ipm", tol=-1)
    Traceback (most recent call last):
    ...
    captum_interactions.exceptions.InteractionError: option tol=-1 of solver 'ipm' must be ...
    """
    if mode not in MODES:
        raise InteractionError(
            f"unknown mode {mode!r}; valid modes: {', '.join(MODES)} ("
            + "; ".join(f"{name}: {meaning}" for name, meaning in MODES.items()) + ")"
        )
    qcoef = _coefficient(qcoef, "qcoef")
    _check_scale(scale)
    _flag(subtract_v0, "subtract_v0")
    if time_limit is not None and (isinstance(time_limit, bool) or not isinstance(
            time_limit, (int, float)) or not time_limit > 0):
        raise InteractionError(
            f"time_limit must be a number of seconds > 0 (or None: no limit), got {time_limit!r}")
    if not _needs_solver(mode, n, qcoef):
        if solver_options:
            raise InteractionError(
                f"solver options {sorted(solver_options)} given but this extraction needs no "
                f"solver (n={n} players, mode={mode!r}, qcoef={qcoef}); leave them out"
            )
        return None
    check_solver(solver, models=models, n=n, mode=mode, options=solver_options)
    name = choose(solver, n, models=models, noisy=qcoef > 0)
    return SolvePlan(name, estimate_seconds(name, n, models=models, options=solver_options))


# ----------------------------------------------------------------------------- results
def _interactions(values: torch.Tensor, p: torch.Tensor, q: torch.Tensor):
    half = (values + q) / 2
    return and_transform(half + p), or_transform(half - p)


def _solve(solver: str, problem: Problem, *, needed: bool, options: dict[str, Any],
           show_progress: bool, time_limit: float | None) -> tuple[str, Solution, str]:
    """The solver that runs (``"none"`` where nothing needs solving), its solution and what
    stops it short if it does. A slow solve says so before it starts."""
    if not needed:
        zeros = torch.zeros_like(problem.values)
        return "none", Solution(zeros, zeros, None, 0), ""
    name = choose(solver, problem.n, models=problem.models,
                  noisy=bool((problem.noise_bound > 0).all()))
    samples = len(problem.values)
    warn_slow_solve(name, samples * estimate_seconds(name, problem.n, models=problem.models,
                                                     options=options),
                    n=problem.n, samples=samples, time_limit=time_limit, stacklevel=4)
    start = time.monotonic()
    deadline = None if time_limit is None else start + time_limit
    solution = run_solver(name, problem, options=options, show_progress=show_progress,
                          deadline=deadline)
    cause = (f"it reached time_limit={time_limit:g} s" if deadline is not None
             and time.monotonic() >= deadline else "it ran out of iterations (max_iter)")
    return name, solution, cause


def _records(
    objectives: torch.Tensor, solution: Solution, problem: Problem, *, solver: str, cause: str,
    **fields: Any,
) -> list[ExtractionInfo]:
    """One extraction record per sample, with the certificate where there is one; warns
    (:class:`ConvergenceWarning`) where the solver stopped before its tolerance.

    The gap is relative to the objective or, where that is smaller, to the sample's largest
    ``|v(T) - v(∅)|`` (an optimum of zero would make a purely relative gap explode).
    """
    values = problem.values
    floor = (values - values[..., :1]).abs().amax((-1, -2)).clamp(min=1e-300)
    if solution.dual is None:
        gaps = duals = [None] * len(objectives)
    else:
        duals = solution.dual.tolist()
        gaps = ((objectives - solution.dual) / torch.maximum(objectives.abs(), floor)).tolist()
    converged = ([None] * len(objectives) if solution.converged is None
                 else solution.converged.tolist())
    stopped = [gap for gap, done in zip(gaps, converged, strict=True) if done is False]
    if stopped:
        reached = "" if stopped[0] is None else (
            f"; the certified relative gap it reached is up to {max(stopped):.2g} "
            "(result.extraction.gap)")
        goal = "its tolerance" if stopped[0] is not None else "its iterations"
        warnings.warn(
            f"solver {solver!r} stopped before {goal} on {len(stopped)} of "
            f"{len(objectives)} sample(s) ({cause}){reached}. The result is feasible but may "
            "be above the optimum: allow more time or iterations, or use an exact solver",
            ConvergenceWarning, stacklevel=3,
        )
    return [
        ExtractionInfo(objective=value, dual=lower, gap=gap, converged=done, solver=solver,
                       **fields)
        for value, lower, gap, done in zip(objectives.tolist(), duals, gaps, converged,
                                           strict=True)
    ]


def _results(
    values, and_i, or_i, p, q, bound, labels, extraction, single, metadata,
) -> InteractionResult | list[InteractionResult]:
    """One result per sample (``values`` etc. ``[batch, 2**n]``, one record each)."""
    results = [
        InteractionResult(
            players=list(labels), values=values[row], and_interactions=and_i[row],
            or_interactions=or_i[row], p=p[row], q=q[row], bound=float(bound[row]),
            extraction=extraction[row], metadata=dict(metadata or {}),
        )
        for row in range(values.shape[0])
    ]
    return results[0] if single else results


# -------------------------------------------------------------------------------- extract
def extract(
    values: torch.Tensor,
    *,
    mode: Literal["and_or", "and", "none", "half"] = "and_or",
    qcoef: float = 0.05,
    scale: str | float = "vN-v0",
    solver: str = "auto",
    players: Sequence[str] | None = None,
    subtract_v0: bool = False,
    metadata: dict[str, Any] | None = None,
    show_progress: bool = False,
    time_limit: float | None = None,
    **solver_options: Any,
) -> InteractionResult | list[InteractionResult]:
    """Sparse AND and OR interactions of one model's values.

    Args:
        values (Tensor): ``[2**n]`` (one sample) or ``[batch, 2**n]``, ``values[..., T]`` is
            ``v(T)`` for bitmask ``T``.
        mode (str): ``"and_or"`` (learn ``p`` and ``q``), ``"and"`` (sparse AND only:
            ``v_and = v + q``, ``I_or = 0``), ``"none"`` (no extraction: the plain Harsanyi
            dividends ``and_transform(v)``, ``I_or = 0``) or ``"half"`` (no extraction,
            ``p = q = 0``: ``and_transform(v/2)`` and ``or_transform(v/2)``); see
            :data:`captum_interactions.modes.MODES`.
        qcoef (float): noise bound relative to the scale; 0 means no noise.
        scale (str | float): ``"vN-v0"`` (per sample ``|v(N) - v(∅)|``), ``"mean-vN-v0"``
            (its mean over the batch) or a number. ``bound = qcoef * scale``.
        solver (str): ``"auto"``, ``"ipm"``, ``"working_set"``, ``"highs"``, ``"pdhg"`` or
            ``"sgd"`` (see module).
        players (list[str], optional): player labels, default ``"x0" .. "x{n-1}"``.
        subtract_v0 (bool): the lab's ``v - v(∅)`` convention; it changes only the
            empty-set terms.
        metadata (dict, optional): stored with every result.
        show_progress (bool): the solver's progress bar (tqdm).
        time_limit (float, optional): seconds the solve of the whole batch may take; at
            the limit the solver's best point comes back with the certified gap it reached (a
            :class:`~captum_interactions.ConvergenceWarning` says so; ``"highs"`` has no
            partial point and raises). A solve expected to take more than 10 s says so first
            (a :class:`~captum_interactions.CostWarning`).
        **solver_options: ``tol``, ``max_iter`` (ipm, working_set, pdhg), ``grow``,
            ``margin`` (working_set), ``check_every`` (pdhg), ``lr``, ``iterations``,
            ``momentum``, ``schedule`` (sgd), ``method``, ``options`` (highs).

    Returns:
        One :class:`InteractionResult` for ``[2**n]`` values, a list for a batch.

    Examples:
        >>> v = torch.tensor([0.0, 1.0, 1.0, 1.0])      # an OR of two players
        >>> result = extract(v, qcoef=0.0)
        >>> round(result.objective, 6), round(float(result.or_interactions[3]), 6)
        (1.0, 1.0)
        >>> float(result.matching_error()) < 1e-12, result.extraction.gap < 1e-8
        (True, True)
    """
    values, single = _values_batch(values, "values")
    n = values.shape[-1].bit_length() - 1
    _flag(show_progress, "show_progress")
    check_extraction(n, mode=mode, qcoef=qcoef, scale=scale, solver=solver,
                     subtract_v0=subtract_v0, time_limit=time_limit, **solver_options)
    qcoef, scale = float(qcoef), _check_scale(scale)
    labels = check_labels(players, n, source=f"values over 2**{n} masks")
    if subtract_v0:
        values = values - values[:, :1]
    bound = qcoef * _sample_scale(values, scale)
    if mode in _CLOSED_FORM:
        bound = torch.zeros_like(bound)
    start = time.perf_counter()
    problem = Problem(values[:, None], bound[:, None], with_or=mode == "and_or")
    name, solution, cause = _solve(solver, problem, needed=_needs_solver(mode, n, qcoef),
                                   options=solver_options, show_progress=show_progress,
                                   time_limit=time_limit)
    q = clip(solution.q[:, 0], bound[:, None])
    if mode in ("and", "none"):
        p = (values + q) / 2  # v_or = 0 exactly
    elif mode == "half":
        p = torch.zeros_like(values)
    else:
        p = solution.p[:, 0] - solution.p[:, :1, 0]  # p(∅) only moves the empty-set terms
    seconds = (time.perf_counter() - start) / values.shape[0]
    and_i, or_i = _interactions(values, p, q)
    records = _records(loss(and_i[:, None], or_i[:, None], 0.0), solution, problem, solver=name,
                       cause=cause, mode=mode, qcoef=qcoef, scale=scale, subtract_v0=subtract_v0,
                       iterations=solution.iterations, seconds=seconds)
    return _results(values, and_i, or_i, p, q, bound, labels, records, single, metadata)


# ------------------------------------------------------------------------- extract_shared
def extract_shared(
    values_per_model: Sequence[torch.Tensor],
    *,
    alpha: float = 0.1,
    qcoef: float = 0.02,
    pcoef: float = 0.5,
    normalize: bool = True,
    solver: str = "auto",
    players: Sequence[str] | None = None,
    scale: str | float = "vN-v0",
    subtract_v0: bool = False,
    metadata: dict[str, Any] | None = None,
    show_progress: bool = False,
    time_limit: float | None = None,
    **solver_options: Any,
) -> list[InteractionResult] | list[list[InteractionResult]]:
    """Joint AND-OR extraction of ``M >= 2`` models on the same samples and players.

    Model ``m`` gets ``I_and^m = A(½(v_m + q_m) + p̄ + p_m)`` and
    ``I_or^m = B(½(v_m + q_m) - p̄ - p_m)`` with a shared ``p̄``, ``|q_m| <= qcoef · scale``
    and ``|p_m| <= pcoef · |mean over the batch of v_m(N) - v_m(∅)|``. The loss runs over
    every non-empty pattern ``S`` and type: ``(1-α) max_m |I^m(S)| + α Σ_m |I^m(S)|``.
    Joint extraction biases results toward sharing: measure sharing claims on independent
    :func:`extract` results too.

    Args:
        values_per_model (list[Tensor]): ``M`` tensors of one shape, ``[2**n]`` or
            ``[batch, 2**n]`` (row ``i`` of every model is the same sample).
        alpha (float): weight of the sum in the loss (0: pure max, 1: independent L1).
        qcoef (float): noise bound relative to ``scale``.
        pcoef (float): bound of the model-specific ``p_m``, relative to the batch mean of
            ``v_m(N) - v_m(∅)``.
        normalize (bool): divide each model's values by its scale before the joint solve
            (so no model dominates the max) and scale back; ``False`` solves the papers'
            loss on the raw values.
        solver (str): ``"auto"``, ``"ipm"``, ``"highs"`` (exact), ``"pdhg"`` (first-order)
            or ``"sgd"`` (the lab's projected SGD with a shared ``p̄``; no certificate).
        players, scale, subtract_v0, metadata, show_progress, time_limit: as in
            :func:`extract`.
        **solver_options: ``tol``, ``max_iter`` (ipm, pdhg), ``margin`` (ipm),
            ``check_every`` (pdhg), ``method``, ``options`` (highs), ``lr``, ``iterations``,
            ``momentum`` (sgd).

    Returns:
        Per model one :class:`InteractionResult` (``[2**n]`` inputs) or one list per model.
        Their ``extraction.objective``, ``dual`` and ``gap`` are those of the joint loss.

    Examples:
        >>> v = torch.tensor([0.0, 0.0, 0.0, 1.0])
        >>> first, second = extract_shared([v, v.clone()], qcoef=0.0)
        >>> round(first.objective, 6), round(second.objective, 6)
        (1.0, 1.0)
        >>> round(first.extraction.objective, 6), first.extraction.shared.n_models
        (1.1, 2)
    """
    if isinstance(values_per_model, torch.Tensor) or not isinstance(
        values_per_model, Sequence
    ):
        raise TypeError(
            "values_per_model must be a list of M tensors (one per model), got "
            f"{type(values_per_model).__name__}; for one model use extract(values)"
        )
    if len(values_per_model) < 2:
        raise InteractionError(
            f"joint extraction needs at least 2 models, got {len(values_per_model)}; "
            "for one model use extract(values)"
        )
    batches = [_values_batch(v, f"values_per_model[{k}]") for k, v in enumerate(values_per_model)]
    shapes = [tuple(v.shape) for v in values_per_model]
    if len(set(shapes)) != 1:
        raise InteractionError(
            f"all models must give values for the same samples and masks, got shapes {shapes}; "
            "evaluate every model on the same samples and players (same n, same batch)"
        )
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)):
        raise TypeError(f"alpha must be a number in [0, 1], got {type(alpha).__name__}")
    if not 0 <= alpha <= 1:
        raise InteractionError(
            f"alpha must be in [0, 1] (0: the max over models alone, 1: the sum alone), got "
            f"{alpha}"
        )
    pcoef = _coefficient(pcoef, "pcoef")
    _flag(normalize, "normalize")
    _flag(show_progress, "show_progress")
    single = batches[0][1]
    values = torch.stack([v for v, _ in batches], dim=1)  # [batch, M, 2**n]
    batch, models, size = values.shape
    n = size.bit_length() - 1
    check_extraction(n, models=models, qcoef=qcoef, scale=scale, solver=solver,
                     subtract_v0=subtract_v0, time_limit=time_limit, **solver_options)
    qcoef, scale = float(qcoef), _check_scale(scale)
    labels = check_labels(players, n, source=f"values over 2**{n} masks")
    if subtract_v0:
        values = values - values[..., :1]
    noise_bound = qcoef * torch.stack([_sample_scale(values[:, k], scale)
                                       for k in range(models)], 1)
    p_bound = (pcoef * (values[:, :, -1] - values[:, :, 0]).mean(0).abs()).expand(batch, models)
    unit = torch.ones_like(noise_bound)
    if normalize:
        unit = _sample_scale(values.flatten(0, 1), scale).view(batch, models)
        unit = torch.where(unit > 0, unit, torch.ones_like(unit))
    start = time.perf_counter()
    # Normalised: the solver sees every model in its own unit (no model dominates the max).
    problem = Problem(values / unit[..., None], noise_bound / unit, p_bound / unit,
                      alpha=alpha)
    name, solution, cause = _solve(solver, problem, needed=n > 0, options=solver_options,
                                   show_progress=show_progress, time_limit=time_limit)
    p = solution.p * unit[..., None]
    p = p - p[..., :1]
    q = clip(solution.q * unit[..., None], noise_bound[..., None])
    seconds = (time.perf_counter() - start) / batch
    and_i, or_i = _interactions(values, p, q)
    # The transforms are linear: the normalised problem's interactions are and_i / unit.
    joint = loss(and_i / unit[..., None], or_i / unit[..., None], alpha)
    if n == 0:  # no players, nothing to explain: the loss is 0, certainly
        solution = Solution(p, q, torch.zeros(batch, dtype=values.dtype), 0)
    per_model = []
    for k in range(models):
        shared = SharedExtraction(model=k, n_models=models, alpha=float(alpha), pcoef=pcoef,
                                  normalize=normalize, p_bound=float(p_bound[0, k]))
        with warnings.catch_warnings():  # warn once, for the first model
            if k:
                warnings.simplefilter("ignore", ConvergenceWarning)
            records = _records(joint, solution, problem, solver=name, cause=cause,
                               mode="shared",
                               qcoef=qcoef, scale=scale, subtract_v0=subtract_v0,
                               iterations=solution.iterations, seconds=seconds, shared=shared)
        per_model.append(_results(values[:, k], and_i[:, k], or_i[:, k], p[:, k], q[:, k],
                                  noise_bound[:, k], labels, records, single, metadata))
    return per_model

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
  :mod:`._shared_ipm`: the loss as an atomic norm over sign vectors, ``M`` matching rows per
  mask, decomposition rows generated only for masks whose ``p`` bound binds): 2 to 4
  models with ``M · 2**n <= 8192``, 4-5x faster than HiGHS at ``n = 10``.
- ``"working_set"``: exact (same certificate as ``"ipm"``). Row generation around the
  interior-point method: it solves on a working set of masks (every interaction column
  present), checks all ``2**n`` masks with subset sums, adds the violated ones and solves
  again. With noise most masks are slack at the optimum, so the normal matrix shrinks from
  ``2**n`` rows to the working set (about 2,700 masks for a SmolLM2 sample at ``n = 14``);
  beyond ``_working_set.MAX_ROWS`` (8192) masks it stops with an error. One model only;
  needs ``qcoef > 0`` to gain anything.
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

Every result records ``extraction["objective"]`` and, where the solver gives duals, a dual
lower bound ``extraction["dual"]`` and the relative ``extraction["gap"]`` between them.

>>> import torch
>>> v = torch.tensor([0.0, 0.0, 0.0, 1.0])          # an AND of two players
>>> result = extract(v, players=["a", "b"], qcoef=0.0)
>>> [(term.label, term.type, round(term.value, 6)) for term in result.salient()]
[('a & b', 'and', 1.0)]
>>> extract(v, mode="none").objective
2.0
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any, Literal

import torch

from . import _ipm, _lp, _pdhg, _sgd, _shared_ipm, _working_set
from ._transforms import (
    _checked,
    and_transform,
    inverse_and_transform,
    inverse_or_transform,
    or_transform,
)
from .exceptions import InteractionError
from .result import InteractionResult

__all__ = ["MODES", "SOLVERS", "check_solver", "extract", "extract_shared"]

#: Extraction modes of :func:`extract`.
MODES = ("and_or", "and", "none")
#: Solver names accepted by :func:`extract` (``"working_set"`` is single-model only).
SOLVERS = ("auto", "ipm", "working_set", "highs", "pdhg", "sgd")
#: Largest ``n`` each solver accepts (``"working_set"`` also stops when its working set
#: would exceed ``_working_set.MAX_ROWS`` masks).
MAX_N = {"ipm": 12, "working_set": 20, "highs": 12, "pdhg": 30, "sgd": 30}
#: ``"auto"`` (one model) takes ``"ipm"`` up to this ``n``, then ``"working_set"`` (with
#: noise) up to ``AUTO_WORKING_SET_MAX_N``, then ``"pdhg"``; without noise ``"ipm"`` as far
#: as it goes (``MAX_N["ipm"]``).
AUTO_IPM_MAX_N = 10
AUTO_WORKING_SET_MAX_N = 14
_SOLVER_OPTIONS = {
    "ipm": {"tol", "max_iter"},
    "shared ipm": {"tol", "max_iter", "margin", "show_progress"},
    "working_set": {"tol", "max_iter", "grow", "margin", "show_progress"},
    "highs": {"method", "options"},
    "pdhg": {"tol", "max_iter", "check_every"},
    "sgd": {"lr", "iterations", "momentum"},
}


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


def _sample_scale(values: torch.Tensor, scale: str | float) -> torch.Tensor:
    """The noise scale of every sample (``[batch]``)."""
    spread = (values[:, -1] - values[:, 0]).abs()
    if isinstance(scale, str):
        if scale == "vN-v0":
            return spread
        if scale == "mean-vN-v0":
            return spread.mean().expand_as(spread)
        raise InteractionError(
            f"unknown scale {scale!r}; use 'vN-v0' (per sample |v(N) - v(∅)|), "
            "'mean-vN-v0' (its mean over the batch) or a non-negative number"
        )
    if isinstance(scale, bool) or not isinstance(scale, (int, float)):
        raise TypeError(f"scale must be a string or a number, got {type(scale).__name__}")
    if not (math.isfinite(scale) and scale >= 0):
        raise InteractionError(f"scale must be a finite number >= 0, got {scale}")
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


def _labels(players: Sequence[str] | None, n: int) -> list[str]:
    if players is None:
        return [f"x{i}" for i in range(n)]
    players = [str(player) for player in players]
    if len(players) != n:
        raise InteractionError(
            f"{len(players)} player labels given for values over 2**{n} masks; give {n} labels"
        )
    return players


def check_solver(solver: str, *, joint: bool) -> None:
    """Raise for a solver name that does not exist or, for joint extraction, that solves one
    model only (the checks that need no values)."""
    if solver not in SOLVERS:
        raise InteractionError(f"unknown solver {solver!r}; valid solvers: {', '.join(SOLVERS)}")
    if joint and solver == "working_set":
        raise InteractionError(
            "solver 'working_set' solves one model only; joint extraction takes "
            "'auto', 'ipm', 'highs', 'pdhg' or 'sgd'"
        )


def _choose(solver: str, n: int, *, models: int = 1, noisy: bool = False) -> str:
    """The solver that runs: ``solver`` checked against ``n`` players and ``models``, or the
    choice of ``"auto"``."""
    joint = models > 1
    check_solver(solver, joint=joint)
    shared_ipm_fits = (models <= _shared_ipm.MAX_MODELS
                       and models << n <= _shared_ipm.MAX_MATCHING_ROWS)
    if solver == "auto":
        if joint:
            if shared_ipm_fits:
                return "ipm"
            return "highs" if n <= 10 else "pdhg"
        if noisy and AUTO_IPM_MAX_N < n <= AUTO_WORKING_SET_MAX_N:
            return "working_set"
        return "ipm" if n <= MAX_N["ipm"] else "pdhg"
    if joint and solver == "ipm" and not shared_ipm_fits:
        raise InteractionError(
            f"solver 'ipm' solves joint extraction of at most {_shared_ipm.MAX_MODELS} models "
            f"with M * 2**n <= {_shared_ipm.MAX_MATCHING_ROWS} matching rows, got M={models}, "
            f"n={n}; use solver='highs' (exact, n <= 12) or solver='pdhg' (first-order)"
        )
    if n > MAX_N[solver]:
        raise InteractionError(
            f"solver {solver!r} holds at most n={MAX_N[solver]} players, got n={n}; use "
            "solver='pdhg' (first-order, any n) or group players into fewer (feature_mask)"
        )
    return solver


def _options(solver: str, options: dict[str, Any], *, joint: bool = False) -> dict[str, Any]:
    accepted = _SOLVER_OPTIONS["shared ipm" if joint and solver == "ipm" else solver]
    unknown = set(options) - accepted
    if unknown:
        raise InteractionError(
            f"unknown option(s) {sorted(unknown)} for solver {solver!r}; it takes "
            f"{sorted(accepted)}"
        )
    return options


# ----------------------------------------------------------------------------- results
def _interactions(values, p, q):
    half = (values + q) / 2
    return and_transform(half + p), or_transform(half - p)


def _results(
    values, p, q, bound, players, info, objective, dual, single, metadata
) -> InteractionResult | list[InteractionResult]:
    and_i, or_i = _interactions(values, p, q)
    results = []
    for row in range(values.shape[0]):
        value = float(objective[row])
        lower = None if dual is None else float(dual[row])
        gap = None if lower is None else (value - lower) / max(abs(value), 1e-300)
        extraction = {
            **info,
            "bound": float(bound[row]),
            "objective": value,
            "dual": lower,
            "gap": gap,
        }
        results.append(
            InteractionResult(
                players=list(players), values=values[row], and_interactions=and_i[row],
                or_interactions=or_i[row], p=p[row], q=q[row], bound=float(bound[row]),
                extraction=extraction, metadata=dict(metadata or {}),
            )
        )
    return results[0] if single else results


# -------------------------------------------------------------------------------- extract
def extract(
    values: torch.Tensor,
    *,
    mode: Literal["and_or", "and", "none"] = "and_or",
    qcoef: float = 0.05,
    scale: str | float = "vN-v0",
    solver: str = "auto",
    players: Sequence[str] | None = None,
    subtract_v0: bool = False,
    metadata: dict[str, Any] | None = None,
    **solver_options: Any,
) -> InteractionResult | list[InteractionResult]:
    """Sparse AND and OR interactions of one model's values.

    Args:
        values (Tensor): ``[2**n]`` (one sample) or ``[batch, 2**n]``, ``values[..., T]`` is
            ``v(T)`` for bitmask ``T``.
        mode (str): ``"and_or"`` (learn ``p`` and ``q``), ``"and"`` (AND only:
            ``v_and = v + q``, ``I_or = 0``; with ``qcoef=0`` the Harsanyi dividends) or
            ``"none"`` (``p = q = 0``: ``and_transform(v/2)`` and ``or_transform(v/2)``).
        qcoef (float): noise bound relative to the scale; 0 means no noise.
        scale (str | float): ``"vN-v0"`` (per sample ``|v(N) - v(∅)|``), ``"mean-vN-v0"``
            (its mean over the batch) or a number. ``bound = qcoef * scale``.
        solver (str): ``"auto"``, ``"ipm"``, ``"working_set"``, ``"highs"``, ``"pdhg"`` or
            ``"sgd"`` (see module).
        players (list[str], optional): labels, default ``"x0" .. "x{n-1}"``.
        subtract_v0 (bool): the lab's ``v - v(∅)`` convention; it changes only the
            empty-set terms.
        metadata (dict, optional): stored with every result.
        **solver_options: ``tol``, ``max_iter`` (ipm, working_set, pdhg), ``grow``,
            ``margin``, ``show_progress`` (working_set), ``check_every`` (pdhg),
            ``lr``, ``iterations``, ``momentum`` (sgd), ``method``, ``options`` (highs).

    Returns:
        One :class:`InteractionResult` for ``[2**n]`` values, a list for a batch.

    Examples:
        >>> v = torch.tensor([0.0, 1.0, 1.0, 1.0])      # an OR of two players
        >>> result = extract(v, qcoef=0.0)
        >>> round(result.objective, 6), round(float(result.or_interactions[3]), 6)
        (1.0, 1.0)
        >>> float(result.matching_error()) < 1e-12
        True
    """
    values, single = _values_batch(values, "values")
    if mode not in MODES:
        raise InteractionError(f"unknown mode {mode!r}; valid modes: {', '.join(MODES)}")
    qcoef = _coefficient(qcoef, "qcoef")
    n = values.shape[-1].bit_length() - 1
    labels = _labels(players, n)
    if subtract_v0:
        values = values - values[:, :1]
    bound = qcoef * _sample_scale(values, scale)
    trivial = mode == "none" or n == 0 or (mode == "and" and qcoef == 0)
    name = "none" if trivial else _choose(solver, n, noisy=bool((bound > 0).all()))
    options = {} if trivial else _options(name, solver_options)
    if trivial and solver_options:
        raise InteractionError(
            f"solver options {sorted(solver_options)} given but mode={mode!r} "
            f"with n={n} and qcoef={qcoef} needs no solver"
        )
    with_or = mode == "and_or"
    start = time.perf_counter()
    dual, iterations = None, 0
    q = torch.zeros_like(values)
    if trivial:
        bound = bound * 0 if mode == "none" else bound
        p = values / 2 if mode == "and" else torch.zeros_like(values)
    elif name in ("ipm", "working_set"):
        module = _ipm if name == "ipm" else _working_set
        fit = module.solve(values, bound, with_or=with_or, **options)
        p, q, iterations = _from_interactions(values, fit.a, fit.o, fit.q, with_or), fit.q, \
            fit.iterations
        dual = _lp.dual_bound(values[:, None], bound[:, None], fit.y[:, None], with_or=with_or)
    elif name == "highs":
        a, o, q, y = _lp.solve_single(values, bound, with_or=with_or, **options)
        q = q.to(values)
        p = _from_interactions(values, a, o, q, with_or)
        dual = _lp.dual_bound(values[:, None], bound[:, None], y[:, None], with_or=with_or)
    elif name == "pdhg":
        fit = _pdhg.solve(values[:, None], bound[:, None], with_or=with_or, **options)
        p, q, iterations, dual = fit.p[:, 0], fit.q[:, 0], fit.iterations, fit.dual
    else:
        if not with_or:
            raise InteractionError("solver 'sgd' reproduces the lab's AND-OR recipe; use "
                                   "mode='and_or' or another solver")
        p, q = (t[:, 0] for t in _sgd.solve(values[:, None], bound[:, None], **options))
        iterations = options.get("iterations", 20_000)
    q = torch.maximum(torch.minimum(q, bound[:, None]), -bound[:, None])
    if mode == "and":
        p = (values + q) / 2  # v_or = 0 exactly
    elif not trivial:
        p = p - p[:, :1]  # p(∅) only moves the empty-set terms between AND and OR
    seconds = (time.perf_counter() - start) / values.shape[0]
    and_i, or_i = _interactions(values, p, q)
    objective = _lp.loss(and_i[:, None], or_i[:, None], 0.0)
    info = {
        "mode": mode, "solver": name, "qcoef": qcoef,
        "scale": scale if isinstance(scale, str) else float(scale),
        "subtract_v0": subtract_v0, "iterations": iterations, "seconds": seconds,
    }
    return _results(values, p, q, bound, labels, info, objective, dual, single, metadata)


def _from_interactions(values, a, o, q, with_or):
    """The decomposition ``p`` that reproduces solver interactions ``a`` and ``o``."""
    if not with_or:
        return (values + q) / 2
    return (inverse_and_transform(a) - inverse_or_transform(o)) / 2


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
        players, scale, subtract_v0, metadata: as in :func:`extract`.
        **solver_options: ``tol``, ``max_iter`` (ipm, pdhg), ``margin``, ``show_progress``
            (ipm), ``check_every`` (pdhg), ``method``, ``options`` (highs), ``lr``,
            ``iterations``, ``momentum`` (sgd).

    Returns:
        Per model one :class:`InteractionResult` (``[2**n]`` inputs) or one list per model.

    Examples:
        >>> v = torch.tensor([0.0, 0.0, 0.0, 1.0])
        >>> first, second = extract_shared([v, v.clone()], qcoef=0.0)
        >>> round(first.objective, 6), round(second.objective, 6)
        (1.0, 1.0)
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
    if not 0 <= alpha <= 1:
        raise InteractionError(f"alpha must be in [0, 1], got {alpha}")
    qcoef, pcoef = _coefficient(qcoef, "qcoef"), _coefficient(pcoef, "pcoef")
    single = batches[0][1]
    values = torch.stack([v for v, _ in batches], dim=1)  # [batch, M, 2**n]
    if subtract_v0:
        values = values - values[..., :1]
    batch, models, size = values.shape
    n = size.bit_length() - 1
    labels = _labels(players, n)
    name = "none" if n == 0 else _choose(solver, n, models=models)
    if name == "none" and solver_options:
        raise InteractionError(f"solver options {sorted(solver_options)} given but n=0 players "
                               "need no solver (there is no non-empty pattern)")
    options = {} if name == "none" else _options(name, solver_options, joint=True)
    spreads = [_sample_scale(values[:, k], scale) for k in range(models)]
    noise_bound = qcoef * torch.stack(spreads, 1)
    mean_spread = (values[:, :, -1] - values[:, :, 0]).mean(0).abs()
    p_bound = (pcoef * mean_spread).expand(batch, models)
    unit = torch.ones_like(noise_bound)
    if normalize:
        unit = _sample_scale(values.flatten(0, 1), scale).view(batch, models)
        unit = torch.where(unit > 0, unit, torch.ones_like(unit))
    start = time.perf_counter()
    scaled = values / unit[..., None]
    if name == "none":  # no non-empty pattern: nothing to explain
        p, q, iterations = torch.zeros_like(scaled), torch.zeros_like(scaled), 0
        dual = torch.zeros_like(scaled[:, 0, 0])
    elif name == "pdhg":
        fit = _pdhg.solve(scaled, noise_bound / unit, p_bound=p_bound / unit, alpha=alpha,
                          **options)
        p, q, iterations, dual = fit.p, fit.q, fit.iterations, fit.dual
    elif name == "sgd":
        p, q = _sgd.solve(scaled, noise_bound / unit, p_bound=p_bound / unit, alpha=alpha,
                          **options)
        iterations, dual = options.get("iterations", 20_000), None
    else:
        if name == "ipm":
            fit = _shared_ipm.solve(scaled, noise_bound / unit, p_bound / unit, alpha=alpha,
                                    **options)
            q, y, w, iterations = fit.q, fit.y, fit.w, fit.iterations
            p = _from_interactions(scaled, fit.a, fit.o, q, True)
        else:
            parts = [
                _lp.solve_shared(scaled[row], noise_bound[row] / unit[row],
                                 p_bound[row] / unit[row], alpha=alpha, **options)
                for row in range(batch)
            ]
            q, p, y, w = (torch.stack([part[k] for part in parts]) for k in (2, 3, 4, 5))
            iterations = 0
        dual = _lp.dual_bound(scaled, noise_bound / unit, y, with_or=True, alpha=alpha, w=w,
                              p_bound=p_bound / unit)
    q = torch.maximum(torch.minimum(q, noise_bound[..., None] / unit[..., None]),
                      -noise_bound[..., None] / unit[..., None])
    and_s, or_s = _interactions(scaled, p, q)
    joint = _lp.loss(and_s, or_s, alpha)
    p, q = p * unit[..., None], q * unit[..., None]
    q = torch.maximum(torch.minimum(q, noise_bound[..., None]), -noise_bound[..., None])
    seconds = (time.perf_counter() - start) / batch
    per_model = []
    for k in range(models):
        and_i, or_i = _interactions(values[:, k], p[:, k], q[:, k])
        info = {
            "mode": "shared", "solver": name, "qcoef": qcoef, "pcoef": pcoef, "alpha": alpha,
            "normalize": normalize, "scale": scale if isinstance(scale, str) else float(scale),
            "subtract_v0": subtract_v0, "model": k, "n_models": models,
            "iterations": iterations, "seconds": seconds,
        }
        objective = _lp.loss(and_i[:, None], or_i[:, None], 0.0)
        results = _results(values[:, k], p[:, k], q[:, k], noise_bound[:, k], labels, info,
                           objective, None, single, metadata)
        duals = [None] * batch if dual is None else dual.tolist()  # sgd: no certificate
        rows = zip([results] if single else results, p_bound[:, k].tolist(), joint.tolist(),
                   duals, strict=True)
        for result, limit, joint_value, joint_dual in rows:
            gap = None if joint_dual is None else (
                (joint_value - joint_dual) / max(abs(joint_value), 1e-300))
            result.extraction.update(p_bound=limit, joint_objective=joint_value,
                                     joint_dual=joint_dual, joint_gap=gap)
        per_model.append(results)
    return per_model

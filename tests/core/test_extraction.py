"""Sparse AND-OR extraction against an independent dense LP, planted games and invariances."""

from __future__ import annotations

import contextlib
import time

import numpy as np
import pytest
import torch
from helpers.games import lm_like, planted_game
from helpers.oracles import brute_and, brute_or, dense_lp_optimum
from hypothesis import given, settings
from hypothesis import strategies as st

import captum_interactions as ci
from captum_interactions import ConvergenceWarning, InteractionError
from captum_interactions.extraction import extract, extract_shared

EXACT = ("ipm", "working_set", "highs")


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("qcoef", [0.0, 0.05, 0.3])
def test_exact_solvers_reach_the_dense_lp_optimum(n, qcoef):
    values = lm_like(n, 2, seed=n)
    for solver in EXACT:
        results = extract(values, qcoef=qcoef, solver=solver)
        for row, result in enumerate(results):
            optimum = dense_lp_optimum(values[row], result.bound)
            assert result.objective == pytest.approx(optimum, rel=1e-7, abs=1e-9), solver
            assert result.extraction.gap <= 1e-7


@pytest.mark.parametrize("solver", ["ipm", "working_set", "highs", "pdhg", "sgd"])
@pytest.mark.parametrize("mode", ["and_or", "and", "none", "half"])
def test_universal_matching_and_noise_bound_hold_exactly(solver, mode):
    values = lm_like(6, 3, seed=1)
    if solver == "sgd" and mode == "and":  # the lab's recipe is AND-OR only
        with pytest.raises(InteractionError, match="does not solve one model in mode 'and'"):
            extract(values, mode=mode, solver=solver)
        return
    closed_form = mode in ("none", "half")  # no solver runs
    options = {"sgd": {"iterations": 300, "lr": 1e-3}, "pdhg": {"max_iter": 1000}}
    options = {} if closed_form else options.get(solver, {})
    stops_short = solver == "pdhg" and not closed_form
    with pytest.warns(ConvergenceWarning) if stops_short else contextlib.nullcontext():
        results = extract(values, mode=mode, solver=solver, **options)
    for result in results:
        assert result.matching_error() < 1e-12
        assert float(result.q.abs().max()) <= result.bound
        torch.testing.assert_close(result.values + result.q, result.reconstruct())
        if mode in ("and", "none"):
            assert not result.or_interactions[1:].any()
        if mode == "none":  # the plain Harsanyi dividends
            torch.testing.assert_close(result.and_interactions, brute_and(result.values))
        if mode == "half":
            torch.testing.assert_close(result.and_interactions, ci.and_transform(result.values / 2))
            torch.testing.assert_close(result.or_interactions, brute_or(result.values / 2))


def test_first_order_solver_certifies_a_small_gap():
    values = lm_like(5, 3, seed=2)
    results = extract(values, solver="pdhg", tol=1e-4)
    exact = extract(values, solver="ipm")
    for first_order, reference in zip(results, exact, strict=True):
        assert first_order.extraction.gap <= 1e-4
        # the certificate is honest: the dual bound is below the true optimum
        assert first_order.extraction.dual <= reference.objective * (1 + 1e-9)
        assert first_order.objective >= reference.objective * (1 - 1e-9)


def test_reference_sgd_stays_above_the_optimum():
    values = lm_like(5, 2, seed=3)
    sgd = extract(values, solver="sgd", lr=1e-3, iterations=2000)
    exact = extract(values, solver="ipm")
    for slow, best in zip(sgd, exact, strict=True):
        assert slow.objective >= best.objective * (1 - 1e-9)
        assert slow.extraction.gap is None


def test_joint_reference_sgd_stays_above_the_optimum_within_its_bounds():
    values = [lm_like(5, 2, seed=30), lm_like(5, 2, seed=31)]
    sgd = extract_shared(values, solver="sgd", lr=1e-3, iterations=2000, pcoef=0.1,
                         normalize=False)
    exact = extract_shared(values, solver="ipm", pcoef=0.1, normalize=False)
    for row in range(2):
        slow, best = sgd[0][row].extraction, exact[0][row].extraction
        assert slow.objective >= best.objective * (1 - 1e-9)
        assert slow.objective <= 3 * best.objective  # it does descend
        assert slow.gap is None
        first, second = sgd[0][row], sgd[1][row]
        for result in (first, second):
            assert result.matching_error() < 1e-12
            assert float(result.q.abs().max()) <= result.bound
        gap = ((first.p - first.p[0]) - (second.p - second.p[0])).abs().max()
        limit = first.extraction.shared.p_bound + second.extraction.shared.p_bound
        assert float(gap) <= 2 * limit
    # tied maxima share the step: identical copies stay identical
    copies = extract_shared([values[0], values[0].clone()], solver="sgd", lr=1e-3,
                            iterations=500)
    for a, b in zip(*copies, strict=True):
        torch.testing.assert_close(a.and_interactions, b.and_interactions)


@pytest.mark.parametrize("noise", [0.0, 0.04])
@pytest.mark.parametrize("solver", ["ipm", "working_set", "highs", "pdhg"])
def test_planted_sparse_game_is_recovered(noise, solver):
    values, planted = planted_game()
    generator = torch.Generator().manual_seed(7)
    scale = float(values[-1] - values[0])  # 2 - 1.5 + 1 = 1.5
    noisy = values + noise * scale * (2 * torch.rand(values.shape, generator=generator) - 1)
    noisy = noisy.to(torch.float64)
    result = extract(noisy, qcoef=2 * noise, solver=solver)
    found = {
        (term.type, term.mask): term.value
        for term in result.salient(tau=0.2, merge_singletons=True)
    }
    assert set(found) == set(planted)
    for key, value in planted.items():
        assert np.sign(found[key]) == np.sign(value)
        assert found[key] == pytest.approx(value, abs=4 * noise * scale + 1e-4)


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), shift=st.floats(-50, 50), factor=st.floats(0.01, 100))
def test_shift_changes_only_the_empty_set_and_scaling_scales(seed, shift, factor):
    values = lm_like(4, 1, seed=seed)[0]
    base = extract(values, qcoef=0.05)
    shifted = extract(values + shift, qcoef=0.05)
    scaled = extract(values * factor, qcoef=0.05)
    atol = 1e-6 * float(base.and_interactions.abs().max() + base.or_interactions.abs().max())
    for name in ("and_interactions", "or_interactions"):
        torch.testing.assert_close(
            getattr(shifted, name)[1:], getattr(base, name)[1:], atol=atol, rtol=1e-6
        )
        torch.testing.assert_close(
            getattr(scaled, name), getattr(base, name) * factor, atol=atol * factor, rtol=1e-6
        )
    assert shifted.objective == pytest.approx(base.objective, rel=1e-7)
    assert scaled.objective == pytest.approx(base.objective * factor, rel=1e-7)


def test_subtract_v0_changes_only_the_empty_set_terms():
    values = lm_like(5, 1, seed=4)[0]
    own = extract(values)
    lab = extract(values, subtract_v0=True)
    assert lab.values[0] == 0
    torch.testing.assert_close(lab.and_interactions[1:], own.and_interactions[1:])
    torch.testing.assert_close(lab.or_interactions[1:], own.or_interactions[1:])


def test_plain_harsanyi_dividends_and_result_fields():
    values = lm_like(4, 1, seed=5)[0]
    result = extract(values, mode="and", qcoef=0.0, players=list("abcd"))
    torch.testing.assert_close(result.and_interactions, brute_and(values))
    assert result.players == ["a", "b", "c", "d"]
    assert (result.extraction.mode, result.extraction.solver) == ("and", "none")
    batch = extract(lm_like(3, 2, seed=6), scale="mean-vN-v0")
    assert isinstance(batch, list)
    assert batch[0].bound == pytest.approx(batch[1].bound)
    info = batch[0].extraction
    assert (info.mode, info.solver, info.qcoef, info.scale) == ("and_or", "ipm", 0.05,
                                                                 "mean-vN-v0")
    assert info.objective == pytest.approx(batch[0].objective)
    assert info.iterations > 0
    assert extract(values, scale=2.0, qcoef=0.1).bound == pytest.approx(0.2)


def test_joint_extraction_on_identical_copies():
    values = lm_like(4, 2, seed=8)
    first, second = extract_shared([values, values.clone()], solver="pdhg", tol=1e-6)
    for a, b in zip(first, second, strict=True):
        torch.testing.assert_close(a.and_interactions, b.and_interactions)
        torch.testing.assert_close(a.or_interactions, b.or_interactions)
    exact_first, exact_second = extract_shared([values, values.clone()], solver="highs")
    for a, b, c in zip(exact_first, exact_second, first, strict=True):
        assert a.objective == pytest.approx(b.objective, rel=1e-7)
        joint = a.extraction.objective
        assert a.extraction.dual == pytest.approx(joint, rel=1e-7)
        assert joint <= c.extraction.objective * (1 + 1e-9)


def test_joint_extraction_respects_its_bounds():
    values = [lm_like(4, 3, seed=9), lm_like(4, 3, seed=10) * 2]
    first, second = extract_shared(values, solver="highs", pcoef=0.2, normalize=False)
    for a, b in zip(first, second, strict=True):
        for result in (a, b):
            assert result.matching_error() < 1e-12
            assert float(result.q.abs().max()) <= result.bound
        # p_m = p - p̄ for a shared p̄, so p differs between models by at most both bounds
        limit = a.extraction.shared.p_bound + b.extraction.shared.p_bound
        gap = ((a.p - a.p[0]) - (b.p - b.p[0])).abs().max()
        assert a.extraction.shared.p_bound == pytest.approx(0.2 * abs(float(
            (values[0][:, -1] - values[0][:, 0]).mean())))
        assert float(gap) <= 2 * limit + 1e-9


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"qcoef": -0.1}, "qcoef=-0.1 makes no sense"),
        ({"scale": -1.0}, "scale must be a finite number >= 0"),
        ({"scale": "max"}, "unknown scale 'max'"),
        ({"solver": "cplex"}, "valid solvers: auto, ipm, working_set, highs, pdhg, sgd"),
        ({"mode": "or"}, "valid modes: and_or, and, none"),
        ({"solver": "ipm", "lr": 0.1}, "unknown option 'lr' for solver 'ipm'"),
        ({"solver": "ipm", "tol": float("nan")}, "tol=nan of solver 'ipm' must be a finite"),
        ({"solver": "pdhg", "max_iter": 2.5}, "max_iter=2.5 of solver 'pdhg' must be an int"),
    ],
)
def test_bad_options_are_explained(kwargs, message):
    with pytest.raises(InteractionError, match=message):
        extract(torch.zeros(8), **kwargs)


def test_bad_values_are_explained():
    with pytest.raises(InteractionError, match="non-finite"):
        extract(torch.tensor([0.0, float("nan"), 1.0, 2.0]))
    with pytest.raises(InteractionError, match="length 2\\*\\*n"):
        extract(torch.zeros(6))
    with pytest.raises(InteractionError, match="at most n=12"):
        extract(torch.zeros(1 << 13), solver="ipm")
    with pytest.raises(InteractionError, match="3 player labels"):
        extract(torch.zeros(4), players=["a", "b", "c"])


def test_bad_joint_inputs_are_explained():
    values = torch.zeros(2, 8)
    with pytest.raises(InteractionError, match="same samples"):
        extract_shared([values, torch.zeros(3, 8)])
    with pytest.raises(InteractionError, match="at least 2 models"):
        extract_shared([values])
    with pytest.raises(TypeError, match="list of M tensors"):
        extract_shared(values)
    with pytest.raises(InteractionError, match="does not solve joint extraction of 2 models"):
        extract_shared([values, values], solver="working_set")
    with pytest.raises(InteractionError, match="pcoef=-1"):
        extract_shared([values, values], pcoef=-1)


def test_joint_extraction_with_free_model_parts_is_independent_extraction():
    # alpha = 1 and a loose p-bound decouple the models: the joint optimum is the sum of
    # the two independent dense-LP optima.
    values = [lm_like(4, 1, seed=11)[0], lm_like(4, 1, seed=12)[0]]
    first, second = extract_shared(values, alpha=1.0, pcoef=100.0, qcoef=0.05,
                                   normalize=False, solver="highs")
    expected = dense_lp_optimum(values[0], first.bound) + dense_lp_optimum(values[1], second.bound)
    assert first.extraction.objective == pytest.approx(expected, rel=1e-7)
    assert first.extraction.dual == pytest.approx(expected, rel=1e-7)
    assert first.objective + second.objective == pytest.approx(expected, rel=1e-7)


def test_a_solver_that_stops_short_warns_with_the_gap_it_reached():
    values = lm_like(6, 2, seed=3)
    with pytest.warns(ConvergenceWarning, match=r"'ipm' stopped before its tolerance on 2 of 2 "
                      r"sample\(s\).*certified relative gap it reached is up to"):
        stopped = extract(values, solver="ipm", max_iter=3)
    best = extract(values, solver="ipm")
    for short, full in zip(stopped, best, strict=True):
        assert short.extraction.converged is False
        assert full.extraction.converged is True
        assert short.extraction.gap > 1e-3  # the certificate says how far it may be
        assert short.objective >= full.objective * (1 - 1e-9)
        assert short.matching_error() < 1e-12  # still a valid decomposition
    assert extract(values, solver="sgd", iterations=10).pop().extraction.converged is None


def test_a_bound_that_absorbs_everything_gives_a_zero_optimum_and_a_small_gap():
    values = lm_like(5, 2, seed=4)
    for qcoef in (10.0, 1e300):  # half the range of v already makes every value equal
        for result in extract(values, qcoef=qcoef):
            assert result.objective < 1e-6
            assert result.extraction.gap < 1e-6
            assert float(result.q.abs().max()) <= result.bound
            torch.testing.assert_close(result.reconstruct(), result.values + result.q)


# ---------------------------------------------------------------------------- time limits
@pytest.mark.filterwarnings("ignore::captum_interactions.CostWarning")
@pytest.mark.parametrize("solver", ["ipm", "working_set", "pdhg", "sgd"])
def test_time_limit_returns_the_point_reached_with_its_certificate(solver):
    values = lm_like(11, 1, seed=4)[0]
    start = time.monotonic()
    with pytest.warns(ConvergenceWarning, match=r"it reached time_limit=0\.3 s"):
        result = extract(values, solver=solver, time_limit=0.3)
    assert time.monotonic() - start < 3  # the estimate of a full solve is much longer
    info = result.extraction
    assert info.converged is False
    assert info.solver == solver
    assert result.matching_error() < 1e-9  # a feasible point: it still explains v
    assert float(result.q.abs().max()) <= result.bound * (1 + 1e-12)
    if solver != "sgd":  # a certificate that brackets the exact optimum
        exact = extract(values, solver="ipm").objective
        assert info.dual <= exact * (1 + 1e-9) <= result.objective * (1 + 2e-9)
        assert info.gap > 1e-6


@pytest.mark.parametrize("method", ["highs-ds", "highs-ipm"])
def test_time_limit_of_highs_is_an_error_not_a_silent_point(method):
    # rough values: a simplex solve takes seconds; the interior point method ignores the
    # limit within one LP and is stopped between samples
    values = torch.randn(3, 1 << 9, generator=torch.Generator().manual_seed(0),
                         dtype=torch.float64).cumsum(-1)
    start = time.monotonic()
    with pytest.raises(InteractionError, match="HiGHS reached the time limit"):
        extract(values, solver="highs", method=method, time_limit=0.01)
    assert time.monotonic() - start < 2


def test_joint_time_limit_stops_every_model():
    values = [lm_like(10, 1, seed=5)[0], lm_like(10, 1, seed=6)[0]]
    with pytest.warns(ConvergenceWarning, match="time_limit"):
        first, second = extract_shared(values, solver="ipm", time_limit=0.05)
    assert first.extraction.converged is False
    assert second.extraction.converged is False


def test_a_generous_time_limit_changes_nothing():
    values = lm_like(6, 2, seed=7)
    for a, b in zip(extract(values), extract(values, time_limit=600), strict=True):
        torch.testing.assert_close(a.and_interactions, b.and_interactions, rtol=0, atol=0)
        assert b.extraction.converged


def test_a_slow_solve_says_how_long_before_it_starts():
    values = lm_like(8, 1, seed=8)
    with pytest.warns(ci.CostWarning, match=r"'pdhg' on 1 sample\(s\) of n=8 .* about \d+ s"
                      r".*it stops at time_limit=0\.2 s"), \
            pytest.warns(ConvergenceWarning):
        extract(values, solver="pdhg", time_limit=0.2)


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), "10", True])
def test_time_limit_must_be_positive_seconds(bad):
    with pytest.raises(InteractionError, match="time_limit must be a number of seconds > 0"):
        extract(lm_like(3, 1, seed=0), time_limit=bad)

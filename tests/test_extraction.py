"""Sparse AND-OR extraction against an independent dense LP, planted games and invariances."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize
import torch
from conftest import brute_and, brute_or
from hypothesis import given, settings
from hypothesis import strategies as st

import captum_interactions as ci
from captum_interactions import InteractionError
from captum_interactions.extraction import extract, extract_shared

EXACT = ("ipm", "working_set", "highs")


def dense_lp_optimum(values: torch.Tensor, bound: float) -> float:
    """The extraction optimum from a dense LP over (p, q) built from the definitions.

    min Σ_{S≠∅} t_S + u_S  s.t.  ±A(½(v+q) + p) <= t,  ±B(½(v+q) - p) <= u,  |q| <= bound,
    with A and B the brute-force AND and OR transforms applied to unit vectors.
    """
    size = values.shape[-1]
    eye = torch.eye(size, dtype=torch.float64)
    and_matrix = brute_and(eye).T.numpy()  # column j = transform of e_j
    or_matrix = brute_or(eye).T.numpy()
    v = values.numpy()
    rows = slice(1, None)  # the empty set is not in the objective
    a, b = and_matrix[rows], or_matrix[rows]
    k = size - 1
    zeros = np.zeros((k, k))
    # variables: p (size), q (size), t (k), u (k)
    blocks = []
    rhs = []
    for sign in (1, -1):
        blocks.append(np.hstack([sign * a, sign * a / 2, -np.eye(k), zeros]))
        rhs.append(-sign * a @ v / 2)
        blocks.append(np.hstack([-sign * b, sign * b / 2, zeros, -np.eye(k)]))
        rhs.append(-sign * b @ v / 2)
    cost = np.r_[np.zeros(2 * size), np.ones(2 * k)]
    bounds = [(None, None)] * size + [(-bound, bound)] * size + [(0, None)] * (2 * k)
    result = scipy.optimize.linprog(
        cost, A_ub=np.vstack(blocks), b_ub=np.concatenate(rhs), bounds=bounds, method="highs"
    )
    assert result.status == 0
    return result.fun


def lm_like(n: int, batch: int, seed: int) -> torch.Tensor:
    """Smooth, dense log-odds-like values: a logistic of a random low-order game."""
    generator = torch.Generator().manual_seed(seed)
    bits = ci.subsets.mask_bits(n).to(torch.float64)
    weights = torch.randn(batch, n, generator=generator, dtype=torch.float64)
    pair = torch.randn(batch, n, n, generator=generator, dtype=torch.float64) / n
    score = bits @ weights.T + torch.einsum("ti,bij,tj->tb", bits, pair, bits)
    return (3 * torch.tanh(score / 2) - 4).T.contiguous()


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("qcoef", [0.0, 0.05, 0.3])
def test_exact_solvers_reach_the_dense_lp_optimum(n, qcoef):
    values = lm_like(n, 2, seed=n)
    for solver in EXACT:
        results = extract(values, qcoef=qcoef, solver=solver)
        for row, result in enumerate(results):
            optimum = dense_lp_optimum(values[row], result.bound)
            assert result.objective == pytest.approx(optimum, rel=1e-7, abs=1e-9), solver
            assert result.extraction["gap"] <= 1e-7


@pytest.mark.parametrize("solver", ["ipm", "working_set", "highs", "pdhg", "sgd"])
@pytest.mark.parametrize("mode", ["and_or", "and", "none"])
def test_universal_matching_and_noise_bound_hold_exactly(solver, mode):
    if solver == "sgd" and mode == "and":
        pytest.skip("the lab's SGD recipe is AND-OR only")
    values = lm_like(6, 3, seed=1)
    options = {"sgd": {"iterations": 300, "lr": 1e-3}, "pdhg": {"max_iter": 1000}}
    options = options.get(solver, {}) if mode != "none" else {}
    for result in extract(values, mode=mode, solver=solver, **options):
        assert result.matching_error() < 1e-12
        assert float(result.q.abs().max()) <= result.bound
        torch.testing.assert_close(result.values + result.q, result.reconstruct())
        if mode == "and":
            assert not result.or_interactions[1:].any()
        if mode == "none":
            torch.testing.assert_close(result.and_interactions, ci.and_transform(result.values / 2))


def test_first_order_solver_certifies_a_small_gap():
    values = lm_like(5, 3, seed=2)
    results = extract(values, solver="pdhg", tol=1e-4)
    exact = extract(values, solver="ipm")
    for first_order, reference in zip(results, exact, strict=True):
        assert first_order.extraction["gap"] <= 1e-4
        # the certificate is honest: the dual bound is below the true optimum
        assert first_order.extraction["dual"] <= reference.objective * (1 + 1e-9)
        assert first_order.objective >= reference.objective * (1 - 1e-9)


def test_reference_sgd_stays_above_the_optimum():
    values = lm_like(5, 2, seed=3)
    sgd = extract(values, solver="sgd", lr=1e-3, iterations=2000)
    exact = extract(values, solver="ipm")
    for slow, best in zip(sgd, exact, strict=True):
        assert slow.objective >= best.objective * (1 - 1e-9)
        assert slow.extraction["gap"] is None


def test_joint_reference_sgd_stays_above_the_optimum_within_its_bounds():
    values = [lm_like(5, 2, seed=30), lm_like(5, 2, seed=31)]
    sgd = extract_shared(values, solver="sgd", lr=1e-3, iterations=2000, pcoef=0.1,
                         normalize=False)
    exact = extract_shared(values, solver="ipm", pcoef=0.1, normalize=False)
    for row in range(2):
        slow, best = sgd[0][row].extraction, exact[0][row].extraction
        assert slow["joint_objective"] >= best["joint_objective"] * (1 - 1e-9)
        assert slow["joint_objective"] <= 3 * best["joint_objective"]  # it does descend
        assert slow["joint_gap"] is None
        first, second = sgd[0][row], sgd[1][row]
        for result in (first, second):
            assert result.matching_error() < 1e-12
            assert float(result.q.abs().max()) <= result.bound
        gap = ((first.p - first.p[0]) - (second.p - second.p[0])).abs().max()
        assert float(gap) <= 2 * (first.extraction["p_bound"] + second.extraction["p_bound"])
    # tied maxima share the step: identical copies stay identical
    copies = extract_shared([values[0], values[0].clone()], solver="sgd", lr=1e-3,
                            iterations=500)
    for a, b in zip(*copies, strict=True):
        torch.testing.assert_close(a.and_interactions, b.and_interactions)


def planted_game(n: int = 6) -> tuple[torch.Tensor, dict[tuple[str, int], float]]:
    """v(T) = 0.5 + 2 [0,1 ⊆ T] - 1.5 [2,3 ⊆ T] + [4 ∈ T or 5 ∈ T]."""
    masks = torch.arange(1 << n)
    has = [(masks >> i) & 1 == 1 for i in range(n)]
    values = (
        0.5 + 2.0 * (has[0] & has[1]) - 1.5 * (has[2] & has[3]) + 1.0 * (has[4] | has[5])
    ).to(torch.float64)
    planted = {("and", 0b000011): 2.0, ("and", 0b001100): -1.5, ("or", 0b110000): 1.0}
    return values, planted


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
    assert result.extraction["mode"] == "and"
    batch = extract(lm_like(3, 2, seed=6), scale="mean-vN-v0")
    assert isinstance(batch, list)
    assert batch[0].bound == pytest.approx(batch[1].bound)
    fields = {"mode", "solver", "qcoef", "scale", "bound", "objective", "gap", "iterations"}
    assert fields <= set(batch[0].extraction)
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
        joint = a.extraction["joint_objective"]
        assert a.extraction["joint_dual"] == pytest.approx(joint, rel=1e-7)
        assert joint <= c.extraction["joint_objective"] * (1 + 1e-9)


def test_joint_extraction_respects_its_bounds():
    values = [lm_like(4, 3, seed=9), lm_like(4, 3, seed=10) * 2]
    first, second = extract_shared(values, solver="highs", pcoef=0.2, normalize=False)
    for a, b in zip(first, second, strict=True):
        for result in (a, b):
            assert result.matching_error() < 1e-12
            assert float(result.q.abs().max()) <= result.bound
        # p_m = p - p̄ for a shared p̄, so p differs between models by at most both bounds
        limit = a.extraction["p_bound"] + b.extraction["p_bound"]
        gap = ((a.p - a.p[0]) - (b.p - b.p[0])).abs().max()
        assert a.extraction["p_bound"] == pytest.approx(0.2 * abs(float(
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
        ({"solver": "ipm", "lr": 0.1}, "unknown option"),
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
    with pytest.raises(InteractionError, match="one model only"):
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
    assert first.extraction["joint_objective"] == pytest.approx(expected, rel=1e-7)
    assert first.extraction["joint_dual"] == pytest.approx(expected, rel=1e-7)
    assert first.objective + second.objective == pytest.approx(expected, rel=1e-7)

"""Joint extraction by the structured interior point: operators, optimum, row generation."""

from __future__ import annotations

import pytest
import torch
from helpers.games import lm_like
from hypothesis import given, settings
from hypothesis import strategies as st

from captum_interactions import InteractionError
from captum_interactions._solvers import check_solver, choose, shared_ipm
from captum_interactions._solvers._interior_point import mehrotra
from captum_interactions.extraction import extract_shared


def explicit_matrix(problem) -> torch.Tensor:
    """``A`` column by column from ``matvec`` (small problems only)."""
    width = problem.cost.shape[-1]
    eye = torch.eye(width, dtype=torch.float64)
    return torch.stack([problem.matvec(eye[i : i + 1])[0] for i in range(width)], 1)


@pytest.mark.parametrize("models", [2, 3])
def test_operators_are_adjoint_and_the_normal_matrix_is_exact(models):
    values = torch.randn(1, models, 8, dtype=torch.float64, generator=torch.Generator()
                         .manual_seed(models))
    noise = torch.tensor([[0.1, 0.0, 0.2][:models]], dtype=torch.float64)  # one noise-free
    parts = torch.tensor([[0.3, 0.2, 0.0][:models]], dtype=torch.float64)
    problem = shared_ipm._SharedProblem(values, noise, parts, alpha=0.2,
                                         decomposition=torch.tensor([1, 4, 6]))
    matrix = explicit_matrix(problem)
    rows = matrix.shape[0]
    eye = torch.eye(rows, dtype=torch.float64)
    rows_of_a = torch.stack([problem.rmatvec(eye[i : i + 1])[0] for i in range(rows)])
    torch.testing.assert_close(rows_of_a, matrix, rtol=0, atol=1e-12)  # rmatvec is A^T
    theta = torch.rand(1, matrix.shape[1], dtype=torch.float64)
    normal = problem.normal(theta)[0]
    torch.testing.assert_close(normal[:-1, :-1], matrix @ torch.diag(theta[0]) @ matrix.T)
    assert normal[-1, -1] == 1
    assert not normal[-1, :-1].any()


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 5), models=st.integers(2, 3),
       qcoef=st.sampled_from([0.0, 0.02, 0.1]), pcoef=st.sampled_from([0.0, 0.05, 0.3, 5.0]),
       alpha=st.sampled_from([0.0, 0.1, 0.5, 1.0]), normalize=st.booleans())
def test_ipm_reaches_the_highs_optimum_and_respects_the_bounds(
    seed, n, models, qcoef, pcoef, alpha, normalize
):
    values = [lm_like(n, 2, seed=seed + k) for k in range(models)]
    options = {"alpha": alpha, "qcoef": qcoef, "pcoef": pcoef, "normalize": normalize}
    fit = extract_shared(values, solver="ipm", **options)
    best = extract_shared(values, solver="highs", **options)
    for row in range(2):
        joint = fit[0][row].extraction
        reference = best[0][row].extraction.objective
        assert joint.solver == "ipm"
        assert joint.objective == pytest.approx(reference, rel=1e-7, abs=1e-9)
        assert joint.gap <= 1e-7 or joint.objective < 1e-9
        for k in range(models):
            result = fit[k][row]
            assert result.matching_error() < 1e-12
            assert float(result.q.abs().max()) <= result.bound
        # p_m = p - p̄ with a shared p̄ (in each model's unit when normalised): the models'
        # p differ by at most both bounds
        unit = [float((v[row, -1] - v[row, 0]).abs()) if normalize else 1.0 for v in values]
        for k in range(1, models):
            first, other = fit[0][row].p / unit[0], fit[k][row].p / unit[k]
            gap = ((first - first[0]) - (other - other[0])).abs().max()
            limit = (fit[0][row].extraction.shared.p_bound / unit[0]
                     + fit[k][row].extraction.shared.p_bound / unit[k])
            assert float(gap) <= 2 * limit + 1e-8 * float(first.abs().max() + 1)


def test_identical_copies_get_identical_interactions():
    values = lm_like(5, 2, seed=8)
    first, second = extract_shared([values, values.clone()], solver="ipm")
    for a, b in zip(first, second, strict=True):
        torch.testing.assert_close(a.and_interactions, b.and_interactions)
        torch.testing.assert_close(a.or_interactions, b.or_interactions)


def test_tight_p_bounds_generate_decomposition_rows(monkeypatch):
    values = [lm_like(5, 1, seed=20)[0], lm_like(5, 1, seed=21)[0]]
    solves = []
    original = shared_ipm.mehrotra

    def counted(problem, **kwargs):
        solves.append(len(problem.decomposition))
        return original(problem, **kwargs)

    monkeypatch.setattr(shared_ipm, "mehrotra", counted)
    fit = extract_shared(values, solver="ipm", pcoef=0.02)
    best = extract_shared(values, solver="highs", pcoef=0.02)
    assert solves[0] == 0  # the first solve has matching rows only
    assert len(solves) >= 2
    assert solves[-1] > 0
    assert fit[0].extraction.objective == pytest.approx(best[0].extraction.objective,
                                                         rel=1e-7)
    # the loose default leaves the matching rows alone: one solve
    solves.clear()
    extract_shared(values, solver="ipm")
    assert solves == [0]


def test_free_constant_shift_keeps_the_normal_equations_regular():
    # No noise and no p bound: A alone is rank-deficient, [A F] is not.
    values = torch.randn(1, 2, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    zero = torch.zeros(1, 2, dtype=torch.float64)
    problem = shared_ipm._SharedProblem(values, zero, zero, alpha=0.5,
                                         decomposition=torch.arange(4))
    matrix = explicit_matrix(problem)
    assert torch.linalg.matrix_rank(matrix) < matrix.shape[0]
    assert torch.linalg.matrix_rank(torch.cat([matrix, problem.free], 1)) == matrix.shape[0]
    fit = mehrotra(problem, tol=1e-9, max_iter=100)
    residual = problem.rhs - problem.matvec(fit.x) - fit.xi @ problem.free.T
    assert bool(fit.converged.all())
    assert float(residual.abs().max()) < 1e-8


def test_auto_takes_the_joint_ipm_while_the_matching_rows_fit():
    assert choose("auto", 10, models=2) == "ipm"
    assert choose("auto", 12, models=2) == "ipm"
    assert choose("auto", 11, models=4) == "ipm"
    assert choose("auto", 12, models=3) == "pdhg"
    assert choose("auto", 13, models=2) == "pdhg"
    assert choose("auto", 10, models=5) == "highs"


def test_joint_ipm_limits_are_explained():
    values = [torch.zeros(8)] * 5
    with pytest.raises(InteractionError, match=r"at most 4 models .* got M=5, n=3"):
        extract_shared(values, solver="ipm")
    with pytest.raises(InteractionError, match="M=2, n=13"):
        check_solver("ipm", n=13, models=2)
    with pytest.raises(InteractionError, match=r"margin=0\.7 of solver 'ipm' must be a number"):
        extract_shared(values[:2], solver="ipm", margin=0.7)
    with pytest.raises(InteractionError, match=r"unknown option.*'grow'"):
        extract_shared(values[:2], solver="ipm", grow=2.0)


def test_no_players_need_no_solver():
    first, _ = extract_shared([torch.tensor([0.3]), torch.tensor([-1.0])])
    assert first.extraction.solver == "none"
    assert first.extraction.objective == 0
    assert first.matching_error() == 0
    with pytest.raises(InteractionError, match=r"needs no solver \(n=0 players"):
        extract_shared([torch.tensor([0.3]), torch.tensor([-1.0])], tol=1e-6)

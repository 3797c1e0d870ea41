"""Row generation around the interior point: the restricted operators and the full optimum."""

from __future__ import annotations

import pytest
import torch
from helpers.games import lm_like
from hypothesis import given, settings
from hypothesis import strategies as st
from tqdm.auto import tqdm

from captum_interactions import InteractionError
from captum_interactions._solvers import check_solver, choose, working_set
from captum_interactions._solvers.ipm import SingleLP
from captum_interactions.extraction import extract


def test_restricted_normal_matrix_is_the_block_of_the_full_one():
    n = 5
    values = lm_like(n, 1, seed=4)
    bound = torch.tensor([0.1], dtype=torch.float64)
    rows = torch.tensor([0, 3, 5, 6, 17, 30, 31])
    full = SingleLP(values, bound, with_or=True)
    part = SingleLP(values, bound, with_or=True, rows=rows)
    theta = torch.rand(1, full.cost.shape[-1], dtype=torch.float64) + 0.1
    theta_part = torch.cat([theta[:, : full.n_interaction],
                            theta[:, full.n_interaction :][:, rows]], -1)
    block = full.normal(theta)[:, :-1, :-1][:, rows][:, :, rows]
    torch.testing.assert_close(part.normal(theta_part)[:, :-1, :-1], block)
    # matvec / rmatvec are each other's adjoints on the working rows
    x = torch.randn_like(theta_part)
    y = torch.randn(1, len(rows), dtype=torch.float64)
    torch.testing.assert_close((part.matvec(x) * y).sum(), (x * part.rmatvec(y)).sum())


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 7),
       qcoef=st.sampled_from([0.01, 0.05, 0.2]), with_or=st.booleans())
def test_working_set_reaches_the_interior_point_optimum(seed, n, qcoef, with_or):
    values = lm_like(n, 2, seed=seed) + 0.05 * torch.randn(
        2, 1 << n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    mode = "and_or" if with_or else "and"
    rows = extract(values, mode=mode, qcoef=qcoef, solver="working_set")
    reference = extract(values, mode=mode, qcoef=qcoef, solver="ipm")
    for result, best in zip(rows, reference, strict=True):
        # Each certified gap bounds the distance to the optimum from below, so each solver's
        # objective must lie above the other's certified lower bound. The AND-only LP is
        # degenerate enough that both certify about 1e-7 on some draws, not 1e-8.
        for one, other in ((result, best), (best, result)):
            lower = other.objective * (1 - other.extraction.gap)
            assert one.objective >= lower - 1e-12
        assert result.extraction.gap <= 1e-6
        assert result.extraction.solver == "working_set"
        assert result.matching_error() < 1e-12
        assert float(result.q.abs().max()) <= result.bound


def test_noise_keeps_the_working_set_small():
    values = lm_like(9, 1, seed=5)
    bound = 0.05 * (values[:, -1] - values[:, 0]).abs()
    progress = tqdm(disable=True)
    a, o, _, y, _, _ = working_set._solve_one(values, bound, with_or=True, tol=1e-8, max_iter=100,
                                           grow=1.0, margin=0.2, progress=progress)
    active = int((y.abs() > 1e-9).sum())
    assert active < 1 << 9  # duals live on the working set only
    best = extract(values, solver="ipm")[0]
    objective = float(a.abs().sum() + o.abs().sum())
    assert objective == pytest.approx(best.objective, rel=1e-7)


def test_auto_takes_the_working_set_between_ipm_and_pdhg():
    assert choose("auto", 10, noisy=True) == "ipm"
    assert choose("auto", 11, noisy=True) == "working_set"
    assert choose("auto", 11, noisy=False) == "ipm"
    assert choose("auto", 13, noisy=True) == "working_set"
    assert choose("auto", 12, noisy=False) == "ipm"
    assert choose("auto", 13, noisy=False) == "pdhg"
    assert choose("auto", 15, noisy=True) == "pdhg"
    with pytest.raises(InteractionError, match="does not solve joint extraction"):
        check_solver("working_set", n=8, models=2)


def test_working_set_limits_are_explained(monkeypatch):
    values = lm_like(6, 1, seed=6)
    with pytest.raises(InteractionError, match="grow=0 of solver 'working_set' must be a "):
        extract(values, solver="working_set", grow=0)
    with pytest.raises(InteractionError, match=r"margin=0.5 .* must be a number in \[0, 0.5\)"):
        extract(values, solver="working_set", margin=0.5)
    monkeypatch.setattr(working_set, "MAX_ROWS", 20)
    with pytest.raises(InteractionError, match=r"reached \d+ masks and still misses"):
        extract(values, qcoef=0.0, solver="working_set")

"""The reference SGD against the lab's recipe written with autograd and torch.optim."""

from __future__ import annotations

import pytest
import torch
from helpers.oracles import lab_sgd

from captum_interactions._solvers import sgd
from captum_interactions._solvers._base import Problem


def _values(models: int, n: int = 4, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(models, 1 << n, generator=generator, dtype=torch.float64)


@pytest.mark.parametrize("schedule", ["decay", "constant"])
def test_one_model_follows_the_lab_recipe_step_for_step(schedule):
    values = _values(1)
    bound = torch.tensor([0.3], dtype=torch.float64)
    solution = sgd.solve(Problem(values[None], bound[None]), lr=0.02, iterations=80,
                         schedule=schedule)
    p, q = lab_sgd(values, bound, lr=0.02, iterations=80, schedule=schedule)
    torch.testing.assert_close(solution.p[0], p, rtol=0, atol=1e-12)
    torch.testing.assert_close(solution.q[0], q, rtol=0, atol=1e-12)
    assert float(q.abs().max()) == pytest.approx(0.3)  # the clip binds: the test can tell
    assert solution.iterations == 80


@pytest.mark.parametrize("alpha", [0.0, 0.5])
def test_joint_solve_follows_the_lab_recipe_with_a_constant_rate(alpha):
    values = _values(3, seed=1)
    bound = torch.tensor([0.2, 0.3, 0.1], dtype=torch.float64)
    p_bound = torch.tensor([0.05, 0.1, 0.08], dtype=torch.float64)
    problem = Problem(values[None], bound[None], p_bound=p_bound[None], alpha=alpha)
    solution = sgd.solve(problem, lr=0.01, iterations=60)  # default: constant for joint
    p, q = lab_sgd(values, bound, lr=0.01, iterations=60, schedule="constant",
                   p_bound=p_bound, alpha=alpha)
    torch.testing.assert_close(solution.p[0], p, rtol=0, atol=1e-12)
    torch.testing.assert_close(solution.q[0], q, rtol=0, atol=1e-12)
    decayed = sgd.solve(problem, lr=0.01, iterations=60, schedule="decay")
    assert not torch.allclose(decayed.p, solution.p)  # the schedule matters


def test_one_iteration_takes_no_step():
    values = _values(1)
    solution = sgd.solve(Problem(values[None], torch.ones(1, 1, dtype=torch.float64)),
                         lr=0.1, iterations=1)
    assert bool((solution.p == 0).all())
    assert bool((solution.q == 0).all())


def test_a_past_deadline_stops_at_once_unconverged():
    values = _values(2, seed=2)[None]
    solution = sgd.solve(Problem(values, torch.ones(1, 2, dtype=torch.float64)), lr=0.1,
                         iterations=1000, deadline=0.0)
    assert solution.iterations == 1
    assert solution.converged.tolist() == [False]
    assert bool((solution.p == 0).all())

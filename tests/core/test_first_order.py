"""Shapley and Banzhaf values from interactions against their definitions."""

from __future__ import annotations

import math

import pytest
import torch

import captum_interactions as ci


def _shapley_by_definition(values: torch.Tensor, n: int) -> torch.Tensor:
    phi = torch.zeros(n, dtype=values.dtype)
    for i in range(n):
        for t in range(1 << n):
            if t >> i & 1:
                continue
            size = t.bit_count()
            weight = math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
            phi[i] += weight * (values[t | 1 << i] - values[t])
    return phi


def _banzhaf_by_definition(values: torch.Tensor, n: int) -> torch.Tensor:
    beta = torch.zeros(n, dtype=values.dtype)
    for i in range(n):
        for t in range(1 << n):
            if not t >> i & 1:
                beta[i] += (values[t | 1 << i] - values[t]) / 2 ** (n - 1)
    return beta


@pytest.mark.parametrize("n", [1, 3, 6])
def test_shapley_and_banzhaf_from_and_or_split(n):
    values = torch.randn(1 << n, dtype=torch.float64)
    and_i, or_i = ci.and_transform(values / 2), ci.or_transform(values / 2)
    torch.testing.assert_close(ci.shapley_values(and_i, or_i), _shapley_by_definition(values, n))
    torch.testing.assert_close(ci.banzhaf_values(and_i, or_i), _banzhaf_by_definition(values, n))
    torch.testing.assert_close(
        ci.shapley_values(ci.and_transform(values)), _shapley_by_definition(values, n)
    )


def test_efficiency_over_a_batch():
    values = torch.randn(4, 32, dtype=torch.float64)
    phi = ci.shapley_values(ci.and_transform(values))
    torch.testing.assert_close(phi.sum(-1), values[:, -1] - values[:, 0])

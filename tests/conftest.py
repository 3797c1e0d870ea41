"""Shared fixtures. Tests run offline: no model hub, ever."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("MPLBACKEND", "Agg")

import random

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _seed_everything():
    """Every test starts from the same random state."""
    random.seed(0)
    np.random.seed(0)  # noqa: NPY002 - seeds code that uses the legacy global RNG
    torch.manual_seed(0)


def brute_and(values: torch.Tensor) -> torch.Tensor:
    """Harsanyi dividends by the definition: a sum over all subsets of every S."""
    size = values.shape[-1]
    out = torch.zeros_like(values)
    for s in range(size):
        sub = s
        while True:  # all L ⊆ S
            sign = -1 if (s.bit_count() - sub.bit_count()) % 2 else 1
            out[..., s] += sign * values[..., sub]
            if sub == 0:
                break
            sub = (sub - 1) & s
    return out


def brute_or(values: torch.Tensor) -> torch.Tensor:
    """OR interactions by the definition in DESIGN section 2."""
    size = values.shape[-1]
    full = size - 1
    out = torch.zeros_like(values)
    for s in range(1, size):
        sub = s
        while True:
            sign = -1 if (s.bit_count() - sub.bit_count()) % 2 else 1
            out[..., s] -= sign * values[..., full ^ sub]
            if sub == 0:
                break
            sub = (sub - 1) & s
    out[..., 0] = values[..., 0]
    return out

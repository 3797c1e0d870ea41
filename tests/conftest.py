"""Shared fixtures and markers. Tests run offline: no model hub, ever.

Helpers (oracles, games, tiny models) live in ``tests/helpers`` and are imported as
``helpers.*``; a test marked ``@pytest.mark.real_model("smollm2-135m", ...)`` runs only where
the named pretrained models' PyPI packages are installed, and is skipped with the install
command otherwise.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("MPLBACKEND", "Agg")

import importlib.util
import random

import numpy as np
import pytest
import torch

from captum_interactions.adapters.pretrained import PRETRAINED_MODELS


@pytest.fixture(autouse=True)
def _seed_everything():
    """Every test starts from the same random state."""
    random.seed(0)
    np.random.seed(0)  # noqa: NPY002 - seeds code that uses the legacy global RNG
    torch.manual_seed(0)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip a ``real_model`` test (before its fixtures load anything) unless the packages of
    the models it names are installed."""
    for mark in item.iter_markers("real_model"):
        missing = [PRETRAINED_MODELS[name] for name in mark.args
                   if importlib.util.find_spec(PRETRAINED_MODELS[name].module) is None]
        if missing:
            commands = "; ".join(source.pip for source in missing)
            pytest.skip(f"needs the pretrained models' packages: {commands}")

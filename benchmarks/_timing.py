"""Shared helpers for the benchmark scripts: timing and recording results."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

RESULTS = Path(__file__).resolve().parent / "results"


def best_time(function: Callable[[], Any], *, repeats: int = 5, budget: float = 10.0) -> float:
    """Best wall time in seconds over ``repeats`` calls (fewer if ``budget`` runs out)."""
    function()  # warm-up: allocations, caches, lazy imports
    best = float("inf")
    spent = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        elapsed = time.perf_counter() - start
        best = min(best, elapsed)
        spent += elapsed
        if spent > budget:
            break
    return best


def record(name: str, results: dict[str, Any]) -> Path:
    """Write ``results`` with machine facts to ``benchmarks/results/<name>.json``."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {
        "machine": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "processor": platform.processor() or platform.machine(),
        },
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        **results,
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path

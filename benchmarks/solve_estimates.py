"""The solvers' cost model against measured solve times, side by side.

Run: ``.venv/bin/python benchmarks/solve_estimates.py``. For each solver and size, one
sample of random-walk values (rough: harder than most model values) is extracted and the
wall time set next to :func:`captum_interactions._solvers.estimate_seconds`, the estimate
that the ``CostWarning`` of a slow solve quotes. First-order solvers are timed over a fixed
number of iterations and compared per iteration (their full estimate assumes a typical
iteration count). Results go to results/solve_estimates.json. The estimate only decides
whether a solve is announced (more than 10 s), so the targets are a ratio within 0.3-3
where a solve takes a second or more, and no sub-second solve estimated near 10 s (below
a second, per-call overheads and how hard the sample is dominate).
"""

from __future__ import annotations

import os
import time
import warnings

import torch
from _timing import record

from captum_interactions._solvers import estimate_seconds
from captum_interactions.extraction import extract, extract_shared

#: (solver, players, models, options): exact solvers to their tolerance, first-order solvers
#: for a fixed number of iterations.
CASES = [
    ("ipm", 9, 1, {}), ("ipm", 10, 1, {}),
    ("working_set", 11, 1, {}), ("working_set", 12, 1, {}),
    ("highs", 9, 1, {}), ("highs", 10, 1, {}),
    ("ipm", 8, 2, {}), ("ipm", 9, 2, {}),
    ("pdhg", 8, 1, {"max_iter": 2000, "tol": 1e-12}), ("pdhg", 12, 1, {"max_iter": 2000,
                                                                       "tol": 1e-12}),
    ("sgd", 8, 1, {"iterations": 2000}), ("sgd", 12, 1, {"iterations": 2000}),
]


def main() -> None:
    torch.set_num_threads(2)
    generator = torch.Generator().manual_seed(0)
    rows = []
    for solver, n, models, options in CASES:
        values = [torch.randn(1 << n, generator=generator, dtype=torch.float64).cumsum(0) / 10
                  for _ in range(models)]
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (stopping at max_iter is the point here)
            if models == 1:
                extract(values[0], solver=solver, **options)
            else:
                extract_shared(values, solver=solver, **options)
        measured = time.perf_counter() - start
        estimate = estimate_seconds(solver, n, models=models, options=options)
        rows.append({"solver": solver, "n": n, "models": models, "options": options,
                     "measured_s": measured, "estimate_s": estimate,
                     "measured_over_estimate": measured / estimate})
        print(f"{solver:12} n={n:2} models={models}: measured {measured:7.2f} s, estimate "
              f"{estimate:7.2f} s, ratio {measured / estimate:5.2f}", flush=True)
    long = [row for row in rows if max(row["measured_s"], row["estimate_s"]) >= 1.0]
    targets = {
        "within_0.3_to_3x_from_one_second": all(
            0.3 <= row["measured_over_estimate"] <= 3 for row in long),
        "no_sub_second_solve_estimated_over_5s": all(
            row["estimate_s"] < 5 for row in rows if row["measured_s"] < 1.0),
    }
    print("targets:", targets)
    print("wrote", record("solve_estimates", {"rows": rows, "targets": targets,
                                              "load_average_1min": os.getloadavg()[0]}))


if __name__ == "__main__":
    main()

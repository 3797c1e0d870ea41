"""Overlap matrix over 20 models x 100 samples at n = 10: batched vs a loop of pair calls;
and what the controls cost at a study's size (2 and 5 models x 100 prompts).

Run: ``.venv/bin/python benchmarks/overlap.py``. ``overlap_matrix`` (all metrics, 1000
bootstrap resamples, the default chance draws and cross-prompt partners; wall time with 2
threads and with 1, and CPU time of 1 thread, which other work on the machine does not
inflate) is timed against calling ``overlap(a, b)`` for every ordered pair of models on
every sample, the loop a user would write without it; the loop is timed on one sample and
scaled to 100 (it is linear in the samples). Both give the same per-sample metrics
(checked). Each row also times the matrix without chance levels and cross-prompt control,
and with the chance levels alone. Results go to results/overlap.json.
"""

from __future__ import annotations

import math
import os
import time

import torch
from _timing import best_time, record

import captum_interactions as ci
from captum_interactions.graphs.comparison import overlap, overlap_matrix

N, MODELS, SAMPLES, LOOP_SAMPLES = 10, 20, 100, 1


def sparse(generator: torch.Generator, density: float) -> torch.Tensor:
    values = torch.randn(1 << N, generator=generator, dtype=torch.float64)
    return values * (torch.rand(1 << N, generator=generator) < density)


def make_results(models: int = MODELS) -> dict[str, list[ci.InteractionResult]]:
    """Each sample has a sparse core of AND/OR terms; model m keeps most of it, flips a few
    signs and adds terms of its own, more the larger m (weaker models share less)."""
    generator = torch.Generator().manual_seed(0)
    players = [f"w{i}" for i in range(N)]
    cores = [(sparse(generator, 0.03), sparse(generator, 0.03)) for _ in range(SAMPLES)]
    results = {}
    for m in range(models):
        column = []
        for core in cores:
            and_i, or_i = (
                part * (torch.rand(1 << N, generator=generator) < 0.8)
                + (0.2 + 0.05 * m) * sparse(generator, 0.05)
                for part in core
            )
            column.append(ci.InteractionResult(players, ci.reconstruct(and_i, or_i), and_i,
                                               or_i, target_text=" Paris"))
        results[f"model-{m}"] = column
    return results


def pair_loop(results, samples: int) -> dict[tuple[int, int, int], dict]:
    columns = list(results.values())
    return {
        (s, i, j): overlap(a[s], b[s], n_chance=20)
        for s in range(samples)
        for i, a in enumerate(columns)
        for j, b in enumerate(columns)
    }


def main() -> None:
    torch.set_num_threads(2)
    rows = []
    for models in (2, 5, MODELS):
        results = make_results(models)
        row = {"n": N, "models": models, "samples": SAMPLES,
               "matrix_s": best_time(lambda r=results: overlap_matrix(r), repeats=2),
               "matrix_with_chance_without_cross_prompt_s": best_time(
                   lambda r=results: overlap_matrix(r, n_cross_prompt=0), repeats=2),
               "matrix_without_controls_s": best_time(
                   lambda r=results: overlap_matrix(r, n_chance=0, n_cross_prompt=0),
                   repeats=2)}
        rows.append(row)
    results = make_results()
    torch.set_num_threads(1)
    single = best_time(lambda: overlap_matrix(results), repeats=2)
    cpu = []  # CPU seconds of one thread: the work itself, whatever else runs on the machine
    for _ in range(2):
        start = time.process_time()
        overlap_matrix(results)
        cpu.append(time.process_time() - start)
    torch.set_num_threads(2)

    start = time.perf_counter()
    looped = pair_loop(results, LOOP_SAMPLES)
    loop = (time.perf_counter() - start) * SAMPLES / LOOP_SAMPLES

    matrix = overlap_matrix(results)
    worst = 0.0
    for (s, i, j), pair in looped.items():
        for name in ("weighted_overlap", "jaccard", "cover_ratio", "top_k_overlap",
                     "cancellation_shared", "mean_order_not_shared"):
            got, want = float(matrix.per_sample[name][s, i, j]), pair[name]
            if not (math.isnan(got) and math.isnan(want)):
                worst = max(worst, abs(got - want))
    off = ~torch.eye(MODELS, dtype=torch.bool)
    rows[-1].update({
        "matrix_1_thread_s": single,
        "matrix_1_thread_cpu_s": min(cpu),
        "pair_loop_s_scaled_from_1_sample": loop,
        "loop_over_matrix_without_controls": loop / rows[-1]["matrix_without_controls_s"],
        "max_abs_difference": worst,
        "mean_jaccard_off_diagonal": float(matrix["jaccard"][off].mean()),
        "mean_jaccard_chance_uniform_off_diagonal": float(
            matrix["jaccard_chance_uniform"][off].mean()),
        "mean_jaccard_chance_order_off_diagonal": float(
            matrix["jaccard_chance_order"][off].mean()),
        "mean_jaccard_cross_prompt_off_diagonal": float(
            matrix["jaccard_cross_prompt"][off].mean()),
        "load_average_1min": os.getloadavg()[0],  # other work on the machine slows all rows
    })
    for row in rows:
        print(", ".join(f"{key} = {value:.4g}" if isinstance(value, float) else
                        f"{key} = {value}" for key, value in row.items()))
    targets = {"study_size_with_controls_under_2s": rows[1]["matrix_s"] < 2.0,
               "twenty_models_without_controls_under_5s":
                   rows[-1]["matrix_without_controls_s"] < 5.0,
               "same_metrics_as_pair_calls": worst < 1e-9}
    print("targets:", targets)
    print("wrote", record("overlap", {"rows": rows, "targets": targets}))


if __name__ == "__main__":
    main()

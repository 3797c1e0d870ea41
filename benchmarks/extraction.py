"""Sparse extraction solvers side by side: time per sample and distance to the optimum.

Reward vectors come from ``benchmarks/results/reward_vectors.npz`` (arrays such as
``smollm2_n10``, ``[samples, 2**n]``) when that file exists, else from a synthetic game with a
language model's scale (a random sparse AND/OR game plus small dense noise). Compared at
``n = 10`` on the same samples in one run (SmolLM2 and Gemma vectors separately):

- ``ipm``: this library's exact structured interior-point method (batched);
- ``working_set``: row generation around that interior point (exact; normal matrix over the
  working masks only);
- ``plain LP``: the extraction LP with the zeta matrix handed to HiGHS' interior-point
  method (``scipy.optimize.linprog(method="highs-ipm")``), i.e. solver ``"highs"``;
- ``pdhg``: first-order with a certified gap, at ``n = 10`` (two samples) and ``n = 14``
  (synthetic unless the file holds ``smollm2_n14``), next to ``working_set`` at ``n = 14``;
- ``sgd``: the lab's projected SGD (lr 1e-6, 20,000 iterations), on two samples.

Also the joint two-model extraction at ``n = 10`` (SmolLM2 and Gemma on the same prompts): the
joint ``ipm`` (row generation around the structured interior point) and HiGHS side by side on
six pairs, PDHG on the first, the lab's SGD (shared ``p̄``) on two; the joint solvers on
synthetic games with three models at ``n = 10`` and two at ``n = 11`` and ``12``; and the ``ipm`` /
``working_set`` crossover at ``n = 10, 11, 12`` on sub-games of the ``n = 14`` vector (the last
players fixed present). The machine's load average is recorded: compare ratios, not seconds.
Writes ``benchmarks/results/extraction.json`` (``--only SECTION`` re-runs one section and keeps
the others). Run: ``python benchmarks/extraction.py [--only n10|n14|joint|joint_scaling]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from captum_interactions.extraction import extract, extract_shared

RESULTS = Path(__file__).parent / "results"
SAMPLES = 6
FEW_SAMPLES = 2  # pdhg and the lab's sgd (slow)


def synthetic(n: int, samples: int, seed: int) -> np.ndarray:
    """Log-odds-like vectors: a sparse random AND/OR game plus dense small noise."""
    rng = np.random.default_rng(seed)
    size = 1 << n
    masks = np.arange(size)
    out = np.empty((samples, size))
    for row in range(samples):
        values = np.full(size, rng.normal(-6, 2))
        for _ in range(3 * n):
            players = rng.choice(n, size=rng.integers(1, 4), replace=False)
            bits = sum(1 << int(i) for i in players)
            weight = rng.normal(0, 2)
            if rng.random() < 0.5:
                values += weight * ((masks & bits) == bits)
            else:
                values += weight * ((masks & bits) != 0)
        out[row] = values + rng.normal(0, 0.3, size)
    return out


def reward_vectors(name: str, n: int, samples: int, seed: int) -> tuple[np.ndarray, str]:
    path = RESULTS / "reward_vectors.npz"
    if path.exists():
        with np.load(path) as data:
            key = f"{name}_n{n}"
            if key in data and data[key].shape[0] >= samples:
                return data[key][:samples].astype(np.float64), f"{path.name}:{key}"
    return synthetic(n, samples, seed), "synthetic"


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    out = function(*args, **kwargs)
    return out, time.perf_counter() - start


def compare_n10(model: str, seed: int) -> dict:
    """Every single-model solver on the same ``n = 10`` samples of one model."""
    values, source = reward_vectors(model, 10, SAMPLES, seed=seed)
    v = torch.from_numpy(values)
    ipm, ipm_time = timed(extract, v, solver="ipm")
    optimum = np.array([r.objective for r in ipm])
    rows, rows_time = timed(extract, v, solver="working_set")
    lp, lp_time = timed(extract, v, solver="highs")
    few = v[:FEW_SAMPLES]
    pdhg, pdhg_time = timed(extract, few, solver="pdhg", tol=1e-4, max_iter=20_000)
    sgd, sgd_time = timed(extract, few, solver="sgd")
    rows = {
        "ipm": (ipm, ipm_time / len(v)),
        "working_set": (rows, rows_time / len(v)),
        "plain LP (HiGHS ipm)": (lp, lp_time / len(v)),
        "pdhg (tol 1e-4, <= 20k it)": (pdhg, pdhg_time / len(few)),
        "sgd (lab, lr 1e-6, 20k it)": (sgd, sgd_time / len(few)),
    }
    report = {"source": source, "samples": len(v)}
    print(f"n = 10, {model}, {len(v)} samples ({source}); optimum from ipm, gap is certified")
    for name, (results, seconds) in rows.items():
        ratio = np.array([r.objective for r in results]) / optimum[: len(results)]
        gaps = [r.extraction.gap for r in results]
        entry = {
            "samples": len(results),
            "seconds_per_sample": seconds,
            "objective_over_optimum": ratio.tolist(),
            "certified_gap": gaps,
            "speedup_vs_sgd": rows["sgd (lab, lr 1e-6, 20k it)"][1] / seconds,
            "speedup_vs_plain_lp": rows["plain LP (HiGHS ipm)"][1] / seconds,
        }
        report[name] = entry
        print(f"  {name:28s} {seconds:7.2f} s/sample  objective/optimum "
              f"{ratio.max():.7f}  x{entry['speedup_vs_sgd']:.1f} vs sgd, "
              f"x{entry['speedup_vs_plain_lp']:.2f} vs plain LP")
    return report


def crossover(values: torch.Tensor, source: str) -> dict:
    """``ipm`` against ``working_set`` on sub-games of one large game (last players present)."""
    n_full = values.shape[-1].bit_length() - 1
    report = {"source": source}
    print(f"ipm / working_set crossover on sub-games of {source}")
    for n in (10, 11, 12):
        fixed = ((1 << n_full) - 1) ^ ((1 << n) - 1)  # players n .. n_full - 1 present
        sub = values[torch.arange(1 << n) | fixed]
        ipm, ipm_time = timed(extract, sub, solver="ipm")
        rows, rows_time = timed(extract, sub, solver="working_set")
        report[f"n{n}"] = {
            "ipm_seconds": ipm_time, "working_set_seconds": rows_time,
            "working_set_speedup": ipm_time / rows_time,
            "objective_difference": abs(rows.objective - ipm.objective) / ipm.objective,
        }
        print(f"  n = {n}: ipm {ipm_time:6.2f} s, working_set {rows_time:6.2f} s "
              f"(x{ipm_time / rows_time:.2f}), objectives differ by "
              f"{report[f'n{n}']['objective_difference']:.1e}")
    return report


def n14() -> dict:
    values14, source14 = reward_vectors("smollm2", 14, 1, seed=1)
    v14 = torch.from_numpy(values14)
    report = {"crossover": crossover(v14[0], source14)}
    exact, exact_seconds = timed(extract, v14, solver="working_set")
    fit, seconds = timed(extract, v14, solver="pdhg", tol=1e-4, max_iter=6_000)
    report["n14_working_set"] = {"source": source14, "seconds": exact_seconds,
                                 "objective": exact[0].objective,
                                 "certified_gap": exact[0].extraction.gap,
                                 "iterations": exact[0].extraction.iterations}
    report["n14_pdhg"] = {"source": source14, "seconds": seconds,
                          "certified_gap": fit[0].extraction.gap,
                          "objective_over_optimum": fit[0].objective / exact[0].objective,
                          "iterations": fit[0].extraction.iterations}
    print(f"n = 14 ({source14}): working_set {exact_seconds:.1f} s, certified gap "
          f"{exact[0].extraction.gap:.1e}; pdhg {seconds:.1f} s, certified gap "
          f"{fit[0].extraction.gap:.2e} after {fit[0].extraction.iterations} iterations")
    return report


def joint_pair(values: list[torch.Tensor], highs: bool = True) -> dict:
    """The joint ipm and (unless ``highs=False``) HiGHS on one sample, side by side."""
    fit, ipm_seconds = timed(extract_shared, values, solver="ipm")
    run = {"objective": fit[0][0].extraction.objective, "ipm_seconds": ipm_seconds,
           "ipm_gap": fit[0][0].extraction.gap,
           "ipm_iterations": fit[0][0].extraction.iterations}
    if highs:
        best, highs_seconds = timed(extract_shared, values, solver="highs")
        optimum = best[0][0].extraction.objective
        run.update(objective=optimum, highs_seconds=highs_seconds,
                   highs_over_ipm=highs_seconds / ipm_seconds,
                   highs_gap=best[0][0].extraction.gap,
                   relative_difference=(run["objective"] - optimum) / optimum)
    return run


def joint() -> dict:
    smollm2, source = reward_vectors("smollm2", 10, SAMPLES, seed=0)
    gemma, source_other = reward_vectors("gemma", 10, SAMPLES, seed=2)
    runs = []
    for row in range(SAMPLES):
        pair = [torch.from_numpy(smollm2[row : row + 1]), torch.from_numpy(gemma[row : row + 1])]
        runs.append(joint_pair(pair))
        if row == 0:
            fit, pdhg_seconds = timed(extract_shared, pair, solver="pdhg", tol=1e-4,
                                      max_iter=20_000)
            pdhg = {"seconds": pdhg_seconds, "gap": fit[0][0].extraction.gap,
                    "objective_over_optimum": fit[0][0].extraction.objective
                    / runs[0]["objective"]}
    sgd = []
    for row in range(FEW_SAMPLES):
        pair = [torch.from_numpy(smollm2[row : row + 1]), torch.from_numpy(gemma[row : row + 1])]
        fit, sgd_seconds = timed(extract_shared, pair, solver="sgd")
        sgd.append({"seconds": sgd_seconds, "objective_over_optimum":
                    fit[0][0].extraction.objective / runs[row]["objective"]})
    ipm = [run["ipm_seconds"] for run in runs]
    highs = [run["highs_seconds"] for run in runs]
    print(f"joint n = 10, 2 models, {SAMPLES} prompts: ipm {np.mean(ipm):.2f} s per sample "
          f"({min(ipm):.2f}-{max(ipm):.2f}), HiGHS {np.mean(highs):.1f} s "
          f"({min(highs):.1f}-{max(highs):.1f}), HiGHS / ipm "
          f"{np.mean(highs) / np.mean(ipm):.1f}x; "
          f"ipm gaps <= {max(run['ipm_gap'] for run in runs):.0e}, objectives within "
          f"{max(abs(run['relative_difference']) for run in runs):.0e}; pdhg "
          f"{pdhg['seconds']:.1f} s at {pdhg['objective_over_optimum']:.4f} x optimum; lab sgd "
          f"{np.mean([run['seconds'] for run in sgd]):.1f} s at "
          + ", ".join(f"{run['objective_over_optimum']:.2f}" for run in sgd) + " x optimum")
    return {"joint_n10": {"source": [source, source_other], "runs": runs,
                          "ipm_mean_seconds": float(np.mean(ipm)),
                          "highs_mean_seconds": float(np.mean(highs)),
                          "highs_over_ipm": float(np.mean(highs) / np.mean(ipm)),
                          "pdhg_first_pair": pdhg, "sgd_lab_settings": sgd}}


def joint_scaling() -> dict:
    report = {}
    for models, n in ((3, 10), (2, 11), (2, 12)):
        games = synthetic(n, models, seed=7)
        values = [torch.from_numpy(games[k : k + 1]) for k in range(models)]
        report[f"M{models}_n{n}"] = run = {"source": "synthetic",
                                           **joint_pair(values, highs=n <= 11)}
        versus = (f", HiGHS {run['highs_seconds']:.1f} s ({run['highs_over_ipm']:.1f}x)"
                  if "highs_seconds" in run else " (HiGHS not run: minutes)")
        print(f"joint n = {n}, {models} models (synthetic): ipm {run['ipm_seconds']:.1f} s"
              f"{versus}, ipm gap {run['ipm_gap']:.0e}")
    return {"joint_scaling": report}


SECTIONS = {"n10": lambda: {"n10": {model: compare_n10(model, seed)
                                    for seed, model in enumerate(("smollm2", "gemma"))}},
            "n14": n14, "joint": joint, "joint_scaling": joint_scaling}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(SECTIONS), help="run one section")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "extraction.json"
    report = json.loads(path.read_text()) if args.only and path.exists() else {}
    report.update({"machine": platform.processor() or platform.machine(),
                   "torch_threads": torch.get_num_threads(),
                   "load_average_at_start": os.getloadavg()[0]})
    for name in [args.only] if args.only else SECTIONS:
        report.update(SECTIONS[name]())
    report["load_average_at_end"] = os.getloadavg()[0]
    path.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

"""The Ray executor's overhead against the in-process run on the same jobs.

Two tiny random models (GPT-2 and Llama shapes) × twelve prompts (and × 48: the twelve four
times), n = 8 players, independent extraction, no screening, no report, on this machine.
Each repeat starts a local cluster of ``--cpus`` CPUs whose workers preload torch and the
library (started apart, untimed, as a cluster a user already has), waits for its prestarted
workers, then times, into fresh folders:

- ``ray, ready workers``: the cluster's first run, whose actors find its prestarted workers;
- ``in-process``: the same jobs in this process (torch and the models' code already
  imported, as in a session that has run before);
- ``ray, new workers``: a second Ray run. Ray starts a new worker process for every actor
  (an actor never takes the idle worker of an earlier task or actor), and the new process
  imports torch and transformers before the actor builds its model: that start is the
  fixed cost of a run on a cluster in use;
- the in-process and the ``new workers`` runs again with 48 prompts: the overhead per
  result, apart from the fixed cost, is the difference of the two sizes' differences.

The fastest of the repeats counts. Records the load average around each run (other
processes slow both alike: compare the ratio) and the sum of the results' own seconds
(evaluation plus extraction, from the manifest) next to the wall time.

Writes ``benchmarks/results/ray_overhead.json``. Run: ``python benchmarks/ray_overhead.py``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import ray
from _timing import record
from _tiny_models import save_tiny_models, write_prompts

from captum_interactions.runs import InteractionRun, RunOptions
from captum_interactions.runs.ray_executor import PRELOAD

SIZES = {12: 1, 48: 4}  # prompts: copies of the twelve


def timed_run(models, prompts, out: Path, executor: str, expected: int) -> dict:
    """One run into ``out``: wall seconds, the results' own seconds, the load around it."""
    load = os.getloadavg()[0]
    begun = time.perf_counter()
    options = RunOptions(n_players=8, screen=False)  # all of them: random models rarely agree
    summary = InteractionRun(models, prompts, out, options=options).execute(
        executor=executor, device="cpu", show_progress=False, report=False)
    seconds = time.perf_counter() - begun
    items = json.loads((out / "manifest.json").read_text())["items"]
    assert len(summary.computed) == expected, summary.computed
    return {"seconds": round(seconds, 2),
            "result_seconds": round(sum(entry["seconds"] for entry in items.values()), 2),
            "load_before": round(load, 2), "load_after": round(os.getloadavg()[0], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--settle", type=float, default=20,
                        help="seconds the prestarted workers get to import what they preload")
    args = parser.parse_args()
    runs: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        models = save_tiny_models(root)
        prompts = {size: write_prompts(root / f"prompts-{size}.jsonl", copies)
                   for size, copies in SIZES.items()}
        plan = [("ray, ready workers", 12, "ray"), ("in-process", 12, "in-process"),
                ("ray, new workers", 12, "ray"), ("in-process", 48, "in-process"),
                ("ray, new workers", 48, "ray")]
        for repeat in range(args.repeats):
            ray.init(num_cpus=args.cpus, include_dashboard=False,
                     object_store_memory=100 * 1024**2, logging_level=logging.WARNING,
                     _system_config={"preload_python_modules": PRELOAD})
            time.sleep(args.settle)
            for name, size, executor in plan:
                entry = timed_run(models, prompts[size], root / f"{repeat}-{name}-{size}",
                                  executor, 2 * size)
                runs.setdefault(f"{name}, {size} prompts", []).append(entry)
                print(f"{name}, {size} prompts: {entry}", flush=True)
            ray.shutdown()
    best = {name: min(entry["seconds"] for entry in entries) for name, entries in runs.items()}

    def overhead(name: str, size: int) -> float:
        return round(best[f"{name}, {size} prompts"] / best[f"in-process, {size} prompts"] - 1, 3)

    fixed = best["ray, new workers, 12 prompts"] - best["in-process, 12 prompts"]
    per_result = ((best["ray, new workers, 48 prompts"] - best["in-process, 48 prompts"])
                  - fixed) / (2 * (48 - 12))
    summary = {
        "overhead, ready workers, 12 prompts": overhead("ray, ready workers", 12),
        "overhead, new workers, 12 prompts": overhead("ray, new workers", 12),
        "overhead, new workers, 48 prompts": overhead("ray, new workers", 48),
        "extra seconds of a run, new workers, 12 prompts": round(fixed, 2),
        "extra seconds per result, apart from the fixed cost": round(per_result, 4),
    }
    for name, value in summary.items():
        print(f"{name}: {value}")
    record("ray_overhead", {
        "jobs": "2 tiny models x 12 (48) prompts, n = 8, independent extraction, device cpu",
        "cluster_cpus": args.cpus, "preload_python_modules": PRELOAD,
        "runs": runs, "best_seconds": best, "summary": summary,
    })


if __name__ == "__main__":
    main()

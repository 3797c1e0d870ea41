"""The Ray executor's overhead against the in-process run on the same jobs.

Two tiny random models (GPT-2 and Llama shapes) × twelve prompts, n = 8 players, independent
extraction, no screening, no report, on this machine: the in-process executor, then
``executor="ray"`` on a local cluster of ``--cpus`` CPUs (started once, before the timings,
as a cluster a user already has, its workers preloading torch and the library unless
``--no-preload``, warmed by one untimed run; its start is recorded apart), alternated
``--repeats`` times into fresh folders; the fastest of each counts. Records the load average
around each run (other processes slow both alike: compare the ratio), and the sum of the
results' own seconds (evaluation plus extraction, from the manifest) next to the wall time.

Writes ``benchmarks/results/ray_overhead.json`` (``ray_overhead_no_preload.json``). Run:
``python benchmarks/ray_overhead.py [--no-preload]``.
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


def timed_run(models, prompts, out: Path, executor: str) -> dict:
    """One run into ``out``: wall seconds, the results' own seconds, the load around it."""
    load = os.getloadavg()[0]
    begun = time.perf_counter()
    options = RunOptions(n_players=8, screen=False)  # all 24: random models rarely agree
    summary = InteractionRun(models, prompts, out, options=options).execute(
        executor=executor, device="cpu", show_progress=False, report=False)
    seconds = time.perf_counter() - begun
    items = json.loads((out / "manifest.json").read_text())["items"]
    assert len(summary.computed) == 24, summary.computed
    return {"seconds": round(seconds, 2),
            "result_seconds": round(sum(entry["seconds"] for entry in items.values()), 2),
            "load_before": round(load, 2), "load_after": round(os.getloadavg()[0], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--no-preload", dest="preload", action="store_false",
                        help="workers import torch and the library when they first work, not "
                        "at the cluster's start")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        models = save_tiny_models(root)
        prompts = write_prompts(root / "prompts.jsonl")
        begun = time.perf_counter()
        ray.init(num_cpus=args.cpus, include_dashboard=False,
                 object_store_memory=100 * 1024**2, logging_level=logging.WARNING,
                 _system_config={"preload_python_modules": PRELOAD} if args.preload else {})
        cluster_start = time.perf_counter() - begun
        time.sleep(20)  # the prestarted workers import what they preload
        timed_run(models, prompts, root / "warm-up", "ray")  # a cluster in use, not a new one
        runs: dict[str, list[dict]] = {"in-process": [], "ray": []}
        for repeat in range(args.repeats):
            for executor, entries in runs.items():
                entries.append(timed_run(models, prompts, root / f"{executor}-{repeat}",
                                         executor))
                print(executor, entries[-1], flush=True)
        ray.shutdown()
    best = {executor: min(e["seconds"] for e in entries) for executor, entries in runs.items()}
    overhead = best["ray"] / best["in-process"] - 1
    print(f"in-process {best['in-process']} s, ray {best['ray']} s: overhead {overhead:.0%} "
          f"(cluster start {cluster_start:.1f} s apart)")
    record("ray_overhead" if args.preload else "ray_overhead_no_preload", {
        "jobs": "2 tiny models x 12 prompts, n = 8, independent extraction, device cpu",
        "cluster_cpus": args.cpus, "cluster_start_seconds": round(cluster_start, 2),
        "preload_python_modules": PRELOAD if args.preload else [],
        "runs": runs, "best_seconds": best, "overhead": round(overhead, 3),
    })


if __name__ == "__main__":
    main()

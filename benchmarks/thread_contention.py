"""In-process runs under a competing load: torch's default threads against the thread plan.

``--busy`` processes spin on the CPU (a competing load, as other jobs on a shared machine);
meanwhile the same run (a random SmolLM2-135M-shaped model, ``--prompts`` prompts, n =
``--players``) is made with ``threads=`` the number of cores (what torch does by default)
and with the plan (``threads=None``: the cores the others leave free, at least one),
alternated ``--repeats`` times into fresh folders; the fastest of each counts. Then the
same two without the spinners (other processes of the machine still run: the load average
before each run is recorded, and the plan's choice).

Writes ``benchmarks/results/thread_contention.json``. Run:
``python benchmarks/thread_contention.py [--busy 4]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch
from _timing import record
from _tiny_models import PROMPTS, build, word_tokenizer

from captum_interactions.runs import InteractionRun, RunOptions
from captum_interactions.runs.threads import available_cores, other_load, plan_threads


def timed_run(model: Path, prompts: Path, out: Path, players: int, threads: int | None
              ) -> dict:
    """One run: wall seconds and the load average before it."""
    load = os.getloadavg()[0]
    begun = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the oversubscription warning is the point here
        InteractionRun([str(model)], prompts, out, options=RunOptions(n_players=players)
                       ).execute(device="cpu", show_progress=False, report=False,
                                 threads=threads)
    return {"seconds": round(time.perf_counter() - begun, 2), "load_before": round(load, 2)}


def compare(model, prompts, root: Path, args, label: str) -> dict:
    cores = available_cores()
    planned = plan_threads(None, load=other_load()).threads
    runs: dict[str, list[dict]] = {f"threads={cores} (torch default)": [],
                                   f"plan (threads={planned})": []}
    for repeat in range(args.repeats):
        for (name, entries), threads in zip(runs.items(), (cores, None), strict=True):
            entries.append(timed_run(model, prompts, root / f"{label}-{threads}-{repeat}",
                                     args.players, threads))
            print(label, name, entries[-1], flush=True)
    return {"runs": runs, "best_seconds": {name: min(e["seconds"] for e in entries)
                                           for name, entries in runs.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--busy", type=int, default=4)
    parser.add_argument("--players", type=int, default=6)
    parser.add_argument("--prompts", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        tokenizer = word_tokenizer(PROMPTS)
        build("smollm2-135m", tokenizer, torch.device("cpu"), torch.float32).save_pretrained(
            root / "model")
        tokenizer.save_pretrained(root / "model")
        prompts = root / "prompts.jsonl"
        prompts.write_text("".join(json.dumps({"prompt": p}) + "\n"
                                   for p in PROMPTS[:args.prompts]))
        spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                    for _ in range(args.busy)]
        try:
            time.sleep(5)  # the spinners show in the runnable count at once, in the average later
            loaded = compare(root / "model", prompts, root, args, f"{args.busy} busy")
        finally:
            for spinner in spinners:
                spinner.kill()
                spinner.wait()
        time.sleep(5)
        quiet = compare(root / "model", prompts, root, args, "no spinners")
    record("thread_contention", {
        "jobs": f"random smollm2-135m-shaped model x {args.prompts} prompts, n = "
                f"{args.players}, in-process, device cpu",
        "cores": available_cores(), "busy_processes": args.busy,
        "with_spinners": loaded, "without_spinners": quiet,
    })


if __name__ == "__main__":
    main()

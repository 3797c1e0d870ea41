"""Before / after: the same workloads on two source trees, side by side in one run.

For a refactor: every workload runs in a fresh interpreter per tree, the trees alternating
(before, after, before, after, ...), so a slow phase of the machine hits both; the fastest
repeat of each counts. The workloads use only names both trees have and return a number
that must agree (an objective, a checksum) next to the time. Workloads:

- ``transforms``: AND + OR butterflies at n = 10, 14 and 20 (milliseconds);
- ``ipm``: exact extraction of six SmolLM2 reward vectors at n = 10 (seconds per sample);
- ``working_set``: exact extraction of a SmolLM2 sub-game at n = 12 with noise;
- ``joint``: joint two-model extraction of six SmolLM2/Gemma prompt pairs at n = 10;
- ``pdhg``: 4,000 PDHG iterations on two SmolLM2 samples at n = 10 (certified gap reached);
- ``masked_eval``: SmolLM2 on all 2**10 masks of the masked-evaluation prompt, prefix tree;
- ``overlap``: overlap_matrix of 20 models x 100 samples at n = 10 (20 chance draws).

A tree is a checkout of captum-interactions; a shadow package that links its
``captum_interactions/``, ``adapters/`` and ``graphs/`` as the installed layout is built in a
temporary folder, so neither tree is touched. Results go to
``benchmarks/results/compare_trees.json`` (``--out`` names another file there).

Run: ``python benchmarks/ab/compare_trees.py --before ../before [--after .] [--only ipm]``
(make a before tree with ``git worktree add ../before <commit>``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
ROOT = HERE.parents[2]
RESULTS = ROOT / "benchmarks" / "results"
REWARDS = RESULTS / "reward_vectors.npz"
WORKLOADS = ("transforms", "ipm", "working_set", "joint", "pdhg", "masked_eval", "overlap")


# --------------------------------------------------------------------------- the workloads
def _rewards(name: str, rows: int):
    import numpy as np
    import torch

    return torch.from_numpy(np.load(REWARDS)[name][:rows])


def _timed(function) -> tuple[float, float]:
    start = time.perf_counter()
    check = function()
    return time.perf_counter() - start, float(check)


def transforms() -> dict:
    import torch

    import captum_interactions as ci

    out = {}
    for n in (10, 14, 20):
        v = torch.randn(4, 1 << n, dtype=torch.float64, generator=torch.Generator().manual_seed(n))
        ci.and_transform(v)
        best = min(_timed(lambda v=v: ci.and_transform(v).sum() + ci.or_transform(v).sum())[0]
                   for _ in range(5))
        out[f"n{n}_ms"] = 1000 * best
    return {"time": out["n20_ms"], "unit": "ms at n = 20", **out,
            "check": float(ci.and_transform(v).sum())}


def ipm() -> dict:
    import captum_interactions as ci

    values = _rewards("smollm2_n10", 6)
    ci.extract(values[:1], solver="ipm")  # warm-up: index tables
    seconds, check = _timed(lambda: sum(r.objective for r in ci.extract(values, solver="ipm")))
    return {"time": seconds / len(values), "unit": "s per sample", "check": check}


def working_set() -> dict:
    import captum_interactions as ci

    game = _rewards("smollm2_n14", 1)[:, -(1 << 12):]  # the last two players fixed present
    seconds, check = _timed(lambda: ci.extract(game, solver="working_set")[0].objective)
    return {"time": seconds, "unit": "s", "check": check}


def joint() -> dict:
    import captum_interactions as ci

    smol, gemma = _rewards("smollm2_n10", 6), _rewards("gemma_n10", 6)
    ci.extract_shared([smol[:1, :64], gemma[:1, :64]], solver="ipm")  # warm-up

    def solve() -> float:
        return sum(ci.extract_shared([smol[row], gemma[row]], solver="ipm")[0].objective
                   for row in range(len(smol)))

    seconds, check = _timed(solve)
    return {"time": seconds / len(smol), "unit": "s per pair", "check": check}


def pdhg() -> dict:
    import captum_interactions as ci

    values = _rewards("smollm2_n10", 2)
    seconds, check = _timed(lambda: sum(
        r.objective for r in ci.extract(values, solver="pdhg", max_iter=4000, tol=1e-9)))
    results = ci.extract(values, solver="pdhg", max_iter=4000, tol=1e-9)
    gaps = [r.extraction["gap"] if isinstance(r.extraction, dict) else r.extraction.gap
            for r in results]
    return {"time": seconds, "unit": "s", "max_gap": max(gaps), "check": check}


def masked_eval() -> dict:
    import torch

    from captum_interactions.adapters import HuggingFaceAdapter, load_pretrained

    model, tokenizer = load_pretrained("smollm2-135m")
    adapter = HuggingFaceAdapter(model, tokenizer)
    text = ("Every morning the old fisherman rowed his small boat across the quiet bay, and "
            "in the evening he sold the fish at the")
    prompt = adapter.tokenize(text)
    positions = [[0], [2], [5, 6], [8], [10], [13], [16], [18], [21], [23]]
    masks = torch.arange(1 << len(positions))
    adapter.evaluate(prompt, positions, masks[:2], target=1679, baseline="pad")  # warm-up
    seconds, check = _timed(lambda: adapter.evaluate(
        prompt, positions, masks, target=1679, baseline="pad", prefix_sharing=True).sum())
    return {"time": seconds, "unit": "s", "check": check}


def overlap() -> dict:
    import torch

    import captum_interactions as ci
    from captum_interactions.graphs import overlap_matrix

    n, models, samples = 10, 20, 100
    generator = torch.Generator().manual_seed(0)

    def sparse(density: float) -> torch.Tensor:
        values = torch.randn(1 << n, generator=generator, dtype=torch.float64)
        return values * (torch.rand(1 << n, generator=generator) < density)

    players = [f"w{i}" for i in range(n)]
    cores = [(sparse(0.03), sparse(0.03)) for _ in range(samples)]
    results = {}
    for m in range(models):
        column = []
        for core in cores:
            and_i, or_i = (part * (torch.rand(1 << n, generator=generator) < 0.8)
                           + (0.2 + 0.05 * m) * sparse(0.05) for part in core)
            column.append(ci.InteractionResult(players, ci.reconstruct(and_i, or_i), and_i,
                                               or_i))
        results[f"model-{m}"] = column
    # The same work in both trees: options given whose defaults differ between them.
    options = {"n_chance": 20, "merge_singletons": False}
    overlap_matrix(results, **options)  # warm-up
    seconds, check = _timed(lambda: overlap_matrix(results, **options)["jaccard"].sum())
    return {"time": seconds, "unit": "s", "check": check}


# ------------------------------------------------------------------------------- the driver
def shadow(tree: Path, folder: Path) -> Path:
    """A folder whose ``captum_interactions`` package links the tree's sources in the layout
    the wheel installs (``adapters/`` and ``graphs/`` as subpackages)."""
    package = folder / "captum_interactions"
    package.mkdir(parents=True)
    for entry in (tree / "captum_interactions").iterdir():
        (package / entry.name).symlink_to(entry)
    for sub in ("adapters", "graphs"):
        (package / sub).symlink_to(tree / sub)
    return folder


def run_worker(workload: str, path: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(path), "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1", "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, str(HERE), "--worker", workload], env=env,
                          capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{workload} failed in {path}:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", type=Path)
    parser.add_argument("--after", type=Path, default=ROOT)
    parser.add_argument("--only", action="append", choices=WORKLOADS)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", default="compare_trees.json",
                        help="file name in benchmarks/results/ (default: %(default)s)")
    parser.add_argument("--worker", choices=WORKLOADS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        import captum_interactions

        out = globals()[args.worker]()
        out["source"] = captum_interactions.__file__
        print(json.dumps(out))
        return
    if args.before is None:
        parser.error("--before is required (a checkout to compare with)")
    report = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                          "load_average_1min_at_start": os.getloadavg()[0]},
              "date": time.strftime("%Y-%m-%d %H:%M:%S"),
              "trees": {"before": str(args.before.resolve()), "after": str(args.after.resolve())},
              "workloads": {}}
    with tempfile.TemporaryDirectory() as scratch:
        paths = {name: shadow(tree.resolve(), Path(scratch) / name)
                 for name, tree in (("before", args.before), ("after", args.after))}
        for workload in args.only or WORKLOADS:
            runs = {"before": [], "after": []}
            for _ in range(args.repeats):
                for name, path in paths.items():
                    runs[name].append(run_worker(workload, path))
            entry = {name: {**min(found, key=lambda run: run["time"]),
                            "all": [run["time"] for run in found]}
                     for name, found in runs.items()}
            entry["after_over_before"] = entry["after"]["time"] / entry["before"]["time"]
            entry["same_check"] = abs(entry["after"]["check"] - entry["before"]["check"]) <= (
                1e-6 * max(1.0, abs(entry["before"]["check"])))
            report["workloads"][workload] = entry
            print(f"{workload:12s} before {entry['before']['time']:.4g}  after "
                  f"{entry['after']['time']:.4g} {entry['after']['unit']}  ratio "
                  f"{entry['after_over_before']:.2f}  same numbers: {entry['same_check']}",
                  flush=True)
    report["machine"]["load_average_1min_at_end"] = os.getloadavg()[0]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()

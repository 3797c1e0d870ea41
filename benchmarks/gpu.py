"""The GPU benchmark: masked evaluation, extraction and one end-to-end run on a device.

Models are randomly initialised from real architectures' configs, written out below (speed
does not depend on the weights, and the weight files are too large to carry to a machine
without network): SmolLM2-135M's and a ~1B Llama (TinyLlama-1.1B's shape). Tokens come from
a word-level tokenizer over the prompt, so no tokenizer files are needed either.

- masked evaluation of all ``2**n`` masks through ``HuggingFaceAdapter``: prefix tree
  (``prefix_sharing=True``) against plain batches, best of ``--repeats``, with the relative
  difference of the values;
- extraction on the device: the batched interior point (``ipm``, ``--batch`` samples) and
  the joint two-model extraction (``extract_shared``, ``ipm``), on games with a sparse AND
  part and small noise (a language model's shape);
- one end-to-end run (``InteractionRun``, in-process, no report) of the SmolLM2-shaped model
  saved as a folder, on ``--prompts`` prompts.

Results go to ``benchmarks/results/gpu_<device>.json`` (``gpu_cuda.json``, ``gpu_cpu.json``;
``gpu_<device>_<models>.json`` with ``--model``) with the device's name, the load average
and the settings. On a CPU use small settings (``--quick``: n = 6, the small model only,
which is the default there; ``--model llama-1.1b --players 4 --prompts 1``: the 1B model
in 35 s and 4.8 GB).

Run: ``python benchmarks/gpu.py [--device cuda|cpu] [--quick] [--players 10] [--model
llama-1.1b]``; on a GPU
machine without network: ``make bench-gpu`` (see the Makefile).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch
from _timing import record
from _tiny_models import CONFIGS, build, word_tokenizer

from captum_interactions import extract, extract_shared, inverse_and_transform
from captum_interactions.adapters.huggingface import HuggingFaceAdapter
from captum_interactions.runs import InteractionRun, RunOptions
from captum_interactions.runs.threads import other_load, plan_threads
from captum_interactions.subsets import all_masks

PROMPT = ("every morning the old fisherman rowed his small boat across the quiet bay and in "
          "the evening he sold fresh fish at the busy market near the")
PROMPTS = [
    PROMPT,
    "students read long books inside quiet libraries every morning before their difficult "
    "math class begins",
    "paris remains the capital of france while rome remains the capital of italy since "
    "ancient roman times",
    "she said warm weather made today nice so we walked outside near the old river and",
]


def best_seconds(device: torch.device, function: Callable[[], object], repeats: int
                 ) -> tuple[float, object]:
    """Fastest wall time of ``repeats`` calls after a warm-up, and the last output."""
    out = function()
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        out = function()
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best, out


def masked_evaluation(name: str, tokenizer, args, device: torch.device) -> dict:
    """Prefix tree against plain batches on all ``2**n`` masks of :data:`PROMPT`."""
    begun = time.perf_counter()
    model = build(name, tokenizer, device, args.dtype)
    built = time.perf_counter() - begun
    adapter = HuggingFaceAdapter(model, tokenizer, name=name)
    prompt = adapter.tokenize(PROMPT)
    words = len(prompt.input_ids) - 1
    players = [[round(i * words / args.players)] for i in range(args.players)]
    target = int(adapter.next_token_logits(prompt.input_ids).argmax())
    masks = all_masks(args.players)

    def evaluate(sharing: bool) -> torch.Tensor:
        with torch.no_grad():
            return adapter.evaluate(prompt, players, masks, target=target, baseline="pad",
                                    prefix_sharing=sharing)

    timings, values = {}, {}
    for label, sharing in (("tree", True), ("plain", False)):
        timings[label], values[label] = best_seconds(device, lambda s=sharing: evaluate(s),
                                                     args.repeats)
    scale = float(values["plain"].abs().max()) or 1.0
    entry = {
        "parameters": sum(p.numel() for p in model.parameters()),
        "build_seconds": round(built, 2),
        "tokens": len(prompt.input_ids), "players": args.players, "masks": len(masks),
        "tree_seconds": round(timings["tree"], 4),
        "plain_seconds": round(timings["plain"], 4),
        "plain_over_tree": round(timings["plain"] / timings["tree"], 2),
        "relative_difference": float((values["tree"] - values["plain"]).abs().max()) / scale,
    }
    if device.type == "cuda":
        entry["peak_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
        torch.cuda.reset_peak_memory_stats(device)
        torch.cuda.empty_cache()
    return entry


def game(samples: int, n: int, device: torch.device) -> torch.Tensor:
    """``[samples, 2**n]`` values: a sparse AND game (3 % of the patterns) plus 1 % noise."""
    generator = torch.Generator().manual_seed(1)
    coefficients = torch.randn(samples, 2**n, generator=generator, dtype=torch.float64)
    coefficients *= torch.rand(samples, 2**n, generator=generator, dtype=torch.float64) < 0.03
    values = inverse_and_transform(coefficients)
    values += 0.01 * values.abs().amax(-1, keepdim=True) * torch.randn(
        samples, 2**n, generator=generator, dtype=torch.float64)
    return values.to(device)


def extraction(args, device: torch.device) -> dict:
    """Batched ``ipm`` and joint two-model ``ipm`` on the device."""
    values = game(args.batch, args.extract_players, device)
    ipm_seconds, results = best_seconds(
        device, lambda: extract(values, solver="ipm", qcoef=0.05), args.repeats)
    pairs = [game(args.pairs, args.extract_players, device) + k for k in range(2)]
    joint_seconds, shared = best_seconds(
        device, lambda: extract_shared(pairs, solver="ipm", qcoef=0.02), 1)
    return {
        "players": args.extract_players,
        "ipm_batch": args.batch,
        "ipm_seconds": round(ipm_seconds, 4),
        "ipm_seconds_per_sample": round(ipm_seconds / args.batch, 5),
        "ipm_max_gap": max(r.extraction.gap for r in results),
        "joint_pairs": args.pairs,
        "joint_seconds": round(joint_seconds, 4),
        "joint_seconds_per_pair": round(joint_seconds / args.pairs, 4),
        "joint_max_gap": max(r.extraction.gap for rows in shared for r in rows),
    }


def end_to_end(tokenizer, args, device: torch.device) -> dict:
    """An in-process run of the SmolLM2-shaped model (saved as a folder) on the prompts."""
    with tempfile.TemporaryDirectory() as folder:
        model_dir = Path(folder) / "smollm2-135m-random"
        build("smollm2-135m", tokenizer, torch.device("cpu"), args.dtype).save_pretrained(
            model_dir)
        tokenizer.save_pretrained(model_dir)
        prompts = Path(folder) / "prompts.jsonl"
        prompts.write_text("".join(json.dumps({"prompt": p}) + "\n"
                                   for p in PROMPTS[:args.prompts]))
        options = RunOptions(n_players=args.players, dtype=str(args.dtype).split(".")[-1])
        begun = time.perf_counter()
        summary = InteractionRun([str(model_dir)], prompts, Path(folder) / "run",
                                 options=options).execute(device=device, show_progress=False,
                                                          report=False)
        seconds = time.perf_counter() - begun
        items = json.loads((Path(folder) / "run" / "manifest.json").read_text())["items"]
    return {
        "model": "smollm2-135m (random weights)", "prompts": args.prompts,
        "players": args.players, "results": len(summary.computed),
        "seconds": round(seconds, 2),
        "seconds_per_result": sorted(entry["seconds"] for entry in items.values()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true",
                        help="small settings (the default on a CPU)")
    parser.add_argument("--players", type=int, help="players of the masked evaluation and "
                        "the run (default 10; quick 6)")
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
    parser.add_argument("--repeats", type=int, help="timed calls after a warm-up, the fastest "
                        "counts (default 3; quick 1)")
    parser.add_argument("--prompts", type=int, default=len(PROMPTS))
    parser.add_argument("--model", dest="models", action="append", choices=list(CONFIGS),
                        help="architectures of the masked evaluation, repeatable (default: "
                        "all; quick: smollm2-135m)")
    args = parser.parse_args()
    device = torch.device(args.device)
    quick = args.quick or device.type == "cpu"
    args.players = args.players or (6 if quick else 10)
    args.repeats = args.repeats or (1 if quick else 3)
    if device.type == "cpu":  # torch's default threads thrash on a busy CPU
        torch.set_num_threads(plan_threads(None, load=other_load()).threads)
    args.extract_players = 8 if quick else 10
    args.batch, args.pairs = (8, 2) if quick else (64, 4)
    args.dtype = getattr(torch, args.dtype)
    names = args.models or (["smollm2-135m"] if quick else list(CONFIGS))
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    torch.backends.cuda.matmul.allow_tf32 = False  # float32 means float32 on Ampere and later

    tokenizer = word_tokenizer(PROMPTS)
    begun = time.perf_counter()
    results = {"device": str(device), "device_name": name, "quick": quick,
               "threads": torch.get_num_threads(),
               "dtype": str(args.dtype), "load_average": list(os.getloadavg()),
               "masked_evaluation": {}}
    for model in names:
        results["masked_evaluation"][model] = entry = masked_evaluation(
            model, tokenizer, args, device)
        print(f"{model}: 2**{args.players} masks, tree {entry['tree_seconds']} s, plain "
              f"{entry['plain_seconds']} s ({entry['plain_over_tree']}x)", flush=True)
    results["extraction"] = entry = extraction(args, device)
    print(f"extraction n={entry['players']}: ipm {entry['ipm_seconds_per_sample']} s/sample "
          f"(batch {entry['ipm_batch']}), joint {entry['joint_seconds_per_pair']} s/pair",
          flush=True)
    results["end_to_end"] = entry = end_to_end(tokenizer, args, device)
    print(f"run: {entry['results']} results in {entry['seconds']} s", flush=True)
    results["total_seconds"] = round(time.perf_counter() - begun, 1)
    path = record("_".join(["gpu", device.type, *(args.models or [])]), results)
    print(f"{results['total_seconds']} s in all; {path}")


if __name__ == "__main__":
    main()

"""Real reward vectors for the extraction benchmark, from small language models.

For each prompt, ``LLMInteractions(adapter).attribute(prompt, n_players=n, mode="none")``
evaluates all ``2**n`` word masks (pad-embedding baseline, log-odds of the model's own
top-1 next token) and keeps ``result.values``. Writes
``benchmarks/results/reward_vectors.npz`` with arrays ``smollm2_n10`` and ``gemma_n10``
(``[prompts, 1024]``, the same prompts for both models) and ``smollm2_n14`` (one prompt
with 14 content words) unless ``--skip-n14``; ``--only smollm2_n14`` computes just the named
arrays and keeps the others already in the file. Each array is saved as soon as it is done.
On a busy 2-core CPU one prompt takes 35-100 s at ``n = 10`` and about 16 times that at
``n = 14``; the committed file holds the two ``n = 10`` arrays.
Run offline: ``HF_HUB_OFFLINE=1 python benchmarks/reward_vectors.py``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from captum_interactions.adapters import (  # (after the offline flags)
    HuggingFaceAdapter,
    LLMInteractions,
    load_pretrained,
)

RESULTS = Path(__file__).parent / "results"
PROMPTS_N10 = [  # each has at least 10 content words (the last 10 become the players)
    "Paris, the beautiful capital city of France, famous worldwide for art, fashion, wine and "
    "food, is located on the river",
    "Water boils at exactly one hundred degrees on the temperature scale named after the "
    "Swedish astronomer Anders",
    "Jupiter, the largest planet in our solar system, is a huge gas giant with many moons, and "
    "its famous red spot is a giant",
    "The famous tragic play Romeo and Juliet, about two young lovers in Verona, was written by "
    "the English poet William",
    "Mount Everest, the tallest mountain on planet Earth, rises high in the Himalayas between "
    "Nepal and",
    "Gold, a precious shiny yellow metal used for jewellery and coins, has the chemical symbol",
]
PROMPT_N14 = (  # 17 content words: the last 14 become the players
    "Every summer, tourists from many distant countries travel by train and plane to visit "
    "the famous Eiffel Tower standing in the beautiful capital city of"
)


def vectors(name: str, prompts: list[str], n: int) -> np.ndarray:
    model, tokenizer = load_pretrained(name)
    interactions = LLMInteractions(HuggingFaceAdapter(model, tokenizer))
    rows = []
    for prompt in prompts:
        start = time.perf_counter()
        result = interactions.attribute(prompt, n_players=n, mode="none")
        assert len(result.players) == n, (prompt, result.players)
        rows.append(result.values.double().cpu().numpy())
        print(f"{name} n={n} {time.perf_counter() - start:6.1f} s  {result.players} -> "
              f"{result.target_text!r}", flush=True)
    return np.stack(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-n14", action="store_true", help="only the n = 10 arrays")
    parser.add_argument("--only", nargs="+", metavar="KEY",
                        help="compute only these arrays and keep the others in the file")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "reward_vectors.npz"
    arrays: dict[str, np.ndarray] = {}
    jobs = [("smollm2_n10", "smollm2-135m", PROMPTS_N10, 10),
            ("gemma_n10", "gemma-3-270m", PROMPTS_N10, 10)]
    if not args.skip_n14:
        jobs.append(("smollm2_n14", "smollm2-135m", [PROMPT_N14], 14))
    if args.only:
        unknown = set(args.only) - {key for key, *_ in jobs}
        if unknown:
            parser.error(f"unknown array(s) {sorted(unknown)}; choose from {[k for k, *_ in jobs]}")
        jobs = [job for job in jobs if job[0] in args.only]
        if path.exists():
            with np.load(path) as stored:
                arrays = {key: stored[key] for key in stored.files}
    for key, name, prompts, n in jobs:
        arrays[key] = vectors(name, prompts, n)
        np.savez_compressed(path, **arrays)
        print(f"saved {key} {arrays[key].shape} to {path}", flush=True)


if __name__ == "__main__":
    main()

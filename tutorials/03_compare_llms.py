"""Tutorial 3: do two LLMs with different tokenizers use the same interactions?

SmolLM2-135M (a Llama-style BPE tokenizer) and Gemma-3-270M (a SentencePiece tokenizer with
a 262k vocabulary) split the same words into different tokens. Players are therefore defined
on the *text*: the same words for both models, each mapped to that model's own tokens, so
the interactions of the two models are indexed by the same word subsets and compare directly.
The tutorial follows the rules of the cross-LLM papers:

1. compare a prompt only when both models predict the same next word (the others are
   skipped and counted);
2. measure sharing on **independent** extractions: strength-weighted overlap and Jaccard index
   of the salient sets, each next to its controls: random sets of the same sizes (uniform
   chance), random sets with the same number of terms per order (order-preserving chance),
   and model A on one prompt against model B on the others (cross-prompt). A single
   word's ``AND{i}`` and ``OR{i}`` fire on the same masks, so how a model's effect of one word
   is split between them is arbitrary: the comparisons use their sum (``merge_singletons=True``,
   the default);
3. look at the orders of shared vs non-shared interactions and their positive-negative
   cancellation (the papers find shared ones lower-order and less cancelling), again next to
   what order-preserving chance and the cross-prompt control predict;
4. run **shared** extraction (one joint fit) as well, and see why it cannot be the evidence
   for sharing: it is built to prefer shared interactions.

Run it::

    python tutorials/03_compare_llms.py            # 5 prompts, 8 players (a few minutes)
    python tutorials/03_compare_llms.py --fast     # 2 prompts, 5 players (what CI runs)
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch
from matplotlib.figure import Figure

import captum_interactions as ci
from captum_interactions.adapters import HuggingFaceAdapter, LLMInteractions, load_pretrained
from captum_interactions.graphs import (
    overlap,
    overlap_matrix,
    plot_cancellation,
    plot_order_histogram,
    plot_overlap_pairs,
)

PROMPTS = [
    "The tall iron Eiffel Tower, a famous landmark, stands in the city of",
    "The famous English playwright who wrote Romeo and Juliet and Hamlet was William",
    "Pure water is a chemical compound made of two hydrogen atoms and one",
    "To bake fresh bread, mix flour, water, salt and a little",
    "Bananas are long yellow fruits that grow in warm tropical countries and monkeys love to",
]
MODELS = ("smollm2-135m", "gemma-3-270m")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true",
                        default=bool(os.environ.get("TUTORIAL_FAST")),
                        help="small sizes, as run by the tests (or set TUTORIAL_FAST=1)")
    parser.add_argument("--out", type=Path, default=Path("tutorial-output/03"),
                        help="where figures go (default: %(default)s)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    prompts = PROMPTS[:2] if args.fast else PROMPTS
    n_players = 5 if args.fast else 8

    # Independent extraction: each model on its own, same words as players.
    results: dict[str, list[ci.InteractionResult]] = {}
    for name in MODELS:
        model, tokenizer = load_pretrained(name, device=args.device)
        explainer = LLMInteractions(HuggingFaceAdapter(model, tokenizer, name=name))
        # a batch: one result per prompt, every prompt checked before the model runs, and
        # prompts with the same number of players extracted together
        results[name] = explainer.attribute(prompts, n_players=n_players)
        second = results[name][1]  # its words split differently under the two tokenizers
        tokens = [tokenizer.convert_ids_to_tokens([second.metadata["input_ids"][i] for i in at])
                  for at in second.metadata["player_positions"]]
        print(f"{name}: the players {second.players} of prompt 2 are the tokens {tokens}")
        del model, explainer

    a, b = MODELS
    print()
    for index in range(len(prompts)):
        left, right = results[a][index], results[b][index]
        words = (left.target_text, right.target_text)
        if left.target_text.strip() != right.target_text.strip():
            print(f"prompt {index + 1}: {a} predicts {words[0]!r}, {b} {words[1]!r}: skipped")
            continue
        same = overlap(left, right)
        print(f"prompt {index + 1} ({words[0]!r}): weighted overlap "
              f"{same['weighted_overlap']:.2f}, Jaccard {same['jaccard']:.2f} (uniform chance "
              f"{same['jaccard_chance_uniform']:.2f}, order-preserving "
              f"{same['jaccard_chance_order']:.2f}), {same['n_shared']} shared of "
              f"{same['n_salient_a']} / {same['n_salient_b']} salient")

    # All prompts at once: means with bootstrap intervals; skipped prompts are counted.
    matrix = overlap_matrix(results, n_bootstrap=200)
    i, j = 0, 1
    print(f"\nover {int(matrix.n_samples[i, j])} compared prompt(s) "
          f"({int(matrix.n_skipped_target[i, j])} skipped):")
    for metric, controls in (
            ("jaccard", ("jaccard_chance_uniform", "jaccard_chance_order",
                         "jaccard_cross_prompt")),
            ("mean_order_shared", ("mean_order_shared_chance_order",
                                   "mean_order_shared_cross_prompt")),
            ("cancellation_shared", ("cancellation_not_shared", "cancellation_size_matched",
                                     "cancellation_shared_cross_prompt"))):
        print(f"  {metric} {float(matrix[metric][i, j]):.2f}:")
        for control in controls:
            test = matrix.paired(metric, control)  # metric - control over the prompts
            print(f"    - {control} {float(matrix[control][i, j]):.2f}: difference "
                  f"{float(test['mean'][i, j]):+.2f} [{float(test['ci_low'][i, j]):+.2f}, "
                  f"{float(test['ci_high'][i, j]):+.2f}]")
    print("  (with two prompts the intervals say little; the full run uses five)")

    # Shared extraction: one joint fit over both models (only where they agree).
    agree = [k for k in range(len(prompts))
             if results[a][k].target_text.strip() == results[b][k].target_text.strip()]
    if agree:
        # One joint solve per prompt: the papers' p bound is a mean over the batch, and the
        # prompts here have different players.
        jaccard = []
        for k in agree:
            joint_a, joint_b = ci.extract_shared([results[m][k].values for m in MODELS],
                                                 players=results[a][k].players)
            jaccard.append(overlap(joint_a, joint_b)["jaccard"])
        independent = [float(matrix.per_sample["jaccard"][k, i, j]) for k in agree]
        print(f"shared extraction: mean Jaccard {sum(jaccard) / len(jaccard):.2f}, independent "
              f"{sum(independent) / len(independent):.2f} on the same prompts. The joint loss "
              "rewards shared terms, so it biases toward sharing: the independent numbers are "
              "the evidence.")

    # Two models: each metric with its interval next to its chance level (a heat-map of two
    # models would be mostly its diagonal; plot_overlap_heatmap suits many checkpoints).
    figure = Figure(figsize=(15, 3.8), layout="constrained")
    axes = figure.subplots(1, 3, width_ratios=[1.3, 1, 1])
    plot_overlap_pairs(matrix, ["weighted_overlap", "jaccard", "top_k_overlap"], ax=axes[0])
    plot_order_histogram(matrix, ax=axes[1])
    plot_cancellation(matrix, ax=axes[2])
    figure.savefig(args.out / "comparison.png", dpi=110)
    print(f"\nwrote {args.out / 'comparison.png'}")


if __name__ == "__main__":
    main()

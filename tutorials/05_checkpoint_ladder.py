"""Tutorial 5: a checkpoint ladder — does sharing grow with capability?

The seed paper's claim 2 says that models share interactions more strongly the more capable
they are. Pretrained models differ in far more than capability, so here is an offline test
bed where capability is the only thing that changes: two small GPT-2s with **independent
random initialisations** (seeds 0 and 1) trained on the **same sentences** of tutorial 4's
toy language (the next word, a name, needs the colour AND the shape), with checkpoints saved
at the same steps while the loss falls, step 0 (untrained) included. Then:

1. every checkpoint explains the same prompts and the same target (the correct name) with
   :class:`~captum_interactions.adapters.LLMInteractions`, and its capability is measured
   as in a run: the mean log-probability of the correct name (the prompt's ``answer``) and
   the accuracy of its greedy next word (:mod:`captum_interactions.runs.scoring`);
2. :func:`captum_interactions.graphs.overlap_matrix` compares the two seeds at each step,
   next to the three controls: uniform chance (random salient sets of the same size),
   order-preserving chance (the same number of terms per order), and the cross-prompt
   control (seed 0 on one prompt against seed 1 on another; all prompts have the same five
   player slots, so players are paired by position);
3. :func:`captum_interactions.graphs.sharing_vs_capability` relates each step's sharing,
   minus its cross-prompt control, to the pair's capability across the ladder.

Untrained models already "share" interactions far above uniform chance: with five players
there are only 62 terms, and both models' strongest terms sit on the same few players. The
controls measure how much of the sharing that explains. (A run, ``captum-interactions run
-m s0-step0=... -m s1-step0=... ...``, writes the same capability to ``capability.csv`` and
the sharing against capability to ``capability_sharing.csv``.)

Run it::

    python tutorials/05_checkpoint_ladder.py           # 400 steps, 6 checkpoints
    python tutorials/05_checkpoint_ladder.py --fast    # 200 steps, 5 checkpoints (CI)
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
from pathlib import Path

import torch
import transformers
from matplotlib.figure import Figure
from transformers import GPT2LMHeadModel

from captum_interactions.adapters import HuggingFaceAdapter, LLMInteractions
from captum_interactions.graphs import (
    overlap_matrix,
    plot_sharing_vs_capability,
    sharing_vs_capability,
)
from captum_interactions.runs import PromptSpec
from captum_interactions.runs.scoring import score_prompt, summarise

# Tutorial 4's toy language and training loop (this folder is on the path of a script).
toy = importlib.import_module("04_training_checkpoints")

SEEDS = (0, 1)
CONTROLS = {"uniform": "jaccard_chance_uniform", "order": "jaccard_chance_order",
            "cross-prompt": "jaccard_cross_prompt"}


def held_out_loss(folder: Path, tokenizer) -> float:
    """Mean next-token loss of a checkpoint on every sentence of the language (18)."""
    model = GPT2LMHeadModel.from_pretrained(folder).eval()
    texts = [f"{toy.sentence(size, color, shape)} {name} ."
             for (color, shape), name in toy.NAMES.items() for size in toy.SIZES]
    batch = tokenizer(texts, return_tensors="pt").input_ids
    with torch.no_grad():
        return float(model(batch, labels=batch).loss)


def interval(matrix, metric: str, i: int, j: int) -> str:
    return (f"{float(matrix[metric][i, j]):+.3f} [{float(matrix.ci_low[metric][i, j]):+.3f}, "
            f"{float(matrix.ci_high[metric][i, j]):+.3f}]")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true",
                        default=bool(os.environ.get("TUTORIAL_FAST")),
                        help="small sizes, as run by the tests (or set TUTORIAL_FAST=1)")
    parser.add_argument("--out", type=Path, default=Path("tutorial-output/05"),
                        help="checkpoints and the figure (default: %(default)s)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    torch.set_num_threads(1)  # models this small run fastest on one thread
    steps = 200 if args.fast else 400
    ladder = [0, 25, 50, 100, 200] if args.fast else [0, 25, 50, 100, 200, 400]

    tokenizer = toy.make_tokenizer()
    losses = {seed: toy.train(tokenizer, steps, ladder, args.out / f"seed{seed}", seed=seed)
              for seed in SEEDS}
    labels = {(seed, step): f"s{seed}-step{step}" for seed in SEEDS for step in ladder}
    folders = {key: args.out / f"seed{key[0]}" / f"step{key[1]}" for key in labels}

    # Every colour-shape pair with the distractor "big" (the name depends on both words).
    prompts = [
        PromptSpec(f"{color}-{shape}", toy.sentence("big", color, shape),
                   players=tuple(color if p == "COLOR" else shape if p == "SHAPE" else p
                                 for p in toy.PLAYERS),
                   target=name, meta={"answer": name})
        for (color, shape), name in toy.NAMES.items()
    ]
    table, scores = {}, {}
    for key, label in labels.items():
        adapter = HuggingFaceAdapter(GPT2LMHeadModel.from_pretrained(folders[key]), tokenizer)
        explain = LLMInteractions(adapter)
        table[label] = [explain.attribute(p.text, players=list(p.players), target=p.target)
                        for p in prompts]
        scores[label] = {p.id: score_prompt(adapter, p) for p in prompts}
    capability = {row.model: row for row in summarise(scores)}
    matrix = overlap_matrix(table, n_bootstrap=500, seed=0)
    names = matrix.names

    print(f"\nseeds {SEEDS[0]} and {SEEDS[1]} at the same step, {len(prompts)} prompts; "
          "Jaccard of the salient sets and its controls; capability = mean log p(correct "
          f"name) (chance: log 1/9 = {math.log(1 / 9):.2f})")
    print("step | held-out loss s0 / s1 | capability s0 / s1 | accuracy s0 / s1 | Jaccard | "
          "uniform / order / cross-prompt | Jaccard - cross-prompt [95% CI]")
    rows = []
    for step in ladder:
        a, b = labels[SEEDS[0], step], labels[SEEDS[1], step]
        i, j = names.index(a), names.index(b)
        loss = [held_out_loss(folders[seed, step], tokenizer) for seed in SEEDS]
        cap = [capability[label].mean_log_prob for label in (a, b)]
        accuracy = [capability[label].accuracy for label in (a, b)]
        controls = {name: float(matrix[metric][i, j]) for name, metric in CONTROLS.items()}
        rows.append({"step": step, "loss": loss, "capability": cap, "i": i, "j": j,
                     "jaccard": float(matrix["jaccard"][i, j]), **controls})
        print(f"{step:4d} | {loss[0]:.2f} / {loss[1]:.2f} | {cap[0]:6.2f} / {cap[1]:6.2f} | "
              f"{accuracy[0]:.2f} / {accuracy[1]:.2f} | {rows[-1]['jaccard']:.3f} | "
              f"{controls['uniform']:.3f} / {controls['order']:.3f} / "
              f"{controls['cross-prompt']:.3f} | "
              f"{interval(matrix, 'jaccard_minus_jaccard_cross_prompt', i, j)}")

    found = sharing_vs_capability(
        matrix, {label: row.mean_log_prob for label, row in capability.items()},
        pairs=[(labels[SEEDS[0], step], labels[SEEDS[1], step]) for step in ladder])

    # What the numbers show, in words computed from them.
    untrained = rows[0]
    test = matrix.paired("jaccard", "jaccard_cross_prompt")
    i, j = untrained["i"], untrained["j"]
    low, high = float(test["ci_low"][i, j]), float(test["ci_high"][i, j])
    print(f"\nUntrained (step 0): Jaccard {untrained['jaccard']:.3f} is "
          f"{untrained['jaccard'] / untrained['uniform']:.1f}x uniform chance "
          f"({untrained['uniform']:.3f}), {untrained['jaccard'] / untrained['order']:.1f}x "
          f"order-preserving chance ({untrained['order']:.3f}) and "
          f"{untrained['jaccard'] / untrained['cross-prompt']:.1f}x the cross-prompt control "
          f"({untrained['cross-prompt']:.3f}); Jaccard - cross-prompt "
          f"{float(test['mean'][i, j]):+.3f} [{low:+.3f}, {high:+.3f}] "
          + ("excludes 0." if low > 0 or high < 0 else "includes 0: the untrained models "
             "share no more on the same prompt than on different prompts, within the "
             "interval."))
    last = rows[-1]
    print(f"From step 0 to step {last['step']} the Jaccard goes from {untrained['jaccard']:.3f} "
          f"to {last['jaccard']:.3f} and the cross-prompt control from "
          f"{untrained['cross-prompt']:.3f} to {last['cross-prompt']:.3f}; the capability "
          f"(lower of the two) from {min(untrained['capability']):.2f} to "
          f"{min(last['capability']):.2f}.")
    above = [row["step"] for row in rows
             if float(test["ci_low"][row["i"], row["j"]]) > 0]
    print(f"Steps whose sharing is above the cross-prompt control (interval above 0): "
          f"{above or 'none'} of {ladder}.")
    if math.isfinite(found.rho):
        where = ("excludes 0" if found.ci_low > 0 or found.ci_high < 0 else "includes 0")
        print(f"Across the ladder: Spearman rank correlation of (Jaccard - cross-prompt) with "
              f"the pair's capability (lower mean log p) rho = {found.rho:+.2f} "
              f"[{found.ci_low:+.2f}, {found.ci_high:+.2f}] over {found.n_pairs} steps; the "
              f"interval {where}. Steps of one training run are not independent pairs and "
              f"{found.n_pairs} points give a wide interval: read this as one ladder of two "
              "seeds, not as evidence about other models.")
    else:
        print(f"Across the ladder: no rank correlation ({found.note}).")

    figure = Figure(figsize=(15, 4.2), layout="constrained")
    loss_ax, share_ax, cap_ax = figure.subplots(1, 3)
    for k, seed in enumerate(SEEDS):
        line, = loss_ax.plot(losses[seed], lw=0.8, label=f"seed {seed}: training batches")
        loss_ax.plot(ladder, [row["loss"][k] for row in rows], "o", color=line.get_color(),
                     label=f"seed {seed}: checkpoint, all 18 sentences")
    loss_ax.set(xlabel="step", ylabel="loss (nats per token)", title="two seeds, same sentences")
    loss_ax.legend(fontsize="small")
    share_ax.fill_between(ladder, [float(matrix.ci_low["jaccard"][r["i"], r["j"]]) for r in rows],
                          [float(matrix.ci_high["jaccard"][r["i"], r["j"]]) for r in rows],
                          alpha=0.2)
    share_ax.plot(ladder, [row["jaccard"] for row in rows], "o-",
                  label="Jaccard, seed 0 vs seed 1 (95% CI)")
    for name, style in (("uniform", ":"), ("order", "--"), ("cross-prompt", "-.")):
        share_ax.plot(ladder, [row[name] for row in rows], style, marker=".",
                      label=f"{name} control")
    share_ax.set(xlabel="step", ylabel="Jaccard of the salient sets", ylim=(0, None),
                 title="sharing at matched steps, with its controls")
    share_ax.legend(fontsize="small")
    plot_sharing_vs_capability(found, ax=cap_ax, point_labels=[f"step {s}" for s in ladder],
                               capability_label="lower mean log p(correct name) of the pair")
    cap_ax.axvline(math.log(1 / 9), color="grey", ls=":", lw=0.8)
    cap_ax.annotate("chance: log 1/9", (math.log(1 / 9), 0), xytext=(3, -28),
                    textcoords="offset points", fontsize="x-small", color="grey")
    figure.savefig(args.out / "ladder.png", dpi=110)
    print(f"\nwrote {args.out / 'ladder.png'}")


if __name__ == "__main__":
    main()

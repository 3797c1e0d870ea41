"""Tutorial 4: how interactions form during training, compared across checkpoints.

We train a small GPT-2 from scratch on a toy language in which the next word needs an AND of
two words: every object is named by its colour *and* its shape together,

    look , the big red circle is called ann .
    look , the big red square is called bob .      (9 colour-shape pairs, 9 names)

and "big"/"small" is a distractor. Checkpoints are saved during training as ordinary
``save_pretrained`` folders, exactly what a researcher has on disk. Then:

1. :func:`captum_interactions.runs.run` explains every checkpoint on the same prompts and
   the same target (the correct name), resumably, as the command line would
   (``captum-interactions run -m step50=checkpoints/step50 ...``);
2. :func:`captum_interactions.graphs.overlap_matrix` compares the checkpoints' interactions;
3. we follow the interactions that contain both the colour and the shape: as the model learns
   the naming rule, they should carry more and more of the interaction strength.

Run it::

    python tutorials/04_training_checkpoints.py           # 400 steps, 9 prompts, the report
    python tutorials/04_training_checkpoints.py --fast    # 200 steps, 3 prompts (what CI runs)
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
from pathlib import Path

import torch
import transformers
from matplotlib.figure import Figure
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

from captum_interactions.graphs import overlap_matrix, plot_overlap_heatmap
from captum_interactions.runs import PromptSpec, load_run, run

COLORS = ["red", "blue", "green"]
SHAPES = ["circle", "square", "star"]
SIZES = ["big", "small"]
NAMES = dict(zip(itertools.product(COLORS, SHAPES),
                 ["ann", "bob", "cid", "dan", "eve", "fay", "gus", "hal", "ivy"], strict=True))
PLAYERS = ["look", "big", "COLOR", "SHAPE", "called"]


def sentence(size: str, color: str, shape: str) -> str:
    return f"look , the {size} {color} {shape} is called"


def make_tokenizer() -> PreTrainedTokenizerFast:
    """A word-level tokenizer of the toy language (offsets included, for word players)."""
    words = ["look", ",", "the", "is", "called", ".", *SIZES, *COLORS, *SHAPES, *NAMES.values()]
    vocab = {word: index for index, word in enumerate(["<pad>", "<unk>", *words])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>",
                                   unk_token="<unk>")


def train(tokenizer, steps: int, checkpoints: list[int], folder: Path, *,
          seed: int = 0) -> list[float]:
    """Train a 2-layer GPT-2 on random sentences; save the checkpoints; return the losses.
    ``seed`` draws the initial weights and dropout; the sentences are the same for every
    seed (tutorial 5 trains models of several seeds on the same data)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a model this small trains fastest on one thread
    torch.manual_seed(seed)
    rng = random.Random(0)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=16, n_embd=64, n_layer=2,
                        n_head=4, pad_token_id=tokenizer.pad_token_id)
    model = GPT2LMHeadModel(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for step in range(steps + 1):
        if step in checkpoints:
            model.save_pretrained(folder / f"step{step}")
            tokenizer.save_pretrained(folder / f"step{step}")
        if step == steps:
            break
        texts = []
        for _ in range(64):
            color, shape = rng.choice(COLORS), rng.choice(SHAPES)
            texts.append(f"{sentence(rng.choice(SIZES), color, shape)} "
                         f"{NAMES[color, shape]} .")
        batch = tokenizer(texts, return_tensors="pt").input_ids
        loss = model(batch, labels=batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    torch.set_num_threads(threads)
    return losses


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true",
                        default=bool(os.environ.get("TUTORIAL_FAST")),
                        help="small sizes, as run by the tests (or set TUTORIAL_FAST=1)")
    parser.add_argument("--out", type=Path, default=Path("tutorial-output/04"),
                        help="checkpoints, the run folder and figures (default: %(default)s)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    steps = 200 if args.fast else 400
    checkpoints = [0, 50, 100, 200] if args.fast else [0, 25, 50, 100, 200, 400]

    tokenizer = make_tokenizer()
    losses = train(tokenizer, steps, checkpoints, args.out / "checkpoints")
    print(f"trained {steps} steps: loss {losses[0]:.2f} -> {losses[-1]:.2f} "
          f"(the name costs log 9 = 2.20 nats without the rule)")

    pairs = list(NAMES)[::3] if args.fast else list(NAMES)
    prompts = [
        PromptSpec(f"{color}-{shape}", sentence("big", color, shape),
                   players=tuple(color if p == "COLOR" else shape if p == "SHAPE" else p
                                 for p in PLAYERS),
                   target=NAMES[color, shape])
        for color, shape in pairs
    ]
    labels = [f"step{step}" for step in checkpoints]
    summary = run([f"{label}={args.out / 'checkpoints' / label}" for label in labels],
                  prompts, args.out / "run", n_players=len(PLAYERS), report=not args.fast,
                  show_progress=False)
    print(f"{len(summary.computed)} results computed ({summary.reused} reused from an "
          f"earlier run)" + (f"; report: {summary.report}" if summary.report else ""))

    data = load_run(args.out / "run")
    table = data.table()
    matrix = overlap_matrix(table, n_bootstrap=200)
    final = len(labels) - 1
    # Interactions whose word set contains both the colour and the shape: how much of the
    # total strength Σ|I| they carry, per checkpoint (mean over prompts).
    both = (torch.arange(1 << len(PLAYERS)) & 0b01100) == 0b01100
    print("\ncheckpoint | share of Σ|I| on sets with colour and shape | weighted overlap with "
          "the final checkpoint")
    shares = []
    for index, label in enumerate(labels):
        share = [float((r.and_interactions.abs() + r.or_interactions.abs())[both].sum())
                 / r.objective for r in table[label]]
        shares.append(sum(share) / len(share))
        print(f"{label:>10} | {shares[-1]:43.1%} | "
              f"{float(matrix['weighted_overlap'][index, final]):.2f}")

    figure = Figure(figsize=(13, 3.8), layout="constrained")
    loss_ax, share_ax, heat_ax = figure.subplots(1, 3)
    loss_ax.plot(losses)
    loss_ax.set(xlabel="step", ylabel="training loss", title="training")
    share_ax.plot(checkpoints, shares, marker="o")
    share_ax.set(xlabel="step", ylabel="share of Σ|I|",
                 title="interactions containing colour and shape")
    plot_overlap_heatmap(matrix, "weighted_overlap", ax=heat_ax)
    figure.savefig(args.out / "checkpoints.png", dpi=110)
    print(f"\nwrote {args.out / 'checkpoints.png'}")


if __name__ == "__main__":
    main()

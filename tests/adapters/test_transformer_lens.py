"""TransformerLensAdapter on TransformerBridge models (boot_native and boot_transformers around
tiny HF models) against token substitution and against HuggingFaceAdapter on the same weights."""

from __future__ import annotations

import pytest
import torch
from helpers.lm_models import (
    MASKS,
    PLAYERS,
    PROMPT,
    check_equals_token_substitution,
    check_hooks_removed_after_an_exception,
    check_refuses_prefix_sharing,
    no_hooks_left,
    tiny_gemma3,
    tiny_gpt2,
    tiny_hf_bridge,
    tiny_llama,
    tiny_native_bridge,
)
from helpers.oracles import substituted_log_odds

from captum_interactions.adapters.huggingface import HuggingFaceAdapter
from captum_interactions.adapters.transformer_lens import TransformerLensAdapter
from captum_interactions.exceptions import InteractionError

HF_BUILDERS = {"gpt2": tiny_gpt2, "llama": tiny_llama, "gemma3": tiny_gemma3}


@pytest.fixture(scope="module", params=list(HF_BUILDERS))
def hf_and_bridge(request, tokenizer):
    model = HF_BUILDERS[request.param](tokenizer)
    return model, tiny_hf_bridge(model, tokenizer)


def test_native_bridge_equals_token_substitution(tokenizer):
    check_equals_token_substitution(tiny_native_bridge(tokenizer), tokenizer)


@pytest.mark.parametrize("sharing", [False, True], ids=["plain", "prefix"])
def test_hf_bridge_equals_token_substitution(hf_and_bridge, tokenizer, sharing):
    model, bridge = hf_and_bridge
    adapter = TransformerLensAdapter(bridge, tokenizer)
    prompt = adapter.tokenize(PROMPT)
    values = adapter.evaluate(
        prompt, PLAYERS, MASKS, target=11, baseline="pad", prefix_sharing=sharing
    )
    expected = substituted_log_odds(
        model, prompt.input_ids[None], PLAYERS, MASKS, tokenizer.pad_token_id, 11
    )
    assert adapter.supports_prefix_sharing
    assert no_hooks_left(bridge)
    torch.testing.assert_close(values, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("baseline", ["mean", "zero", "eos"])
def test_transformer_lens_and_hf_paths_agree(hf_and_bridge, tokenizer, baseline):
    model, bridge = hf_and_bridge
    lens = TransformerLensAdapter(bridge, tokenizer)
    hf = HuggingFaceAdapter(model, tokenizer)
    torch.testing.assert_close(lens.baseline_vector(baseline), hf.baseline_vector(baseline))
    prompt = hf.tokenize(PROMPT)
    masks = torch.tensor([0, 3, 17, 40, 63])
    torch.testing.assert_close(
        lens.evaluate(prompt, PLAYERS, masks, target=2, baseline=baseline),
        hf.evaluate(prompt, PLAYERS, masks, target=2, baseline=baseline),
        rtol=1e-5,
        atol=1e-5,
    )
    torch.testing.assert_close(
        lens.next_token_logits(prompt.input_ids), hf.next_token_logits(prompt.input_ids)
    )


def test_hooks_are_removed_after_an_exception(tokenizer):
    check_hooks_removed_after_an_exception(tiny_native_bridge(tokenizer), tokenizer)


def test_prefix_sharing_refused_without_a_cache(tokenizer):
    check_refuses_prefix_sharing(tiny_native_bridge(tokenizer), tokenizer)


def test_rejects_models_without_hook_points(tokenizer):
    with pytest.raises(TypeError, match="needs a TransformerLens model with hook points"):
        TransformerLensAdapter(tiny_gpt2(tokenizer), tokenizer)


def test_rejects_models_without_hook_embed():
    from transformer_lens import HookedRootModule
    from transformer_lens.hook_points import HookPoint

    class NoEmbed(HookedRootModule):
        def __init__(self):
            super().__init__()
            self.hook_resid = HookPoint()
            self.setup()

        def forward(self, x):
            return self.hook_resid(x)

    with pytest.raises(InteractionError, match=r"no 'hook_embed' hook point.*hook_resid"):
        TransformerLensAdapter(NoEmbed())


def test_rejects_prompts_longer_than_n_ctx(tokenizer):
    adapter = TransformerLensAdapter(tiny_native_bridge(tokenizer), tokenizer)
    with pytest.raises(InteractionError, match="more than the model's context of 64"):
        adapter.tokenize(" ".join([PROMPT] * 4))


def test_without_a_tokenizer_text_is_refused_but_ids_work():
    bridge = tiny_native_bridge()
    adapter = TransformerLensAdapter(bridge)
    with pytest.raises(InteractionError, match="no tokenizer"):
        adapter.tokenize("the dog")
    logits = adapter.next_token_logits(torch.tensor([5, 6, 7]))
    with torch.no_grad():
        expected = bridge(torch.tensor([[5, 6, 7]]))[0, -1]
    torch.testing.assert_close(logits, expected)

"""TransformerLensAdapter on TransformerLens 3.x ``HookedTransformer`` models: a random one from
a config against token substitution, and a tiny Llama and SmolLM2-135M (Llama architecture)
converted by TransformerLens' own weight conversion against HuggingFaceAdapter on the same
weights. (TransformerLens 3.9 cannot convert GPT-2 under transformers 5, whose GPT2Config has no
``n_ctx``, so the conversions here are the Llama-style ones.)

TransformerLens 4.x removed ``HookedTransformer``, so this module runs in the compatibility
environment that ``make test-tl3`` builds (TransformerLens 3.9, see constraints-tl3.txt) and is
skipped in the main one.
"""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("transformer_lens")
try:
    from transformer_lens import HookedTransformer
except ImportError:  # TransformerLens 4.x raises ImportError for the removed class
    pytest.skip(
        "this TransformerLens has no HookedTransformer (removed in 4.0); `make test-tl3` runs "
        "these tests with TransformerLens 3.9",
        allow_module_level=True,
    )

from helpers.lm_models import (
    MASKS,
    PLAYERS,
    PROMPT,
    check_equals_token_substitution,
    check_hooks_removed_after_an_exception,
    check_refuses_prefix_sharing,
    hooked_transformer_from_hf,
    tiny_hooked_transformer,
    tiny_llama,
)

from captum_interactions.adapters.huggingface import HuggingFaceAdapter
from captum_interactions.adapters.pretrained import load_pretrained
from captum_interactions.adapters.transformer_lens import TransformerLensAdapter

# TransformerLens 3.x deprecates the class these tests are about.
pytestmark = pytest.mark.filterwarnings("ignore:HookedTransformer is deprecated:DeprecationWarning")


@pytest.fixture(scope="module")
def hf_and_hooked(tokenizer, tmp_path_factory):
    model = tiny_llama(tokenizer)
    folder = tmp_path_factory.mktemp("hf-config")  # no "llama" in the path: see the helper
    return model, hooked_transformer_from_hf(model, tokenizer, folder)


def test_hooked_transformer_from_a_config_equals_token_substitution(tokenizer):
    model = tiny_hooked_transformer(tokenizer)
    assert isinstance(model, HookedTransformer)
    check_equals_token_substitution(model, tokenizer)


def test_hooked_transformer_refuses_prefix_sharing(tokenizer):
    check_refuses_prefix_sharing(tiny_hooked_transformer(tokenizer), tokenizer)


def test_hooks_are_removed_after_an_exception(tokenizer):
    check_hooks_removed_after_an_exception(tiny_hooked_transformer(tokenizer), tokenizer)


def test_adapter_reads_the_shape_of_a_grouped_query_model(hf_and_hooked, tokenizer):
    model, hooked = hf_and_hooked
    shape = TransformerLensAdapter(hooked).model_shape
    assert shape.kv_width == 2 * 8  # two key/value heads of width 8
    assert shape == HuggingFaceAdapter(model, tokenizer).model_shape


@pytest.mark.parametrize("baseline", ["mean", "zero", "pad"])
def test_converted_hooked_transformer_and_hf_paths_agree(hf_and_hooked, tokenizer, baseline):
    model, hooked = hf_and_hooked
    lens = TransformerLensAdapter(hooked, tokenizer)
    hf = HuggingFaceAdapter(model, tokenizer)
    prompt = hf.tokenize(PROMPT)
    torch.testing.assert_close(
        lens.evaluate(prompt, PLAYERS, MASKS, target=2, baseline=baseline),
        hf.evaluate(prompt, PLAYERS, MASKS, target=2, baseline=baseline),
        rtol=1e-5,
        atol=1e-5,
    )
    # The processed model centres its unembedding: logits agree up to a constant.
    torch.testing.assert_close(
        lens.next_token_logits(prompt.input_ids).log_softmax(-1),
        hf.next_token_logits(prompt.input_ids).log_softmax(-1),
        rtol=1e-5,
        atol=1e-5,
    )


@pytest.mark.slow
@pytest.mark.real_model("smollm2-135m")
def test_smollm2_as_a_hooked_transformer_agrees_with_hf(tmp_path):
    model, tokenizer = load_pretrained("smollm2-135m")
    hooked = hooked_transformer_from_hf(model, tokenizer, tmp_path / "config")
    hf = HuggingFaceAdapter(model, tokenizer)
    lens = TransformerLensAdapter(hooked, tokenizer)
    text = "The capital of France is Paris, and the capital of Italy is"
    prompt = hf.tokenize(text)
    assert torch.equal(lens.tokenize(text).input_ids, prompt.input_ids)
    target = int(hf.next_token_logits(prompt.input_ids).argmax())
    players, masks = [[1], [3], [5], [7], [11]], torch.arange(32)
    for baseline in ("pad", "mean"):
        reference = hf.evaluate(prompt, players, masks, target=target, baseline=baseline)
        values = lens.evaluate(prompt, players, masks, target=target, baseline=baseline)
        assert reference[-1] > reference[0]  # the full prompt supports its top-1 token more
        assert float((values - reference).abs().max() / reference.abs().max()) < 1e-4, baseline

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
    PROMPT,
    hooked_transformer_from_hf,
    make_tokenizer,
    no_hooks_left,
    tiny_hooked_transformer,
    tiny_llama,
)
from helpers.oracles import substituted_log_odds

from captum_interactions.adapters.huggingface import HuggingFaceAdapter
from captum_interactions.adapters.pretrained import load_pretrained
from captum_interactions.adapters.transformer_lens import TransformerLensAdapter
from captum_interactions.exceptions import InteractionError

# TransformerLens 3.x deprecates the class these tests are about.
pytestmark = pytest.mark.filterwarnings("ignore:HookedTransformer is deprecated:DeprecationWarning")

PLAYERS = [[1, 2], [4], [6, 7, 8], [9, 20], [12], [15, 16]]
MASKS = torch.arange(2 ** len(PLAYERS))


@pytest.fixture(scope="module")
def tokenizer():
    return make_tokenizer("bpe")


@pytest.fixture(scope="module")
def hf_and_hooked(tokenizer, tmp_path_factory):
    model = tiny_llama(tokenizer)
    folder = tmp_path_factory.mktemp("hf-config")  # no "llama" in the path: see the helper
    return model, hooked_transformer_from_hf(model, tokenizer, folder)


def test_hooked_transformer_from_a_config_equals_token_substitution(tokenizer):
    model = tiny_hooked_transformer(tokenizer)
    assert isinstance(model, HookedTransformer)
    adapter = TransformerLensAdapter(model, tokenizer)
    prompt = adapter.tokenize(PROMPT)
    values = adapter.evaluate(prompt, PLAYERS, MASKS, target=9, baseline="unk")
    expected = substituted_log_odds(
        model, prompt.input_ids[None], PLAYERS, MASKS, tokenizer.unk_token_id, 9
    )
    assert not adapter.supports_prefix_sharing
    assert no_hooks_left(model)
    torch.testing.assert_close(values, expected, rtol=1e-5, atol=1e-5)


def test_hooked_transformer_refuses_prefix_sharing(tokenizer):
    model = tiny_hooked_transformer(tokenizer)
    with pytest.raises(InteractionError, match=r"cannot share prefixes.*prefix_sharing=False"):
        TransformerLensAdapter(model, tokenizer, prefix_sharing=True)


def test_hooks_are_removed_after_an_exception(tokenizer):
    model = tiny_hooked_transformer(tokenizer)
    adapter = TransformerLensAdapter(model, tokenizer)
    ids = adapter.tokenize(PROMPT).input_ids
    wrong = torch.zeros(2, 3, dtype=torch.bool)  # does not match the 23 positions
    with pytest.raises(RuntimeError):
        adapter._forward(ids, wrong, torch.zeros(32), None, True)
    assert no_hooks_left(model)


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

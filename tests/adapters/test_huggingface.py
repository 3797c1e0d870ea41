"""HuggingFaceAdapter against independent oracles: the model run on token ids with the
baseline token substituted, hand-built ``inputs_embeds``, and plain vs prefix-tree paths."""

from __future__ import annotations

import pytest
import torch
from helpers.lm_models import (
    MASKS,
    PLAYERS,
    PROMPT,
    make_tokenizer,
    tiny_gemma3,
    tiny_gpt2,
    tiny_hf_bridge,
    tiny_llama,
)
from helpers.oracles import substituted_log_odds

from captum_interactions.adapters.huggingface import HuggingFaceAdapter
from captum_interactions.exceptions import InteractionError
from captum_interactions.values import log_odds

BUILDERS = {"gpt2": tiny_gpt2, "llama": tiny_llama, "gemma3": tiny_gemma3}


@pytest.fixture(scope="module", params=list(BUILDERS))
def model(request, tokenizer):
    return BUILDERS[request.param](tokenizer)


@pytest.fixture(scope="module")
def adapter(model, tokenizer):
    return HuggingFaceAdapter(model, tokenizer)


def embeds_log_odds(model, ids, players, masks, vector, target):
    """Oracle: hand-built inputs_embeds with absent players' rows set to ``vector``."""
    with torch.no_grad():
        embeds = model.get_input_embeddings()(ids).repeat(len(masks), 1, 1)
        for row, mask in enumerate(masks.tolist()):
            for i, positions in enumerate(players):
                if not (mask >> i) & 1:
                    embeds[row, positions] = vector
        logits = model(inputs_embeds=embeds).logits[:, -1]
    return log_odds(logits, torch.full((len(masks),), target)).double()


@pytest.mark.parametrize("sharing", [False, True], ids=["plain", "prefix"])
def test_masked_equals_token_substitution(adapter, model, tokenizer, sharing):
    prompt = adapter.tokenize(PROMPT)
    target = int(adapter.next_token_logits(prompt.input_ids).argmax())
    values = adapter.evaluate(
        prompt, PLAYERS, MASKS, target=target, baseline="pad", prefix_sharing=sharing
    )
    pad = tokenizer.pad_token_id
    expected = substituted_log_odds(model, prompt.input_ids[None], PLAYERS, MASKS, pad, target)
    assert values.dtype == torch.float64
    torch.testing.assert_close(values, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("spec", ["unk", "bos", "eos", 17, "Ġcapital"])
def test_other_token_baselines(adapter, model, tokenizer, spec):
    prompt = adapter.tokenize(PROMPT)
    masks = torch.tensor([0, 1, 6, 33, 62])
    values = adapter.evaluate(prompt, PLAYERS, masks, target=7, baseline=spec)
    token = spec if isinstance(spec, int) else tokenizer.convert_tokens_to_ids(
        getattr(tokenizer, f"{spec}_token", None) or spec
    )
    expected = substituted_log_odds(model, prompt.input_ids[None], PLAYERS, masks, token, 7)
    torch.testing.assert_close(values, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("spec", ["zero", "mean"])
def test_vector_baselines_match_hand_built_embeddings(adapter, model, spec):
    prompt = adapter.tokenize(PROMPT)
    masks = torch.tensor([0, 5, 22, 63])
    table = model.get_input_embeddings()
    scale = getattr(table, "embed_scale", 1.0)  # Gemma 3 scales inside its embedding layer
    vector = torch.zeros(table.weight.shape[1]) if spec == "zero" else table.weight.mean(0) * scale
    values = adapter.evaluate(prompt, PLAYERS, masks, target=5, baseline=spec)
    expected = embeds_log_odds(model, prompt.input_ids[None], PLAYERS, masks, vector, 5)
    torch.testing.assert_close(values, expected, rtol=1e-5, atol=1e-5)


def test_gemma_token_baseline_goes_through_the_embedding_scale(tokenizer):
    model = tiny_gemma3(tokenizer)
    adapter = HuggingFaceAdapter(model, tokenizer)
    raw_row = model.get_input_embeddings().weight[tokenizer.unk_token_id]
    scaled = adapter.baseline_vector("unk")
    torch.testing.assert_close(scaled, raw_row * model.config.hidden_size**0.5)


@pytest.mark.parametrize("chunk_size", [2, 7])
def test_prefix_tree_equals_plain_on_mask_subsets(adapter, chunk_size):
    prompt = adapter.tokenize(PROMPT)
    generator = torch.Generator().manual_seed(1)
    masks = torch.randint(0, 2 ** len(PLAYERS), (24,), generator=generator)
    plain = adapter.evaluate(
        prompt, PLAYERS, masks, target=3, baseline="pad", value="log_prob", prefix_sharing=False
    )
    adapter.chunk_size = chunk_size
    try:
        tree = adapter.evaluate(
            prompt, PLAYERS, masks, target=3, baseline="pad", value="log_prob", prefix_sharing=True
        )
    finally:
        adapter.chunk_size = None
    torch.testing.assert_close(tree, plain, rtol=1e-5, atol=1e-5)


def test_next_token_logits_match_the_model(adapter, model):
    ids = adapter.tokenize(PROMPT).input_ids
    with torch.no_grad():
        expected = model(ids[None]).logits[0, -1]
    logits = adapter.next_token_logits(ids)
    assert logits.dtype == torch.float32
    torch.testing.assert_close(logits, expected, rtol=1e-5, atol=1e-5)


def test_gradient_reaches_a_learned_baseline(tokenizer):
    adapter = HuggingFaceAdapter(tiny_llama(tokenizer), tokenizer)
    prompt = adapter.tokenize(PROMPT)
    vector = adapter.baseline_vector("pad").clone().requires_grad_(True)
    masks = torch.tensor([0, 9, 40])
    grads = []
    for sharing in (False, True):
        values = adapter.evaluate(
            prompt, PLAYERS, masks, target=4, baseline=vector, prefix_sharing=sharing
        )
        (grad,) = torch.autograd.grad(values.sum(), vector)
        grads.append(grad)
    assert grads[0].abs().sum() > 0
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-4, atol=1e-6)


def test_training_mode_is_restored_and_not_used(tokenizer):
    model = tiny_gpt2(tokenizer)
    model.config.resid_pdrop = 0.5
    adapter = HuggingFaceAdapter(model, tokenizer)
    prompt = adapter.tokenize(PROMPT)
    reference = adapter.evaluate(prompt, PLAYERS, torch.arange(8), target=1, baseline="pad")
    model.train()
    again = adapter.evaluate(prompt, PLAYERS, torch.arange(8), target=1, baseline="pad")
    assert model.training
    torch.testing.assert_close(again, reference)


def test_bos_tokenizer_offsets(tokenizer):
    bos_tokenizer = make_tokenizer("word", add_bos=True)
    adapter = HuggingFaceAdapter(tiny_llama(bos_tokenizer), bos_tokenizer)
    prompt = adapter.tokenize("the dog sat")
    assert prompt.input_ids.tolist()[0] == bos_tokenizer.bos_token_id
    assert prompt.offsets == ((0, 0), (0, 3), (4, 7), (8, 11))
    assert len(prompt) == 4


def test_rejects_models_that_are_not_hf_causal_lms(tokenizer):
    with pytest.raises(TypeError, match="needs a transformers causal LM"):
        HuggingFaceAdapter(torch.nn.Linear(2, 2), tokenizer)


def test_rejects_slow_tokenizers(tokenizer):
    class Slow:
        is_fast = False

    with pytest.raises(TypeError, match="fast tokenizer"):
        HuggingFaceAdapter(tiny_gpt2(tokenizer), Slow())


def test_rejects_prompts_longer_than_the_context(tokenizer):
    adapter = HuggingFaceAdapter(tiny_gpt2(tokenizer), tokenizer)  # context 64
    with pytest.raises(InteractionError, match=r"more than the model's context of 64"):
        adapter.tokenize(" ".join([PROMPT] * 4))


@pytest.mark.parametrize(
    ("baseline", "error", "match"),
    [
        ("nothing-like-this", InteractionError, r"'pad', 'unk', 'bos', 'eos', 'zero', 'mean'"),
        (10_000, InteractionError, r"outside the model's vocabulary \[0, 330\)"),
        (1.5, TypeError, "baseline must be one of"),
        (torch.zeros(7), InteractionError, r"shape \[32\]"),
        (torch.full((32,), float("nan")), InteractionError, "NaN or infinite"),
    ],
    ids=["unknown-name", "token-out-of-range", "float", "wrong-width", "nan"],
)
def test_bad_baselines_list_the_valid_ones(adapter, baseline, error, match):
    prompt = adapter.tokenize(PROMPT)
    with pytest.raises(error, match=match):
        adapter.evaluate(prompt, PLAYERS, torch.arange(4), target=1, baseline=baseline)


def test_missing_special_token_names_alternatives(tokenizer):
    no_pad = make_tokenizer("bpe")
    no_pad.pad_token = None
    adapter = HuggingFaceAdapter(tiny_gpt2(tokenizer), no_pad)
    with pytest.raises(InteractionError, match=r"tokenizer has none.*'unk'"):
        adapter.baseline_vector("pad")


@pytest.mark.parametrize(
    ("positions", "masks", "target", "value", "match"),
    [
        ([[0], [0, 1]], [0], 1, "log_odds", "players must be disjoint"),
        ([[0], [99]], [0], 1, "log_odds", "outside the prompt of 23 tokens"),
        ([[0], []], [0], 1, "log_odds", "player 1 has no token positions"),
        ([[0], [1]], [4], 1, "log_odds", r"masks must lie in \[0, 2\*\*2\)"),
        ([[0], [1]], [0.5], 1, "log_odds", "1-D integer tensor"),
        ([[0], [1]], [0], 330, "log_odds", r"target must be a token id in \[0, 330\)"),
        ([[0], [1]], [0], 1, "odds", r"unknown value 'odds'; valid values: auto, log_odds"),
    ],
    ids=["overlap", "outside", "empty", "mask-range", "mask-dtype", "target", "value"],
)
def test_bad_inputs_raise_clear_errors(adapter, positions, masks, target, value, match):
    prompt = adapter.tokenize(PROMPT)
    with pytest.raises(InteractionError, match=match):
        adapter.evaluate(
            prompt, positions, torch.tensor(masks), target=target, baseline="pad", value=value
        )


@pytest.mark.parametrize("name", list(BUILDERS))
def test_tree_attention_equals_the_key_value_cache_path(tokenizer, name, monkeypatch):
    """Shared-prefix attention (the default) against HuggingFace's DynamicCache path, on all
    masks (segments read in place) and on a random subset in small chunks (gathered rows)."""
    model = BUILDERS[name](tokenizer)
    tree_adapter = HuggingFaceAdapter(model, tokenizer)
    monkeypatch.setattr(type(model), "_supports_attention_backend", False)
    cache_adapter = HuggingFaceAdapter(model, tokenizer)
    assert tree_adapter._tree_attention
    assert not cache_adapter._tree_attention
    prompt = tree_adapter.tokenize(PROMPT)
    subset = torch.randint(0, 2 ** len(PLAYERS), (20,), generator=torch.Generator().manual_seed(3))
    for masks, chunk in ((MASKS, None), (subset, 3)):
        values = []
        for adapter in (tree_adapter, cache_adapter):
            adapter.chunk_size = chunk
            values.append(adapter.evaluate(
                prompt, PLAYERS, masks, target=2, baseline="unk", prefix_sharing=True
            ))
        torch.testing.assert_close(values[0], values[1], rtol=1e-5, atol=1e-5)


def test_attention_implementation_is_restored_after_errors(tokenizer):
    model = tiny_llama(tokenizer)
    adapter = HuggingFaceAdapter(model, tokenizer)
    before = model.config._attn_implementation
    prompt = adapter.tokenize(PROMPT)
    masks = torch.arange(8)
    adapter.evaluate(prompt, PLAYERS, masks, target=1, baseline="pad", prefix_sharing=True)
    assert model.config._attn_implementation == before
    with pytest.raises(InteractionError, match="target"):
        adapter.evaluate(prompt, PLAYERS, torch.arange(8), target=10**6, baseline="pad")
    mlp = model.model.layers[-1].mlp
    handle = mlp.register_forward_hook(lambda *_: (_ for _ in ()).throw(RuntimeError("boom")))
    try:
        with pytest.raises(RuntimeError, match="boom"):
            adapter.evaluate(prompt, PLAYERS, torch.arange(8), target=1, baseline="pad",
                             prefix_sharing=True)
    finally:
        handle.remove()
    assert model.config._attn_implementation == before


def test_registered_attention_outside_an_evaluation_is_sdpa(tokenizer):
    """Another caller of the model while the implementation is switched gets plain SDPA."""
    from captum_interactions.adapters._tree_attention import ATTENTION_NAME, _register

    model = tiny_llama(tokenizer)
    ids = tokenizer(PROMPT, return_tensors="pt").input_ids
    _register()
    with torch.no_grad():
        expected = model(ids).logits
        model.config._attn_implementation = ATTENTION_NAME
        other = model(ids).logits
    torch.testing.assert_close(other, expected, rtol=1e-5, atol=1e-5)


def test_unsupported_attention_terms_raise(tokenizer):
    from captum_interactions.adapters._tree_attention import _attention, tree_attention

    model = tiny_llama(tokenizer)
    query = key = value = torch.zeros(1, 2, 1, 8)
    with pytest.raises(InteractionError, match=r"\(s_aux\).*prefix_sharing=False"), \
            tree_attention(model, None, 1, store=False):
        _attention(model.model.layers[0].self_attn, query, key, value, None, s_aux=torch.zeros(2))


def test_models_whose_attention_bypasses_the_interface_are_refused(tokenizer):
    """A model that claims the attention interface but computes attention itself would
    silently ignore the shared prefix: the missing call is an error, not a wrong value."""
    from captum_interactions.adapters._tree_attention import tree_attention

    model = tiny_llama(tokenizer)
    ids = tokenizer(PROMPT, return_tensors="pt").input_ids
    with pytest.raises(InteractionError, match="prefix_sharing=False"), torch.no_grad(), \
            tree_attention(model, None, ids.shape[1], store=True):
        model.model.embed_tokens(ids)  # no attention layer runs


def test_a_model_wrapped_by_a_bridge_since_falls_back_to_the_cache(tokenizer):
    """TransformerBridge replaces the attention modules of the model it wraps: the adapter
    notices on the first segment and extends a key/value cache from then on."""
    model = tiny_llama(tokenizer)
    adapter = HuggingFaceAdapter(model, tokenizer)
    prompt = adapter.tokenize(PROMPT)
    before = adapter.evaluate(prompt, PLAYERS, MASKS, target=2, baseline="pad")
    tiny_hf_bridge(model, tokenizer)
    after = adapter.evaluate(prompt, PLAYERS, MASKS, target=2, baseline="pad")
    assert not adapter._tree_attention
    torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-5)

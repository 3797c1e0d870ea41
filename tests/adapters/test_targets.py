"""Whole-word and contrastive targets, checked against direct model calls on hand-masked
embeddings with the target's tokens appended (no adapter code involved)."""

from __future__ import annotations

import math

import pytest
import torch
from helpers.lm_models import PROMPT, tiny_hf_bridge, tiny_llama
from helpers.oracles import masked_logits

from captum_interactions.adapters.huggingface import HuggingFaceAdapter
from captum_interactions.adapters.llm import LLMInteractions
from captum_interactions.adapters.targets import TargetError, readout, resolve_target
from captum_interactions.adapters.transformer_lens import TransformerLensAdapter
from captum_interactions.exceptions import InteractionError

WORDS = ["capital", "france", "paris", "italy"]


def word_log_probs(model, input_ids, positions, masks, word, baseline_id):
    """log p(word | masked prompt) = Σ_j log p(t_j | prompt, t_<j), in float64, by running
    the model on the prompt + word[:-1] with absent players' embeddings replaced."""
    ids = list(input_ids) + list(word[:-1])
    length = len(input_ids)
    logits = masked_logits(model, ids, positions, masks, baseline_id)
    steps = logits[:, length - 1 : length - 1 + len(word)].log_softmax(-1)
    return steps.gather(-1, torch.tensor(word).expand(len(masks), -1)[..., None])[..., 0].sum(-1)


def log_odds(log_p):
    return log_p - torch.log(-torch.expm1(log_p))


def _tokens(bpe, word):
    return bpe(" " + word, add_special_tokens=False)["input_ids"]


# ------------------------------------------------------------------------------ whole words
@pytest.mark.parametrize("sharing", [True, False])
def test_a_word_of_several_tokens_is_explained_whole(gpt2, bpe, sharing):
    model, _ = gpt2
    adapter = HuggingFaceAdapter(model, bpe, prefix_sharing=sharing)
    word = _tokens(bpe, "zebra")
    assert len(word) > 1
    explainer = LLMInteractions(adapter)
    for value, expected_of in (("log_odds", log_odds), ("log_prob", lambda x: x)):
        result = explainer.attribute(PROMPT, players=WORDS, target="zebra", value=value)
        direct = word_log_probs(model, result.metadata["input_ids"],
                                result.metadata["player_positions"], range(16), word,
                                bpe.pad_token_id)
        torch.testing.assert_close(result.values, expected_of(direct), rtol=0, atol=3e-5)
        assert result.metadata["target_tokens"] == word
        assert result.target == word[0]
        assert result.target_text == bpe.decode(word)  # the whole word, not its first piece
        assert result.value_kind == value


def test_whole_word_log_odds_is_exact_where_the_word_is_almost_certain():
    # p(word) = p1 * p2 with 1 - p1 ~ 1e-9, 1 - p2 ~ 2e-9: 1 - p must not round to 0
    vocab = 5
    logits = torch.full((1, 2, vocab), -30.0)
    logits[0, 0, 1] = -9.0
    logits[0, 0, 2] = 12.0
    logits[0, 1, 3] = 10.0
    reader, kind = readout((2, 3), value="log_odds")
    got = float(reader.value([logits]))
    exact = logits.double().log_softmax(-1)
    log_p = exact[0, 0, 2] + exact[0, 1, 3]
    expected = float(log_p - torch.log(-torch.expm1(log_p)))
    assert kind == "log_odds"
    assert got == pytest.approx(expected, rel=1e-5)
    assert math.isfinite(got)
    assert got > 18  # float32 p = 1 - 1e-9 would give inf or a rounded value


def test_single_token_values_are_unchanged_by_the_readout(gpt2):
    _, adapter = gpt2
    explainer = LLMInteractions(adapter)
    token = LLMInteractions(adapter).attribute(PROMPT, players=WORDS, mode="none")
    again = explainer.attribute(PROMPT, players=WORDS, target=token.target, mode="none")
    torch.testing.assert_close(token.values, again.values, rtol=0, atol=0)


# ------------------------------------------------------------------------------- contrasts
@pytest.mark.parametrize("foil", ["zebra", "italy"])
def test_contrast_is_the_log_probability_difference(gpt2, bpe, foil):
    model, adapter = gpt2
    result = LLMInteractions(adapter).attribute(PROMPT, players=WORDS, target="rome",
                                                foil=foil)
    args = (model, result.metadata["input_ids"], result.metadata["player_positions"],
            range(16))
    expected = (word_log_probs(*args, _tokens(bpe, "rome"), bpe.pad_token_id)
                - word_log_probs(*args, _tokens(bpe, foil), bpe.pad_token_id))
    torch.testing.assert_close(result.values, expected, rtol=0, atol=3e-5)
    assert result.value_kind == "log_prob_diff"
    assert result.target_text == f"{bpe.decode(_tokens(bpe, 'rome'))} vs {foil}"
    assert result.metadata["foil_tokens"] == _tokens(bpe, foil)
    assert result.target_key == ("text", result.target_text.strip())


def test_contrast_of_single_tokens_with_raw_is_the_logit_difference(gpt2):
    model, adapter = gpt2
    explainer = LLMInteractions(adapter)
    raw = explainer.attribute(PROMPT, players=WORDS, target=7, foil=9, value="raw",
                              mode="none")
    prob = explainer.attribute(PROMPT, players=WORDS, target=7, foil=9, mode="none")
    assert raw.value_kind == "raw_diff"
    torch.testing.assert_close(raw.values, prob.values, rtol=0, atol=2e-5)  # softmax cancels
    with torch.no_grad():
        logits = model(torch.tensor([raw.metadata["input_ids"]])).logits[0, -1]
    assert float(raw.values[-1]) == pytest.approx(float(logits[7] - logits[9]), abs=1e-5)


def test_a_foil_that_shares_the_targets_first_token_reads_one_longer_pass():
    reader, _ = readout((5,), (5, 6), value="log_prob")
    assert reader.suffixes == ((5,),)  # the target's logits are the first step of the foil's
    reader, _ = readout((5, 7), (5, 6), value="log_prob")
    assert sorted(reader.suffixes) == [(5,)]
    reader, _ = readout((4, 7), (5, 6, 8), value="log_prob")
    assert sorted(reader.suffixes) == [(4,), (5, 6)]


def test_the_transformer_lens_bridge_reads_words_and_contrasts_the_same(gpt2, bpe):
    model, adapter = gpt2
    bridge = TransformerLensAdapter(tiny_hf_bridge(model, bpe), tokenizer=bpe)
    for kwargs in ({"target": "zebra"}, {"target": "rome", "foil": "zebra"}):
        hf = LLMInteractions(adapter).attribute(PROMPT, players=WORDS, mode="none", **kwargs)
        lens = LLMInteractions(bridge).attribute(PROMPT, players=WORDS, mode="none", **kwargs)
        torch.testing.assert_close(lens.values, hf.values, rtol=0, atol=5e-5)


def test_tree_attention_and_cache_agree_on_words(bpe):
    model = tiny_llama(bpe)
    tree = HuggingFaceAdapter(model, bpe)
    plain = HuggingFaceAdapter(model, bpe, prefix_sharing=False)
    kwargs = {"players": WORDS, "target": "rome", "foil": "zebra", "mode": "none"}
    torch.testing.assert_close(LLMInteractions(tree).attribute(PROMPT, **kwargs).values,
                               LLMInteractions(plain).attribute(PROMPT, **kwargs).values,
                               rtol=0, atol=5e-5)


# ---------------------------------------------------------------------------- bad requests
def test_bad_targets_and_foils_are_refused_before_the_masked_runs(gpt2, bpe, monkeypatch):
    _, adapter = gpt2
    explainer = LLMInteractions(adapter)
    monkeypatch.setattr(adapter, "evaluate", lambda *a, **k: pytest.fail("evaluated"))
    cases = [
        ({"target": "rome", "foil": "rome"}, TargetError, "the foil is the target itself"),
        ({"target": "zebra", "value": "raw"}, TargetError, "value='raw' reads one logit"),
        ({"target": 7, "foil": 9, "value": lambda logits, target: logits[:, 0]}, TargetError,
         "a value function reads one token's logits"),
        ({"target": "rome", "value": "logit"}, InteractionError, "unknown value 'logit'"),
        ({"foil": 10**6}, TargetError, "foil token id 1000000 is outside"),
        ({"foil": "  "}, TargetError, "foil must contain text"),
    ]
    for kwargs, error, match in cases:
        with pytest.raises(error, match=match):
            explainer.attribute(PROMPT, players=WORDS, **kwargs)


def test_resolve_target_keeps_every_token(gpt2, bpe):
    _, adapter = gpt2
    prompt = adapter.tokenize(PROMPT)
    target = resolve_target(adapter, prompt, "zebra")
    assert target.tokens == tuple(_tokens(bpe, "zebra"))
    assert target.id == target.tokens[0]
    assert target.text == bpe.decode(list(target.tokens))


def test_low_level_evaluate_takes_token_sequences(gpt2, bpe):
    model, adapter = gpt2
    prompt = adapter.tokenize(PROMPT)
    positions = [[2], [4]]
    word = _tokens(bpe, "zebra")
    values = adapter.evaluate(prompt, positions, torch.arange(4), target=word,
                              baseline="pad", value="log_prob")
    expected = word_log_probs(model, prompt.input_ids.tolist(), positions, range(4), word,
                              bpe.pad_token_id)
    torch.testing.assert_close(values, expected, rtol=0, atol=3e-5)
    with pytest.raises(InteractionError, match="target must be a token id"):
        adapter.evaluate(prompt, positions, torch.arange(4), target=[], baseline="pad")

"""The text front end: words in, interactions out, checked against direct model calls."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from helpers.lm_models import (
    PROMPT,
    make_tokenizer,
    tiny_gemma3,
    tiny_gpt2,
    tiny_hf_bridge,
    tiny_llama,
)
from helpers.oracles import masked_logits

from captum_interactions import CostWarning, InteractionResult, costs
from captum_interactions.adapters.huggingface import HuggingFaceAdapter
from captum_interactions.adapters.learned_baseline import LearnedBaseline
from captum_interactions.adapters.llm import LLMInteractions
from captum_interactions.adapters.pretrained import load_pretrained
from captum_interactions.adapters.targets import TargetError
from captum_interactions.adapters.text import PlayerError, PlayerWarning
from captum_interactions.adapters.transformer_lens import TransformerLensAdapter
from captum_interactions.exceptions import InteractionError

WORDS = ["capital", "france", "paris", "italy"]
BUILDERS = {"gpt2": tiny_gpt2, "llama": tiny_llama, "gemma3": tiny_gemma3}


def direct_values(model, input_ids, positions, masks, target, baseline_id):
    """v(T) by running the model on hand-masked embeddings (no adapter code involved).

    Absent players' token embeddings are replaced by the embedding of ``baseline_id``; the
    value is the log-odds ``log p / (1 - p)`` of ``target`` at the last position, in float64.
    """
    logits = masked_logits(model, input_ids, positions, masks, baseline_id)[:, -1]
    p = logits.softmax(-1)[:, target]
    return torch.log(p) - torch.log1p(-p)


# ------------------------------------------------------------------------- values & result
@pytest.mark.parametrize("arch", list(BUILDERS))
def test_values_match_direct_model_calls_and_universal_matching_holds(bpe, arch):
    model = BUILDERS[arch](bpe)
    result = LLMInteractions(HuggingFaceAdapter(model, bpe)).attribute(PROMPT, players=WORDS)
    positions = result.metadata["player_positions"]
    assert max(len(found) for found in positions) > 1  # some words take several BPE tokens
    expected = direct_values(model, result.metadata["input_ids"], positions, range(16),
                             result.target, bpe.pad_token_id)
    torch.testing.assert_close(result.values.cpu(), expected, rtol=0, atol=2e-5)
    assert result.matching_error() < 1e-9
    torch.testing.assert_close(result.reconstruct(), result.values + result.q)
    assert result.players == WORDS
    assert result.baseline == "pad"
    assert result.value_kind == "log_odds"


def test_result_records_target_players_and_model(gpt2, bpe, tmp_path):
    model, adapter = gpt2
    result = LLMInteractions(adapter).attribute(PROMPT, players=["capital#2", "paris", ","])
    ids = bpe(PROMPT)["input_ids"]
    with torch.no_grad():
        top = int(model(torch.tensor([ids])).logits[0, -1].argmax())
    assert result.target == top
    assert result.target_text == bpe.decode([top])
    meta = result.metadata
    assert meta["model"] == "tiny-gpt2"
    assert meta["prompt"] == PROMPT
    assert meta["input_ids"] == ids
    assert meta["player_selection"] == "given"
    assert [PROMPT[a:b] for a, b in meta["player_spans"]] == ["capital", "paris", ","]
    assert meta["player_spans"][0][0] == PROMPT.rindex("capital")
    assert all(0 not in found for found in meta["player_positions"])  # BOS is background
    assert (meta["prediction"], meta["target_given"]) == (top, None)
    loaded = InteractionResult.load(result.save(tmp_path / "r.npz"))
    assert loaded.metadata == meta
    assert (loaded.target, loaded.target_text, loaded.baseline) == (top, result.target_text, "pad")


def test_automatic_players_are_the_last_content_words(gpt2):
    result = LLMInteractions(gpt2[1]).attribute(PROMPT, n_players=3)
    assert result.players == ["paris", "capital#2", "italy"]
    assert result.metadata["player_selection"] == "automatic"


def test_models_with_different_tokenizers_share_player_labels():
    word = make_tokenizer("word")
    bpe = make_tokenizer("bpe")
    results = [
        LLMInteractions(HuggingFaceAdapter(tiny_llama(tok), tok)).attribute(PROMPT, n_players=4)
        for tok in (word, bpe)
    ]
    assert results[0].players == results[1].players
    spans = [r.metadata["player_spans"] for r in results]
    assert spans[0] == spans[1]
    positions = [r.metadata["player_positions"] for r in results]
    assert positions[0] != positions[1]
    assert all(len(found) == 1 for found in positions[0])


def test_transformer_lens_bridge_gives_the_same_values(bpe):
    model = tiny_llama(bpe)
    bridge = tiny_hf_bridge(model, bpe)
    kwargs = {"players": WORDS, "mode": "none"}
    hf = LLMInteractions(HuggingFaceAdapter(model, bpe)).attribute(PROMPT, **kwargs)
    tl = LLMInteractions(TransformerLensAdapter(bridge, bpe)).attribute(PROMPT, **kwargs)
    assert tl.metadata["input_ids"] == hf.metadata["input_ids"]  # one tokenisation, BOS too
    assert tl.target == hf.target
    torch.testing.assert_close(tl.values.cpu(), hf.values.cpu(), rtol=0, atol=2e-5)


def test_value_kinds_and_extraction_options_are_passed_on(gpt2):
    model, adapter = gpt2
    explainer = LLMInteractions(adapter)
    logit = explainer.attribute(PROMPT, players=WORDS, value="raw", mode="none")
    with torch.no_grad():
        full = model(torch.tensor([logit.metadata["input_ids"]])).logits[0, -1]
    assert float(logit.values[-1]) == pytest.approx(float(full[logit.target]), abs=1e-5)
    assert logit.value_kind == "raw"
    assert logit.extraction.mode == "none"

    def margin(logits, target):
        return logits.gather(-1, target[:, None])[:, 0] - logits.mean(-1)

    custom = explainer.attribute(PROMPT, players=WORDS, value=margin, mode="and", qcoef=0.0)
    assert custom.value_kind.startswith("callable:")
    assert custom.value_kind.endswith("margin")
    assert float(custom.values[-1]) == pytest.approx(float(full[custom.target] - full.mean()),
                                                     abs=1e-5)
    assert custom.extraction.mode == "and"
    assert not custom.or_interactions.any()
    timed = explainer.attribute(PROMPT, players=WORDS, solver="pdhg", time_limit=30)
    assert timed.extraction.solver == "pdhg"
    assert timed.extraction.converged
    with pytest.raises(InteractionError, match="time_limit must be"):  # before the model
        explainer.attribute(PROMPT, players=WORDS, time_limit=0)


# -------------------------------------------------------------------------------- targets
def test_target_string_is_the_next_word():
    word = make_tokenizer("word")
    adapter = HuggingFaceAdapter(tiny_gpt2(word), word)
    result = LLMInteractions(adapter).attribute(PROMPT, players=WORDS, target="rome")
    assert result.target == word.get_vocab()["rome"]
    assert result.metadata["target_given"] == "rome"
    assert result.metadata["target_tokens"] == [result.target]


def test_target_token_id_and_bad_targets(gpt2):
    explainer = LLMInteractions(gpt2[1])
    assert explainer.attribute(PROMPT, players=WORDS, target=7, mode="none").target == 7
    with pytest.raises(TargetError, match=r"outside the model's vocabulary \[0, \d+\)"):
        explainer.attribute(PROMPT, players=WORDS, target=10**6)
    with pytest.raises(TargetError, match="must contain text"):
        explainer.attribute(PROMPT, players=WORDS, target="  ")
    with pytest.raises(TypeError, match="target must be None"):
        explainer.attribute(PROMPT, players=WORDS, target=1.5)
    with pytest.raises(TargetError, match="merges with the end of the prompt"):
        explainer.attribute("the capital of ", players=["capital"], target="france")


# ------------------------------------------------------------------------------ baselines
def test_baselines_are_applied_and_recorded(gpt2, bpe, tmp_path):
    model, adapter = gpt2
    explainer = LLMInteractions(adapter)
    zero = explainer.attribute(PROMPT, players=WORDS, baseline="zero", mode="none")
    pad = explainer.attribute(PROMPT, players=WORDS, mode="none")
    assert zero.baseline == "zero"
    assert not torch.allclose(zero.values, pad.values)
    assert zero.values[-1] == pad.values[-1]  # the full prompt masks nothing
    learned = LearnedBaseline(adapter.baseline_vector("eos"), model="tiny-gpt2", init="eos")
    path = learned.save(tmp_path / "b.npz")
    for spec in (learned, Path(path)):
        result = explainer.attribute(PROMPT, players=WORDS, baseline=spec, mode="none")
        assert result.baseline == "learned:tiny-gpt2:eos:0-steps"
        expected = direct_values(model, result.metadata["input_ids"],
                                 result.metadata["player_positions"], range(16), result.target,
                                 bpe.eos_token_id)
        torch.testing.assert_close(result.values.cpu(), expected, rtol=0, atol=2e-5)


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("players", "match"),
    [
        (["rome"], "player 'rome' does not occur as a whole word"),
        (["capital", (8, 14)], "overlap; players must be disjoint"),
        ([*PROMPT.split(), "is"], r"players were given but the prompt has only"),
    ],
    ids=["not-found", "overlap", "more-than-words"],
)
def test_bad_players(gpt2, players, match):
    with pytest.raises(PlayerError, match=match):
        LLMInteractions(gpt2[1]).attribute(PROMPT, players=players)


def test_prompt_longer_than_the_context(gpt2):
    long = " ".join([PROMPT] * 8)
    with pytest.raises(InteractionError, match=r"more than the model's context of 64"):
        LLMInteractions(gpt2[1]).attribute(long, players=WORDS)


def test_player_limits_and_cost_warning(gpt2, monkeypatch):
    with pytest.raises(InteractionError, match=r"5 players need 2\*\*5 .* over max_players=4"):
        LLMInteractions(gpt2[1], max_players=4).attribute(PROMPT, players=[*WORDS, "and"])
    monkeypatch.setattr(costs, "WARN_EVALUATION_PLAYERS", 3)
    with pytest.warns(CostWarning, match=r"4 players: evaluating 2\*\*4 = 16 masked") as caught:
        LLMInteractions(gpt2[1]).attribute(PROMPT, players=WORDS, mode="none")
    assert caught[0].filename == __file__  # the warning points at the caller
    with pytest.raises(InteractionError, match="tol=0 of solver 'ipm'"):  # before the model
        LLMInteractions(gpt2[1]).attribute(PROMPT, players=WORDS, solver="ipm", tol=0)


def test_wrong_adapter_type():
    with pytest.raises(TypeError, match="needs a LanguageModelAdapter"):
        LLMInteractions(tiny_gpt2())


# ----------------------------------------------------------------------------- real model
@pytest.fixture(scope="module")
def smollm2():
    model, tokenizer = load_pretrained("smollm2-135m")
    return model, tokenizer, HuggingFaceAdapter(model, tokenizer)


FACT = "Paris is the capital and largest city of France, and Berlin is the capital of"
FACT_WORDS = ["Paris", "capital", "largest", "city", "France", "Berlin", "capital#2", "of#2"]


@pytest.mark.real_model("smollm2-135m")
def test_smollm2_universal_matching_against_direct_model_calls(smollm2):
    model, tokenizer, adapter = smollm2
    result = LLMInteractions(adapter).attribute(FACT, players=FACT_WORDS)
    assert result.target_text == " Germany"
    assert result.players == FACT_WORDS
    assert result.metadata["model"] == "smollm2-135m"
    masks = torch.randperm(256, generator=torch.Generator().manual_seed(0))[:24].tolist()
    masks += [0, 255]
    expected = direct_values(model, result.metadata["input_ids"],
                             result.metadata["player_positions"], masks, result.target,
                             tokenizer.pad_token_id)
    torch.testing.assert_close(result.values[masks].cpu(), expected, rtol=0, atol=2e-4)
    assert result.matching_error() < 1e-8
    torch.testing.assert_close(result.reconstruct(), result.values + result.q)
    assert (result.q.abs() <= result.bound + 1e-9).all()
    strongest = result.salient(top_k=1)[0]
    assert any(label in ("Berlin", "capital#2") for label in strongest.players)


# ------------------------------------------------------------------------------- batches
def test_a_batch_gives_one_result_per_prompt_equal_to_single_calls(gpt2):
    explainer = LLMInteractions(gpt2[1])
    prompts = [PROMPT, "the capital of italy is rome , and the capital of france is"]
    players = [WORDS, ["capital", "italy", "rome"]]
    batch = explainer.attribute(prompts, players=players, target=["rome", 7], foil="zebra")
    assert [r.players for r in batch] == [WORDS, ["capital", "italy", "rome"]]
    for result, prompt, chosen, target in zip(batch, prompts, players, ["rome", 7],
                                              strict=True):
        alone = explainer.attribute(prompt, players=chosen, target=target, foil="zebra")
        torch.testing.assert_close(result.values, alone.values, rtol=0, atol=0)
        torch.testing.assert_close(result.and_interactions, alone.and_interactions)
        assert result.target_text == alone.target_text
        assert result.metadata == alone.metadata


def test_batch_arguments_are_checked_before_the_model_runs(gpt2, monkeypatch):
    _, adapter = gpt2
    explainer = LLMInteractions(adapter)
    monkeypatch.setattr(adapter, "evaluate", lambda *a, **k: pytest.fail("evaluated"))
    with pytest.raises(InteractionError, match=r"for a batch of 2 prompts, target must be"):
        explainer.attribute([PROMPT, PROMPT], target=["rome"])
    with pytest.raises(InteractionError, match=r"players must be None or one list"):
        explainer.attribute([PROMPT, PROMPT], players=WORDS)
    with pytest.raises(InteractionError, match="batch of prompts is empty"):
        explainer.attribute([])
    with pytest.raises(PlayerError, match="'paris' does not occur"):  # the second prompt
        explainer.attribute([PROMPT, "the capital of italy is"], players=[None, ["paris"]])


def test_an_unmet_number_of_automatic_players_is_said(gpt2):
    explainer = LLMInteractions(gpt2[1])
    with pytest.warns(PlayerWarning, match=r"5 content words, so 5 players .* instead of 8"):
        result = explainer.attribute(PROMPT, n_players=8, mode="none")
    assert result.metadata["players_requested"] == 8
    assert len(result.players) == 5
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        explainer.attribute(PROMPT, mode="none")  # "up to 10" by default: nothing to say


# ------------------------------------------------------------------- Captum's text inputs
def test_captum_template_values_are_the_players(gpt2, bpe):
    from captum.attr import TextTemplateInput

    explainer = LLMInteractions(gpt2[1])
    template = TextTemplateInput(
        "the capital of {} is paris , and the capital of {} is", ["france", "italy"])
    result = explainer.attribute(template, target="rome")
    plain = explainer.attribute(PROMPT, players=["france", "italy"], target="rome")
    assert result.players == ["france", "italy"]
    torch.testing.assert_close(result.values, plain.values, rtol=0, atol=0)
    assert result.metadata["input"] == "TextTemplateInput"
    named = TextTemplateInput("the {a} of {b} is", {"a": "capital", "b": "italy"})
    assert explainer.attribute(named, mode="none").players == ["capital", "italy"]
    for bad, match in [
        (TextTemplateInput("{} of {}", ["capital", "france"], baselines=["city", ""]),
         "baselines replace a value by other text"),
        (TextTemplateInput("{} of {}", ["capital", "france"], mask=[0, 0]), "groups several"),
        (TextTemplateInput("{0} of {0}", ["capital"]), "fills two template fields"),
        (TextTemplateInput("{:>9} of", ["capital"]), "format spec"),
        (TextTemplateInput(lambda a: a, ["capital"]), "template function"),
    ]:
        with pytest.raises(InteractionError, match=match):
            explainer.attribute(bad)


def test_captum_token_input_makes_every_kept_token_a_player(gpt2, bpe):
    from captum.attr import TextTokenInput

    model, adapter = gpt2
    text = "the capital of italy is"
    tokens = TextTokenInput(text, bpe, baselines=bpe.unk_token_id, skip_tokens=["<bos>"])
    result = LLMInteractions(adapter).attribute(tokens, target=7, mode="none")
    ids = bpe(text)["input_ids"]
    assert result.metadata["input_ids"] == ids
    assert result.players == bpe.convert_ids_to_tokens(ids[1:])  # all but the skipped BOS
    assert result.metadata["player_positions"] == [[p] for p in range(1, len(ids))]
    assert result.baseline == f"token:{bpe.unk_token_id}"  # the input's own baseline token
    full = 2 ** len(result.players) - 1
    expected = direct_values(model, ids, result.metadata["player_positions"], [0, full], 7,
                             bpe.unk_token_id)
    torch.testing.assert_close(result.values[[0, -1]], expected, rtol=0, atol=2e-5)
    with pytest.raises(InteractionError, match="brings its own baseline token"):
        LLMInteractions(adapter).attribute(tokens, baseline="pad")

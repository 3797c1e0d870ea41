"""Capability on a run's prompts: word log-probabilities against the model itself, the
summary's reference words and accuracy, and a run's capability files and claim 2 paragraph."""

from __future__ import annotations

import csv
import json

import pytest
import torch
from helpers.lm_models import make_tokenizer, tiny_gpt2
from helpers.run_models import PROMPTS, save_tiny_models, write_prompts

from captum_interactions.adapters.huggingface import HuggingFaceAdapter
from captum_interactions.adapters.targets import next_word
from captum_interactions.exceptions import InteractionError
from captum_interactions.runs import InteractionRun, ModelSpec, PromptSpec, reanalyse, run
from captum_interactions.runs.scoring import (
    CAPABILITY_COLUMNS,
    WordScore,
    answer_of,
    capability,
    score_prompt,
    summarise,
)

TEXT = "the capital of france is paris , and the capital of italy is"


def brute_log_prob(model, ids: list[int], word: list[int]) -> float:
    """log p(word | prompt) from one plain forward pass over prompt + word."""
    with torch.no_grad():
        logits = model(torch.tensor([ids + word])).logits[0].double().log_softmax(-1)
    return sum(float(logits[len(ids) - 1 + j, token]) for j, token in enumerate(word))


@pytest.mark.parametrize("kind", ["word", "bpe"])
def test_word_log_probs_are_the_models_own(kind):
    tokenizer = make_tokenizer(kind, add_bos=kind == "bpe")
    model = tiny_gpt2(tokenizer)
    adapter = HuggingFaceAdapter(model, tokenizer)
    score = score_prompt(adapter, PromptSpec("p", TEXT, meta={"answer": "rome"}))
    ids = adapter.tokenize(TEXT).input_ids.tolist()
    answer = tokenizer(TEXT + " rome")["input_ids"][len(ids):]
    assert score.answer_log_prob == pytest.approx(brute_log_prob(model, ids, answer), abs=1e-5)
    greedy = list(next_word(adapter, adapter.tokenize(TEXT)).tokens)  # the model's own path
    assert score.word_log_prob == pytest.approx(brute_log_prob(model, ids, greedy), abs=1e-5)
    assert score.correct == (score.word.strip() == "rome")
    without = score_prompt(adapter, PromptSpec("p", TEXT))
    assert without.answer is None
    assert without.answer_log_prob is None
    assert without.correct is None


def test_the_reference_word_is_the_answer_else_the_agreed_word():
    def s(word, log_p, answer=None, answer_log_p=None):
        correct = None if answer is None else word.strip() == answer
        return WordScore(word, log_p, answer, answer_log_p, correct)

    scores = {
        "a": {"ans": s(" Paris", -0.2, "Paris", -0.2), "agreed": s(" Rome", -1.0),
              "split": s(" Oslo", -0.1)},
        "b": {"ans": s(" Lyon", -0.5, "Paris", -3.0), "agreed": s("Rome", -2.0),
              "split": s(" Bern", -0.1)},
    }
    a, b = summarise(scores, n_bootstrap=500)
    assert (a.n_prompts, b.n_prompts) == (2, 2)  # "split": no answer, no agreed word
    assert a.mean_log_prob == pytest.approx(-0.6)
    assert b.mean_log_prob == pytest.approx(-2.5)
    assert (a.accuracy, a.n_with_answer, b.accuracy) == (1.0, 1, 0.0)
    assert a.ci_low <= a.mean_log_prob <= a.ci_high
    assert [a.ci_low, a.ci_high] == pytest.approx([-1.0, -0.2])  # two prompts: the extremes
    with pytest.raises(InteractionError, match="scored on the same prompts"):
        summarise({"a": scores["a"], "b": {"ans": scores["b"]["ans"]}})


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    return save_tiny_models(tmp_path_factory.mktemp("models"))


def test_capability_loads_each_model_and_checks_answers_first(tiny_models):
    prompts = [PromptSpec("p", TEXT, meta={"answer": "rome"})]
    rows = capability([f"a={tiny_models['gpt2']}", f"b={tiny_models['llama']}"], prompts)
    assert [row.model for row in rows] == ["a", "b"]
    assert all(row.n_prompts == 1 and row.n_with_answer == 1 for row in rows)
    bad = [PromptSpec("p", TEXT, meta={"answer": ["rome"]})]
    with pytest.raises(InteractionError, match=r"meta\['answer'\] must be a non-empty word"):
        capability([str(tiny_models["gpt2"])], bad)
    with pytest.raises(InteractionError, match=r"prompt 'p': meta\['answer'\] must be"):
        InteractionRun([str(tiny_models["gpt2"])], bad, "unused")  # before any work
    assert answer_of(PromptSpec("p", TEXT, meta={"answer": 1889})) == "1889"


def read(path):
    with path.open() as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow  # three models, a full run and its report
def test_a_run_writes_capability_and_relates_it_to_sharing(tmp_path, tiny_models,
                                                           monkeypatch):
    # answers: the two targets, and a word for the prompt the models disagree on
    answers = {"capital": "rome", "fox": "dog", "weather": "home"}
    prompts = [{**p, "meta": {"answer": answers[p["id"]]}} for p in PROMPTS]
    path = write_prompts(tmp_path / "prompts.jsonl", prompts)
    models = [f"a={tiny_models['gpt2']}", f"b={tiny_models['llama']}",
              f"c={tiny_models['gpt2']}"]
    out = tmp_path / "run"
    run(models, path, out, n_players=4, show_progress=False)
    rows = read(out / "capability.csv")
    assert tuple(rows[0]) == CAPABILITY_COLUMNS
    assert [row["model"] for row in rows] == ["a", "b", "c"]
    # every prompt is scored, the one screening skipped too
    assert json.loads((out / "manifest.json").read_text())["screened_out"] == ["weather"]
    assert [(row["n_prompts"], row["n_with_answer"]) for row in rows] == [("3", "3")] * 3
    assert rows[0]["mean_log_prob"] == rows[2]["mean_log_prob"]  # the same weights
    pairs = read(out / "capability_sharing.csv")
    assert [(p["model_a"], p["model_b"]) for p in pairs] == [("a", "b"), ("a", "c"), ("b", "c")]
    assert list(pairs[0])[:4] == ["model_a", "model_b", "metric", "sharing"]
    assert pairs[0]["metric"] == "jaccard_minus_jaccard_cross_prompt"  # the primary definition
    assert {"capability", "rho", "rho_ci_low", "rho_ci_high", "n_pairs"} <= set(pairs[0])
    report = (out / "report.md").read_text()
    assert "**Claim 2 — sharing and capability.**" in report
    assert "not tested by this report" not in report
    # a re-analysis reads the run's scores, on the same prompts
    reanalyse(out, "tau", tau=0.1, report=False)
    assert read(out / "analyses" / "tau" / "capability.csv") == rows
    # scored once: a second session loads no model
    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(ModelSpec, "load", refuse)
    summary = run(models, path, out, n_players=4, show_progress=False, report=False)
    assert summary.reused == 6  # "weather" is screened out: the models' words differ
    assert summary.computed == []


@pytest.mark.slow
def test_two_models_say_claim_2_cannot_be_tested(tmp_path, tiny_models):
    path = write_prompts(tmp_path / "prompts.jsonl")  # no answers: agreed words only
    out = tmp_path / "run"
    run([f"a={tiny_models['gpt2']}", f"b={tiny_models['llama']}"], path, out, n_players=4,
        show_progress=False)
    assert not (out / "capability_sharing.csv").exists()
    rows = read(out / "capability.csv")
    assert [row["n_with_answer"] for row in rows] == ["0", "0"]
    assert [row["accuracy"] for row in rows] == ["nan", "nan"]
    report = (out / "report.md").read_text()
    assert ("Claim 2 (more sharing between more capable models) cannot be tested by this "
            "run: with 2 models there is 1 model pair") in report

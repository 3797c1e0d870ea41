"""Screening: each model's greedy next word, followed to the end of the word."""

from __future__ import annotations

import csv
import math
import sys

import pytest
import torch
from helpers.lm_models import make_tokenizer, tiny_gpt2
from helpers.run_models import PROMPTS, save_tiny_models, write_prompts

from captum_interactions.adapters.base import Prompt
from captum_interactions.adapters.huggingface import HuggingFaceAdapter
from captum_interactions.adapters.targets import next_word
from captum_interactions.runs import cli, load_run, run, screen
from captum_interactions.runs.screening import screen_records
from captum_interactions.runs.specs import ModelSpec


class ScriptedModel:
    """An adapter stand-in whose greedy tokens follow a script, one per step."""

    def __init__(self, pieces: dict[int, str], script: list[int]):
        self.pieces, self.script, self.calls = pieces, script, 0
        self.tokenizer = self

    def decode(self, ids) -> str:
        return "".join(self.pieces[i] for i in ids)

    def next_token_logits(self, ids: torch.Tensor) -> torch.Tensor:
        logits = torch.zeros(len(self.pieces))
        logits[self.script[self.calls]] = 3.0
        self.calls += 1
        return logits


PIECES = {0: " Row", 1: "ling", 2: " and", 3: ",", 4: "'s", 5: "-born"}
PROMPT = Prompt("The author of Harry Potter is J. K.", torch.tensor([7, 8, 9]), ((0, 0),) * 3)


@pytest.mark.parametrize(("script", "word", "steps"), [
    ([0, 1, 2], " Rowling", 3),      # a word piece continues, a spaced token ends the word
    ([0, 4, 5, 3], " Row's-born", 4),  # apostrophes and hyphens continue it, punctuation ends
    ([3, 0], ",", 1),                # punctuation first is the whole "word"
    ([0] + [1] * 20, " Row" + "ling" * 7, 8),  # at most WORD_TOKENS tokens
])
def test_the_word_ends_where_a_new_word_or_punctuation_starts(script, word, steps):
    model = ScriptedModel(PIECES, script)
    found = next_word(model, PROMPT)
    assert found.text == word
    assert model.calls == steps
    step = torch.log_softmax(torch.tensor([3.0] + [0.0] * 5, dtype=torch.float64), 0)[0]
    assert found.probability == pytest.approx(math.exp(len(found.tokens) * float(step)))


def test_next_word_follows_the_model_greedily():
    bpe = make_tokenizer("bpe", add_bos=True)
    model = tiny_gpt2(bpe)
    adapter = HuggingFaceAdapter(model, bpe)
    prompt = adapter.tokenize("the capital of italy is")
    found = next_word(adapter, prompt)
    ids, expected, log_p = prompt.input_ids.tolist(), [], 0.0
    with torch.no_grad():
        for _ in range(8):  # the oracle: the model itself, token by token
            scores = model(torch.tensor([ids + expected])).logits[0, -1].double().log_softmax(-1)
            token = int(scores.argmax())
            piece = bpe.decode([token])
            if expected and not (piece[:1].isalnum() or piece[:1] in "'’-_"):
                break
            expected.append(token)
            log_p += float(scores[token])
            if len(expected) == 1 and not any(ch.isalnum() or ch == "_" for ch in piece):
                break
    assert list(found.tokens) == expected
    assert found.probability == pytest.approx(math.exp(log_p), rel=1e-5)


def test_screen_two_models_and_the_command_line(tmp_path, capsys):
    models = save_tiny_models(tmp_path / "models")
    prompts = write_prompts(tmp_path / "prompts.jsonl")
    rows = screen([f"a={models['gpt2']}", f"b={models['gpt2']}", f"c={models['llama']}"],
                  prompts)
    assert [row.prompt.id for row in rows] == ["capital", "fox", "weather"]
    for row in rows:
        assert row.words["a"] == row.words["b"]  # the same model twice
        assert row.agree == (row.words["a"].text.strip() == row.words["c"].text.strip())
        assert 0 < row.words["a"].probability <= 1
    record = screen_records(rows)[0]
    assert list(record) == ["prompt", "content_words", "agree", "a_word", "a_probability",
                            "b_word", "b_probability", "c_word", "c_probability"]
    out = tmp_path / "screen.csv"
    assert cli.main(["screen", "-m", f"a={models['gpt2']}", "-m", f"c={models['llama']}",
                     "-p", str(prompts), "-o", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "| prompt | content words | a | c | agree |" in printed
    assert "the models agree on" in printed
    assert out.read_text().startswith("prompt,content_words,agree,a_word")


# ------------------------------------------------------------------------ in a run
def test_a_run_skips_prompts_the_models_disagree_on_before_any_masked_evaluation(
        tmp_path, monkeypatch):
    models = save_tiny_models(tmp_path / "models")
    prompts = write_prompts(tmp_path / "prompts.jsonl")  # weather has no target
    same = run([f"a={models['gpt2']}", f"b={models['gpt2']}"], prompts, tmp_path / "same",
               n_players=3, show_progress=False, report=False)
    # the same model twice agrees: weather explains the agreed word, all its tokens
    adapter = ModelSpec.parse(str(models["gpt2"])).load()
    word = next_word(adapter, adapter.tokenize(PROMPTS[2]["prompt"]))
    found = load_run(tmp_path / "same")
    assert same.screened_out == []
    assert found.results["a", "weather"].target_text == word.text
    assert [p.target for p in found.prompts][2] == word.text

    out = tmp_path / "differ"
    summary = run([f"a={models['gpt2']}", f"c={models['llama']}"], prompts, out, n_players=3,
                  show_progress=False)
    assert summary.screened_out == ["weather"]  # 'went' vs 'a': never evaluated on masks
    assert sorted(summary.computed) == [(m, p) for m in "ac" for p in ("capital", "fox")]
    assert not (out / "results" / "a" / "weather.npz").exists()
    skipped = list(csv.DictReader((out / "screened_out.csv").open()))
    assert [(row["prompt"], row["agree"], row["a_word"]) for row in skipped] == [
        ("weather", "False", word.text)]
    report = (out / "report.md").read_text()
    assert "were skipped because the models predict different words" in report
    assert f"| weather | `{word.text!r}` |" in report
    # resumed: the screening is read back, no model runs
    monkeypatch.setattr(sys.modules["captum_interactions.runs.screening"], "screen", _no_model)
    again = run([f"a={models['gpt2']}", f"c={models['llama']}"], prompts, out, n_players=3,
                show_progress=False, report=False)
    assert (again.computed, again.reused, again.screened_out) == ([], 4, ["weather"])
    # without screening every prompt is computed
    everything = run([f"a={models['gpt2']}", f"c={models['llama']}"], prompts,
                     tmp_path / "all", n_players=3, screen=False, show_progress=False,
                     report=False)
    assert (len(everything.computed), everything.skipped) == (6, 1)


def test_a_run_whose_models_disagree_on_every_prompt_finishes_with_nothing_compared(tmp_path):
    models = save_tiny_models(tmp_path / "models")
    prompts = write_prompts(tmp_path / "prompts.jsonl", PROMPTS[2:])  # weather: 'went' vs 'a'
    summary = run([f"a={models['gpt2']}", f"c={models['llama']}"], prompts, tmp_path / "out",
                  n_players=3, show_progress=False)
    assert (summary.screened_out, summary.computed, summary.compared) == (["weather"], [], 0)
    assert "1 were skipped because the models predict different words" in (
        summary.report.read_text())


def _no_model(*args, **kwargs):
    raise AssertionError("screened again")

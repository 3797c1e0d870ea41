"""The command line: bad input fails fast and clearly; a small run writes a full report."""

from __future__ import annotations

import csv
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers.run_models import PROMPTS, save_tiny_models, write_prompts

from captum_interactions import InteractionResult
from captum_interactions.adapters.text import content_words, words
from captum_interactions.extraction import extract_shared
from captum_interactions.graphs import overlap, read_graph
from captum_interactions.runs import cli
from captum_interactions.runs.analysis import SWEEP_METRICS
from captum_interactions.runs.specs import (
    ModelSpec,
    ModelSpecError,
    PromptFileError,
    known_models,
    parse_prompts,
    read_prompts,
)

ROOT = Path(__file__).resolve().parents[2]


def overlap_terms(a: InteractionResult, b: InteractionResult, definition: str = "same_sign"):
    """The salient terms of ``a`` that ``b`` also has, with the same type and set, and the
    same sign unless ``definition="any_sign"``."""
    def key(t):
        return (t.type, t.mask) if definition == "any_sign" else (t.type, t.mask, t.sign)

    theirs = {key(t) for t in b.salient()}
    return [t for t in a.salient() if key(t) in theirs]


# ------------------------------------------------------------------------------ prompt files
def test_text_prompts_skip_blank_and_comment_lines(tmp_path):
    path = tmp_path / "prompts.txt"
    path.write_text("# factual prompts\n\nThe capital of France is\n  Snow is cold and fire is  \n")
    prompts = read_prompts(path)
    assert [(p.id, p.text, p.players, p.target) for p in prompts] == [
        ("p01", "The capital of France is", None, None),
        ("p02", "Snow is cold and fire is", None, None),
    ]
    assert prompts[1].where == f"{path}:4"


def test_jsonl_prompts_keep_players_target_id_and_meta(tmp_path):
    path = tmp_path / "prompts.jsonl"
    lines = [
        {"prompt": "The capital of France is", "players": ["capital", "France"],
         "target": "Paris", "id": "france", "meta": {"topic": "geo"}},
        {"prompt": "Snow is cold and fire is", "players": ["is", "is", [9, 13]]},
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    first, second = read_prompts(path)
    assert (first.id, first.players, first.target, first.meta) == (
        "france", ("capital", "France"), "Paris", {"topic": "geo"})
    assert (second.id, second.players, second.target) == ("p02", ("is", "is", (9, 13)), None)
    path.write_text('{"prompt": "The capital of France is", "target": "Paris", "foil": "Rome"}')
    (third,) = read_prompts(path)
    assert (third.target, third.foil, third.to_dict()["foil"]) == ("Paris", "Rome", "Rome")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"prompt": "a b" ', r"prompts.jsonl:3: not valid JSON"),
        ('["a b"]', r"prompts.jsonl:3: expected a JSON object"),
        ('{"prompt": ""}', r"prompts.jsonl:3: 'prompt' must be a non-empty string"),
        ('{"prompt": "a b", "player": ["a"]}', r"prompts.jsonl:3: unknown key\(s\) \['player'\]"),
        ('{"prompt": "a b", "players": ["c"]}', r"prompts.jsonl:3: .*'c'"),
        ('{"prompt": "a b", "players": ["a#2"]}', r"prompts.jsonl:3: player 'a#2' names "
         r"occurrence 2"),
        ('{"prompt": "a b", "players": [[0, 9]]}', r"prompts.jsonl:3: player span \(0, 9\)"),
        ('{"prompt": "a b", "players": []}', r"prompts.jsonl:3: 'players' must be a non-empty"),
        ('{"prompt": "a b", "target": 3}', r"prompts.jsonl:3: 'target' must be a non-empty"),
        ('{"prompt": "a b", "foil": " "}', r"prompts.jsonl:3: 'foil' must be a non-empty"),
        ('{"prompt": "a b", "target": "c", "foil": "c"}', r"prompts.jsonl:3: the foil is the "
         r"target itself"),
        ('{"prompt": "a b", "id": "a/b"}', r"prompts.jsonl:3: 'id' must be a name"),
        ('{"prompt": "a b", "id": "first"}', r"prompts.jsonl:3: prompt id 'first' is already "
         r"used at .*prompts.jsonl:1"),
    ],
    ids=["json", "object", "empty", "key", "player", "occurrence", "span", "no-players",
         "target", "foil", "foil-is-target", "id", "dup-id"],
)
def test_malformed_jsonl_names_the_line(tmp_path, line, message):
    path = tmp_path / "prompts.jsonl"
    path.write_text('{"prompt": "x y", "id": "first"}\n\n' + line + "\n")
    with pytest.raises(PromptFileError, match=message):
        read_prompts(path)


def test_missing_and_empty_prompt_files(tmp_path):
    with pytest.raises(PromptFileError, match=r"nope\.txt does not exist"):
        read_prompts(tmp_path / "nope.txt")
    with pytest.raises(PromptFileError, match="is a folder"):
        read_prompts(tmp_path)
    (tmp_path / "empty.txt").write_text("\n# only a comment\n")
    with pytest.raises(PromptFileError, match="no prompts found"):
        read_prompts(tmp_path / "empty.txt")


def test_ids_are_zero_padded_to_sort_in_file_order():
    prompts = parse_prompts([f"prompt {i}" for i in range(120)])
    assert (prompts[0].id, prompts[-1].id) == ("p001", "p120")
    assert sorted(p.id for p in prompts) == [p.id for p in prompts]


# ---------------------------------------------------------------------------- model specs
def test_unknown_model_lists_the_known_ones():
    with pytest.raises(ModelSpecError, match="unknown model 'gpt-17'; known models: "
                       + ", ".join(known_models())):
        ModelSpec.parse("gpt-17")


def test_model_specs_of_every_kind(tmp_path):
    folder = tmp_path / "ckpt-100"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "tokenizer_config.json").write_text("{}")
    factory = tmp_path / "factory.py"
    factory.write_text("def build():\n    return None\n")
    assert ModelSpec.parse("Gemma-3-270M") == ModelSpec("gemma-3-270m", "gemma-3-270m",
                                                        "pretrained")
    assert ModelSpec.parse(str(folder)) == ModelSpec("ckpt-100", str(folder), "folder")
    assert ModelSpec.parse(f"step100={folder}").label == "step100"
    assert ModelSpec.parse(f"{factory}:build") == ModelSpec("build", f"{factory}:build",
                                                            "factory")
    assert ModelSpec.parse("json:loads").kind == "factory"


def test_bad_model_specs(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelSpecError, match=r"has no config\.json or tokenizer_config\.json"):
        ModelSpec.parse(str(tmp_path / "empty"))
    with pytest.raises(ModelSpecError, match="cannot import the factory module"):
        ModelSpec.parse("no_such_module_xyz:build")
    with pytest.raises(ModelSpecError, match="has no function 'nothing'"):
        ModelSpec.parse("json:nothing")
    with pytest.raises(ModelSpecError, match=r"factory file .*missing\.py does not exist"):
        ModelSpec.parse(f"{tmp_path / 'missing.py'}:build")


# ------------------------------------------------------------------------- CLI bad input
def _prompt_file(tmp_path) -> Path:
    path = tmp_path / "prompts.txt"
    path.write_text("the capital of france is\n")
    return path


def test_cli_bad_input_fails_fast_with_exit_status_2(tmp_path, capsys):
    prompts = _prompt_file(tmp_path)
    assert cli.main(["run", "-m", "gpt-17", "-p", str(prompts), "-o", str(tmp_path / "o")]) == 2
    assert "error: unknown model 'gpt-17'; known models: smollm2-135m" in capsys.readouterr().err

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "ok"}\n{"prompt": \n')
    assert cli.main(["run", "-m", "smollm2-135m", "-p", str(bad), "-o", str(tmp_path / "o")]) == 2
    assert f"error: {bad}:2: not valid JSON" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()  # nothing was created before the inputs were valid


def test_cli_rejects_an_output_folder_that_cannot_be_created(tmp_path, capsys):
    prompts = _prompt_file(tmp_path)
    out = prompts / "out"  # a folder inside a file
    assert cli.main(["run", "-m", "smollm2-135m", "-p", str(prompts), "-o", str(out)]) == 2
    assert "is not writable (Not a directory)" in capsys.readouterr().err


def test_cli_rejects_a_read_only_output_folder(tmp_path, capsys):
    prompts = _prompt_file(tmp_path)
    args = ["run", "-m", "smollm2-135m", "-p", str(prompts), "-o"]
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root)")
        assert cli.main([*args, str(locked / "out")]) == 2
        assert "is not writable" in capsys.readouterr().err
    finally:
        locked.chmod(stat.S_IRWXU)


def test_cli_refuses_folders_that_are_files_or_not_runs(tmp_path, capsys):
    prompts = _prompt_file(tmp_path)
    args = ["run", "-m", "smollm2-135m", "-p", str(prompts), "-o"]
    assert cli.main([*args, str(prompts)]) == 2
    assert "is a file" in capsys.readouterr().err
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "cat.jpg").write_bytes(b"")
    assert cli.main([*args, str(foreign)]) == 2
    assert "holds no manifest.json" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cli_rejects_an_unavailable_device_before_creating_anything(tmp_path, capsys):
    prompts = _prompt_file(tmp_path)
    out = tmp_path / "out"
    args = ["run", "-m", "smollm2-135m", "-p", str(prompts), "-o", str(out), "--device"]
    assert cli.main([*args, "cuda"]) == 2
    assert "CUDA is not available on this machine" in capsys.readouterr().err
    assert cli.main([*args, "tpu9"]) == 2
    assert "unknown device 'tpu9'" in capsys.readouterr().err
    assert not out.exists()


def test_cli_option_errors_come_from_argparse(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["run", "-p", "x.txt"])
    assert stop.value.code == 2
    assert "--model" in capsys.readouterr().err


@pytest.mark.slow  # starts a Python interpreter
def test_python_dash_m_runs_the_same_command_line():
    out = subprocess.run([sys.executable, "-m", "captum_interactions", "--help"],
                         capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert {"run", "demo", "report"} <= set(out.replace(",", " ").replace("{", " ").split())


def test_demo_prompts_are_valid_and_short():
    prompts = read_prompts(cli.demo_prompts())
    assert 4 <= len(prompts) <= 8
    assert all(len(p.text.split()) <= 20 for p in prompts)


def test_the_study_prompt_set_is_a_study_of_cloze_prompts(tmp_path, monkeypatch):
    prompts = read_prompts(cli.bundled_prompts("study"))
    assert len(prompts) >= 100
    assert len({p.id for p in prompts}) == len(prompts)
    assert len({p.text for p in prompts}) == len(prompts)
    for prompt in prompts:
        assert 12 <= len(words(prompt.text)) <= 25, prompt.id
        assert len(content_words(prompt.text)) >= 10, prompt.id
        assert prompt.meta["answer"].strip(), prompt.id
        assert prompt.players is None  # chosen automatically, as the cross-prompt control assumes
        assert prompt.target is None  # each model's own next word decides what is compared
    topics = {p.meta["topic"] for p in prompts}
    assert topics == {"geography", "history", "science", "commonsense", "idioms"}
    monkeypatch.chdir(tmp_path)  # "-p study" names the bundled set where no such file exists
    assert cli._prompt_file(Path("study")) == cli.bundled_prompts("study")
    (tmp_path / "study").write_text("a prompt of my own\n")
    assert cli._prompt_file(Path("study")) == Path("study")


# --------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    return save_tiny_models(tmp_path_factory.mktemp("models"))


def test_cli_run_end_to_end_writes_results_graphs_comparison_and_report(
    tmp_path, tiny_models, capsys
):
    prompts = write_prompts(tmp_path / "prompts.jsonl")
    out = tmp_path / "run"
    status = cli.main([
        "run", "-m", f"small={tiny_models['gpt2']}", "-m", str(tiny_models["llama"]),
        "-p", str(prompts), "-o", str(out), "--players", "4", "--shared", "--quiet",
        "--no-screen",  # a prompt the models disagree on is computed, then not compared
    ])
    printed = capsys.readouterr().out
    assert status == 0
    assert f"report: {(out / 'report.md').resolve()}" in printed
    models, ids = ["small", "llama"], [p["id"] for p in PROMPTS]

    results = {}
    for model in models:
        for prompt in ids:
            result = InteractionResult.load(out / "results" / model / f"{prompt}.npz")
            assert result.n_players == 4
            assert result.matching_error() < 1e-6
            graph = read_graph(out / "graphs" / "independent" / model / f"{prompt}.graphml")
            assert graph.nodes["output"]["label"] == result.target_text
            results[model, prompt] = result
    # Given targets are explained by both models; words and players are shared across the
    # two tokenizers (GPT-2 without, Llama with a BOS token).
    for prompt in ("capital", "fox"):
        a, b = results["small", prompt], results["llama", prompt]
        assert a.players == b.players
        assert a.target_text.strip() == b.target_text.strip() == PROMPTS[ids.index(prompt)][
            "target"]
    agree = [p for p in ids
             if results["small", p].target_text.strip() == results["llama", p].target_text.strip()]

    comparison = json.loads((out / "comparison.json").read_text())
    independent = comparison["extractions"]["independent"]
    assert independent["n_samples"][0][1] == len(agree)
    assert independent["n_skipped_target"][0][1] == len(ids) - len(agree)
    per_prompt = independent["per_prompt"]["small vs llama"]["weighted_overlap"]
    for prompt in ids:  # the matrix agrees with the pairwise function, prompt by prompt
        if prompt in agree:
            expected = overlap(results["small", prompt], results["llama", prompt],
                               merge_singletons=True)
            assert per_prompt[prompt] == pytest.approx(expected["weighted_overlap"])
        else:
            assert per_prompt[prompt] is None
    for prompt in agree:  # shared extraction: same values, universal matching, saved
        for model in models:
            shared = InteractionResult.load(out / "shared" / model / f"{prompt}.npz")
            assert torch.equal(shared.values, results[model, prompt].values)
            assert shared.matching_error() < 1e-6
    # the mismatched-pair control: small on one agreed prompt, llama on the other, fitted
    # jointly with the run's options, and its gain table
    assert agree == ["capital", "fox"]
    crossed = {m: InteractionResult.load(out / "shared_mismatched" / m / "capital.npz")
               for m in models}
    reference = extract_shared([results["small", "capital"].values,
                                results["llama", "fox"].values], alpha=0.1, qcoef=0.02,
                               pcoef=0.5)
    for model, expected in zip(models, reference, strict=True):
        torch.testing.assert_close(crossed[model].and_interactions, expected.and_interactions)
    assert crossed["llama"].players == results["small", "capital"].players
    gains = list(csv.DictReader((out / "joint_control.csv").open()))
    assert {(row["metric"], row["n_prompts"]) for row in gains} == {
        ("jaccard", "2"), ("jaccard_any_sign", "2"), ("weighted_overlap", "2")}
    assert (out / "overlap.csv").read_text().startswith("extraction,model_a,model_b,metric")
    overlap_rows = list(csv.DictReader((out / "overlap.csv").open()))
    metrics = {row["metric"] for row in overlap_rows}
    for kind in ("jaccard", "jaccard_any_sign"):
        for control in ("_chance_uniform", "_chance_order", "_cross_prompt"):
            assert kind + control in metrics
    # the per-order table counts what the saved results hold (an independent recount)
    per_order = list(csv.DictReader((out / "per_order.csv").open()))
    assert list(per_order[0]) == [
        "extraction", "model_a", "model_b", "definition", "order", "n_salient_a", "n_shared",
        "rate", "ci_low", "ci_high", "rate_chance_order", "ratio_chance_order",
        "rate_cross_prompt"]
    mine = [r for r in per_order
            if (r["extraction"], r["model_a"], r["model_b"]) == ("independent", "small", "llama")]
    assert {row["definition"] for row in mine} == {"same_sign", "any_sign"}
    for row in mine:
        order = int(row["order"])
        salient = sum(sum(t.order == order for t in results["small", p].salient())
                      for p in agree)
        shared = sum(sum(t.order == order for t in overlap_terms(
            results["small", p], results["llama", p], row["definition"])) for p in agree)
        assert (int(row["n_salient_a"]), int(row["n_shared"])) == (salient, shared)
    # the long per-term table: one line of pandas, and it agrees with the results
    import pandas

    terms = pandas.read_csv(out / "terms.csv", keep_default_na=False)
    assert pandas.read_parquet(out / "terms.parquet").shape == terms.shape
    for prompt in agree:
        mine = terms[(terms.extraction == "independent") & (terms.prompt == prompt)
                     & (terms.model == "small")]
        assert set(mine[mine.salient].term) == {t.label for t in results["small", prompt].salient()}
        shared = {t.label for t in overlap_terms(results["small", prompt],
                                                   results["llama", prompt])}
        assert set(mine[mine.shared_with == "llama"].term) == shared
    sweep = list(csv.DictReader((out / "sweep.csv").open()))
    assert {float(row["tau"]) for row in sweep} == {0.05, 0.1, 0.2}
    at_main = {(r["model_a"], r["model_b"]): float(r["mean"]) for r in sweep
               if r["metric"] == "jaccard" and float(r["tau"]) == 0.05}
    assert at_main["small", "llama"] == pytest.approx(
        float(independent["mean"]["jaccard"][0][1]))  # the same comparison at the main τ
    assert {row["metric"] for row in sweep} == set(SWEEP_METRICS)  # both definitions
    cancellation = list(csv.DictReader((out / "cancellation.csv").open()))
    assert {row["set"] for row in cancellation} >= {
        "shared", "not_shared", "size_matched", "strength_matched", "cross_prompt",
        "shared - cross_prompt"}

    report = (out / "report.md").read_text()
    assert "## Across models" in report
    assert "### Findings (independent extraction, each next to its controls)" in report
    assert report.count("(primary):") == report.count("(secondary):") == 1  # one pair
    assert "**Sensitivity to the salience threshold τ**" in report
    counted = f"small vs llama: compared on {len(agree)} of {len(ids)} prompts"
    if len(agree) < len(ids):
        counted += f" ({len(ids) - len(agree)} skipped: the two explain different words)"
    assert counted in report
    assert report.count("## Definitions") == 1
    assert "| cross-prompt control |" in report
    assert "### Shared extraction" in report
    assert all(f"## Prompt `{prompt}`" in report for prompt in ids)
    images = [line.split("](")[1].rstrip(")") for line in report.splitlines()
              if line.startswith("![")]
    assert len(images) == 2 * 2 + len(ids) * (1 + len(models))
    for image in images:
        assert (out / image).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "run.log" in {p.name for p in out.iterdir()}


def test_a_contrast_and_fewer_players_than_asked_are_run_and_reported(tmp_path, tiny_models):
    prompts = write_prompts(tmp_path / "prompts.jsonl", [
        {"id": "capital", "prompt": "the capital of italy is", "target": "rome",
         "foil": "paris"}])
    out = tmp_path / "run"
    status = cli.main(["run", "-m", f"small={tiny_models['gpt2']}", "-p", str(prompts), "-o",
                       str(out), "--players", "6", "--quiet"])
    assert status == 0
    result = InteractionResult.load(out / "results" / "small" / "capital.npz")
    assert result.value_kind == "log_prob_diff"
    assert result.target_text.strip() == "rome vs paris"
    assert result.metadata["foil_given"] == "paris"
    assert result.players == ["capital", "italy"]
    report = (out / "report.md").read_text()
    assert "2 of the 6 asked: the prompt has only 2 content words" in report
    assert "rome vs paris" in report
    log = (out / "run.log").read_text()
    assert "2 players were chosen instead of 6" in log
    assert "`log_prob_diff`: `log p(target) - log p(foil)`" in report
    # a second session with nothing left to compute is not counted as one that computed
    assert cli.main(["run", "-m", f"small={tiny_models['gpt2']}", "-p", str(prompts), "-o",
                     str(out), "--players", "6", "--quiet"]) == 0
    assert "in 1 session(s) on cpu" in (out / "report.md").read_text()
    assert len(json.loads((out / "manifest.json").read_text())["sessions"]) == 2

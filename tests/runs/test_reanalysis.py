"""Re-analysis from saved values: other extraction and comparison options without the
models, into a named folder, the run itself untouched."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch
from helpers.run_models import save_tiny_models, write_prompts

from captum_interactions import InteractionError, InteractionResult
from captum_interactions.extraction import extract
from captum_interactions.runs import cli, load_run, reanalyse, run


def _fingerprint(folder: Path) -> dict[str, str]:
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file() and "analyses" not in
            path.parts and path.name != "run.lock"}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("reanalysis")
    models = save_tiny_models(root / "models")
    out = root / "run"
    run([f"small={models['gpt2']}", f"other={models['llama']}"],
        write_prompts(root / "prompts.jsonl"), out, n_players=4, show_progress=False)
    return out


def test_a_reanalysis_reextracts_from_saved_values_and_leaves_the_run_alone(finished_run):
    before = _fingerprint(finished_run)
    summary = reanalyse(finished_run, "qcoef-0.2", qcoef=0.2, tau=0.1)
    assert _fingerprint(finished_run) == before  # nothing of the run was written
    folder = finished_run / "analyses" / "qcoef-0.2"
    assert summary.out_dir == folder
    source, again = load_run(finished_run), load_run(folder)
    assert (again.options.qcoef, again.options.tau) == (0.2, 0.1)
    assert again.options.n_players == source.options.n_players
    assert set(again.results) == set(source.results)
    for key, original in source.results.items():
        result = again.results[key]
        assert torch.equal(result.values, original.values)  # the model's values, kept
        assert result.players == original.players
        assert result.target_text == original.target_text
        reference = extract(original.values, qcoef=0.2, players=original.players)
        torch.testing.assert_close(result.and_interactions, reference.and_interactions)
        assert result.extraction.qcoef == 0.2
    for name in ("comparison.json", "overlap.csv", "per_order.csv", "cancellation.csv",
                 "terms.csv", "report.md"):
        assert (folder / name).is_file(), name
    assert "A re-analysis of the run in" in (folder / "report.md").read_text()
    assert json.loads((folder / "comparison.json").read_text())["tau"] == 0.1
    # the primary definition of shared is a comparison option: the results are copied
    again = reanalyse(finished_run, "any-sign", definition="any_sign")
    copied = load_run(again.out_dir)
    assert copied.options.definition == "any_sign"
    for key, original in source.results.items():
        assert torch.equal(copied.results[key].and_interactions, original.and_interactions)
    assert "*Shared = salient in both with the same type and player set, either sign* " \
        "(primary)" in (again.out_dir / "report.md").read_text()


def test_the_same_analysis_again_reuses_and_other_options_are_refused(finished_run):
    reanalyse(finished_run, "again", tau=0.2, report=False)
    second = reanalyse(finished_run, "again", tau=0.2, report=False)
    assert second.computed == []
    assert second.reused == len(load_run(finished_run).results)
    with pytest.raises(InteractionError, match="other options"):
        reanalyse(finished_run, "again", qcoef=0.3, report=False)


@pytest.mark.parametrize(("changes", "match"), [
    ({"n_players": 3}, "n_players change.* forward passes"),
    ({"baseline": "unk"}, "baseline change"),
    ({"qcof": 0.1}, r"unknown option\(s\) \['qcof'\]"),
    ({"qcoef": -1}, "qcoef"),
])
def test_changes_that_need_the_models_or_make_no_sense_are_refused(finished_run, changes,
                                                                   match):
    with pytest.raises(InteractionError, match=match):
        reanalyse(finished_run, "bad", report=False, **changes)
    assert not (finished_run / "analyses" / "bad" / "results").exists()


def test_bad_names_and_empty_runs(finished_run, tmp_path):
    with pytest.raises(InteractionError, match="an analysis name"):
        reanalyse(finished_run, "../escape")
    with pytest.raises(InteractionError):
        reanalyse(tmp_path, "x")


def test_the_command_line(finished_run, capsys):
    status = cli.main(["reanalyse", str(finished_run), "cli", "--mode", "and", "--qcoef",
                       "0", "--quiet"])
    printed = capsys.readouterr().out
    assert status == 0
    assert "re-analysed" in printed
    result = next((finished_run / "analyses" / "cli" / "results").rglob("*.npz"))
    loaded = InteractionResult.load(result)
    assert loaded.extraction.mode == "and"
    assert not loaded.or_interactions[1:].any()
    assert cli.main(["reanalyse", str(finished_run), "cli2", "--quiet"]) == 0


def test_the_run_options_know_the_definitions_of_shared_that_graphs_computes():
    from captum_interactions.graphs import SHARED_DEFINITIONS
    from captum_interactions.runs.options import SHARED_TERM_DEFINITIONS, RunOptions

    assert tuple(SHARED_DEFINITIONS) == SHARED_TERM_DEFINITIONS
    with pytest.raises(InteractionError, match="definition 'same' is not a definition"):
        RunOptions(definition="same")

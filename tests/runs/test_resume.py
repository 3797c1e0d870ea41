"""Resumable runs: a killed run continues where it stopped; nothing is lost or computed twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers.run_models import PROMPTS, save_tiny_models, write_factory, write_prompts

from captum_interactions import InteractionError, InteractionResult
from captum_interactions._files import atomic_path
from captum_interactions.runs import InteractionRun, RunFolderError, RunOptions, cli, load_run

# every model on every prompt (no screening): these tests are about the folder's mechanics
OPTIONS = RunOptions(n_players=4, screen=False)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    save_tiny_models(root)
    factory = write_factory(root)
    return [f"{factory}:gpt2", f"{factory}:llama"]


def _files(out: Path) -> dict[str, tuple[int, bytes]]:
    """Every result file: (modification time in ns, content)."""
    return {str(p.relative_to(out)): (p.stat().st_mtime_ns, p.read_bytes())
            for p in sorted((out / "results").glob("*/*.npz"))}


@pytest.mark.slow  # starts a Python interpreter
def test_killed_run_resumes_without_losing_or_recomputing(tmp_path, models, capsys):
    prompts = write_prompts(tmp_path / "prompts.jsonl")
    out = tmp_path / "run"
    command = [sys.executable, "-m", "captum_interactions", "run", "-m", models[0], "-m",
               models[1], "-p", str(prompts), "-o", str(out), "--players", "4", "--quiet",
               "--no-report", "--no-screen"]
    # SIGKILL (no clean-up at all) inside a forward pass of the second model's second prompt.
    crash = {**os.environ, "CRASH_AFTER_RESULTS": "4", "CRASH_RUN_DIR": str(out)}
    killed = subprocess.run(command, env=crash, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    before = _files(out)
    assert sorted(before) == ["results/gpt2/capital.npz", "results/gpt2/fox.npz",
                              "results/gpt2/weather.npz", "results/llama/capital.npz"]
    for name in before:
        InteractionResult.load(out / name)  # complete, readable files only

    assert cli.main(command[3:]) == 0  # the same command again, in this process
    assert "2 result(s) computed, 4 reused" in capsys.readouterr().out
    after = _files(out)
    assert len(after) == 6
    assert {name: after[name] for name in before} == before  # untouched: same time, same bytes
    manifest = json.loads((out / "manifest.json").read_text())
    sessions = {item: entry["session"] for item, entry in manifest["items"].items()}
    assert sessions == {"gpt2/capital": 1, "gpt2/fox": 1, "gpt2/weather": 1,
                        "llama/capital": 1, "llama/fox": 2, "llama/weather": 2}
    assert [s["session"] for s in manifest["sessions"]] == [1, 2]
    leftovers = [p.name for p in out.rglob(".*")]
    assert leftovers == []  # no temporary files

    # Resuming changes nothing in the science: same values as an uninterrupted run.
    fresh = tmp_path / "fresh"
    InteractionRun(models, prompts, fresh, options=OPTIONS).execute(
        show_progress=False, report=False)
    for name in after:
        a, b = InteractionResult.load(out / name), InteractionResult.load(fresh / name)
        assert torch.equal(a.values, b.values)
        assert torch.equal(a.and_interactions, b.and_interactions)


def test_corrupt_and_stale_results_are_recomputed_and_nothing_else(tmp_path, models):
    prompts = write_prompts(tmp_path / "prompts.jsonl")
    out = tmp_path / "run"
    first = InteractionRun(models, prompts, out, options=OPTIONS).execute(
        show_progress=False, report=False)
    assert len(first.computed) == 6
    assert first.reused == 0
    # A truncated file (as a non-atomic writer would leave) and a changed prompt.
    truncated = out / "results" / "llama" / "fox.npz"
    truncated.write_bytes(truncated.read_bytes()[:100])
    changed = [dict(p) for p in PROMPTS]
    changed[2]["prompt"] = "she said that the weather was nice today , so we"
    write_prompts(prompts, changed)

    second = InteractionRun(models, prompts, out, options=OPTIONS).execute(
        show_progress=False, report=False)
    assert sorted(second.computed) == [("gpt2", "weather"), ("llama", "fox"),
                                       ("llama", "weather")]
    assert second.reused == 3
    data = load_run(out)
    assert data.results["llama", "weather"].metadata["prompt"] == changed[2]["prompt"]
    assert InteractionResult.load(truncated).n_players == 4
    # the damaged file was moved aside, not deleted: it may hold something worth a look
    (moved,) = (out / "quarantine" / "results" / "llama").glob("fox.npz.*")
    assert moved.read_bytes()[:4] == b"PK\x03\x04"

    third = InteractionRun(models, prompts, out, options=OPTIONS).execute(
        show_progress=False, report=False)
    assert third.computed == []
    assert third.reused == 6


def test_resuming_with_other_options_is_refused_before_any_work(tmp_path, models):
    prompts = write_prompts(tmp_path / "prompts.jsonl", PROMPTS[:1])
    out = tmp_path / "run"
    InteractionRun(models[:1], prompts, out, options=OPTIONS).execute(
        show_progress=False, report=False)
    with pytest.raises(RunFolderError, match=r"other options \(qcoef: 0\.05 -> 0\.02\); resume"):
        InteractionRun(models[:1], prompts, out, options=RunOptions(n_players=4, qcoef=0.02))
    # Analysis options (salience, shared extraction) may change: nothing is recomputed.
    summary = InteractionRun(models[:1], prompts, out,
                             options=RunOptions(n_players=4, tau=0.1)).execute(
        show_progress=False, report=False)
    assert summary.computed == []


def _fail_while_writing(path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("disk full")


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "result.npz"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="disk full"):
        _fail_while_writing(path)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["result.npz"]


def test_run_options_refuse_a_single_model_solver_for_shared_runs():
    with pytest.raises(InteractionError, match="'working_set' does not solve joint extraction"):
        RunOptions(n_players=4, shared=True, solver="working_set")
    with pytest.raises(InteractionError, match="unknown solver 'cplex'"):
        RunOptions(n_players=4, solver="cplex")

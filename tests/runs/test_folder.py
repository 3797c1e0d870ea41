"""The run folder under stress: one writer at a time, leftovers of killed processes, damaged
manifests and results, and kills at random moments; nothing is lost or computed twice."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch
from helpers.run_models import PROMPTS, save_tiny_models, write_factory, write_prompts

from captum_interactions import InteractionResult
from captum_interactions._files import partial_files
from captum_interactions.runs import (
    InteractionRun,
    PromptFileError,
    PromptSpec,
    RunFolderError,
    RunOptions,
    cli,
    load_run,
)

# every model on every prompt (no screening): these tests are about the folder's mechanics
OPTIONS = RunOptions(n_players=4, screen=False)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    save_tiny_models(root)
    factory = write_factory(root)
    return [f"{factory}:gpt2", f"{factory}:llama"]


@pytest.fixture
def prompts(tmp_path):
    return write_prompts(tmp_path / "prompts.jsonl", PROMPTS[:2])


def _run(models, prompts, out, options=OPTIONS):
    return InteractionRun(models, prompts, out, options=options).execute(
        show_progress=False, report=False)


def test_a_second_writer_is_refused_while_the_first_holds_the_folder(tmp_path, models,
                                                                      prompts):
    out = tmp_path / "run"
    first = InteractionRun(models[:1], prompts, out, options=OPTIONS)
    second = InteractionRun(models[:1], prompts, out, options=OPTIONS)
    with first.folder.lock(), pytest.raises(
            RunFolderError, match=rf"in use by process {os.getpid()} on .* since .*; wait"):
        second.execute(show_progress=False, report=False)
    assert not (out / "results").exists()  # refused before any work
    # Both objects were made on the empty folder: the second resumes the first's run.
    assert len(first.execute(show_progress=False, report=False).computed) == 2
    summary = second.execute(show_progress=False, report=False)
    assert (summary.computed, summary.reused) == ([], 2)
    manifest = json.loads((out / "manifest.json").read_text())
    assert [s["session"] for s in manifest["sessions"]] == [1, 2]  # no session lost


def test_the_lock_of_a_dead_process_and_its_leftovers_are_taken_over(tmp_path, models,
                                                                    prompts):
    out = tmp_path / "run"
    _run(models[:1], prompts, out)
    (out / "run.lock").write_text("process 999999 on elsewhere since 2026-01-01T00:00:00\n")
    leftover = out / "results" / "gpt2" / ".partial.0123456789ab.capital.npz"
    leftover.write_bytes(b"half a file")
    summary = _run(models[:1], prompts, out)
    assert summary.reused == 2
    assert not leftover.exists()


def test_a_run_killed_while_writing_its_first_manifest_starts_again(tmp_path, models,
                                                                    prompts):
    out = tmp_path / "run"
    out.mkdir()
    leftover = out / ".partial.0123456789ab.manifest.json"
    leftover.write_text('{"format"')
    summary = _run(models[:1], prompts, out)
    assert len(summary.computed) == 2
    assert not leftover.exists()


def test_a_damaged_manifest_is_rebuilt_from_the_valid_results(tmp_path, models, prompts):
    out = tmp_path / "run"
    _run(models, prompts, out)
    for damage in (b"", b"{not json", json.dumps({"format": "captum-interactions/run",
                                                   "options": {}}).encode()):
        (out / "manifest.json").write_bytes(damage)
        with pytest.raises(RunFolderError, match="run the run's command again"):
            load_run(out)
        summary = _run(models, prompts, out)
        assert (summary.computed, summary.reused) == ([], 4)
        manifest = json.loads((out / "manifest.json").read_text())
        assert sorted(manifest["items"]) == ["gpt2/capital", "gpt2/fox", "llama/capital",
                                             "llama/fox"]
    assert len(list((out / "quarantine").glob("manifest.json.*"))) >= 1
    (out / "manifest.json").unlink()  # a missing manifest too
    assert _run(models, prompts, out).reused == 4
    assert len(load_run(out).results) == 4


def test_a_rebuild_never_overwrites_results_made_with_other_options(tmp_path, models,
                                                                    prompts):
    out = tmp_path / "run"
    _run(models[:1], prompts, out)
    (out / "manifest.json").unlink()
    before = {p: p.read_bytes() for p in (out / "results").rglob("*.npz")}
    with pytest.raises(RunFolderError, match=r"holds results made with other options"):
        _run(models[:1], prompts, out, options=RunOptions(n_players=4, qcoef=0.1))
    assert {p: p.read_bytes() for p in (out / "results").rglob("*.npz")} == before


def test_prompts_without_content_words_are_refused_before_any_model_runs(tmp_path, models):
    bad = [PromptSpec("ok", "the capital of france is"), PromptSpec("empty", "it is the")]
    with pytest.raises(PromptFileError, match="empty: the prompt 'it is the' has no content"):
        InteractionRun(models[:1], bad, tmp_path / "run", options=OPTIONS)
    lines = ['{"prompt": "the capital of france is", "meta": {"score": NaN}}']
    (tmp_path / "nan.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(PromptFileError, match=r"nan.jsonl:1: .*NaN.*strict JSON"):
        InteractionRun(models[:1], tmp_path / "nan.jsonl", tmp_path / "run2", options=OPTIONS)


@pytest.mark.slow  # starts Python interpreters
def test_two_concurrent_runs_compute_nothing_twice(tmp_path, models, prompts, capsys):
    out = tmp_path / "run"
    command = [sys.executable, "-m", "captum_interactions", "run", "-m", models[0], "-p",
               str(prompts), "-o", str(out), "--players", "4", "--quiet", "--no-report",
               "--no-screen"]
    busy = subprocess.Popen(command, env={**os.environ, "SLOW_FORWARD": "0.05"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (out / "manifest.json").exists() and time.monotonic() < deadline:
            time.sleep(0.05)  # until the first run holds the folder
        assert cli.main(command[3:]) == 2
        assert f"in use by process {busy.pid}" in capsys.readouterr().err
        assert busy.wait(timeout=300) == 0
    finally:
        busy.kill()
    assert cli.main(command[3:]) == 0
    assert "0 result(s) computed, 2 reused" in capsys.readouterr().out


@pytest.mark.slow  # starts Python interpreters
def test_kills_at_random_moments_lose_nothing(tmp_path, models, capsys):
    prompts = write_prompts(tmp_path / "prompts.jsonl")
    out = tmp_path / "run"
    command = [sys.executable, "-m", "captum_interactions", "run", "-m", models[0], "-m",
               models[1], "-p", str(prompts), "-o", str(out), "--players", "4", "--quiet",
               "--no-report", "--shared", "--no-screen"]
    rng = random.Random(0)
    saved: dict[str, bytes] = {}
    counts = []
    for _ in range(4):
        run = subprocess.Popen(command, env={**os.environ, "SLOW_FORWARD": "0.02"},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(1.5, 5.0))
        run.send_signal(signal.SIGKILL)
        run.wait()
        now = {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*.npz")
               if "quarantine" not in p.parts}
        for name, data in saved.items():  # a saved result is never rewritten or lost
            assert now.get(name) == data, name
        for name in now:
            InteractionResult.load(out / name)  # every file is whole
        saved = now
        counts.append(len(now))
    assert any(count < 12 for count in counts), counts  # killed in the middle of the work
    assert cli.main(command[3:]) == 0
    assert not (out / "quarantine").exists()
    assert partial_files(out) == []
    data = load_run(out)
    assert len(data.results) == 6
    assert len(data.shared) == 6
    fresh = tmp_path / "fresh"
    InteractionRun(models, prompts, fresh, options=dataclasses.replace(OPTIONS, shared=True)
                   ).execute(show_progress=False, report=False)
    reference = load_run(fresh)
    for key, result in data.results.items():
        torch.testing.assert_close(result.values, reference.results[key].values, rtol=0, atol=0)


@pytest.mark.slow  # starts a Python interpreter
def test_a_save_killed_at_any_moment_leaves_the_old_or_the_new_file(tmp_path):
    path = tmp_path / "result.npz"
    values = torch.randn(1 << 14, dtype=torch.float64)
    InteractionResult([f"x{i}" for i in range(14)], values, values, values).save(path)
    child = (
        "import sys, torch\n"
        "from captum_interactions import InteractionResult\n"
        "v = torch.randn(1 << 14, dtype=torch.float64)\n"
        "r = InteractionResult([f'x{i}' for i in range(14)], v, v, v)\n"
        "print('ready', flush=True)\n"
        "while True:\n    r.save(sys.argv[1])\n"
    )
    rng = random.Random(1)
    for _ in range(5):
        saver = subprocess.Popen([sys.executable, "-c", child, str(path)],
                                 stdout=subprocess.PIPE, text=True)
        assert saver.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.01, 0.3))
        saver.send_signal(signal.SIGKILL)
        saver.wait()
        assert InteractionResult.load(path).n_players == 14  # whole, old or new

"""Torch threads of a run: never more than the cores, fewer under load, one warning when the
machine is oversubscribed, and the caller's thread count restored afterwards."""

from __future__ import annotations

import warnings

import pytest
import torch
from helpers.run_models import PROMPTS, save_tiny_models, write_prompts

from captum_interactions import InteractionError, OversubscriptionWarning
from captum_interactions.runs import InteractionRun, RunOptions, cli, execute, threads
from captum_interactions.runs.threads import plan_threads, torch_threads


@pytest.mark.parametrize(
    ("given", "workers", "cores", "load", "expected", "oversubscribed"),
    [
        (None, 1, 2, 0.0, 2, False),  # a quiet machine: every core
        (None, 1, 2, 1.2, 1, False),  # one busy process: the other core
        (None, 1, 2, 6.0, 1, True),  # the measured case: load 5-7 on 2 cores
        (None, 2, 8, 0.0, 4, False),  # workers share the cores
        (None, 3, 8, None, 2, False),  # no load average (Windows): cores // workers
        (1, 1, 2, 6.0, 1, True),  # asked for: kept, still oversubscribed
        (2, 2, 4, 0.0, 2, False),
    ],
    ids=["quiet", "one-busy", "loaded", "two-workers", "no-loadavg", "given-loaded", "given"],
)
def test_threads_never_exceed_the_cores(given, workers, cores, load, expected,
                                        oversubscribed):
    plan = plan_threads(given, workers=workers, cores=cores, load=load)
    assert plan.threads == expected
    assert plan.workers * plan.threads <= cores
    assert plan.oversubscribed is oversubscribed


def test_threads_over_the_cores_are_refused_with_the_fix():
    with pytest.raises(InteractionError, match=r"threads=2 × 2 worker\(s\) = 4 threads, over "
                                               r"the 3 CPU core\(s\).*give threads=1 or fewer"):
        plan_threads(2, workers=2, cores=3)
    with pytest.raises(InteractionError, match="threads must be at least 1, got 0"):
        plan_threads(0)
    with pytest.raises(TypeError, match=r"threads must be an int or None, got 1\.5"):
        plan_threads(1.5)


def test_the_plan_is_applied_and_the_callers_threads_restored():
    before = torch.get_num_threads()
    plan = plan_threads(1, cores=2, load=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a quiet plan says nothing
        with torch_threads(plan):
            assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_other_load_is_a_number_of_busy_cores():
    load = threads.other_load()
    assert load is None or 0 <= load <= 1000


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return [str(path) for path in save_tiny_models(root).values()]


def test_an_oversubscribed_run_warns_once_and_uses_one_thread(tmp_path, models, monkeypatch):
    monkeypatch.setattr(execute, "other_load", lambda: 9.0)
    seen = []
    monkeypatch.setattr(execute, "compute", _spy(execute.compute, seen))
    prompts = write_prompts(tmp_path / "prompts.jsonl", PROMPTS[:2])
    before = torch.get_num_threads()
    with pytest.warns(OversubscriptionWarning) as said:
        summary = InteractionRun(models, prompts, tmp_path / "run",
                                 options=RunOptions(n_players=3)).execute(
            show_progress=False, report=False)
    assert len(summary.computed) == 4
    loaded = [w for w in said if issubclass(w.category, OversubscriptionWarning)]
    assert len(loaded) == 1  # once per run, not once per result
    assert "other processes keep 9.0 of the" in str(loaded[0].message)
    assert seen == [1, 1, 1, 1]  # every result computed with one thread
    assert torch.get_num_threads() == before


def test_threads_on_the_command_line(tmp_path, models, monkeypatch, capsys):
    monkeypatch.setattr(execute, "other_load", lambda: 0.0)
    seen = []
    monkeypatch.setattr(execute, "compute", _spy(execute.compute, seen))
    prompts = write_prompts(tmp_path / "prompts.jsonl", PROMPTS[:1])
    assert cli.main(["run", "-m", models[0], "-p", str(prompts), "-o", str(tmp_path / "run"),
                     "--players", "3", "--quiet", "--no-report", "--threads", "1"]) == 0
    assert seen == [1]
    too_many = threads.available_cores() + 1
    assert cli.main(["run", "-m", models[0], "-p", str(prompts), "-o", str(tmp_path / "run"),
                     "--players", "3", "--quiet", "--threads", str(too_many)]) == 2
    assert f"threads={too_many} × 1 worker(s)" in capsys.readouterr().err


def _spy(compute, seen: list[int]):
    """``compute`` that notes torch's thread count at each call."""
    def spied(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return compute(*args, **kwargs)

    return spied

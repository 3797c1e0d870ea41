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
    original = torch.get_num_threads()
    torch.set_num_threads(3)  # the caller's count, other than the plan's one thread
    try:
        plan = plan_threads(1, cores=2, load=0.0)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a quiet plan says nothing
            with torch_threads(plan):
                assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(original)


def _fake_loadavg(monkeypatch, average, proc_lines):
    """Make ``other_load`` read ``average`` as the 1-minute load average and ``proc_lines`` as
    successive reads of ``/proc/loadavg``; an exception in their place is raised instead."""
    def getloadavg():
        if isinstance(average, Exception):
            raise average
        return (average, 0.0, 0.0)

    reads = iter(proc_lines if isinstance(proc_lines, list) else [proc_lines])

    class FakePath:
        def __init__(self, path):
            assert str(path) == "/proc/loadavg"

        def read_text(self):
            line = next(reads)
            if isinstance(line, Exception):
                raise line
            return line

    monkeypatch.setattr(threads.os, "getloadavg", getloadavg, raising=False)
    monkeypatch.setattr(threads, "Path", FakePath)


@pytest.mark.parametrize(
    ("average", "proc_lines", "expected"),
    [
        # the running threads (less the reader), averaged, cap a stale load average
        (3.5, ["3.5 2.0 1.0 3/200 99", "3.5 2.0 1.0 5/200 99"], 3.0),
        # a load average under the running threads is kept
        (0.25, ["0.25 0.5 0.5 4/200 99", "0.25 0.5 0.5 4/200 99"], 0.25),
        (2.0, ["2.0 1.0 1.0 1/150 99"] * 2, 0.0),  # only the reader runs
        (2.0, OSError("no /proc"), 2.0),  # no /proc/loadavg: the load average alone
        (2.0, ["garbled"] * 2, 2.0),
        (OSError("unavailable"), ["1.0 1.0 1.0 2/10 9"] * 2, None),  # the system says neither
    ],
    ids=["capped", "average", "only-the-reader", "no-proc", "garbled-proc", "no-loadavg"],
)
def test_other_load_is_the_load_average_capped_by_the_running_threads(
        monkeypatch, average, proc_lines, expected):
    _fake_loadavg(monkeypatch, average, proc_lines)
    assert threads.other_load(samples=2, interval=0.0) == expected


def test_other_load_on_this_machine_is_a_number_of_busy_cores():
    load = threads.other_load(samples=2, interval=0.0)
    if hasattr(threads.os, "getloadavg"):
        assert isinstance(load, float)
        assert load >= 0
    else:
        assert load is None


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

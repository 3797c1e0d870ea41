"""The Ray executor on a real local cluster: the same results as in-process, a killed actor
is restarted and the run completes, a killed driver resumes with nothing recomputed, and GPU
actors are scheduled on logical GPUs (this machine has none)."""

from __future__ import annotations

import csv
import json
import logging
import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from helpers.run_models import PROMPTS, save_tiny_models, write_factory, write_prompts

from captum_interactions import InteractionError, InteractionResult
from captum_interactions._files import PARTIAL_PREFIX
from captum_interactions.adapters.learned_baseline import LearnedBaseline
from captum_interactions.runs import (
    InteractionRun,
    ModelSpec,
    RayExecutor,
    RunOptions,
    load_run,
    run,
)
from captum_interactions.runs.ray_executor import PRELOAD

ray = pytest.importorskip("ray")  # an optional extra: captum-interactions[ray]

OPTIONS = RunOptions(n_players=4, shared=True)
#: Six prompts: the helpers' three, and the same three with other ids and a fixed target.
SIX = [*PROMPTS, *({**p, "id": f"{p['id']}2", "target": "the"} for p in PROMPTS)]
#: Factories added to the helpers' factory file (the cluster's workers do not see this
#: process's environment, so what they do is written into the file): a model that SIGKILLs
#: its own process on its third forward pass, once (a restarted actor finds the flag file
#: and works), and models that sleep in every forward pass (a driver still busy when killed).
RAY_FACTORIES = '''

def gpt2_crash_once():
    flag = HERE / "crashed"
    model, tokenizer = gpt2()
    calls = []

    def crash(module, args, output):
        calls.append(1)
        if len(calls) == 3 and not flag.exists():
            flag.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)

    model.register_forward_hook(crash)
    return model, tokenizer


def _slow(loaded):
    loaded[0].register_forward_hook(lambda module, args, output: time.sleep(0.3))
    return loaded


def slow_gpt2():
    return _slow(gpt2())


def slow_llama():
    return _slow(llama())
'''


@pytest.fixture(scope="module")
def cluster():
    """A local Ray cluster for the module: 2 CPUs and 2 logical GPUs, no dashboard, workers
    that import torch and the library before they take work."""
    ray.init(num_cpus=2, num_gpus=2, include_dashboard=False,
             object_store_memory=80 * 1024**2, logging_level=logging.WARNING,
             _system_config={"preload_python_modules": PRELOAD})
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    save_tiny_models(root)
    factory = write_factory(root)
    factory.write_text(factory.read_text() + RAY_FACTORIES)
    return root


@pytest.fixture(scope="module")
def models(root):
    return [f"{root / 'factory.py'}:gpt2", f"{root / 'factory.py'}:llama"]


def _refuse(*args, **kwargs):
    """In place of ``ModelSpec.load`` in the driver: it loads no model."""
    raise AssertionError("the driver loaded a model")


def _terms(result: InteractionResult) -> set[tuple[str, int, int]]:
    """The salient set: type, players and sign of each salient term (values agree to float
    rounding only: the cluster's workers sum in one thread, this process in two)."""
    return {(term.type, term.mask, term.sign) for term in result.salient()}


def _same(a, b) -> bool:
    """Equal, numbers to within float rounding (1e-6 relative), in nested lists and dicts."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12) or (a != a and b != b)
    return a == b


def _rows(path: Path) -> list[dict]:
    """A CSV file's rows, numbers as floats."""
    def value(text: str):
        try:
            return float(text)
        except ValueError:
            return text

    with path.open(newline="") as file:
        return [{k: value(v) for k, v in row.items()} for row in csv.DictReader(file)]


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return torch.allclose(a, b, rtol=1e-6, atol=1e-6 * float(b.abs().max()))


@pytest.mark.parametrize(("device", "threads"), [(None, 1), ("cpu", 2)],
                         ids=["gpu-actors", "cpu-actors-one-at-a-time"])
def test_ray_run_equals_the_in_process_run(cluster, models, tmp_path, monkeypatch, device,
                                           threads):
    prompts = write_prompts(tmp_path / "prompts.jsonl", SIX)
    here = InteractionRun(models, prompts, tmp_path / "here", options=OPTIONS).execute(
        show_progress=False, report=False)

    monkeypatch.setattr(ModelSpec, "load", _refuse)  # screening too runs on the cluster
    # device None: the cluster has (logical) GPUs, so the actors take half a GPU each and,
    # torch seeing no CUDA on this machine, compute on the CPU; a CPU task extracts. Both
    # actors fit at once, so they screen too. "cpu" with 2 threads: CPU actors of 2 CPUs,
    # which extract themselves; one fits at a time, so tasks screen and the second actor
    # waits for the first to finish
    there = InteractionRun(models, prompts, tmp_path / "ray", options=OPTIONS).execute(
        executor=RayExecutor(gpus_per_actor=0.5), device=device, threads=threads,
        show_progress=False, report=False)
    assert sorted(there.computed) == sorted(here.computed)
    # the models disagree on the one prompt without a target: screened out by both
    assert there.screened_out == here.screened_out == ["weather"]
    assert len(there.computed) == 10
    assert (there.compared, there.skipped) == (here.compared, here.skipped)
    a, b = load_run(tmp_path / "ray"), load_run(tmp_path / "here")
    assert a.results.keys() == b.results.keys()
    assert a.shared.keys() == b.shared.keys()
    assert len(a.shared) == 10
    for table in ("results", "shared"):
        for key, result in getattr(a, table).items():
            other = getattr(b, table)[key]
            assert _close(result.values, other.values), (table, key)
            assert _close(result.and_interactions, other.and_interactions), (table, key)
            assert _close(result.or_interactions, other.or_interactions), (table, key)
            assert _terms(result) == _terms(other), (table, key)
            assert result.target_text == other.target_text
            assert result.metadata["run_key"] == other.metadata["run_key"]
    # the capability scores (made on the actors) are the same
    scores = sorted(p.name for p in (tmp_path / "here" / "capability").glob("*.json"))
    assert scores == ["gpt2.json", "llama.json"]
    for name in scores:
        assert _same(json.loads((tmp_path / "ray" / "capability" / name).read_text()),
                     json.loads((tmp_path / "here" / "capability" / name).read_text()))
    # the comparison files are the same too (the joint-fit control's fits are Ray tasks),
    # and the manifest says where each result ran
    for name in ("overlap.csv", "joint_control.csv", "screened_out.csv"):
        assert _same(_rows(tmp_path / "ray" / name), _rows(tmp_path / "here" / name)), name
    where = {entry["where"] for entry in a.manifest["items"].values()}
    assert all(w.endswith(", cpu") for w in where)
    if device is None:
        assert {w.split("GPU ")[1].split(",")[0] for w in where} <= {"0", "1"}, where
        assert "GPU actors" in a.manifest["sessions"][0]["device"]
    else:
        assert {w.split(", ")[1] for w in where} == {"GPU none"}, where
        assert "CPU actors" in a.manifest["sessions"][0]["device"]
    # run again: everything is reused, nothing goes to the cluster
    monkeypatch.undo()
    again = run(models, prompts, tmp_path / "ray", executor="ray", device="cpu",
                show_progress=False, report=False, **vars(OPTIONS))
    assert (again.computed, again.reused) == ([], 10)


def test_a_learned_baseline_is_trained_on_the_actor_saved_by_the_driver_and_reused(
        cluster, models, tmp_path, monkeypatch):
    prompts = write_prompts(tmp_path / "prompts.jsonl", PROMPTS[:2])
    options = RunOptions(n_players=3, baseline="learned")
    InteractionRun(models[:1], prompts, tmp_path / "here", options=options).execute(
        show_progress=False, report=False)
    monkeypatch.setattr(ModelSpec, "load", _refuse)
    summary = InteractionRun(models[:1], prompts, tmp_path / "ray", options=options).execute(
        executor="ray", device="cpu", show_progress=False, report=False)
    assert len(summary.computed) == 2
    saved = tmp_path / "ray" / "baselines" / "gpt2.npz"
    here, there = (LearnedBaseline.load(tmp_path / folder / "baselines" / "gpt2.npz")
                   for folder in ("here", "ray"))
    assert _close(there.vector, here.vector)
    a, b = load_run(tmp_path / "ray"), load_run(tmp_path / "here")
    for key, result in a.results.items():
        assert _close(result.values, b.results[key].values), key
        assert result.baseline == b.results[key].baseline == "learned:gpt2:pad:200-steps"
    # a new prompt: the saved baseline goes to the actor, nothing is trained again
    stamp = saved.stat().st_mtime_ns
    more = write_prompts(tmp_path / "more.jsonl", [*PROMPTS[:2], {**PROMPTS[1], "id": "fox3"}])
    again = InteractionRun(models[:1], more, tmp_path / "ray", options=options).execute(
        executor="ray", device="cpu", show_progress=False, report=False)
    assert again.computed == [("gpt2", "fox3")]
    assert saved.stat().st_mtime_ns == stamp


@pytest.mark.slow  # a restarted actor process, and a second run to compare with
def test_a_killed_actor_is_restarted_and_the_run_completes(cluster, root, models, tmp_path):
    flag = root / "crashed"
    assert not flag.exists()
    prompts = write_prompts(tmp_path / "prompts.jsonl")
    # no screening: it would run the crashing model in this process
    options = RunOptions(n_players=4, shared=True, screen=False)
    summary = InteractionRun([f"{root / 'factory.py'}:gpt2_crash_once", models[1]], prompts,
                             tmp_path / "run", options=options).execute(
        executor="ray", device="cpu", show_progress=False, report=False)
    assert flag.exists()  # an actor process was SIGKILLed in a forward pass
    assert len(summary.computed) == 6
    data = load_run(tmp_path / "run")
    assert len(data.results) == 6
    # device "cpu": CPU actors, no GPU, though the cluster has some
    assert all(entry["where"].endswith("GPU none, cpu")
               for entry in data.manifest["items"].values())
    # the restarted actor's results are those of an undisturbed model
    clean = InteractionRun(models[:1], prompts, tmp_path / "clean",
                           options=options).execute(show_progress=False, report=False)
    assert len(clean.computed) == 3
    for prompt in PROMPTS:
        crashed = data.results["gpt2_crash_once", prompt["id"]]
        undisturbed = InteractionResult.load(
            tmp_path / "clean" / "results" / "gpt2" / f"{prompt['id']}.npz")
        assert _close(crashed.values, undisturbed.values)


def _files(out: Path) -> dict[str, tuple[int, bytes]]:
    """Every result file: (modification time in ns, content); not the temporary file of a
    write the kill interrupted (the next run removes it)."""
    return {str(p.relative_to(out)): (p.stat().st_mtime_ns, p.read_bytes())
            for p in sorted((out / "results").glob("*/*.npz"))
            if not p.name.startswith(PARTIAL_PREFIX)}


@pytest.mark.slow  # starts a Python interpreter as a second driver
def test_a_killed_driver_resumes_with_nothing_recomputed(cluster, root, tmp_path):
    prompts = write_prompts(tmp_path / "prompts.jsonl", SIX)
    out = tmp_path / "run"
    slow = root / "factory.py"
    command = [sys.executable, "-m", "captum_interactions", "run", "-m", f"{slow}:slow_gpt2",
               "-m", f"{slow}:slow_llama", "-p", str(prompts), "-o", str(out), "--players",
               "4", "--quiet", "--no-report", "--executor", "ray", "--ray-address", cluster,
               "--device", "cpu"]
    driver = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while len(_files(out)) < 3:
        assert driver.poll() is None, driver.stderr.read().decode()
        assert time.monotonic() < deadline, "the driver made no results in 120 s"
        time.sleep(0.05)
    driver.send_signal(signal.SIGKILL)  # no clean-up at all
    driver.wait()
    driver.stderr.close()
    before = _files(out)
    assert 3 <= len(before) < 10  # 5 prompts: the models disagree on one, screened out
    for name in before:
        InteractionResult.load(out / name)  # complete, readable files only

    summary = run([f"{slow}:slow_gpt2", f"{slow}:slow_llama"], prompts, out, executor="ray",
                  device="cpu", show_progress=False, report=False, n_players=4)
    after = _files(out)
    assert len(after) == 10
    assert {name: after[name] for name in before} == before  # untouched: same time, bytes
    recomputed = {f"results/{m}/{p}.npz" for m, p in summary.computed}
    assert recomputed == set(after) - set(before)  # only what was missing
    assert summary.reused == len(before)
    manifest = json.loads((out / "manifest.json").read_text())
    assert [s["session"] for s in manifest["sessions"]] == [1, 2]
    assert {e["session"] for e in manifest["items"].values()} == {1, 2}
    assert [p.name for p in out.rglob(".partial.*")] == []


def test_an_actor_the_cluster_cannot_hold_is_refused_before_any_work(cluster, models,
                                                                     tmp_path):
    prompts = write_prompts(tmp_path / "prompts.jsonl", PROMPTS[:1])
    job = InteractionRun(models, prompts, tmp_path / "run", options=RunOptions(n_players=3))
    with pytest.raises(InteractionError, match=r"need 3 GPU\(s\) each, but no node"):
        job.execute(executor=RayExecutor(gpus_per_actor=3), show_progress=False)
    with pytest.raises(InteractionError, match=r"threads=3: no node of the Ray cluster has 3"):
        job.execute(executor="ray", device="cpu", threads=3, show_progress=False)
    with pytest.raises(InteractionError, match="give 'cpu' or 'cuda'"):
        job.execute(executor="ray", device="cuda:1", show_progress=False)
    assert not (tmp_path / "run" / "results").exists()


def test_executor_options_are_checked(tmp_path, models):
    prompts = write_prompts(tmp_path / "prompts.jsonl", PROMPTS[:1])
    with pytest.raises(InteractionError, match="gpus_per_actor=0: give a fraction"):
        RayExecutor(gpus_per_actor=0)
    with pytest.raises(InteractionError, match="unknown executor 'dask'"):
        run(models, prompts, tmp_path / "a", executor="dask", n_players=3)
    with pytest.raises(InteractionError, match="ray_address='auto' is for executor='ray'"):
        run(models, prompts, tmp_path / "b", ray_address="auto", n_players=3)

"""The Ray executor: a run's models on the actors of a Ray cluster, the driver the only writer.

``run(..., executor="ray")`` (command line: ``--executor ray [--ray-address ADDRESS]``) gives
the same run folder, manifest, resume and results as the in-process executor, computed on a
Ray cluster (``pip install 'captum-interactions[ray]'``):

- each model with work left gets an **actor** that builds it from its
  :class:`~captum_interactions.runs.specs.ModelSpec` (models and tokenizers are never
  pickled) and keeps it loaded for all its prompts: on a GPU (``num_gpus=1``, or a fraction
  for small models) where the cluster has GPUs, else on CPU cores; Ray queues the actors
  that find no free device, so each device holds one model at a time (or its fraction);
- a GPU actor evaluates the ``2**n`` masks of a prompt and goes on to the next while a
  one-thread CPU task, fed by the object reference of those values, makes the
  **extraction**; a CPU actor extracts on its own cores (a task would wait for cores the
  actor holds); each **shared extraction**, matched or mismatched (the joint-fit control),
  is a one-thread CPU task;
- **screening** (:mod:`.screening`) runs on the model actors where they can all be placed at
  once (:func:`actors_fit`), which then keep their models for the run; else as a task per
  model with an actor's resources. The driver never loads a model;
- the driver (this process) holds the folder lock and is the **only writer**: it saves each
  result the moment it arrives (atomically), updates the manifest, the progress bar and the
  log. Work on the cluster writes nothing, so Ray's retries (a restarted actor, a retried
  task) are harmless, and a killed driver loses only what it had not yet received: the same
  command again resumes from the folder.

Results travel as arrays and plain records. A cluster's workers need this package and the
models' files (a factory file, a folder): see the README, "Running on a cluster".

>>> RayExecutor(gpus_per_actor=0.5).actor_resources(gpus=True, threads=1)
{'num_cpus': 1, 'num_gpus': 0.5}
>>> RayExecutor(gpus_per_actor=1.5)
Traceback (most recent call last):
...
captum_interactions.exceptions.InteractionError: gpus_per_actor=1.5: give a fraction ...
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from captum_interactions._optional import require
from captum_interactions.exceptions import InteractionError

if TYPE_CHECKING:
    import numpy as np
    import torch

    from captum_interactions.result import InteractionResult

    from .compute import SharedJob
    from .execute import InteractionRun, RunSummary
    from .options import RunOptions
    from .screening import ScreenRow
    from .specs import ModelSpec, PromptSpec

__all__ = ["PRELOAD", "Computed", "Evaluation", "ModelWorker", "RayExecutor", "actors_fit"]

logger = logging.getLogger(__name__)

#: Restarts of a model actor whose process died (its unfinished evaluations run again).
ACTOR_RESTARTS = 3
#: Modules the workers of a cluster import before they take work (Ray's
#: ``preload_python_modules``), so an actor or task starts without seconds of imports
#: (``transformers.modeling_utils``: a process's first model load imports it, 1.1 s): the
#: local cluster of a run is started with them, and so can a cluster of one's own (README).
PRELOAD = ["torch", "transformers.modeling_utils", "captum_interactions.adapters.llm",
           "captum_interactions.extraction", "captum_interactions.runs.ray_executor"]


@dataclass(frozen=True)
class Evaluation:
    """What an actor makes of one prompt before extraction: the values over all masks and
    the record of the evaluation (plain data; :func:`_extract` makes the result from it).

    Attributes:
        values (ndarray): ``v(T)`` for every mask ``T``.
        fields (dict): the result's players, target, target text, baseline and value kind.
        metadata (dict): the result's metadata (model, prompt, tokens, player positions).
        notes (list[str]): what the player selection said.
        seconds (float): time of the evaluation.
        where (str): the node, GPUs and device of the actor.
    """

    values: np.ndarray
    fields: dict[str, Any]
    metadata: dict[str, Any]
    notes: list[str]
    seconds: float
    where: str


@dataclass(frozen=True)
class Computed:
    """One model's result on one prompt, as the driver saves it.

    Attributes:
        result (InteractionResult): the result.
        seconds (float): time of the evaluation and the extraction.
        notes (list[str]): what the player selection said.
        where (str): the node, GPUs and device of the actor that evaluated it.
    """

    result: InteractionResult
    seconds: float
    notes: list[str]
    where: str


def _place(device: str | None) -> tuple[str, str]:
    """The torch device of a worker of the cluster (``device``, or ``None`` for the GPU Ray
    gave it where CUDA is there, else the CPU), and where it is, for the manifest."""
    import ray
    import torch

    gpus = [str(g) for g in ray.get_gpu_ids()]
    node = ray.get_runtime_context().get_node_id()[:8]
    if device is None:
        device = "cuda" if gpus and torch.cuda.is_available() else "cpu"
    elif device == "cuda" and not torch.cuda.is_available():
        raise InteractionError(
            f"device 'cuda' was asked for, but torch sees no CUDA on Ray node {node} (GPUs "
            f"given: {gpus}); install a CUDA build of PyTorch there or run with device='cpu'")
    return device, f"node {node}, GPU {','.join(gpus) or 'none'}, {device}"


def actors_fit(nodes: list[dict[str, float]], available: dict[str, float],
               need: dict[str, float], count: int) -> bool:
    """Whether ``count`` actors of ``need`` (Ray resources: ``{"CPU": 1, "GPU": 0.5}``) can
    all be placed at once: the nodes' totals (``ray.nodes()``) hold that many, and so does
    what the cluster has free (``ray.available_resources()``).

    >>> nodes = [{"CPU": 16, "GPU": 2}, {"CPU": 16, "GPU": 1}]
    >>> actors_fit(nodes, {"CPU": 32, "GPU": 3}, {"CPU": 1, "GPU": 1}, 3)
    True
    >>> actors_fit(nodes, {"CPU": 32, "GPU": 2}, {"CPU": 1, "GPU": 1}, 3)  # one GPU taken
    False
    >>> actors_fit([{"CPU": 2}], {"CPU": 2}, {"CPU": 2}, 2)
    False
    """
    need = {name: amount for name, amount in need.items() if amount > 0}
    capacity = sum(min(int(node.get(name, 0) // amount + 1e-9) for name, amount in need.items())
                   for node in nodes)
    return capacity >= count and all(available.get(name, 0) >= count * amount - 1e-9
                                     for name, amount in need.items())


class ModelWorker:
    """A Ray actor's state: one model, built from its spec inside the actor and kept loaded.

    Args:
        model (ModelSpec): the model.
        options (RunOptions): the run's options (dtype, players, baseline, extraction, seed).
        device (str, optional): ``"cpu"``, ``"cuda"``, or ``None`` for the actor's GPU where
            Ray gave it one and CUDA is there, else the CPU.
        threads (int): torch threads of the actor.
    """

    def __init__(self, model: ModelSpec, options: RunOptions, device: str | None,
                 threads: int) -> None:
        import torch

        torch.set_num_threads(threads)
        device, self.where = _place(device)
        self.model, self.options = model, options
        self.adapter = model.load(device=device, dtype=options.torch_dtype)

    def learn_baseline(self, prompts: list[PromptSpec]):
        """The model's learned baseline on the run's prompts."""
        from .compute import learn_baseline

        return learn_baseline(self.adapter, prompts, self.options)

    def score(self, prompts: list[PromptSpec]) -> list:
        """The model's capability scores on ``prompts`` (:mod:`.scoring`)."""
        from .scoring import score_prompt

        return [score_prompt(self.adapter, prompt) for prompt in prompts]

    def next_words(self, prompts: list[PromptSpec]) -> list:
        """The model's next word on each prompt (screening, :mod:`.screening`)."""
        from .screening import next_words

        return next_words(self.adapter, prompts)

    def evaluate(self, prompt: PromptSpec, baseline: Any) -> Evaluation:
        """The values of all masks of ``prompt`` (GPU actors: a CPU task extracts)."""
        from .compute import compute

        begun = time.perf_counter()
        result, notes = compute(self.adapter, baseline, prompt, self.options, mode="none")
        return Evaluation(
            values=result.values.cpu().numpy(),
            fields={name: getattr(result, name) for name in
                    ("players", "target", "target_text", "baseline", "value_kind")},
            metadata=result.metadata, notes=notes, seconds=time.perf_counter() - begun,
            where=self.where,
        )

    def compute(self, prompt: PromptSpec, baseline: Any) -> Computed:
        """The result on ``prompt``, evaluated and extracted here (CPU actors: the cores
        that evaluate extract, rather than stand idle while a task waits for cores)."""
        return _extract(self.evaluate(prompt, baseline), self.options)


def _extract(evaluation: Evaluation, options: RunOptions) -> Computed:
    """The result of an evaluation, extracted with the run's ``options`` (a one-thread CPU
    task where actors have GPUs)."""
    import torch

    from captum_interactions.extraction import extract

    torch.manual_seed(options.seed)
    begun = time.perf_counter()
    result = extract(torch.tensor(evaluation.values), players=evaluation.fields["players"],
                     mode=options.mode, qcoef=options.qcoef, solver=options.solver)
    result = dataclasses.replace(result, **evaluation.fields, metadata=dict(evaluation.metadata))
    return Computed(result, evaluation.seconds + time.perf_counter() - begun, evaluation.notes,
                    evaluation.where)


def _one_thread(function):
    """``function`` in one torch thread (the body of a one-CPU task)."""
    @functools.wraps(function)
    def task(*args, **kwargs):
        import torch

        torch.set_num_threads(1)
        return function(*args, **kwargs)

    return task


def _next_words(model: ModelSpec, prompts: list[PromptSpec], options: RunOptions,
                device: str | None, threads: int) -> list:
    """A Ray task with an actor's resources: the model's next word on each prompt
    (screening where the actors cannot all be placed at once)."""
    import torch

    from .screening import next_words

    torch.set_num_threads(threads)
    return next_words(model.load(device=_place(device)[0], dtype=options.torch_dtype), prompts)


def _extract_shared(values: list[np.ndarray], players: list[str], options: dict[str, Any]
                    ) -> list[InteractionResult]:
    """Shared extraction of one group of models on one prompt."""
    import torch

    from captum_interactions.extraction import extract_shared

    return extract_shared([torch.tensor(v) for v in values], players=players, **options)


@dataclass(frozen=True)
class RayExecutor:
    """Runs a study on a Ray cluster (see the module); ``executor="ray"`` is
    ``RayExecutor()``.

    Args:
        address (str, optional): the cluster to join, e.g. ``"ray://head:10001"`` or
            ``"auto"``; default: the one this process is already connected to, else
            ``RAY_ADDRESS``, else a local cluster started for the run and stopped after it.
        gpus_per_actor (float): the GPU share of each model's actor: 1 (default), or a
            fraction such as 0.5 to put two small models on one GPU.
    """

    address: str | None = None
    gpus_per_actor: float = 1.0

    def __post_init__(self) -> None:
        share = self.gpus_per_actor
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not (
                share > 0 and (share <= 1 or float(share).is_integer())):
            raise InteractionError(
                f"gpus_per_actor={share!r}: give a fraction in (0, 1] (several small models "
                "per GPU) or a whole number of GPUs per model")

    def actor_resources(self, *, gpus: bool, threads: int) -> dict[str, Any]:
        """Ray resources of one model actor: ``threads`` CPUs, and its GPU share if ``gpus``."""
        return {"num_cpus": threads, **({"num_gpus": self.gpus_per_actor} if gpus else {})}

    # ------------------------------------------------------------------------ checks
    @staticmethod
    def _device(device: torch.device | str | None) -> str | None:
        """``"cpu"``, ``"cuda"`` or ``None`` (the cluster decides); an error for any other
        device (checked before a cluster is joined or started)."""
        import torch

        if device is None:
            return None
        try:
            found = torch.device(device)
        except (RuntimeError, TypeError) as error:
            raise InteractionError(
                f"unknown device {device!r} ({error}); use 'cpu' or 'cuda'") from error
        if found.type not in ("cpu", "cuda") or found.index is not None:
            raise InteractionError(
                f"device {str(found)!r}: with executor='ray' give 'cpu' or 'cuda' (Ray "
                "assigns each actor its GPU)")
        return found.type

    def _placement(self, ray, device: str | None, threads: int) -> bool:
        """Whether the actors take GPUs on the cluster for ``device`` (from :meth:`_device`);
        an error, before any work, where the cluster cannot hold an actor."""
        nodes = [node["Resources"] for node in ray.nodes() if node["Alive"]]
        cluster_gpus = sum(node.get("GPU", 0) for node in nodes)
        gpus = device == "cuda" if device is not None else cluster_gpus > 0
        if gpus and not any(node.get("GPU", 0) >= self.gpus_per_actor for node in nodes):
            raise InteractionError(
                f"the actors need {self.gpus_per_actor} GPU(s) each, but no node of the Ray "
                f"cluster has that many (GPUs: {cluster_gpus:g}); run with device='cpu', a "
                "smaller gpus_per_actor, or on a cluster with GPUs")
        if not any(node.get("CPU", 0) >= threads for node in nodes):
            raise InteractionError(
                f"threads={threads}: no node of the Ray cluster has {threads} CPUs for an "
                f"actor (most: {max((n.get('CPU', 0) for n in nodes), default=0):g}); give "
                "fewer threads")
        return gpus

    # ------------------------------------------------------------------------- a run
    def execute(self, job: InteractionRun, *, device: torch.device | str | None = None,
                show_progress: bool = True, report: bool = True,
                threads: int | None = None) -> RunSummary:
        """Compute what is missing of ``job`` on the cluster, then compare and report (see
        :meth:`InteractionRun.execute <captum_interactions.runs.InteractionRun.execute>`)."""
        ray = require("ray", purpose="executor='ray'")
        from .threads import check_threads

        threads = 1 if threads is None else check_threads(threads)
        device = self._device(device)
        started = not ray.is_initialized()
        if started:
            local = self.address is None and not os.environ.get("RAY_ADDRESS")
            ray.init(address=self.address, logging_level=logging.WARNING,
                     **({"include_dashboard": False,
                         "_system_config": {"preload_python_modules": PRELOAD}}
                        if local else {}))
        try:
            gpus = self._placement(ray, device, threads)
            with job.folder.lock():
                return self._execute(ray, job, device=device, gpus=gpus, threads=threads,
                                     show_progress=show_progress, report=report)
        finally:
            if started:
                ray.shutdown()

    def _execute(self, ray, job: InteractionRun, *, device: str | None, gpus: bool,
                 threads: int, show_progress: bool, report: bool) -> RunSummary:
        """:meth:`execute` with the cluster connected and the folder held."""
        from tqdm.auto import tqdm

        where = f"ray {ray.get_runtime_context().gcs_address}, {'GPU' if gpus else 'CPU'} actors"
        resources = self.actor_resources(gpus=gpus, threads=threads)
        options = job.options

        worker = ray.remote(max_restarts=ACTOR_RESTARTS, max_task_retries=ACTOR_RESTARTS)(
            ModelWorker).options(**resources)
        actors: dict[str, Any] = {}  # by model label: made on first use

        def actor(model: ModelSpec):
            if model.label not in actors:
                actors[model.label] = worker.remote(model, options, device, threads)
            return actors[model.label]

        def screener(prompts: list[PromptSpec]) -> list[ScreenRow]:
            """Each model's next words: on the model actors where all can be placed at once
            (they then keep the models for the run), else a task per model with an actor's
            resources (actors waiting for each other's devices would wait for ever)."""
            from .screening import screen_rows

            need = {"CPU": resources["num_cpus"], "GPU": resources.get("num_gpus", 0)}
            nodes = [node["Resources"] for node in ray.nodes() if node["Alive"]]
            if actors_fit(nodes, ray.available_resources(), need, len(job.models)):
                refs = [actor(model).next_words.remote(prompts) for model in job.models]
            else:
                task = ray.remote(**resources)(_next_words)
                refs = [task.remote(model, prompts, options, device, threads)
                        for model in job.models]
            found = tqdm(zip(refs, job.models, strict=True), total=len(refs), unit="model",
                         desc=f"screen {len(prompts)} prompt(s)", disable=not show_progress)
            return screen_rows(prompts, {model.label: _get(ray, ref, model)
                                         for ref, model in found})

        session, results, summary = job.begin(where, screener)
        total = len(job.models) * len(job.prompts)
        extract_task = ray.remote(num_cpus=1)(_one_thread(_extract))
        calls, pending = {}, {}
        for model in job.models:
            todo = [p for p in job.prompts if (model.label, p.id) not in results]
            unscored = job.scores.missing(model, job.scored_prompts)
            if not todo and not unscored:
                actors.pop(model.label, None)  # screened, nothing to do: Ray ends the actor
                continue
            if unscored:  # capability: a pass per word, on the actor
                scored = actor(model).score.remote(unscored)
                calls[scored] = model.label
                pending[scored] = ("scores", model, unscored)
            baseline = options.baseline
            if baseline == "learned":
                baseline = job.stored_baseline(model)
                if baseline is None:
                    baseline = actor(model).learn_baseline.remote(job.prompts)
                    pending[baseline] = ("baseline", model, None)
            for prompt in todo:
                if gpus:  # the GPU evaluates the next prompt while a CPU task extracts
                    evaluated = actor(model).evaluate.remote(prompt, baseline)
                    computed = extract_task.remote(evaluated, options)
                else:
                    evaluated = computed = actor(model).compute.remote(prompt, baseline)
                calls[evaluated] = model.label
                pending[computed] = ("result", model, prompt)
        left = {label: sum(1 for name in calls.values() if name == label) for label in actors}
        with tqdm(total=total, initial=len(results), desc="run", unit="result",
                  disable=not show_progress) as bar:
            while pending or calls:
                (ready,), _ = ray.wait(list(dict.fromkeys([*pending, *calls])), num_returns=1)
                if ready in calls:  # an actor finished a call: free it after its last
                    label = calls.pop(ready)
                    left[label] -= 1
                    if not left[label]:
                        del actors[label]  # Ray ends the actor: its device takes the next
                if ready not in pending:
                    continue
                kind, model, item = pending.pop(ready)
                value = _get(ray, ready, model)
                if kind == "baseline":
                    job.folder.save_result(job.folder.baseline_path(model.label), value)
                elif kind == "scores":
                    job.scores.save(model, item, value)
                else:
                    results[model.label, item.id] = job.keep(
                        model, item, value.result, session=session, seconds=value.seconds,
                        notes=value.notes, where=value.where)
                    summary.computed.append((model.label, item.id))
                    bar.set_postfix_str(f"{model.label} / {item.id}")
                    bar.update()
        return job.finish(results, summary, show_progress=show_progress, report=report,
                          solve_shared=_solve_on(ray))


def _get(ray, ref, model: ModelSpec):
    """``ray.get(ref)``; an actor that died for good is an error that says how to resume."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayActorError as error:
        raise InteractionError(
            f"the Ray actor of model {model.label!r} died {ACTOR_RESTARTS + 1} times ({error}); "
            "the results received so far are saved: run the same command again to resume"
        ) from error


def _solve_on(ray):
    """Shared extraction as one-thread Ray tasks, all submitted at once, results in order."""
    task = ray.remote(num_cpus=1)(_one_thread(_extract_shared))

    def solve(jobs: list[SharedJob], options: dict[str, Any]):
        refs = [task.remote([v.cpu().numpy() for v in job.values], job.players, options)
                for job in jobs]
        for ref in refs:
            yield ray.get(ref)

    return solve

"""How many torch threads a run's workers use: never more than the cores, and a warning when
other processes already keep the cores busy.

Torch starts one thread per core in every process. When other processes (the load average)
already use the cores, those threads wait for each other on every small operation: on a
2-core machine under a load of 5-7, results took 108 s with torch's two threads and 13 s with
one. :func:`plan_threads` chooses threads per worker so that workers × threads never exceeds
the cores, fewer when other processes are busy, and says whether the machine is
oversubscribed all the same; :func:`torch_threads` applies a plan for the duration of a run.

>>> plan = plan_threads(None, workers=1, cores=2, load=0.1)
>>> plan.threads, plan.oversubscribed
(2, False)
>>> plan = plan_threads(None, workers=1, cores=2, load=5.5)   # others keep the cores busy
>>> plan.threads, plan.oversubscribed
(1, True)
>>> plan_threads(4, workers=1, cores=2, load=0.0)
Traceback (most recent call last):
...
captum_interactions.exceptions.InteractionError: threads=4 × 1 worker(s) = 4 threads, over ...
"""

from __future__ import annotations

import contextlib
import os
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from captum_interactions.exceptions import InteractionError, OversubscriptionWarning

__all__ = ["ThreadPlan", "available_cores", "check_threads", "other_load", "plan_threads",
           "torch_threads"]


@dataclass(frozen=True)
class ThreadPlan:
    """Torch threads for each of a run's workers.

    Attributes:
        threads (int): torch threads per worker.
        workers (int): processes of the run that compute at the same time.
        cores (int): CPU cores this process may use.
        load (float | None): cores other processes kept busy when the run started (see
            :func:`other_load`), or ``None`` where the system does not say.
    """

    threads: int
    workers: int
    cores: int
    load: float | None

    @property
    def oversubscribed(self) -> bool:
        """Whether the load and this run's threads together exceed the cores."""
        return self.load is not None and self.load + self.workers * self.threads > self.cores + 0.5

    def message(self) -> str:
        """What a user reads about the plan when the machine is oversubscribed."""
        return (
            f"other processes keep {self.load:.1f} of the {self.cores} core(s) busy and this "
            f"run adds {self.workers} worker(s) × {self.threads} torch thread(s): threads will "
            "wait for each other and the run may take several times as long. Run it when the "
            "machine is quieter, or stop the other jobs"
        )


def available_cores() -> int:
    """CPU cores this process may run on (its affinity where the system has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def other_load(*, samples: int = 5, interval: float = 0.01) -> float | None:
    """How many cores other processes keep busy: the 1-minute load average, capped by the
    threads runnable right now besides the caller (Linux's ``/proc/loadavg``, averaged over
    ``samples``), since the average still counts this process's own recent work; ``None``
    where the system says neither (Windows)."""
    try:
        average = os.getloadavg()[0]
    except (AttributeError, OSError):
        return None
    running = []
    try:
        for _ in range(samples):
            fields = Path("/proc/loadavg").read_text().split()
            running.append(int(fields[3].partition("/")[0]) - 1)  # less the reading thread
            time.sleep(interval)
    except (OSError, ValueError, IndexError):
        return average
    return min(average, sum(running) / len(running))


def check_threads(threads: int) -> int:
    """``threads`` if it is a whole number of threads (at least one), else an error."""
    if isinstance(threads, bool) or not isinstance(threads, int):
        raise TypeError(f"threads must be an int or None, got {threads!r}")
    if threads < 1:
        raise InteractionError(f"threads must be at least 1, got {threads}")
    return threads


def plan_threads(
    threads: int | None,
    *,
    workers: int = 1,
    cores: int | None = None,
    load: float | None = None,
) -> ThreadPlan:
    """Torch threads per worker: ``threads`` if given (refused if workers × threads exceeds
    the cores), else as many as the cores left free by ``load`` allow (at least one).

    Args:
        threads (int, optional): threads per worker asked for; ``None`` chooses.
        workers (int): workers that compute at the same time.
        cores (int, optional): cores to plan for (default: :func:`available_cores`).
        load (float, optional): busy cores taken by other processes (e.g. :func:`other_load`).
    """
    if threads is not None:
        check_threads(threads)
    cores = available_cores() if cores is None else cores
    if threads is not None and workers * threads > cores:
        raise InteractionError(
            f"threads={threads} × {workers} worker(s) = {workers * threads} threads, over the "
            f"{cores} CPU core(s) of this machine; give threads={max(1, cores // workers)} or "
            "fewer (or leave it unset to choose by the load)"
        )
    if threads is None:
        free = round(cores - (load or 0.0))
        threads = max(1, min(cores // workers, free // workers))
    return ThreadPlan(threads, workers, cores, load)


@contextlib.contextmanager
def torch_threads(plan: ThreadPlan) -> Iterator[ThreadPlan]:
    """Use ``plan.threads`` torch threads in this process during the block (restored after),
    with one :class:`~captum_interactions.exceptions.OversubscriptionWarning` first when the
    machine is oversubscribed."""
    import torch

    if plan.oversubscribed:
        warnings.warn(plan.message(), OversubscriptionWarning, stacklevel=3)
    before = torch.get_num_threads()
    torch.set_num_threads(plan.threads)
    try:
        yield plan
    finally:
        torch.set_num_threads(before)

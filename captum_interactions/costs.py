"""What exact interactions cost, in one place: the player limits and the warnings that say
what a computation costs before it starts.

Exact interactions evaluate all ``2**n`` masks of ``n`` players, so the cost doubles with
every player; sparse extraction grows faster still (about 8-fold per player for the exact
solvers beyond ``n = 10``).

>>> check_cost(21, max_players=20, samples=1, solves=True)
Traceback (most recent call last):
...
captum_interactions.exceptions.InteractionError: 21 players need 2**21 = 2,097,152 masked ...
"""

from __future__ import annotations

import warnings

from .exceptions import CostWarning, InteractionError

__all__ = [
    "DEFAULT_MAX_PLAYERS",
    "MAX_PLAYERS",
    "SLOW_SOLVE_SECONDS",
    "WARN_EVALUATION_PLAYERS",
    "WARN_EXTRACTION_PLAYERS",
    "check_cost",
    "check_max_players",
    "duration",
    "warn_slow_solve",
]

#: Vectors over all ``2**n`` masks exist up to this ``n`` (``2**30`` float64 entries are
#: 8 GiB; beyond that nothing fits in memory).
MAX_PLAYERS = 30
#: Default cap on the players of one exact evaluation (``max_players`` of the Captum class,
#: of :class:`~captum_interactions.adapters.LLMInteractions` and of runs).
DEFAULT_MAX_PLAYERS = 20
#: From this many players on, a :class:`CostWarning` says how many masked evaluations run
#: (``2**13 = 8,192`` per sample).
WARN_EVALUATION_PLAYERS = 13
#: ... or from this many when a solver runs: exact extraction at ``n = 11`` already takes
#: seconds per sample.
WARN_EXTRACTION_PLAYERS = 11


#: A solve expected to take longer than this says so before it starts (CostWarning).
SLOW_SOLVE_SECONDS = 10.0


def duration(seconds: float) -> str:
    """A rough duration in words.

    >>> duration(42), duration(4000), duration(0.2)
    ('42 s', '1.1 h', '0.2 s')
    """
    if seconds < 10:
        return f"{seconds:.1g} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def warn_slow_solve(solver: str, seconds: float, *, n: int, samples: int,
                    time_limit: float | None, stacklevel: int = 3) -> None:
    """Say how long a solve may take (``seconds`` for all ``samples``) before it starts, when
    that is more than :data:`SLOW_SOLVE_SECONDS`."""
    if seconds <= SLOW_SOLVE_SECONDS:
        return
    if time_limit is not None and time_limit < seconds:
        then = (f"it stops at time_limit={time_limit:g} s with the certified gap it reached "
                "(a ConvergenceWarning says how far)")
    else:
        then = ("pass time_limit=<seconds> to stop it early with the certified gap reached, "
                "and show_progress=True to watch it")
    warnings.warn(
        f"solver {solver!r} on {samples} sample(s) of n={n} players may take about "
        f"{duration(seconds)} (a rough estimate for a 2-core CPU; for iterative solvers, all "
        f"their iterations); {then}",
        CostWarning,
        stacklevel=stacklevel,
    )


def check_max_players(max_players: int) -> int:
    """``max_players`` if it is a valid cap (an int in ``1 .. MAX_PLAYERS``), else an error.

    >>> check_max_players(12)
    12
    """
    if isinstance(max_players, bool) or not isinstance(max_players, int):
        raise TypeError(f"max_players must be an int, got {type(max_players).__name__}")
    if not 1 <= max_players <= MAX_PLAYERS:
        raise InteractionError(
            f"max_players must be in 1..{MAX_PLAYERS} (vectors over all 2**n masks), got "
            f"{max_players}"
        )
    return max_players


def _count(number: int) -> str:
    return f"{number:,}" if number.bit_length() <= 50 else f"about 2**{number.bit_length() - 1}"


def check_cost(
    n: int,
    *,
    max_players: int,
    samples: int,
    solves: bool,
    solve_seconds: float | None = None,
    calls: int | None = None,
    advice: str = "give fewer players",
    stacklevel: int = 3,
) -> None:
    """Refuse ``n`` players over ``max_players``; warn (:class:`CostWarning`) when ``n`` is
    costly. Call it before any evaluation.

    Args:
        n (int): players.
        max_players (int): the cap (see :func:`check_max_players`).
        samples (int): samples (examples, prompts) evaluated.
        solves (bool): whether a sparse extraction runs after the evaluations.
        solve_seconds (float, optional): its rough duration per sample, when known.
        calls (int, optional): forward calls the evaluations take, when known.
        advice (str): how the caller reduces the number of players.
        stacklevel (int): of the warning, as in :func:`warnings.warn` (3: the caller's caller).
    """
    masks = 1 << n
    evaluations = f"2**{n} = {_count(masks)} masked inputs per sample"
    if calls is not None:
        evaluations += f" ({_count(calls)} forward calls)"
    if n > max_players:
        raise InteractionError(
            f"{n} players need {evaluations}, over max_players={max_players}; {advice}, or "
            f"raise max_players (at most {MAX_PLAYERS}) if you can afford the evaluations"
        )
    if n >= WARN_EVALUATION_PLAYERS or (solves and n >= WARN_EXTRACTION_PLAYERS):
        extraction = ""
        if solves:
            per_sample = ("" if solve_seconds is None else
                          f" (about {duration(solve_seconds)} per sample)")
            extraction = (f", then a sparse extraction over all masks{per_sample}, whose cost "
                          "grows about 3 to 8-fold per player")
        warnings.warn(
            f"{n} players: evaluating {evaluations} for {samples} sample(s){extraction}. "
            f"Every player removed halves the evaluations: {advice}.",
            CostWarning,
            stacklevel=stacklevel,
        )

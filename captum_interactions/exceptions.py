"""Errors and warnings raised by captum-interactions.

Every error says what was given, what was expected and how to fix it.
"""

from __future__ import annotations

__all__ = [
    "ConvergenceWarning",
    "CostWarning",
    "InteractionError",
    "MissingDependencyError",
    "OversubscriptionWarning",
    "ResultFormatError",
]


class InteractionError(ValueError):
    """Bad value or shape given to captum-interactions (a ``ValueError``)."""


class ResultFormatError(InteractionError):
    """A saved result is corrupt, of another format version, or not a result at all."""


class MissingDependencyError(ImportError):
    """An optional dependency is missing; the message names the pip extra that installs it."""


class CostWarning(UserWarning):
    """The requested computation is expensive (many forward passes or a large solve)."""


class ConvergenceWarning(UserWarning):
    """A solver stopped before its tolerance (an iteration cap): the result is feasible and
    carries the certified gap it reached (``result.extraction.gap``), but may be above the
    optimum by that much."""


class OversubscriptionWarning(UserWarning):
    """More threads want the CPU cores than there are: other busy processes (the load
    average) and this run's workers × threads together exceed the cores, so threads wait for
    each other and a run can take several times as long."""

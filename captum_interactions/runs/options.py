"""The options of a run, checked on construction (before any model loads).

>>> RunOptions(n_players=8).results_options()["n_players"]
8
>>> RunOptions(solver="working_set", shared=True)
Traceback (most recent call last):
...
captum_interactions.exceptions.InteractionError: solver 'working_set' does not solve joint ...
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from captum_interactions.costs import DEFAULT_MAX_PLAYERS
from captum_interactions.exceptions import InteractionError

if TYPE_CHECKING:
    import torch

__all__ = ["DTYPES", "EXECUTORS", "SHARED_TERM_DEFINITIONS", "RunOptions"]

#: Where a run computes: this process, or a Ray cluster (``pip install
#: 'captum-interactions[ray]'``).
EXECUTORS = ("in-process", "ray")
#: Model dtypes a run accepts (names of torch dtypes).
DTYPES = ("float32", "float16", "bfloat16", "float64")
_RESULT_OPTIONS = ("n_players", "baseline", "mode", "qcoef", "solver", "dtype", "seed")
_SHARED_OPTIONS = ("alpha", "shared_qcoef", "pcoef", "solver")
_ANALYSIS_OPTIONS = ("shared", "alpha", "shared_qcoef", "pcoef", "tau", "merge_singletons",
                     "tau_sweep", "definition", "screen")
#: The definitions of a shared term (:data:`captum_interactions.graphs.SHARED_DEFINITIONS`).
SHARED_TERM_DEFINITIONS = ("same_sign", "any_sign")


@dataclass(frozen=True)
class RunOptions:
    """Options of a run.

    Attributes:
        n_players (int): how many players to choose per prompt when the prompt names none
            (default 10): the last content words (see
            :mod:`captum_interactions.adapters.text`); fewer when a prompt has fewer.
        baseline (str): how absent words are replaced: ``"pad"`` (default), ``"unk"``,
            ``"bos"``, ``"eos"``, ``"zero"``, ``"mean"``, a vocabulary entry, or
            ``"learned"`` (a baseline trained per model on the run's prompts, Ren et al.).
        mode (str): extraction mode (:data:`captum_interactions.modes.MODES`):
            ``"and_or"`` (default), ``"and"``, ``"none"`` or ``"half"``.
        qcoef (float): noise bound coefficient of independent extraction (0.05).
        solver (str): extraction solver (``"auto"``).
        shared (bool): also run shared extraction within each group of models that predict
            the same word (it biases toward sharing; independent results are always made).
        alpha, shared_qcoef, pcoef (float): options of shared extraction (0.1, 0.02, 0.5).
        dtype (str): model dtype: ``"float32"``, ``"float16"``, ``"bfloat16"`` or ``"float64"``.
        seed (int): seed set before every model-prompt computation and for the statistics.
        tau (float): salience threshold of the graphs, comparisons and report (0.05).
        merge_singletons (bool): graphs, comparisons and report use the merged-singleton
            view (``OR{i}`` added into ``AND{i}``), the library-wide default; the saved
            results are never merged.
        tau_sweep (tuple of float): salience thresholds at which the comparison is repeated
            (``sweep.csv`` and the report's sensitivity table); ``()`` for none.
        definition (str): the primary definition of a shared term, which the report's
            findings lead with: ``"same_sign"`` (default: the same type, player set and
            sign) or ``"any_sign"`` (the same type and set). Both are always computed and
            written (metrics with ``_any_sign`` in their names, a ``definition`` column).
        screen (bool): with two or more models, first find each model's next word on each
            prompt without a ``target`` (one forward pass per word token,
            :mod:`~captum_interactions.runs.screening`): prompts where the models predict
            different words are skipped before any masked evaluation (listed in
            ``screened_out.csv``), the others explain the agreed word (default ``True``).
    """

    n_players: int = 10
    baseline: str = "pad"
    mode: str = "and_or"
    qcoef: float = 0.05
    solver: str = "auto"
    shared: bool = False
    alpha: float = 0.1
    shared_qcoef: float = 0.02
    pcoef: float = 0.5
    dtype: str = "float32"
    seed: int = 0
    tau: float = 0.05
    merge_singletons: bool = True
    tau_sweep: tuple[float, ...] = (0.05, 0.1, 0.2)
    definition: str = "same_sign"
    screen: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.tau_sweep, (list, tuple)):  # (a manifest gives a JSON list)
            object.__setattr__(self, "tau_sweep", tuple(self.tau_sweep))
        if not isinstance(self.tau_sweep, tuple) or not all(
                isinstance(t, (int, float)) and not isinstance(t, bool) and 0 < t <= 1
                for t in self.tau_sweep):
            raise InteractionError(
                f"tau_sweep must be a tuple of salience thresholds in (0, 1], got "
                f"{self.tau_sweep!r}")
        if isinstance(self.n_players, bool) or not isinstance(self.n_players, int):
            raise TypeError(f"n_players must be an int, got {self.n_players!r}")
        if not 1 <= self.n_players <= DEFAULT_MAX_PLAYERS:
            raise InteractionError(
                f"n_players={self.n_players}: a run evaluates 2**n masks per prompt and model; "
                f"use 1 <= n_players <= {DEFAULT_MAX_PLAYERS} (8-12 is typical)"
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise TypeError(f"seed must be an int, got {self.seed!r}")
        if self.definition not in SHARED_TERM_DEFINITIONS:
            raise InteractionError(
                f"definition {self.definition!r} is not a definition of a shared term; use "
                f"one of {list(SHARED_TERM_DEFINITIONS)}")
        if self.dtype not in DTYPES:
            raise InteractionError(f"dtype {self.dtype!r} is not one of {sorted(DTYPES)}")
        for name in ("alpha", "tau"):
            if not 0 <= getattr(self, name) <= 1:
                raise InteractionError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        # Before any model runs: the extraction of up to n_players players, and shared
        # extraction's solver and coefficients (checked again per group of models). Imported
        # here: the command line reads the defaults without loading torch.
        from captum_interactions.extraction import check_extraction

        check_extraction(self.n_players, mode=self.mode, qcoef=self.qcoef, solver=self.solver)
        if self.shared:
            check_extraction(self.n_players, models=2, qcoef=self.shared_qcoef,
                             solver=self.solver)
        if not self.pcoef >= 0:
            raise InteractionError(f"pcoef must be >= 0, got {self.pcoef}")

    @property
    def torch_dtype(self) -> torch.dtype:
        """The model dtype as a ``torch.dtype``."""
        import torch

        return getattr(torch, self.dtype)

    def results_options(self) -> dict[str, Any]:
        """Options that change the per-model results (they must match to resume a run)."""
        return {name: getattr(self, name) for name in _RESULT_OPTIONS}

    def analysis_options(self) -> dict[str, Any]:
        """Options of the cross-model analysis (free to change when resuming)."""
        return {name: getattr(self, name) for name in _ANALYSIS_OPTIONS}

    def shared_options(self) -> dict[str, Any]:
        """Options that change the results of shared extraction (they must match to reuse
        one)."""
        return {name: getattr(self, name) for name in _SHARED_OPTIONS}

    def shared_extraction(self) -> dict[str, Any]:
        """Keyword arguments of :func:`~captum_interactions.extraction.extract_shared`.

        >>> RunOptions().shared_extraction()
        {'alpha': 0.1, 'qcoef': 0.02, 'pcoef': 0.5, 'solver': 'auto'}
        """
        return {"alpha": self.alpha, "qcoef": self.shared_qcoef, "pcoef": self.pcoef,
                "solver": self.solver}

    def salience(self) -> dict[str, Any]:
        """Keyword arguments that select salient interactions (``salient``, graphs, overlap)."""
        return {"tau": self.tau, "merge_singletons": self.merge_singletons}

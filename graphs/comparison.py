"""Do two models (checkpoints, samples) use the same interactions? Overlap metrics.

A *term* is a pair (type, S): an AND or an OR interaction on a non-empty player set S.
The salient set Ω of a result holds its salient terms (salience exactly as in
:meth:`InteractionResult.salient`) together with their signs. For results A and B on the
same players:

* **shared set**: the terms of Ω_A that B also has, by one of two definitions
  (:data:`SHARED_DEFINITIONS`): ``same_sign`` (the same type, set and sign; ``jaccard``,
  ``mean_order_shared``, ...) and ``any_sign`` (the same type and set, either sign; the same
  names with ``_any_sign``: ``jaccard_any_sign``, ``mean_order_shared_any_sign``, ...). Every
  metric about shared terms, its controls and per-order statistics exist for both.
* ``weighted_overlap``: Σ [min(I_A⁺, I_B⁺) + min(I_A⁻, I_B⁻)] / Σ [max(I_A⁺, I_B⁺) +
  max(I_A⁻, I_B⁻)] over all terms, I⁺ = max(I, 0), I⁻ = max(-I, 0); equal to
  (L - d) / (L + d) with L = ‖I_A‖₁ + ‖I_B‖₁ and d = ‖I_A - I_B‖₁. With ``l1_normalize=True``
  both vectors are first divided by their L1 norms.
* ``jaccard`` = |shared| / |Ω_A ∪ Ω_B| (a term salient in both with opposite signs counts
  once in each set), ``cover_ratio`` = |shared| / |Ω_A|, ``top_k_overlap`` = common terms
  (same sign) of the K = ``n_top`` strongest of each / K (or the larger top set if one has
  fewer than K non-zero terms).
* ``mean_order_shared`` and ``mean_order_not_shared`` (the terms of Ω_A that B does not
  share), and the positive-negative cancellation ``CR(Ω) = 1 - |Σ I| / Σ |I|`` of the shared
  and non-shared terms, with A's values (0 = none, 1 = full cancellation).
* per order k (lists indexed by order ``0..n``): ``order_counts_salient`` (|Ω_A| of order
  k), ``order_counts_shared``, ``order_counts_not_shared``, ``order_share`` (fraction of
  Ω_A of order k), ``order_sharing_rate`` (fraction of A's order-k terms that B shares),
  ``order_cancellation_shared`` and ``order_cancellation_not_shared``.
* ``<metric>_chance`` for the set metrics: the mean when B's salient set (and top-K set) is
  moved to random terms, with its size and signs kept ("random sets of matched size").

Metrics of an empty set are NaN (e.g. ``jaccard`` when neither result has a salient term,
cancellation of an empty shared set); averages leave NaN out. Metrics about "not shared"
terms, ``cover_ratio`` and the per-order lists are from A's side: swap the arguments for B's.

>>> from captum_interactions import InteractionResult, reconstruct
>>> def planted(values):
...     I_and, I_or = torch.zeros(8), torch.zeros(8)
...     for mask, value in values.items():
...         I_and[mask] = value
...     return InteractionResult(["x", "y", "z"], reconstruct(I_and, I_or), I_and, I_or)
>>> a = planted({0b011: 2.0, 0b100: 1.0})
>>> b = planted({0b011: 1.0, 0b101: 1.0})
>>> result = overlap(a, b)
>>> result["jaccard"], result["cover_ratio"], result["weighted_overlap"]
(0.3333333333333333, 0.5, 0.25)
>>> result["order_counts_shared"]
[0, 0, 1, 0]
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from captum_interactions.exceptions import InteractionError
from captum_interactions.result import InteractionResult
from captum_interactions.salience import merge_singletons as _merge_singletons

from ._pairwise import (
    CANCELLATION_CONTROLS,
    CHANCE,
    CHANCE_ORDER_EXTRA,
    CROSS_PROMPT,
    DIFFERENCES,
    ORDERS,
    SCALARS,
    SHARED_DEFINITIONS,
    PairStatistics,
    cancellation_controls,
    chance_statistics,
    pairwise_statistics,
)

__all__ = ["SHARED_DEFINITIONS", "OverlapMatrix", "PairOverlap", "overlap", "overlap_matrix"]

_COUNTS = ("n_salient_a", "n_salient_b", "n_shared", "n_shared_any_sign")
#: Default number of random draws averaged for the chance levels and the size-matched
#: cancellation control.
N_CHANCE = 100
#: Default number of other samples each sample is compared with in the cross-prompt control.
N_CROSS_PROMPT = 10
#: Paired differences of at most this size are ties (float rounding of equal values: a
#: metric equal to its control computed another way), neither above nor below the control.
TIE_TOLERANCE = 1e-9
#: Elements per block of samples x models x terms processed at once (64 MiB in float64).
_BLOCK = 1 << 23


class _MetricTable(Mapping[str, Any]):
    """A read-only mapping over the table :meth:`_table` returns, with a clear ``KeyError``."""

    def _table(self) -> dict[str, Any]:
        raise NotImplementedError

    def __getitem__(self, key: str) -> Any:
        table = self._table()
        if key not in table:
            raise KeyError(f"{key!r} is not an overlap metric; available: {list(table)}")
        return table[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._table())

    def __len__(self) -> int:
        return len(self._table())


@dataclass(frozen=True, eq=False)
class PairOverlap(_MetricTable):
    """Overlap metrics of two results, read by key: ``overlap(a, b)["jaccard"]``.

    Attributes:
        metrics (dict): metric name -> float (counts as int, per-order metrics as lists
            indexed by order). See :mod:`captum_interactions.graphs.comparison` for the names.
        players (list[str]): the common players.
        settings (dict): the options used (salience, n_top, l1_normalize, n_chance).
    """

    metrics: dict[str, Any]
    players: list[str]
    settings: dict[str, Any] = field(default_factory=dict)

    def _table(self) -> dict[str, Any]:
        return self.metrics

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{name}={self.metrics[name]:.3g}"
            for name in ("weighted_overlap", "jaccard", "cover_ratio", "top_k_overlap",
                         "n_shared", "n_salient_a", "n_salient_b")
        )
        return f"{type(self).__name__}({shown})"


@dataclass(frozen=True, eq=False)
class OverlapMatrix(_MetricTable):
    """Pairwise overlap of M models over S samples; ``matrix["jaccard"]`` is the ``[M, M]``
    mean over samples (row = model A, column = model B).

    Attributes:
        names (list[str]): model names, in row/column order.
        mean, ci_low, ci_high (dict[str, Tensor]): per metric, the ``[M, M]`` mean over the
            samples where the pair is comparable and the metric defined, and the bootstrap
            percentile confidence interval of that mean (resampling samples). Paired
            differences ``<metric>_minus_<control>`` are metrics too (see :meth:`paired`).
        order (dict[str, Tensor]): per-order statistics ``[M, M, n_max + 1]`` pooled over
            samples: ``order_counts_salient``, ``order_counts_shared``,
            ``order_counts_not_shared``, ``order_counts_shared_chance_order`` (expected),
            ``order_counts_shared_cross_prompt`` (sums), ``order_share``,
            ``order_sharing_rate`` and its controls ``order_sharing_rate_chance_order``,
            ``order_sharing_rate_cross_prompt``, ``order_rate_ratio_chance_order`` (ratios
            of the sums) and ``order_cancellation_shared`` / ``order_cancellation_not_shared``
            (means over samples).
        order_ci_low, order_ci_high (dict[str, Tensor]): bootstrap intervals of the pooled
            per-order sharing rates (``order_sharing_rate`` and its controls).
        per_sample (dict[str, Tensor]): per metric ``[S, M, M]``, NaN where skipped.
        per_sample_order (dict[str, Tensor]): per-order counts ``[S, M, M, n_max + 1]`` of
            every sample (0 where skipped).
        n_samples (Tensor): ``[M, M]`` number of samples compared per pair.
        n_skipped_players (Tensor): ``[M, M]`` samples skipped because the players differ.
        n_skipped_target (Tensor): ``[M, M]`` samples skipped because the targets differ.
        settings (dict): the options used.
    """

    names: list[str]
    mean: dict[str, torch.Tensor]
    ci_low: dict[str, torch.Tensor]
    ci_high: dict[str, torch.Tensor]
    order: dict[str, torch.Tensor]
    order_ci_low: dict[str, torch.Tensor]
    order_ci_high: dict[str, torch.Tensor]
    per_sample: dict[str, torch.Tensor]
    per_sample_order: dict[str, torch.Tensor]
    n_samples: torch.Tensor
    n_skipped_players: torch.Tensor
    n_skipped_target: torch.Tensor
    settings: dict[str, Any] = field(default_factory=dict)
    _tests: dict[str, dict[str, torch.Tensor]] = field(
        default_factory=dict, init=False, repr=False)  # paired() answers, computed once

    def _table(self) -> dict[str, torch.Tensor]:
        return self.mean

    def __repr__(self) -> str:
        samples = next(iter(self.per_sample.values())).shape[0]
        return (
            f"{type(self).__name__}(models={self.names}, samples={samples}, "
            f"skipped_players={int(self.n_skipped_players.triu(1).sum())}, "
            f"skipped_target={int(self.n_skipped_target.triu(1).sum())})"
        )

    def paired(self, metric: str, control: str) -> dict[str, torch.Tensor]:
        """``metric`` against ``control`` over the samples, per pair ``[M, M]``: the mean
        difference with its bootstrap interval (``mean``, ``ci_low``, ``ci_high``), the
        two-sided Wilcoxon signed-rank p-value of the per-sample differences (``p_value``;
        NaN for a model against itself and with fewer than 2 non-zero differences), and how
        many samples are above, below and compared (``n_above``, ``n_below``, ``n``).
        Differences within :data:`TIE_TOLERANCE` of zero are ties.

        >>> from captum_interactions import InteractionResult, and_transform
        >>> v = torch.tensor([0.0, 1.0, 2.0, 5.0])
        >>> a = InteractionResult(["x", "y"], v, and_transform(v), torch.zeros(4))
        >>> matrix = overlap_matrix({"A": [a, a], "B": [a, a]}, n_bootstrap=0)
        >>> test = matrix.paired("jaccard", "jaccard_cross_prompt")
        >>> float(test["mean"][0, 1]), int(test["n"][0, 1])
        (0.0, 2)
        """
        import scipy.stats

        name = f"{metric}_minus_{control}"
        if name in self._tests:
            return self._tests[name]
        if name not in self.per_sample:
            pairs = [key.split("_minus_") for key in self.per_sample if "_minus_" in key]
            raise InteractionError(
                f"no paired difference {metric!r} - {control!r} in this matrix; available: "
                f"{pairs} (chance levels need n_chance > 0, cross-prompt controls "
                "n_cross_prompt > 0)"
            )
        values = self.per_sample[name].cpu()
        # a tie computed two ways (a metric equal to its control) differs by float rounding
        # only: a tie, not a sample above or below (it would flip with the summation order)
        signed = values.masked_fill(values.abs() <= TIE_TOLERANCE, 0.0)
        size = len(self.names)
        p_value = torch.full((size, size), math.nan, dtype=torch.float64)
        for i in range(size):
            for j in range(size):
                if i == j:  # a model against itself: no test (scipy's exact tests are slow)
                    continue
                column = signed[:, i, j]
                # zeros dropped here, as the test drops them: the same p-value, but scipy
                # takes its exact test instead of a permutation test (4x faster at n <= 13)
                column = column[torch.isfinite(column) & (column != 0)].numpy()
                if len(column) >= 2:
                    p_value[i, j] = float(scipy.stats.wilcoxon(column).pvalue)
        finite = torch.isfinite(values)
        self._tests[name] = {
            "mean": self.mean[name], "ci_low": self.ci_low[name], "ci_high": self.ci_high[name],
            "p_value": p_value, "n_above": (signed > 0).sum(0), "n_below": (signed < 0).sum(0),
            "n": finite.sum(0),
        }
        return self._tests[name]

    def to_records(self) -> list[dict[str, Any]]:
        """One row per ordered model pair and metric: model_a, model_b, metric, mean,
        ci_low, ci_high, n_samples, and for a paired difference ``<metric>_minus_<control>``
        the Wilcoxon ``p_value`` and ``n_above`` (samples above the control; ``None``
        elsewhere)."""
        tests = {name: self.paired(*name.split("_minus_", 1)) for name in self.mean
                 if "_minus_" in name}
        return [
            {
                "model_a": a,
                "model_b": b,
                "metric": name,
                "mean": float(self.mean[name][i, j]),
                "ci_low": float(self.ci_low[name][i, j]),
                "ci_high": float(self.ci_high[name][i, j]),
                "n_samples": int(self.n_samples[i, j]),
                "p_value": float(tests[name]["p_value"][i, j]) if name in tests else None,
                "n_above": int(tests[name]["n_above"][i, j]) if name in tests else None,
            }
            for name in self.mean
            for i, a in enumerate(self.names)
            for j, b in enumerate(self.names)
        ]

    def order_records(self) -> list[dict[str, Any]]:
        """One row per definition of shared (``"same_sign"``: the same type, set and sign;
        ``"any_sign"``: the same type and set), ordered model pair (A != B) and order
        k >= 1 where A has salient terms: model_a, model_b, definition, order,
        n_salient_a, n_shared (sums over the compared samples), rate (n_shared /
        n_salient_a) with its bootstrap interval (ci_low, ci_high), rate_chance_order,
        ratio_chance_order (rate / rate_chance_order) and rate_cross_prompt (where
        computed)."""
        rows = []
        order = self.order
        salient = order["order_counts_salient"]
        for definition, suffix in SHARED_DEFINITIONS.items():
            def value(name: str, i: int, j: int, k: int, suffix=suffix) -> float | None:
                table = order.get(name.format(suffix))
                return None if table is None else float(table[i, j, k])

            for i, j in self._ordered_pairs():
                for k in range(1, salient.shape[-1]):
                    if salient[i, j, k] <= 0:
                        continue
                    rate = f"order_sharing_rate{suffix}"
                    rows.append({
                        "model_a": self.names[i], "model_b": self.names[j],
                        "definition": definition, "order": k,
                        "n_salient_a": round(float(salient[i, j, k])),
                        "n_shared": round(value("order_counts_shared{}", i, j, k)),
                        "rate": value(rate, i, j, k),
                        "ci_low": float(self.order_ci_low[rate][i, j, k]),
                        "ci_high": float(self.order_ci_high[rate][i, j, k]),
                        "rate_chance_order": value("order_sharing_rate{}_chance_order", i, j, k),
                        "ratio_chance_order": value("order_rate_ratio{}_chance_order", i, j, k),
                        "rate_cross_prompt": value("order_sharing_rate{}_cross_prompt", i, j,
                                                   k),
                    })
        return rows

    def _ordered_pairs(self) -> Iterator[tuple[int, int]]:
        """(i, j) for every ordered pair of different models."""
        size = len(self.names)
        return ((i, j) for i in range(size) for j in range(size) if i != j)

    def cancellation_records(self) -> list[dict[str, Any]]:
        """Positive-negative cancellation ``1 - |Σ I| / Σ |I|`` of A's terms, per definition
        of shared and ordered model pair (A != B): one row per set (``shared``,
        ``not_shared`` and the controls ``size_matched``, ``strength_matched``,
        ``cross_prompt``) over all orders, with the mean over samples and its interval, then
        the paired differences shared - set with their Wilcoxon p-value, then per order k
        the shared and not-shared means (pooled over samples, no interval). Columns:
        model_a, model_b, definition, order (``"all"`` or k), set, mean, ci_low, ci_high,
        n_samples, p_value."""
        rows = []
        width = self.order["order_counts_salient"].shape[-1]
        for definition, suffix in SHARED_DEFINITIONS.items():
            shared = f"cancellation_shared{suffix}"
            sets = {"shared": shared, "not_shared": f"cancellation_not_shared{suffix}",
                    "size_matched": f"cancellation_size_matched{suffix}",
                    "strength_matched": f"cancellation_strength_matched{suffix}",
                    "cross_prompt": f"cancellation_shared{suffix}_cross_prompt"}
            present = {label: name for label, name in sets.items() if name in self.mean}
            tests = {label: self.paired(shared, name) for label, name in present.items()
                     if f"{shared}_minus_{name}" in self.mean}
            for i, j in self._ordered_pairs():
                base = {"model_a": self.names[i], "model_b": self.names[j],
                        "definition": definition, "order": "all",
                        "n_samples": int(self.n_samples[i, j])}
                for label, name in present.items():  # the rows over all orders first
                    rows.append({**base, "set": label, "mean": float(self.mean[name][i, j]),
                                 "ci_low": float(self.ci_low[name][i, j]),
                                 "ci_high": float(self.ci_high[name][i, j]), "p_value": None})
                    if label in tests:
                        test = tests[label]
                        rows.append({**base, "set": f"shared - {label}",
                                     "mean": float(test["mean"][i, j]),
                                     "ci_low": float(test["ci_low"][i, j]),
                                     "ci_high": float(test["ci_high"][i, j]),
                                     "p_value": float(test["p_value"][i, j])})
                for k in range(1, width):
                    for label in ("shared", "not_shared"):
                        mean = float(
                            self.order[f"order_cancellation_{label}{suffix}"][i, j, k])
                        if math.isfinite(mean):
                            rows.append({**base, "order": k, "set": label, "mean": mean,
                                         "ci_low": None, "ci_high": None, "p_value": None})
        return rows

    def to_pandas(self):
        """:meth:`to_records` as a ``pandas.DataFrame`` (needs pandas)."""
        from captum_interactions._optional import require

        pandas = require("pandas", purpose="OverlapMatrix.to_pandas")
        return pandas.DataFrame.from_records(self.to_records())


# ---------------------------------------------------------------------------- input checks
def _check_result(result: object, where: str) -> InteractionResult:
    """Type and shape checks (finiteness is checked once per stacked block)."""
    if not isinstance(result, InteractionResult):
        raise TypeError(
            f"{where} is a {type(result).__name__}, expected an InteractionResult (from "
            "captum_interactions.extract, LLMInteractions.attribute or InteractionResult.load)"
        )
    expected = (1 << result.n_players,)
    for name in ("and_interactions", "or_interactions"):
        tensor = getattr(result, name)
        if not isinstance(tensor, torch.Tensor) or tuple(tensor.shape) != expected:
            shape = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else tensor
            raise InteractionError(
                f"{where}.{name} is {shape!r}, expected a tensor of shape {expected} (one "
                f"entry per mask of its {result.n_players} players); the interactions are "
                "missing or were replaced after the result was made"
            )
    return result


def _criterion(
    tau: float, absolute: float | None, top_k: int | None, top_fraction: float | None
) -> dict[str, Any]:
    return {"tau": tau, "absolute": absolute, "top_k": top_k, "top_fraction": top_fraction}


def _check_n_top(n_top: int) -> None:
    if isinstance(n_top, bool) or not isinstance(n_top, int) or n_top < 1:
        raise InteractionError(
            f"n_top (how many strongest terms top_k_overlap compares) must be a positive "
            f"int, got {n_top!r}"
        )


def _on(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    return tensor if tensor.device == device else tensor.to(device)


def _block(
    rows: Sequence[Sequence[InteractionResult | None]],
    n: int,
    *,
    merge_singletons: bool,
    device: torch.device,
    where: Callable[[int, int], str],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack results into ``[S, M, 2**n]`` AND and OR tensors (float64); ``None`` -> zeros.

    ``where(s, m)`` names the result in row ``s``, column ``m`` for error messages.
    """
    zeros = torch.zeros(1 << n, dtype=torch.float64, device=device)

    def stack(name: str) -> torch.Tensor:
        return torch.stack([
            torch.stack([zeros if result is None else _on(getattr(result, name), device)
                         for result in row])
            for row in rows
        ]).to(torch.float64)

    and_i, or_i = stack("and_interactions"), stack("or_interactions")
    if not bool(torch.isfinite(and_i.sum() + or_i.sum())):  # one reduction in the usual case
        bad = torch.nonzero(~(torch.isfinite(and_i) & torch.isfinite(or_i)).all(-1))
        if len(bad):
            raise InteractionError(
                f"{where(*bad[0].tolist())} has non-finite interactions (NaN or inf); "
                "overlap is undefined for them. Re-run the extraction for that sample or "
                "leave the sample out for every model"
            )
    if merge_singletons:
        and_i, or_i = _merge_singletons(and_i, or_i)
    return and_i, or_i


# ------------------------------------------------------------------------------------ pair
def overlap(
    result_a: InteractionResult,
    result_b: InteractionResult,
    tau: float = 0.05,
    *,
    absolute: float | None = None,
    top_k: int | None = None,
    top_fraction: float | None = None,
    merge_singletons: bool = True,
    n_top: int = 10,
    l1_normalize: bool = False,
    n_chance: int = N_CHANCE,
    seed: int | np.random.Generator | None = 0,
) -> PairOverlap:
    """Overlap of the interactions of two results on the same players.

    Parameters
    ----------
    result_a, result_b : InteractionResult
        Results on the same players in the same order (same model on two samples with the
        same player labels, two models, two checkpoints). Results that explain different
        targets are compared, with a warning (:func:`overlap_matrix` skips them).
    tau, absolute, top_k, top_fraction, merge_singletons
        Salience, as in :meth:`InteractionResult.salient`, applied to each result on its
        own; ``merge_singletons`` (default ``True``) compares the merged-singleton view
        (``OR{i}`` added into ``AND{i}``: the two fire on the same masks, so their split is
        not identified and comparing it across models would count noise).
    n_top : int
        How many of the strongest terms ``top_k_overlap`` compares (default 10).
    l1_normalize : bool
        Compute ``weighted_overlap`` on vectors divided by their L1 norms.
    n_chance : int
        Random relocations averaged for the ``*_chance`` metrics (0 leaves them out).
    seed : int, numpy.random.Generator or None
        Seed or generator for the chance draws.

    Returns
    -------
    PairOverlap
        A read-only mapping of metric name to value (see the module documentation).

    Examples
    --------
    >>> from captum_interactions import InteractionResult, and_transform
    >>> v = torch.tensor([0.0, 1.0, 2.0, 5.0])
    >>> a = InteractionResult(["x", "y"], v, and_transform(v), torch.zeros(4))
    >>> same = overlap(a, a)
    >>> same["weighted_overlap"], same["jaccard"], same["n_shared"]
    (1.0, 1.0, 3)
    >>> flipped = InteractionResult(["x", "y"], -v, and_transform(-v), torch.zeros(4))
    >>> overlap(a, flipped)["jaccard"], overlap(a, flipped)["jaccard_any_sign"]
    (0.0, 1.0)
    """
    for where, result in (("result_a", result_a), ("result_b", result_b)):
        _check_result(result, where)
    if result_a.n_players != result_b.n_players:
        raise InteractionError(
            f"result_a has {result_a.n_players} players but result_b has "
            f"{result_b.n_players}; overlap compares interactions on the same players. "
            "Use the same player words for both (players= in attribute/extract)"
        )
    if result_a.players != result_b.players:
        raise InteractionError(
            f"the results have different players: result_a.players={result_a.players}, "
            f"result_b.players={result_b.players}; interactions are indexed by player, so "
            "both must use the same players in the same order"
        )
    _check_n_top(n_top)
    _check_counts(n_chance=n_chance)
    if result_a.target_key != result_b.target_key:
        warnings.warn(
            f"result_a explains {result_a.target_key[1]!r} and result_b "
            f"{result_b.target_key[1]!r}: their interactions explain different outputs, so "
            "their overlap says little about shared mechanisms (overlap_matrix skips such "
            "pairs)", UserWarning, stacklevel=2)
    n = result_a.n_players
    and_i, or_i = _block([[result_a, result_b]], n, merge_singletons=merge_singletons,
                         device=result_a.and_interactions.device,
                         where=lambda _, m: ("result_a", "result_b")[m])
    stats = pairwise_statistics(and_i, or_i, n_top=n_top, l1_normalize=l1_normalize,
                                criterion=_criterion(tau, absolute, top_k, top_fraction))
    metrics: dict[str, Any] = {
        name: (round(float(value[0, 0, 1])) if name in _COUNTS else float(value[0, 0, 1]))
        for name, value in stats.scalars.items()
    }
    per_order = {name: value[0, 0, 1] for name, value in stats.orders.items()}
    if n_chance > 0:
        controls, expected = _controls(stats, n=n, merge_singletons=merge_singletons,
                                       draws=n_chance, rng=_generator(seed))
        metrics.update({name: float(value[0, 0, 1]) for name, value in controls.items()})
        per_order.update({name: value[0, 0, 1] for name, value in expected.items()})
    metrics.update(_order_metrics(per_order, counts_as_int=True))
    settings = dict(_criterion(tau, absolute, top_k, top_fraction),
                    merge_singletons=merge_singletons, n_top=n_top, l1_normalize=l1_normalize,
                    n_chance=n_chance)
    return PairOverlap(metrics, list(result_a.players), settings)


def _order_metrics(order: dict[str, torch.Tensor], *, counts_as_int: bool) -> dict[str, Any]:
    """Per-order metrics of both definitions from summed counts and (mean) cancellations
    ``[..., n + 1]``."""
    salient = order["order_counts_salient"]
    total = salient.sum(-1, keepdim=True)
    ratio = {"order_share": torch.where(total > 0, salient / total, math.nan)}
    counts = {"order_counts_salient": salient}
    for suffix in SHARED_DEFINITIONS.values():
        shared = order[f"order_counts_shared{suffix}"]
        counts[f"order_counts_shared{suffix}"] = shared
        counts[f"order_counts_not_shared{suffix}"] = salient - shared
        for control in ("", "_chance_order", "_cross_prompt"):
            if f"order_counts_shared{suffix}{control}" in order:
                rate = order[f"order_counts_shared{suffix}{control}"] / salient
                ratio[f"order_sharing_rate{suffix}{control}"] = torch.where(
                    salient > 0, rate, math.nan)
        chance = ratio.get(f"order_sharing_rate{suffix}_chance_order")
        if chance is not None:
            ratio[f"order_rate_ratio{suffix}_chance_order"] = torch.where(
                chance > 0, ratio[f"order_sharing_rate{suffix}"] / chance, math.nan)
    rest = {name: value for name, value in order.items()
            if "cancellation" in name or name.endswith(("_chance_order", "_cross_prompt"))}
    if not counts_as_int:
        return {**counts, **ratio, **rest}
    out: dict[str, Any] = {name: [round(x) for x in value.tolist()]
                           for name, value in counts.items()}
    out.update({name: value.tolist() for name, value in {**ratio, **rest}.items()})
    return out


# ---------------------------------------------------------------------------------- matrix
def _table(results: object) -> tuple[list[str], list[list[InteractionResult]]]:
    """Model names and a models x samples table from a mapping or a list of lists."""
    if isinstance(results, Mapping):
        names, columns = [str(name) for name in results], list(results.values())
    elif isinstance(results, Sequence) and not isinstance(results, (str, bytes)):
        names, columns = [str(index) for index in range(len(results))], list(results)
    else:
        raise TypeError(
            f"results must be a mapping model name -> list of InteractionResult (one per "
            f"sample) or a list of such lists, got {type(results).__name__}"
        )
    if len(columns) < 2:
        raise InteractionError(
            f"overlap_matrix compares models: give at least two, got {len(columns)}"
        )
    table = []
    for name, column in zip(names, columns, strict=True):
        if isinstance(column, InteractionResult):
            column = [column]
        if not isinstance(column, Sequence) or isinstance(column, (str, bytes)):
            raise TypeError(
                f"results[{name!r}] is a {type(column).__name__}; expected a list of "
                "InteractionResult, one per sample"
            )
        table.append([_check_result(result, f"results[{name!r}][{index}]")
                      for index, result in enumerate(column)])
    lengths = {name: len(column) for name, column in zip(names, table, strict=True)}
    if len(set(lengths.values())) != 1 or not table[0]:
        raise InteractionError(
            f"every model needs one result per sample, aligned by index (at least one); got "
            f"these numbers of samples: {lengths}. Give equally long lists"
        )
    return names, table


def _ids(keys: list[list[object]]) -> torch.Tensor:
    """Integer id per distinct key, ``[S, M]``."""
    seen: dict[object, int] = {}
    return torch.tensor([[seen.setdefault(key, len(seen)) for key in row] for row in keys])


def _bootstrap(values: torch.Tensor, weights: torch.Tensor, confidence: float) -> torch.Tensor:
    """Percentile intervals ``[2, P]`` of the NaN-skipping means over samples of the columns
    of ``values [S, P]``; ``weights [B, S]`` holds how often each sample is drawn in each
    resample. NaN without resamples."""
    if not len(weights):
        return values.new_full((2, values.shape[1]), math.nan)
    levels = [(1 - confidence) / 2, (1 + confidence) / 2]
    step = max(1, _BLOCK // len(weights))
    bounds = []
    for start in range(0, values.shape[1], step):
        part = values[:, start:start + step]
        defined = torch.isfinite(part).to(part.dtype)
        means = ((weights @ part.nan_to_num(0.0)) / (weights @ defined)).cpu().numpy()
        chunk = np.quantile(means, levels, axis=0)  # NaN where a resample is NaN
        missing = np.isnan(means)
        ragged = missing.any(0) & ~missing.all(0)  # some resamples drew no defined sample
        if ragged.any():
            chunk[:, ragged] = np.nanquantile(means[:, ragged], levels, axis=0)
        bounds.append(torch.from_numpy(chunk))
    return torch.cat(bounds, dim=1).to(values.device)


def _comparable(
    by_sample: list[list[InteractionResult]], match_target: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """``[S, M, M]`` masks: same players; same players but different targets (if matched)."""
    player_ids = _ids([[tuple(result.players) for result in row] for row in by_sample])
    same_players = player_ids.unsqueeze(-1) == player_ids.unsqueeze(-2)
    if not match_target:
        return same_players, torch.zeros_like(same_players)
    target_ids = _ids([[result.target_key for result in row] for row in by_sample])
    return same_players, same_players & (target_ids.unsqueeze(-1) != target_ids.unsqueeze(-2))


def _warn_skipped(skipped_players: torch.Tensor, skipped_target: torch.Tensor,
                  samples: int) -> None:
    lost_players = int(skipped_players.triu(1).sum())
    lost_targets = int(skipped_target.triu(1).sum())
    if lost_players or lost_targets:
        models = skipped_players.shape[0]
        warnings.warn(
            f"overlap_matrix skipped {lost_players} (model pair, sample) comparisons with "
            f"different players and {lost_targets} with different targets out of "
            f"{samples * models * (models - 1) // 2}; see .n_skipped_players and "
            ".n_skipped_target per pair",
            UserWarning,
            stacklevel=3,
        )


def _generator(seed: object) -> np.random.Generator:
    if seed is not None and not isinstance(seed, np.random.Generator) and (
            isinstance(seed, bool) or not isinstance(seed, int)):
        raise TypeError(
            f"seed must be an int, a numpy Generator or None, got {type(seed).__name__} "
            f"({seed!r})"
        )
    return np.random.default_rng(seed)


def _check_counts(**counts: int) -> None:
    for name, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InteractionError(f"{name} must be an int >= 0 (0 turns it off), got {value!r}")


def overlap_matrix(
    results: Mapping[str, Sequence[InteractionResult]] | Sequence[Sequence[InteractionResult]],
    tau: float = 0.05,
    *,
    absolute: float | None = None,
    top_k: int | None = None,
    top_fraction: float | None = None,
    merge_singletons: bool = True,
    n_top: int = 10,
    l1_normalize: bool = False,
    match_target: bool = True,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    n_chance: int = N_CHANCE,
    n_cross_prompt: int = N_CROSS_PROMPT,
    seed: int | np.random.Generator | None = 0,
    show_progress: bool = False,
) -> OverlapMatrix:
    """Pairwise overlap metrics of many models (or checkpoints) over many samples.

    Every metric of :func:`overlap` is computed for every ordered pair of models on every
    sample in batched tensor operations, then averaged over samples with a bootstrap
    confidence interval.

    Parameters
    ----------
    results : mapping or list of lists
        ``{model_name: [result_sample_0, result_sample_1, ...]}`` with the samples aligned
        by index, or a list of such lists (models named "0", "1", ...); a single result
        stands for one sample. A checkpoint sequence is the same with checkpoint names as
        keys.
    tau, absolute, top_k, top_fraction, merge_singletons, n_top, l1_normalize
        As in :func:`overlap`.
    match_target : bool
        Skip the samples where two models explain different targets (compared by
        :attr:`InteractionResult.target_key`: the target's text when known, so models with
        different tokenizers compare, else the token id). Samples where two models have
        different players are always skipped.
        Skips are counted per pair in ``n_skipped_*`` and announced with a warning.
    n_bootstrap : int
        Bootstrap resamples of the samples for the confidence intervals (0: no intervals).
    confidence : float
        Coverage of the intervals (default 0.95).
    n_chance : int
        Random relocations per pair and sample for the ``*_chance`` metrics (0 leaves
        them out).
    seed : int, numpy.random.Generator or None
        Seed or generator for the chance draws and the bootstrap.
    show_progress : bool
        Show a progress bar over blocks of samples.

    Returns
    -------
    OverlapMatrix
        ``matrix[metric]`` is the ``[M, M]`` mean; see :class:`OverlapMatrix`.

    Examples
    --------
    >>> from captum_interactions import InteractionResult, and_transform
    >>> v = torch.tensor([0.0, 1.0, 2.0, 5.0])
    >>> a = InteractionResult(["x", "y"], v, and_transform(v), torch.zeros(4))
    >>> w = torch.tensor([0.0, 1.0, 0.0, 1.0])
    >>> b = InteractionResult(["x", "y"], w, and_transform(w), torch.zeros(4))
    >>> matrix = overlap_matrix({"A": [a, a], "B": [b, a]}, n_bootstrap=0, n_chance=0)
    >>> matrix["jaccard"]
    tensor([[1.0000, 0.6667],
            [0.6667, 1.0000]], dtype=torch.float64)
    >>> matrix.n_samples.tolist()
    [[2, 2], [2, 2]]
    """
    names, table = _table(results)
    _check_n_top(n_top)
    _check_counts(n_bootstrap=n_bootstrap, n_chance=n_chance, n_cross_prompt=n_cross_prompt)
    if not 0 < confidence < 1:
        raise InteractionError(f"confidence must be in (0, 1), got {confidence}")
    generator = _generator(seed)
    criterion = _criterion(tau, absolute, top_k, top_fraction)
    device = table[0][0].and_interactions.device
    by_sample = [list(row) for row in zip(*table, strict=True)]  # [S][M]
    samples, models = len(by_sample), len(names)
    same_players, skipped_target = _comparable(by_sample, match_target)
    valid = (same_players & ~skipped_target).to(device)
    # Resamples first, so that they do not depend on how many chance draws came before.
    draws = generator.multinomial(samples, np.full(samples, 1 / samples), size=n_bootstrap)
    weights = torch.from_numpy(draws).to(device=device, dtype=torch.float64)

    n_of = torch.tensor([[result.n_players for result in row] for row in by_sample])
    width = int(n_of.max()) + 1
    metrics = list(SCALARS)
    if n_chance > 0:
        metrics += [f"{name}_chance_{kind}" for kind in ("uniform", "order") for name in CHANCE
                    if (kind, name) != ("order", "top_k_overlap")]
        metrics += [*CHANCE_ORDER_EXTRA, *CANCELLATION_CONTROLS]
    if n_cross_prompt > 0:
        metrics += [f"{name}_cross_prompt" for name in CROSS_PROMPT]
    table = torch.full((len(metrics), samples, models, models), math.nan, dtype=torch.float64,
                       device=device)  # NaN where a pair is skipped
    counted = [name for name in ORDERS if "cancellation" not in name]
    if n_chance > 0:
        counted += [f"order_counts_shared{s}_chance_order" for s in SHARED_DEFINITIONS.values()]
    order_counts = {name: torch.zeros(samples, models, models, width, dtype=torch.float64,
                                      device=device) for name in counted}
    order_sums = {name: torch.zeros(models, models, width, dtype=torch.float64, device=device)
                  for name in ORDERS if "cancellation" in name}
    order_defined = {name: torch.zeros_like(value) for name, value in order_sums.items()}
    blocks = []  # (n, sample indices): one n per block, at most _BLOCK elements
    for n in sorted(set(n_of.flatten().tolist())):
        rows = torch.nonzero((n_of == n).any(1)).flatten().tolist()
        step = max(1, _BLOCK // (models << (n + 1)))
        blocks += [(n, rows[start:start + step]) for start in range(0, len(rows), step)]
    for n, rows in tqdm(blocks, desc="overlap", disable=not show_progress):
        block = [[result if result.n_players == n else None for result in by_sample[s]]
                 for s in rows]
        and_i, or_i = _block(block, n, merge_singletons=merge_singletons, device=device,
                             where=lambda s, m, rows=rows: f"results[{names[m]!r}][{rows[s]}]")
        stats = pairwise_statistics(and_i, or_i, criterion=criterion, n_top=n_top,
                                    l1_normalize=l1_normalize)
        scalars, counts = dict(stats.scalars), dict(stats.orders)
        if n_chance > 0:
            controls, expected = _controls(stats, n=n, merge_singletons=merge_singletons,
                                           draws=n_chance, rng=generator)
            scalars.update(controls)
            counts.update(expected)
        in_block = (n_of[rows] == n).to(device)
        keep = valid[rows] & in_block.unsqueeze(-1) & in_block.unsqueeze(-2)
        for k, name in enumerate(metrics):
            if name in scalars:  # (the cross-prompt controls come below)
                table[k, rows] = torch.where(keep, scalars[name], table[k, rows])
        for name, value in order_counts.items():
            value[rows, ..., : n + 1] += torch.where(keep.unsqueeze(-1), counts[name], 0.0)
        for name in order_sums:
            usable = keep.unsqueeze(-1) & torch.isfinite(counts[name])
            order_sums[name][..., : n + 1] += torch.where(usable, counts[name], 0.0).sum(0)
            order_defined[name][..., : n + 1] += usable.sum(0)
    if n_cross_prompt > 0:
        cross, cross_order = _cross_prompt(
            by_sample, n_of, merge_singletons=merge_singletons, criterion=criterion,
            n_top=n_top, l1_normalize=l1_normalize, partners=n_cross_prompt, rng=generator,
            device=device, width=width)
        for name, value in cross.items():
            k = metrics.index(f"{name}_cross_prompt")
            table[k] = torch.where(valid, value, math.nan)
        order_counts.update({f"{name}_cross_prompt": torch.where(valid.unsqueeze(-1), value, 0.0)
                             for name, value in cross_order.items()})
    present = set(metrics)
    differences = [(metric, control) for metric, control in DIFFERENCES
                   if metric in present and control in present]
    if differences:
        metrics += [f"{metric}_minus_{control}" for metric, control in differences]
        table = torch.cat([table, torch.stack([table[metrics.index(metric)]
                                               - table[metrics.index(control)]
                                               for metric, control in differences])])

    # Counts are summed over samples, cancellations averaged over the samples defining them.
    order = {name: value.sum(0) for name, value in order_counts.items()}
    order.update({name: torch.where(order_defined[name] > 0,
                                    order_sums[name] / order_defined[name], math.nan)
                  for name in order_sums})
    order = _order_metrics(order, counts_as_int=False)
    rates = _order_rates(order_counts, weights, confidence)
    low, high = _bootstrap(table.transpose(0, 1).flatten(1), weights, confidence).view(
        2, *table.shape[:1], models, models)
    skipped_players, skipped_targets = (~same_players).sum(0), skipped_target.sum(0)
    _warn_skipped(skipped_players, skipped_targets, samples)
    settings = dict(criterion, merge_singletons=merge_singletons, n_top=n_top,
                    l1_normalize=l1_normalize,
                    match_target=match_target, n_bootstrap=n_bootstrap,
                    confidence=confidence, n_chance=n_chance, n_cross_prompt=n_cross_prompt)
    return OverlapMatrix(
        names=names,
        mean=dict(zip(metrics, table.nanmean(1), strict=True)),
        ci_low=dict(zip(metrics, low, strict=True)),
        ci_high=dict(zip(metrics, high, strict=True)),
        order=order,
        order_ci_low={name: bounds[0] for name, bounds in rates.items()},
        order_ci_high={name: bounds[1] for name, bounds in rates.items()},
        per_sample=dict(zip(metrics, table, strict=True)),
        per_sample_order=order_counts,
        n_samples=valid.sum(0).cpu(),
        n_skipped_players=skipped_players,
        n_skipped_target=skipped_targets,
        settings=settings,
    )


def _controls(
    stats: PairStatistics, *, n: int, merge_singletons: bool, draws: int,
    rng: np.random.Generator,
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Chance levels (uniform and order-preserving) and the cancellation controls of a
    block, and the expected common count per order under order-preserving chance."""
    controls, expected = chance_statistics(stats, n=n, merge_singletons=merge_singletons,
                                           draws=draws, rng=rng)
    torch_rng = torch.Generator().manual_seed(int(rng.integers(1 << 62)))
    controls.update(cancellation_controls(stats, draws=draws, generator=torch_rng))
    return controls, expected


def _cross_prompt(
    by_sample: list[list[InteractionResult]],
    n_of: torch.Tensor,
    *,
    merge_singletons: bool,
    criterion: dict[str, Any],
    n_top: int,
    l1_normalize: bool,
    partners: int,
    rng: np.random.Generator,
    device: torch.device,
    width: int,
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The cross-prompt control ``[S, M, M]`` of every :data:`CROSS_PROMPT` metric: model A
    on sample i against model B on other samples j (players aligned by position), averaged
    over up to ``partners`` of them; and the common count per order it gives,
    ``[S, M, M, width]``, by ``order_counts_shared*`` name (both definitions).

    Samples are paired by cyclic shifts of the samples with the same number of players (all
    shifts when there are at most ``partners + 1`` samples, else ``partners`` random ones),
    so every sample meets distinct partners and never itself. Samples whose models have
    different numbers of players get NaN.
    """
    samples, models = n_of.shape
    sums = {name: torch.zeros(samples, models, models, dtype=torch.float64, device=device)
            for name in CROSS_PROMPT}
    defined = {name: torch.zeros_like(value) for name, value in sums.items()}
    order_shared = {f"order_counts_shared{s}": torch.zeros(
        samples, models, models, width, dtype=torch.float64, device=device)
        for s in SHARED_DEFINITIONS.values()}
    met = torch.zeros(samples, dtype=torch.float64, device=device)
    uniform = (n_of == n_of[:, :1]).all(1)
    for n in sorted(set(n_of[uniform, 0].tolist())):
        group = torch.nonzero(uniform & (n_of[:, 0] == n)).flatten().tolist()
        count = len(group)
        if count < 2:
            continue
        shifts = (range(1, count) if count - 1 <= partners
                  else sorted(rng.choice(np.arange(1, count), partners, replace=False).tolist()))
        step = max(1, _BLOCK // (models << (n + 1)))
        for shift in shifts:
            for start in range(0, count, step):
                mine = group[start:start + step]
                theirs = [group[(start + t + shift) % count] for t in range(len(mine))]
                left, right = (_block([by_sample[i] for i in part], n,
                                      merge_singletons=merge_singletons, device=device,
                                      where=lambda s, m, part=part: f"sample {part[s]}")
                               for part in (mine, theirs))
                stats = pairwise_statistics(*left, against=right, criterion=criterion,
                                            n_top=n_top, l1_normalize=l1_normalize)
                for name in CROSS_PROMPT:
                    value = stats.scalars[name]  # A on i, B on j
                    finite = torch.isfinite(value)
                    sums[name][mine] += torch.where(finite, value, 0.0)
                    defined[name][mine] += finite
                for name, value in order_shared.items():
                    value[mine, ..., : n + 1] += stats.orders[name]
                met[mine] += 1
    cross = {name: torch.where(defined[name] > 0, sums[name] / defined[name], math.nan)
             for name in CROSS_PROMPT}
    met = met.clamp(min=1)[:, None, None, None]
    return cross, {name: value / met for name, value in order_shared.items()}


def _order_rates(
    counts: dict[str, torch.Tensor], weights: torch.Tensor, confidence: float
) -> dict[str, torch.Tensor]:
    """Bootstrap intervals ``[2, M, M, K]`` of the pooled per-order sharing rates (common
    count over A's salient count, both summed over samples), for the data and each control."""
    salient = counts["order_counts_salient"]  # [S, M, M, K]
    out = {}
    for name, shared in counts.items():
        if not name.startswith("order_counts_shared"):
            continue
        rate = name.replace("order_counts_shared", "order_sharing_rate")
        out[rate] = _bootstrap_ratio(shared.flatten(1), salient.flatten(1), weights,
                                     confidence).view(2, *salient.shape[1:])
    return out


def _bootstrap_ratio(numerator: torch.Tensor, denominator: torch.Tensor, weights: torch.Tensor,
                     confidence: float) -> torch.Tensor:
    """Percentile intervals ``[2, P]`` of ``Σ numerator / Σ denominator`` over resampled
    samples (rows); NaN without resamples or where a resample's denominator is 0."""
    if not len(weights):
        return numerator.new_full((2, numerator.shape[1]), math.nan)
    totals = weights @ denominator
    ratios = torch.where(totals > 0, (weights @ numerator) / totals, math.nan).cpu().numpy()
    levels = [(1 - confidence) / 2, (1 + confidence) / 2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns stay NaN
        return torch.from_numpy(np.nanquantile(ratios, levels, axis=0)).to(numerator.device)

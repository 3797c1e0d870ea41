"""Do two models (checkpoints, samples) use the same interactions? Overlap metrics.

A *term* is a pair (type, S): an AND or an OR interaction on a non-empty player set S.
The salient set Ω of a result holds its salient terms (salience exactly as in
:meth:`InteractionResult.salient`) together with their signs. For results A and B on the
same players:

* **shared set**: terms salient in both with the same sign (primary); ``*_any_sign``
  metrics ignore the sign (secondary).
* ``weighted_overlap``: Σ [min(I_A⁺, I_B⁺) + min(I_A⁻, I_B⁻)] / Σ [max(I_A⁺, I_B⁺) +
  max(I_A⁻, I_B⁻)] over all terms, I⁺ = max(I, 0), I⁻ = max(-I, 0); equal to
  (L - d) / (L + d) with L = |I_A|₁ + |I_B|₁ and d = |I_A - I_B|₁. With ``l1_normalize=True``
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

from ._pairwise import CHANCE, ORDERS, SCALARS, chance_statistics, pairwise_statistics
from ._pairwise import universe_size as _universe_size

__all__ = ["OverlapMatrix", "PairOverlap", "overlap", "overlap_matrix"]

_COUNTS = ("n_salient_a", "n_salient_b", "n_shared", "n_shared_any_sign")
#: Default number of random relocations averaged for the ``*_chance`` metrics.
N_CHANCE = 100
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
            percentile confidence interval of that mean (resampling samples).
        order (dict[str, Tensor]): per-order statistics ``[M, M, n_max + 1]`` pooled over
            samples: ``order_counts_salient``, ``order_counts_shared``,
            ``order_counts_not_shared`` (sums), ``order_share``, ``order_sharing_rate``
            (ratios of the sums) and ``order_cancellation_shared`` /
            ``order_cancellation_not_shared`` (means over samples).
        per_sample (dict[str, Tensor]): per metric ``[S, M, M]``, NaN where skipped.
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
    per_sample: dict[str, torch.Tensor]
    n_samples: torch.Tensor
    n_skipped_players: torch.Tensor
    n_skipped_target: torch.Tensor
    settings: dict[str, Any] = field(default_factory=dict)

    def _table(self) -> dict[str, torch.Tensor]:
        return self.mean

    def __repr__(self) -> str:
        samples = next(iter(self.per_sample.values())).shape[0]
        return (
            f"{type(self).__name__}(models={self.names}, samples={samples}, "
            f"skipped_players={int(self.n_skipped_players.triu(1).sum())}, "
            f"skipped_target={int(self.n_skipped_target.triu(1).sum())})"
        )

    def to_records(self) -> list[dict[str, Any]]:
        """One row per ordered model pair and metric: model_a, model_b, metric, mean,
        ci_low, ci_high, n_samples."""
        return [
            {
                "model_a": a,
                "model_b": b,
                "metric": name,
                "mean": float(self.mean[name][i, j]),
                "ci_low": float(self.ci_low[name][i, j]),
                "ci_high": float(self.ci_high[name][i, j]),
                "n_samples": int(self.n_samples[i, j]),
            }
            for name in self.mean
            for i, a in enumerate(self.names)
            for j, b in enumerate(self.names)
        ]

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
        same player labels, two models, two checkpoints). Targets are not compared: use
        :func:`overlap_matrix` to skip samples where models predict different targets.
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
    if n_chance > 0:
        chance = chance_statistics(stats.signs, stats.top_signs, draws=n_chance,
                                   rng=_generator(seed),
                                   universe=_universe_size(n, merge_singletons=merge_singletons))
        metrics.update({name: float(value[0, 0, 1]) for name, value in chance.items()})
    per_order = {name: value[0, 0, 1] for name, value in stats.orders.items()}
    metrics.update(_order_metrics(per_order, counts_as_int=True))
    settings = dict(_criterion(tau, absolute, top_k, top_fraction),
                    merge_singletons=merge_singletons, n_top=n_top, l1_normalize=l1_normalize,
                    n_chance=n_chance)
    return PairOverlap(metrics, list(result_a.players), settings)


def _order_metrics(order: dict[str, torch.Tensor], *, counts_as_int: bool) -> dict[str, Any]:
    """Per-order metrics from summed counts and (mean) cancellations ``[..., n + 1]``."""
    salient, shared = order["order_counts_salient"], order["order_counts_shared"]
    total = salient.sum(-1, keepdim=True)
    ratio = {
        "order_share": torch.where(total > 0, salient / total, math.nan),
        "order_sharing_rate": torch.where(salient > 0, shared / salient, math.nan),
    }
    counts = {"order_counts_salient": salient, "order_counts_shared": shared,
              "order_counts_not_shared": salient - shared}
    rest = {name: order[name] for name in ORDERS if "cancellation" in name}
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
    _check_counts(n_bootstrap=n_bootstrap, n_chance=n_chance)
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
    metrics = (*SCALARS, *(f"{name}_chance" for name in CHANCE if n_chance > 0))
    table = torch.full((len(metrics), samples, models, models), math.nan, dtype=torch.float64,
                       device=device)  # NaN where a pair is skipped
    order_sums = {name: torch.zeros(models, models, int(n_of.max()) + 1, dtype=torch.float64,
                                    device=device) for name in ORDERS}
    order_defined = {name: torch.zeros_like(order_sums[name]) for name in ORDERS}
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
        scalars = dict(stats.scalars)
        if n_chance > 0:
            scalars.update(chance_statistics(
                stats.signs, stats.top_signs, draws=n_chance, rng=generator,
                universe=_universe_size(n, merge_singletons=merge_singletons)))
        in_block = (n_of[rows] == n).to(device)
        keep = valid[rows] & in_block.unsqueeze(-1) & in_block.unsqueeze(-2)
        found = torch.stack([scalars[name] for name in metrics])
        table[:, rows] = torch.where(keep, found, table[:, rows])
        for name, value in stats.orders.items():
            usable = keep.unsqueeze(-1) & torch.isfinite(value)
            order_sums[name][..., : n + 1] += torch.where(usable, value, 0.0).sum(0)
            order_defined[name][..., : n + 1] += usable.sum(0)

    # Counts are summed over samples, cancellations averaged over the samples defining them.
    order = {name: torch.where(order_defined[name] > 0,
                               order_sums[name] / order_defined[name], math.nan)
             if "cancellation" in name else order_sums[name] for name in ORDERS}
    low, high = _bootstrap(table.transpose(0, 1).flatten(1), weights, confidence).view(
        2, *table.shape[:1], models, models)
    skipped_players, skipped_targets = (~same_players).sum(0), skipped_target.sum(0)
    _warn_skipped(skipped_players, skipped_targets, samples)
    settings = dict(criterion, merge_singletons=merge_singletons, n_top=n_top,
                    l1_normalize=l1_normalize,
                    match_target=match_target, n_bootstrap=n_bootstrap,
                    confidence=confidence, n_chance=n_chance)
    return OverlapMatrix(
        names=names,
        mean=dict(zip(metrics, table.nanmean(1), strict=True)),
        ci_low=dict(zip(metrics, low, strict=True)),
        ci_high=dict(zip(metrics, high, strict=True)),
        order=_order_metrics(order, counts_as_int=False),
        per_sample=dict(zip(metrics, table, strict=True)),
        n_samples=valid.sum(0).cpu(),
        n_skipped_players=skipped_players,
        n_skipped_target=skipped_targets,
        settings=settings,
    )

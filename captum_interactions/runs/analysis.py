"""The cross-model analysis of a run: AND-OR graphs of every result, and the pairwise overlap
of models over the prompts on which they predict the same next word.

Writes ``graphs/<extraction>/<model>/<prompt>.graphml``, ``comparison.json`` (means,
bootstrap intervals, controls and per-prompt values of every model pair, strict JSON),
``overlap.csv`` (one row per ordered model pair and metric, controls and paired differences
included), ``per_order.csv`` (sharing rate per order with its controls) and
``cancellation.csv`` (cancellation of shared terms against its controls), ``sweep.csv``
(the main comparisons at other salience thresholds, :func:`tau_sweep`),
``joint_control.csv`` (with shared extraction: its gain on matched against mismatched
prompt pairs, :mod:`.joint_control`); see
:meth:`~captum_interactions.graphs.OverlapMatrix.to_records`,
:meth:`~captum_interactions.graphs.OverlapMatrix.order_records` and
:meth:`~captum_interactions.graphs.OverlapMatrix.cancellation_records`, and ``terms.csv``
(with ``terms.parquet`` where pandas and pyarrow are installed): one row per term of every
result, for statistics outside the library (:func:`term_records`).

>>> _finite([1.0, float("nan"), [float("inf"), 2]])
[1.0, None, [None, 2]]
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

import torch

from captum_interactions._files import atomic_path
from captum_interactions.graphs import OverlapMatrix, and_or_graph, overlap_matrix, write_graph
from captum_interactions.result import InteractionResult
from captum_interactions.subsets import to_indices

from .joint_control import joint_fit_gain
from .options import RunOptions
from .store import write_csv, write_json

__all__ = [
    "SWEEP_METRICS",
    "TERM_FLOOR",
    "Comparison",
    "analyse",
    "compare_models",
    "tau_sweep",
    "term_records",
]

logger = logging.getLogger(__name__)


def compare_models(
    table: Mapping[str, Sequence[InteractionResult]],
    *,
    tau: float = 0.05,
    merge_singletons: bool = True,
    seed: int = 0,
) -> OverlapMatrix:
    """Pairwise overlap of models over prompts, skipping pairs that predict different words.

    :func:`captum_interactions.graphs.overlap_matrix` with bootstrap intervals over prompts
    and chance levels; the skipped pairs are counted in ``n_skipped_target`` (no warning:
    runs report them themselves).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return overlap_matrix(table, tau, merge_singletons=merge_singletons, match_target=True,
                              seed=seed)


@dataclass
class Comparison:
    """What :func:`analyse` compared, for independent extraction: (model pair, prompt)
    combinations compared and skipped (different next words), and the overlap matrix
    (``None`` with fewer than two models or no prompt)."""

    compared: int = 0
    skipped: int = 0
    matrix: OverlapMatrix | None = None


def analyse(
    out_dir: Path,
    by_extraction: Mapping[str, Mapping[tuple[str, str], InteractionResult]],
    *,
    models: Sequence[str],
    prompts: Sequence[str],
    options: RunOptions,
    mismatched: Mapping[tuple[str, str], InteractionResult] | None = None,
) -> Comparison:
    """Write the graphs of every result and the overlap tables of ``models`` on ``prompts``.

    ``by_extraction`` maps ``"independent"`` (and ``"shared"``) to the results by
    ``(model, prompt id)``; ``mismatched`` holds the joint fits on mismatched prompts
    (:func:`~captum_interactions.runs.joint_control.fit_mismatched`), whose comparison with
    the matched joint fits goes to ``joint_control.csv``.
    """
    salience = options.salience()
    for name, found in by_extraction.items():
        for (model, prompt), result in found.items():
            write_graph(and_or_graph(result, **salience),
                        out_dir / "graphs" / name / model / f"{prompt}.graphml")
    results = by_extraction["independent"]
    comparison: dict[str, Any] = {
        **salience,
        "models": list(models),
        "prompts": list(prompts),
        "explained": {p: {m: results[m, p].target_text for m in models} for p in prompts},
        "extractions": {},
    }
    tables: dict[str, list[dict[str, Any]]] = {"overlap": [], "per_order": [],
                                               "cancellation": []}
    counts = Comparison()
    compare = len(models) > 1 and len(prompts) > 0  # (screening may leave no prompt)
    if compare:
        for name, found in by_extraction.items():
            table = {m: [found[m, p] for p in prompts] for m in models}
            matrix = compare_models(table, **salience, seed=options.seed)
            comparison["extractions"][name] = _matrix_json(matrix, list(prompts))
            for kind, records in (("overlap", matrix.to_records()),
                                  ("per_order", matrix.order_records()),
                                  ("cancellation", matrix.cancellation_records())):
                tables[kind] += [{"extraction": name, **row} for row in records]
            if name == "independent":
                counts = Comparison(compared=int(matrix.n_samples.triu(1).sum()),
                                    skipped=int(matrix.n_skipped_target.triu(1).sum()),
                                    matrix=matrix)
                logger.info(
                    "compared %d (model pair, prompt) combinations; skipped %d where the two "
                    "models predict different next words", counts.compared, counts.skipped,
                )
    if compare:
        tables["sweep"] = tau_sweep(by_extraction["independent"], models=models,
                                    prompts=prompts, options=options)
    if mismatched:
        tables["joint_control"] = joint_fit_gain(
            by_extraction["independent"], by_extraction["shared"], mismatched, models=models,
            prompts=prompts, **salience, seed=options.seed)
    write_json(out_dir / "comparison.json", comparison)
    tables["terms"] = term_records(by_extraction, models=models, prompts=prompts,
                                   salience=salience)
    for kind, rows in tables.items():
        write_csv(out_dir / f"{kind}.csv", rows)
    _parquet(out_dir / "terms.parquet", tables["terms"])
    return counts


#: Metrics of the independent extraction repeated at every salience threshold of a sweep
#: (both definitions of a shared term: ``jaccard`` and ``jaccard_any_sign``, ...).
SWEEP_METRICS = ("n_salient_a", *(
    name.format(suffix) for suffix in ("", "_any_sign") for name in (
        "jaccard{}", "jaccard{}_chance_uniform", "jaccard{}_chance_order",
        "jaccard{}_cross_prompt", "jaccard{0}_minus_jaccard{0}_cross_prompt",
        "jaccard{0}_minus_jaccard{0}_chance_order", "mean_order_shared{}",
        "mean_order_shared{0}_minus_mean_order_shared{0}_chance_order",
        "cancellation_shared{}",
        "cancellation_shared{0}_minus_cancellation_shared{0}_cross_prompt", "n_shared{}")))


def tau_sweep(
    results: Mapping[tuple[str, str], InteractionResult],
    *,
    models: Sequence[str],
    prompts: Sequence[str],
    options: RunOptions,
) -> list[dict[str, Any]]:
    """The comparison of the independent extraction at every salience threshold of
    ``options.tau_sweep``: the rows of :meth:`OverlapMatrix.to_records` for
    :data:`SWEEP_METRICS`, each with its ``tau`` (ordered pairs A != B)."""
    table = {m: [results[m, p] for p in prompts] for m in models}
    rows = []
    for tau in options.tau_sweep:
        matrix = compare_models(table, tau=tau, merge_singletons=options.merge_singletons,
                                seed=options.seed)
        rows += [{"tau": tau, **row} for row in matrix.to_records()
                 if row["metric"] in SWEEP_METRICS and row["model_a"] != row["model_b"]]
    return rows


#: Terms weaker than this fraction of a result's strongest are numerically zero and left out
#: of the per-term table.
TERM_FLOOR = 1e-6


def term_records(
    by_extraction: Mapping[str, Mapping[tuple[str, str], InteractionResult]],
    *,
    models: Sequence[str],
    prompts: Sequence[str],
    salience: Mapping[str, Any],
) -> list[dict[str, Any]]:
    """One row per term (type, player set) of every result: extraction, prompt, model,
    target (what it explains), type, mask, term (``"a & b"`` or ``"a | b"``), order, value,
    salient, and for a salient term the other models that share it on the prompt with the
    same sign (``shared_with``, ``;``-separated) or any sign (``shared_any_sign_with``),
    among the ``compared_with`` models (same target and players). Terms below
    :data:`TERM_FLOOR` times the result's strongest are left out; singletons are merged
    as in the salience settings. Load with ``pandas.read_csv(path, keep_default_na=False)``.

    >>> from captum_interactions import InteractionResult, reconstruct
    >>> and_i, or_i = torch.zeros(4), torch.zeros(4)
    >>> and_i[3] = 2.0
    >>> result = InteractionResult(["x", "y"], reconstruct(and_i, or_i), and_i, or_i)
    >>> rows = term_records({"independent": {("m", "p"): result}}, models=["m"],
    ...                     prompts=["p"], salience={"tau": 0.05})
    >>> [(row["term"], row["order"], row["value"], row["salient"]) for row in rows]
    [('x & y', 2, 2.0, True)]
    """
    merge = salience.get("merge_singletons", True)
    rows = []
    for extraction, found in by_extraction.items():
        for prompt in prompts:
            present = {m: found[m, prompt] for m in models if (m, prompt) in found}
            salient = {m: {(t.type, t.mask): t.sign for t in result.salient(**salience)}
                       for m, result in present.items()}
            for model, result in present.items():
                peers = [other for other, them in present.items() if other != model
                         and them.target_key == result.target_key
                         and them.players == result.players]
                and_i, or_i = result.interactions(merge_singletons=merge)
                floor = TERM_FLOOR * float(torch.cat([and_i[1:], or_i[1:]]).abs().max())
                for kind, values, joiner in (("and", and_i, " & "), ("or", or_i, " | ")):
                    for mask in torch.nonzero(values.abs() > floor).flatten().tolist():
                        if mask == 0:
                            continue
                        value = float(values[mask])
                        sign = 1 if value > 0 else -1
                        key = (kind, mask)
                        mine = key in salient[model]
                        players = [result.players[i] for i in to_indices(mask)]
                        rows.append({
                            "extraction": extraction, "prompt": prompt, "model": model,
                            "target": result.target_text, "type": kind, "mask": mask,
                            "term": joiner.join(players), "order": len(players),
                            "value": value, "salient": mine,
                            "shared_with": ";".join(
                                o for o in peers if mine and salient[o].get(key) == sign),
                            "shared_any_sign_with": ";".join(
                                o for o in peers if mine and key in salient[o]),
                            "compared_with": ";".join(peers),
                        })
    return rows


def _parquet(path: Path, rows: list[dict[str, Any]]) -> None:
    """``rows`` as a Parquet file, where pandas and pyarrow are installed."""
    try:
        import pandas
        import pyarrow  # noqa: F401  (pandas' Parquet engine)
    except ImportError:
        logger.info("terms.parquet not written: it needs pandas and pyarrow (terms.csv has "
                    "the same rows)")
        return
    with atomic_path(path) as tmp:
        pandas.DataFrame.from_records(rows).to_parquet(tmp)


def _finite(value: Any) -> Any:
    """Nested lists with NaN and infinities as ``None`` (strict JSON)."""
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value if isinstance(value, (int, str)) or math.isfinite(value) else None


def _matrix_json(matrix: OverlapMatrix, prompts: list[str]) -> dict[str, Any]:
    """An overlap matrix as strict JSON: means, intervals, per-prompt values of every pair."""
    names = matrix.names
    per_prompt = {
        f"{names[i]} vs {names[j]}": {
            metric: dict(zip(prompts, _finite(values[:, i, j].tolist()), strict=True))
            for metric, values in matrix.per_sample.items()
        }
        for i, j in combinations(range(len(names)), 2)
    }
    return {
        "mean": {k: _finite(v.tolist()) for k, v in matrix.mean.items()},
        "ci_low": {k: _finite(v.tolist()) for k, v in matrix.ci_low.items()},
        "ci_high": {k: _finite(v.tolist()) for k, v in matrix.ci_high.items()},
        "order": {k: _finite(v.tolist()) for k, v in matrix.order.items()},
        "order_ci_low": {k: _finite(v.tolist()) for k, v in matrix.order_ci_low.items()},
        "order_ci_high": {k: _finite(v.tolist()) for k, v in matrix.order_ci_high.items()},
        "n_samples": matrix.n_samples.tolist(),
        "n_skipped_target": matrix.n_skipped_target.tolist(),
        "per_prompt": per_prompt,
        "settings": matrix.settings,
    }

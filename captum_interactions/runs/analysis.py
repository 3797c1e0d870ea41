"""The cross-model analysis of a run: AND-OR graphs of every result, and the pairwise overlap
of models over the prompts on which they predict the same next word.

Writes ``graphs/<extraction>/<model>/<prompt>.graphml``, ``comparison.json`` (means,
bootstrap intervals, controls and per-prompt values of every model pair, strict JSON),
``overlap.csv`` (one row per ordered model pair and metric, controls and paired differences
included), ``per_order.csv`` (sharing rate per order with its controls) and
``cancellation.csv`` (cancellation of shared terms against its controls); see
:meth:`~captum_interactions.graphs.OverlapMatrix.to_records`,
:meth:`~captum_interactions.graphs.OverlapMatrix.order_records` and
:meth:`~captum_interactions.graphs.OverlapMatrix.cancellation_records`.

>>> _finite([1.0, float("nan"), [float("inf"), 2]])
[1.0, None, [None, 2]]
"""

from __future__ import annotations

import csv
import io
import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

from captum_interactions.graphs import OverlapMatrix, and_or_graph, overlap_matrix, write_graph
from captum_interactions.result import InteractionResult

from .options import RunOptions
from .store import write_json, write_text

__all__ = ["Comparison", "analyse", "compare_models"]

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
    """What :func:`analyse` compared: (model pair, prompt) combinations compared and skipped
    (different next words), for independent extraction."""

    compared: int = 0
    skipped: int = 0


def analyse(
    out_dir: Path,
    by_extraction: Mapping[str, Mapping[tuple[str, str], InteractionResult]],
    *,
    models: Sequence[str],
    prompts: Sequence[str],
    options: RunOptions,
) -> Comparison:
    """Write the graphs of every result and the overlap tables of ``models`` on ``prompts``.

    ``by_extraction`` maps ``"independent"`` (and ``"shared"``) to the results by
    ``(model, prompt id)``.
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
    if len(models) > 1:
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
                                    skipped=int(matrix.n_skipped_target.triu(1).sum()))
                logger.info(
                    "compared %d (model pair, prompt) combinations; skipped %d where the two "
                    "models predict different next words", counts.compared, counts.skipped,
                )
    write_json(out_dir / "comparison.json", comparison)
    for kind, rows in tables.items():
        write_text(out_dir / f"{kind}.csv", _csv(rows))
    return counts


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


def _csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return buffer.getvalue()

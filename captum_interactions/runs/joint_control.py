"""The mismatched-pair control of shared extraction: how much sharing the joint fit makes.

Shared extraction fits the AND-OR split of several models jointly, which pulls their
interactions toward each other. To see how much of its extra sharing the fit makes by
itself, a run with ``shared=True`` also fits models on *mismatched* prompts: model A on
prompt i jointly with model B on prompt j ≠ i (players paired by position, as in the
cross-prompt control). The joint fit's gain over independent extraction,
``gain = metric(joint) - metric(independent)``, is then compared on matched and mismatched
pairs: a ratio ``gain_mismatched / gain_matched`` near 1 says that the fit makes its extra
sharing whatever the prompts are; near 0, that the extra sharing needs the same prompt.

>>> partners(["p1", "p2", "p3"], 2)
{'p1': ['p1', 'p2'], 'p2': ['p2', 'p3'], 'p3': ['p3', 'p1']}
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from captum_interactions.graphs import overlap_matrix
from captum_interactions.result import InteractionResult

from .compute import SharedFit, SharedSolver, fit_shared
from .options import RunOptions

__all__ = ["GAIN_METRICS", "fit_mismatched", "joint_fit_gain", "partners"]

#: The overlap metrics whose joint-fit gain is compared.
GAIN_METRICS = ("jaccard", "jaccard_any_sign", "weighted_overlap")

Results = Mapping[tuple[str, str], InteractionResult]


def partners(prompts: Sequence[str], models: int) -> dict[str, list[str]]:
    """For each anchor prompt, the prompt each of ``models`` models is fitted on: model k on
    the k-th next prompt, cyclically, so that no two models share a prompt (empty when there
    are fewer prompts than models)."""
    count = len(prompts)
    if count < models:
        return {}
    return {prompt: [prompts[(t + k) % count] for k in range(models)]
            for t, prompt in enumerate(prompts)}


def _groups(models: Sequence[str], prompts: Sequence[str], results: Results
            ) -> dict[str, list[str]]:
    """Anchor prompt -> each model's prompt, over the prompts on which every model explains
    the same target, grouped by number of players (each group cycles on its own)."""
    by_size: dict[int, list[str]] = defaultdict(list)
    for prompt in prompts:
        found = [results.get((m, prompt)) for m in models]
        if all(r is not None for r in found) and len({r.target_key for r in found}) == 1:
            by_size[found[0].n_players].append(prompt)
    return {anchor: chosen for group in by_size.values()
            for anchor, chosen in partners(group, len(models)).items()}


def fit_mismatched(
    folder,
    options: RunOptions,
    models: Sequence[str],
    prompts: Sequence[str],
    results: Results,
    solve: SharedSolver,
) -> dict[tuple[str, str], InteractionResult]:
    """Shared extraction of every model on a different prompt, per anchor prompt (see
    :func:`partners`), with the run's shared-extraction options, solved by ``solve`` (in
    this process or on a Ray cluster); saved in the run folder
    (``shared_mismatched/<model>/<anchor>.npz``, resumable) and returned by ``(model,
    anchor)``. Each result carries the anchor's players; ``metadata["prompt_id"]`` names
    the prompt whose values it explains."""
    fits = [SharedFit(anchor, list(models), [results[m, p] for m, p in zip(models, chosen,
                                                                            strict=True)],
                      results[models[0], anchor].players, {"anchor": anchor})
            for anchor, chosen in _groups(models, prompts, results).items()]
    return fit_shared(folder, "mismatched", fits, options, solve)


def _relabelled(result: InteractionResult, players: Sequence[str]) -> InteractionResult:
    return dataclasses.replace(result, players=list(players))


def joint_fit_gain(
    independent: Results,
    shared: Results,
    mismatched: Results,
    *,
    models: Sequence[str],
    prompts: Sequence[str],
    tau: float = 0.05,
    merge_singletons: bool = True,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """The joint fit's gain on matched and mismatched pairs, per model pair and metric of
    :data:`GAIN_METRICS`: the mean gain over anchor prompts with its bootstrap interval
    (``gain_matched``, ``gain_mismatched``, each with ``_ci_low`` / ``_ci_high``), and the
    ratio of the mean gains ``gain_mismatched / gain_matched`` with its interval
    (resampling anchors), with ``n_prompts``. Empty without mismatched fits."""
    groups = _groups(models, prompts, independent)
    anchors = [a for a in groups if all((m, a) in mismatched for m in models)]
    if not anchors:
        return []

    def per_sample(table: dict[str, list[InteractionResult]]) -> dict[str, np.ndarray]:
        matrix = overlap_matrix(table, tau, merge_singletons=merge_singletons,
                                match_target=False, n_bootstrap=0, n_chance=0,
                                n_cross_prompt=0)
        return {name: matrix.per_sample[name].cpu().numpy() for name in GAIN_METRICS}

    def table(pick) -> dict[str, list[InteractionResult]]:
        """Model -> its result per anchor (``pick(model, k, anchor)``), on the anchor's
        players."""
        return {m: [_relabelled(pick(m, k, a), independent[models[0], a].players)
                    for a in anchors] for k, m in enumerate(models)}

    # per metric, [anchors, M, M]: joint minus independent, on matched and mismatched pairs
    joint, alone = per_sample(table(lambda m, k, a: shared[m, a])), per_sample(
        table(lambda m, k, a: independent[m, a]))
    crossed, crossed_alone = per_sample(table(lambda m, k, a: mismatched[m, a])), per_sample(
        table(lambda m, k, a: independent[m, groups[a][k]]))
    gains = {name: {"matched": joint[name] - alone[name],
                    "mismatched": crossed[name] - crossed_alone[name]} for name in GAIN_METRICS}
    draws = np.random.default_rng(seed).integers(0, len(anchors), (n_bootstrap, len(anchors)))
    levels = [(1 - confidence) / 2, (1 + confidence) / 2]
    rows = []
    for i, j in zip(*np.triu_indices(len(models), 1), strict=True):
        for name in GAIN_METRICS:
            row: dict[str, Any] = {"model_a": models[i], "model_b": models[j], "metric": name}
            boot = {}
            for kind, gain in gains[name].items():
                mean, boot[kind] = _nanmean(gain[:, i, j]), _nanmean(gain[draws, i, j])
                row[f"gain_{kind}"] = None if np.isnan(mean) else float(mean)
                row[f"gain_{kind}_ci_low"], row[f"gain_{kind}_ci_high"] = _quantiles(
                    boot[kind], levels)
            matched, mismatched_gain = row["gain_matched"], row["gain_mismatched"]
            row["ratio"] = (mismatched_gain / matched if matched and mismatched_gain is not None
                            else None)
            with np.errstate(divide="ignore", invalid="ignore"):
                row["ratio_ci_low"], row["ratio_ci_high"] = _quantiles(
                    boot["mismatched"] / boot["matched"], levels)
            row["n_prompts"] = len(anchors)
            rows.append(row)
    return rows


def _nanmean(values: np.ndarray) -> np.ndarray:
    """The mean of the finite values along the last axis; NaN where there are none."""
    finite = np.isfinite(values)
    count = finite.sum(-1)
    total = np.where(finite, values, 0.0).sum(-1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _quantiles(values: np.ndarray, levels: list[float]) -> tuple[float | None, float | None]:
    finite = values[np.isfinite(values)]
    if not finite.size:
        return None, None
    low, high = np.quantile(finite, levels)
    return float(low), float(high)

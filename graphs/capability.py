"""Do more capable model pairs share more interactions? Sharing against capability.

The seed paper's claim 2 says that models share interactions more strongly the more capable
they are. :func:`sharing_vs_capability` puts it to a test on any overlap matrix: for every
unordered model pair it takes the pair's control-adjusted sharing (by default
``jaccard_minus_jaccard_cross_prompt``, the Jaccard of the salient sets minus its
cross-prompt control, so the sharing any two models show on unrelated prompts is taken out)
and the pair's capability (by default the lower of the two models' capabilities, so a pair
is only as capable as its weaker model), and measures their Spearman rank correlation with a
bootstrap interval. :func:`plot_sharing_vs_capability` draws each pair with its interval.

The capability numbers come from outside (e.g. each model's mean log-probability of the
correct word on the same prompts, see ``captum_interactions.runs.scoring``); this module
only relates them to sharing.

>>> import torch
>>> from captum_interactions import InteractionResult, and_transform
>>> from captum_interactions.graphs import overlap_matrix
>>> v = torch.tensor([0.0, 1.0, 2.0, 5.0])
>>> a = InteractionResult(["x", "y"], v, and_transform(v), torch.zeros(4))
>>> matrix = overlap_matrix({"A": [a, a], "B": [a, a], "C": [a, a]}, n_bootstrap=0)
>>> found = sharing_vs_capability(matrix, {"A": -1.0, "B": -2.0, "C": -3.0})
>>> found.n_pairs, found.pairs
(3, [('A', 'B'), ('A', 'C'), ('B', 'C')])
>>> found.capability   # the lower capability of each pair
[-2.0, -3.0, -3.0]
>>> math.isnan(found.rho), found.note   # identical sharing: no ranking to correlate
(True, 'the sharing is the same for every pair, so it has no ranks to correlate')
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from captum_interactions.exceptions import InteractionError

from ._mpl import NOT_SHARED, SHARED, figure_axes
from .comparison import OverlapMatrix, _generator

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["COMBINE", "SharingCapability", "plot_sharing_vs_capability",
           "sharing_vs_capability"]

#: How a pair's capability is made from its two models' capabilities.
COMBINE: dict[str, Callable[[float, float], float]] = {
    "min": min, "max": max, "mean": lambda a, b: (a + b) / 2,
}
#: What the bootstrap resamples.
RESAMPLE = ("pairs", "models")


@dataclass(frozen=True)
class SharingCapability:
    """Sharing against capability over the model pairs (see :func:`sharing_vs_capability`).

    Attributes:
        pairs (list[tuple[str, str]]): the unordered model pairs, in matrix order.
        sharing, sharing_low, sharing_high (list[float]): each pair's metric (mean over
            samples) and its bootstrap interval from the matrix.
        n_samples (list[int]): samples compared per pair.
        capability_a, capability_b (list[float]): the two models' capabilities.
        capability (list[float]): the pair's capability (``combine`` of the two).
        capability_low, capability_high (list[float]): ``combine`` of the models' interval
            ends where intervals were given (an indication of spread, not an interval of the
            pair's capability), else NaN.
        rho (float): Spearman rank correlation over the pairs with a finite sharing and
            capability (NaN with fewer than 3 or without variation; see ``note``).
        ci_low, ci_high (float): its percentile bootstrap interval.
        n_pairs (int): pairs in the correlation.
        note (str): why ``rho`` is NaN, or ``""``.
        settings (dict): metric, combine, resample, n_bootstrap, confidence.
    """

    pairs: list[tuple[str, str]]
    sharing: list[float]
    sharing_low: list[float]
    sharing_high: list[float]
    n_samples: list[int]
    capability_a: list[float]
    capability_b: list[float]
    capability: list[float]
    capability_low: list[float]
    capability_high: list[float]
    rho: float
    ci_low: float
    ci_high: float
    n_pairs: int
    note: str = ""
    settings: dict[str, Any] = field(default_factory=dict)

    def to_records(self) -> list[dict[str, Any]]:
        """One row per pair: model_a, model_b, metric, sharing, ci_low, ci_high, n_samples,
        capability_a, capability_b, capability (the pair's), then the correlation over all
        pairs, repeated on every row: rho, rho_ci_low, rho_ci_high, n_pairs."""
        metric = self.settings.get("metric")
        return [
            {"model_a": a, "model_b": b, "metric": metric, "sharing": self.sharing[k],
             "ci_low": self.sharing_low[k], "ci_high": self.sharing_high[k],
             "n_samples": self.n_samples[k], "capability_a": self.capability_a[k],
             "capability_b": self.capability_b[k], "capability": self.capability[k],
             "rho": self.rho, "rho_ci_low": self.ci_low, "rho_ci_high": self.ci_high,
             "n_pairs": self.n_pairs}
            for k, (a, b) in enumerate(self.pairs)
        ]


def _capabilities(capability: Mapping[str, Any], names: list[str]
                  ) -> dict[str, tuple[float, float, float]]:
    """``name -> (value, low, high)`` from numbers or ``(value, low, high)`` triples."""
    if not isinstance(capability, Mapping):
        raise TypeError(f"capability must map model names to numbers, got "
                        f"{type(capability).__name__}")
    missing = [name for name in names if name not in capability]
    if missing:
        raise InteractionError(
            f"capability has no value for model(s) {missing} of the matrix; give one number "
            f"(or a (value, low, high) triple) per model in {names}")
    out = {}
    for name in names:
        given = capability[name]
        triple = (given, math.nan, math.nan) if np.isscalar(given) else tuple(given)
        if len(triple) != 3 or not all(isinstance(x, (int, float, np.floating))
                                       and not isinstance(x, bool) for x in triple):
            raise InteractionError(
                f"capability[{name!r}] must be a number or a (value, low, high) triple of "
                f"numbers, got {given!r}")
        out[name] = tuple(float(x) for x in triple)
    return out


def _pairs(pairs: Sequence[tuple[str, str]] | None, names: list[str]) -> list[tuple[int, int]]:
    """Matrix indices ``(i, j)`` of the chosen unordered pairs (at least 3, distinct)."""
    if pairs is None:
        return [(i, j) for i in range(len(names)) for j in range(i + 1, len(names))]
    index = []
    for pair in pairs:
        if (len(pair) != 2 or any(name not in names for name in pair)
                or pair[0] == pair[1]):
            raise InteractionError(f"pairs must hold two different models of the matrix "
                                   f"({names}) each, got {pair!r}")
        index.append(tuple(sorted(names.index(name) for name in pair)))
    if len(set(index)) != len(index) or len(index) < 3:
        raise InteractionError(f"pairs must be at least 3 different model pairs for a rank "
                               f"correlation, got {list(pairs)!r}")
    return index


def _spearman(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's rho of the last axis of ``x`` and ``y`` (average ranks for ties; NaN where
    either is constant)."""
    import scipy.stats

    def centred(ranks: np.ndarray) -> np.ndarray:
        return ranks - ranks.mean(axis=-1, keepdims=True)

    rx, ry = centred(scipy.stats.rankdata(x, axis=-1)), centred(scipy.stats.rankdata(y, axis=-1))
    scale = np.sqrt((rx * rx).sum(-1) * (ry * ry).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(scale > 0, (rx * ry).sum(-1) / np.where(scale > 0, scale, 1), np.nan)


def _draws(pairs: list[tuple[int, int]], models: int, *, resample: str, n_bootstrap: int,
           rng: np.random.Generator) -> list[np.ndarray]:
    """Indices of the pairs in each bootstrap resample."""
    if resample == "pairs":
        return list(rng.integers(0, len(pairs), size=(n_bootstrap, len(pairs))))
    draws = []
    for _ in range(n_bootstrap):  # each drawn pair of drawn models, as often as drawn
        counts = np.bincount(rng.integers(0, models, size=models), minlength=models)
        draws.append(np.array([k for k, (i, j) in enumerate(pairs)
                               for _ in range(counts[i] * counts[j])], dtype=int))
    return draws


def sharing_vs_capability(
    matrix: OverlapMatrix,
    capability: Mapping[str, float | Sequence[float]],
    *,
    metric: str = "jaccard_minus_jaccard_cross_prompt",
    pairs: Sequence[tuple[str, str]] | None = None,
    combine: Literal["min", "max", "mean"] = "min",
    resample: Literal["pairs", "models"] = "pairs",
    n_bootstrap: int = 2000,
    confidence: float = 0.95,
    seed: int | np.random.Generator | None = 0,
) -> SharingCapability:
    """Spearman rank correlation of each model pair's sharing with the pair's capability.

    Parameters
    ----------
    matrix : OverlapMatrix
        From :func:`overlap_matrix` over three or more models.
    capability : mapping
        Model name -> capability (higher = more capable, e.g. mean log-probability of the
        correct word), or ``(value, low, high)`` with an interval (drawn, not used in rho).
    metric : str
        The sharing metric of ``matrix``; default the Jaccard minus its cross-prompt
        control. Any key of the matrix works (e.g. ``"jaccard"`` for the raw sharing).
    pairs : sequence of (str, str), optional
        The model pairs to relate (default every unordered pair of the matrix), e.g. only
        the pairs of checkpoints at the same training step.
    combine : {"min", "max", "mean"}
        The pair's capability from its two models' (default the weaker model's).
    resample : {"pairs", "models"}
        What the bootstrap resamples. Pairs that share a model are not independent (with
        M models there are M(M-1)/2 pairs but only M models), so resampling pairs treats
        them as more evidence than they are and its interval is too narrow. Resampling
        models (all pairs among the drawn models, as often as drawn) respects that
        dependence, but with few models many resamples hold fewer than 3 distinct models
        and are dropped; use it from about 6 models on.
    n_bootstrap : int
        Bootstrap resamples (0: no interval).
    confidence : float
        Interval level.
    seed : int, Generator or None
        Bootstrap randomness.

    Returns
    -------
    SharingCapability
        Per pair the sharing with its interval and the capability; ``rho`` with
        ``ci_low``/``ci_high``. With fewer than 3 pairs that have a finite sharing (pairs
        never compared have none) ``rho`` is NaN and ``note`` says why.
    """
    if not isinstance(matrix, OverlapMatrix):
        raise TypeError(f"sharing_vs_capability takes an OverlapMatrix (from overlap_matrix), "
                        f"got {type(matrix).__name__}")
    names = list(matrix.names)
    if len(names) < 3:
        raise InteractionError(
            f"a rank correlation over model pairs needs at least 3 pairs, i.e. 3 models; "
            f"this matrix has {len(names)} model(s) ({names}), so "
            f"{len(names) * (len(names) - 1) // 2} pair(s); compare more models or checkpoints")
    index = _pairs(pairs, names)
    if metric not in matrix:
        raise InteractionError(
            f"{metric!r} is not a metric of this matrix; available differences: "
            f"{[k for k in matrix if '_minus_' in k]} (cross-prompt controls need "
            "n_cross_prompt > 0), or any of {list(matrix)[:6]}...")
    if combine not in COMBINE:
        raise InteractionError(f"unknown combine {combine!r}; valid: {list(COMBINE)}")
    if resample not in RESAMPLE:
        raise InteractionError(f"unknown resample {resample!r}; valid: {list(RESAMPLE)}")
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, int) or n_bootstrap < 0:
        raise InteractionError(f"n_bootstrap must be an int >= 0, got {n_bootstrap!r}")
    if not 0 < confidence < 1:
        raise InteractionError(f"confidence must be in (0, 1), got {confidence!r}")
    values = _capabilities(capability, names)
    rng = _generator(seed)
    rule = COMBINE[combine]

    def join(a: float, b: float) -> float:  # NaN in, NaN out (min and max would drop it)
        return rule(a, b) if math.isfinite(a) and math.isfinite(b) else math.nan

    sharing = [float(matrix.mean[metric][i, j]) for i, j in index]
    cap = [join(values[names[i]][0], values[names[j]][0]) for i, j in index]
    usable = [k for k in range(len(index)) if math.isfinite(sharing[k]) and math.isfinite(cap[k])]
    x, y = np.array([cap[k] for k in usable]), np.array([sharing[k] for k in usable])
    rho, low, high, note = math.nan, math.nan, math.nan, ""
    if len(usable) < 3:
        note = (f"{len(usable)} of {len(index)} pairs have a finite {metric} and capability "
                "(a pair never compared has none); a rank correlation needs at least 3")
    elif np.ptp(x) == 0:
        note = "the capability is the same for every pair, so it has no ranks to correlate"
    elif np.ptp(y) == 0:
        note = "the sharing is the same for every pair, so it has no ranks to correlate"
    else:
        rho = float(_spearman(x, y))
        if n_bootstrap:
            kept = [(i, j) for k, (i, j) in enumerate(index) if k in usable]
            found = []
            for draw in _draws(kept, len(names), resample=resample, n_bootstrap=n_bootstrap,
                               rng=rng):
                if len(set(draw.tolist())) >= 3:
                    found.append(float(_spearman(x[draw], y[draw])))
            found = np.array([r for r in found if math.isfinite(r)])
            if len(found) >= max(10, n_bootstrap // 10):
                low, high = (float(q) for q in np.quantile(
                    found, [(1 - confidence) / 2, (1 + confidence) / 2]))
            else:
                note = (f"only {len(found)} of {n_bootstrap} resamples held 3 distinct pairs "
                        "with varying values; no interval")
    return SharingCapability(
        pairs=[(names[i], names[j]) for i, j in index],
        sharing=sharing,
        sharing_low=[float(matrix.ci_low[metric][i, j]) for i, j in index],
        sharing_high=[float(matrix.ci_high[metric][i, j]) for i, j in index],
        n_samples=[int(matrix.n_samples[i, j]) for i, j in index],
        capability_a=[values[names[i]][0] for i, _ in index],
        capability_b=[values[names[j]][0] for _, j in index],
        capability=cap,
        capability_low=[join(values[names[i]][1], values[names[j]][1]) for i, j in index],
        capability_high=[join(values[names[i]][2], values[names[j]][2]) for i, j in index],
        rho=rho, ci_low=low, ci_high=high, n_pairs=len(usable), note=note,
        settings={"metric": metric, "combine": combine, "resample": resample,
                  "n_bootstrap": n_bootstrap, "confidence": confidence},
    )


def plot_sharing_vs_capability(
    found: SharingCapability,
    *,
    capability_label: str = "capability of the pair",
    point_labels: Sequence[str] | None = None,
    ax: Axes | None = None,
    figure: Figure | None = None,
) -> tuple[Figure, Axes]:
    """Each model pair's sharing (with its bootstrap interval) against its capability, and
    the rank correlation in the title.

    Parameters
    ----------
    found : SharingCapability
        From :func:`sharing_vs_capability`.
    capability_label : str
        The x-axis label (say what the capability is, e.g. "lower mean log p(word)").
    point_labels : sequence of str, optional
        One label per pair (default ``"A vs B"``; drawn up to 15 pairs).
    ax : matplotlib Axes, optional
        Draw into these axes instead of a new figure.
    figure : matplotlib Figure, optional
        An empty figure to draw into (resized to fit), e.g. one made without pyplot.

    Returns
    -------
    (Figure, Axes)
    """
    if not isinstance(found, SharingCapability):
        raise TypeError(f"plot_sharing_vs_capability takes the result of "
                        f"sharing_vs_capability(...), got {type(found).__name__}")
    if point_labels is not None and len(point_labels) != len(found.pairs):
        raise InteractionError(f"point_labels needs one label per pair ({len(found.pairs)}), "
                               f"got {len(point_labels)}")
    labels = point_labels or [f"{a} vs {b}" for a, b in found.pairs]
    fig, ax = figure_axes(ax, (5.6, 4.2), "plot_sharing_vs_capability", figure=figure)
    for k in range(len(found.pairs)):
        x, y = found.capability[k], found.sharing[k]
        if not (math.isfinite(x) and math.isfinite(y)):
            continue
        low, high = found.sharing_low[k], found.sharing_high[k]
        if math.isfinite(low) and math.isfinite(high):
            ax.plot([x, x], [low, high], color=SHARED, lw=1.5, alpha=0.7)
        left, right = found.capability_low[k], found.capability_high[k]
        if math.isfinite(left) and math.isfinite(right):
            ax.plot([left, right], [y, y], color=NOT_SHARED, lw=1.0, alpha=0.7)
        ax.plot([x], [y], "o", color=SHARED, ms=6)
        if len(found.pairs) <= 15:
            ax.annotate(labels[k], (x, y), xytext=(4, 4 if k % 2 else -10),  # alternate:
                        textcoords="offset points", fontsize="xx-small")  # neighbours apart
    metric = found.settings.get("metric", "sharing")
    if "_minus_" in metric:
        ax.axhline(0.0, color=NOT_SHARED, lw=0.8, ls="--")
    interval = (f" [{found.ci_low:.2f}, {found.ci_high:.2f}]"
                if math.isfinite(found.ci_low) else "")
    rho = (f"Spearman ρ = {found.rho:.2f}{interval}, {found.n_pairs} pairs"
           if math.isfinite(found.rho) else f"no rank correlation ({found.n_pairs} pairs)")
    ax.set(xlabel=capability_label, ylabel=metric.replace("_", " "))
    ax.set_title(rho, fontsize="medium")
    ax.grid(alpha=0.3)
    return fig, ax

"""Pairwise overlap statistics of many models on many samples, vectorised with torch.

Everything works on a block of AND and OR interactions of shape ``[S, M, 2**n]`` (``S``
samples, ``M`` models, one ``n``) and returns statistics of every ordered pair of models
per sample: ``[S, M, M]`` (row = model A, column = model B), per order ``[S, M, M, n + 1]``.
A term is a pair (type, S) with S non-empty; the salient set of a model holds its salient
terms with their signs. Set sizes come from products of 0/1 indicator matrices (one matrix
product per order over all samples and pairs), and the strength-weighted overlap from one
L1 distance matrix, so nothing loops over subsets or pairs in Python.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import torch

from captum_interactions.salience import salient_masks
from captum_interactions.subsets import orders

#: The two definitions of a shared term and the suffix of their metrics: ``same_sign`` (the
#: same type, set and sign; ``jaccard``) and ``any_sign`` (the same type and set, either
#: sign; ``jaccard_any_sign``). Every metric about shared terms exists in both.
SHARED_DEFINITIONS = {"same_sign": "", "any_sign": "_any_sign"}
#: Metrics that depend on which terms are shared, named for ``same_sign``.
SHARED_METRICS = (
    "jaccard",
    "cover_ratio",
    "top_k_overlap",
    "n_shared",
    "mean_order_shared",
    "mean_order_not_shared",
    "cancellation_shared",
    "cancellation_not_shared",
)


def _both(*names: str) -> tuple[str, ...]:
    """``names`` for both definitions: ``("jaccard",)`` -> ``("jaccard",
    "jaccard_any_sign")``."""
    return tuple(name + suffix for suffix in SHARED_DEFINITIONS.values() for name in names)


#: Per-sample scalar statistics, in the order they are reported.
SCALARS = ("weighted_overlap", "n_salient_a", "n_salient_b", *_both(*SHARED_METRICS))
#: Set metrics that get chance levels: ``<name>_chance_uniform`` (B's salient set moved to
#: random terms, its size and signs kept) and, but for the top-K overlap,
#: ``<name>_chance_order`` (moved within each order, its count and signs per order kept).
CHANCE = _both("jaccard", "cover_ratio", "top_k_overlap", "n_shared")
#: Per-sample statistics of the order-preserving chance level besides the set metrics.
CHANCE_ORDER_EXTRA = tuple(f"mean_order_shared{suffix}_chance_order"
                           for suffix in SHARED_DEFINITIONS.values())
#: Cancellation of size- and strength-matched subsets of A's salient set (the controls of
#: ``cancellation_shared``).
CANCELLATION_CONTROLS = _both("cancellation_size_matched", "cancellation_strength_matched")
#: Metrics that get a cross-prompt control, ``<name>_cross_prompt``: A on one prompt
#: against B on the other prompts.
CROSS_PROMPT = ("weighted_overlap", *CHANCE, *_both("mean_order_shared", "cancellation_shared"))
#: Paired differences ``<metric>_minus_<control>`` per sample (each with its interval).
DIFFERENCES = (
    ("weighted_overlap", "weighted_overlap_cross_prompt"),
    *((f"jaccard{s}", f"jaccard{s}{control}")
      for s in SHARED_DEFINITIONS.values()
      for control in ("_chance_uniform", "_chance_order", "_cross_prompt")),
    *((f"mean_order_shared{s}", f"mean_order_shared{s}{control}")
      for s in SHARED_DEFINITIONS.values() for control in ("_chance_order", "_cross_prompt")),
    *((f"cancellation_shared{s}", f"{control}{s}")
      for s in SHARED_DEFINITIONS.values()
      for control in ("cancellation_not_shared", "cancellation_size_matched",
                      "cancellation_strength_matched")),
    *((f"cancellation_shared{s}", f"cancellation_shared{s}_cross_prompt")
      for s in SHARED_DEFINITIONS.values()),
)
#: Per-order statistics ``[..., n + 1]``, indexed by order.
ORDERS = (
    "order_counts_salient",
    *_both("order_counts_shared", "order_cancellation_shared", "order_cancellation_not_shared"),
)


class PairStatistics(NamedTuple):
    """Statistics of one block: scalars ``[S, M, M]``, per order ``[S, M, M, n + 1]``; the
    sizes of each model's salient and top-K sets by sign, ``[S, M, 2]`` (+, -), and of its
    salient set per order, ``[S, M, n + 1, 2]``; each model's salient values (0 elsewhere),
    ``[S, M, U]``."""

    scalars: dict[str, torch.Tensor]
    orders: dict[str, torch.Tensor]
    signs: torch.Tensor
    top_signs: torch.Tensor
    order_signs: torch.Tensor
    salient_values: torch.Tensor


def universe_size(n: int, *, merge_singletons: bool) -> int:
    """Number of terms that can be salient: both types, S non-empty (no OR singletons when
    merged)."""
    return 2 * ((1 << n) - 1) - (n if merge_singletons else 0)


def order_universe_sizes(n: int, *, merge_singletons: bool) -> list[int]:
    """Terms that can be salient per order ``k = 0..n``: ``2 C(n, k)`` (none of order 0; no
    OR singletons when merged).

    >>> order_universe_sizes(3, merge_singletons=True)
    [0, 3, 6, 2]
    """
    sizes = [2 * math.comb(n, k) for k in range(n + 1)]
    sizes[0] = 0
    if merge_singletons and n:
        sizes[1] -= n
    return sizes


def _gram(left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """``out[..., i, j] = Σ_t left[..., i, t] * right[..., j, t]``."""
    return left @ right.transpose(-1, -2)


def _ratio(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    """``numerator / denominator``, NaN where the denominator is 0 (an empty set)."""
    return torch.where(denominator > 0, numerator / denominator, math.nan)


def _cancellation(signed: torch.Tensor, strength: torch.Tensor, count: torch.Tensor):
    """``1 - |Σ I| / Σ |I|`` over a set of ``count`` terms; NaN for an empty set."""
    ratio = (1 - signed.abs() / strength).clamp(0, 1)
    return torch.where(count > 0, ratio, math.nan)


def set_metrics(
    a: torch.Tensor,
    b: torch.Tensor,
    shared: torch.Tensor,
    top_a: torch.Tensor,
    top_b: torch.Tensor,
    top_shared: torch.Tensor,
    suffix: str = "",
) -> dict[str, torch.Tensor]:
    """The set metrics of one definition of shared (its ``suffix``, :data:`SHARED_DEFINITIONS`)
    from set sizes (used for the real sets and for chance alike).

    ``a``, ``b``: salient set sizes; ``shared``: common terms; ``top_*`` the same for the
    top-K sets. A set of signed terms counts a term salient in both with opposite signs once
    in each set, so the union is ``a + b - shared`` under either definition.
    """
    return {
        f"jaccard{suffix}": _ratio(shared, a + b - shared),
        f"cover_ratio{suffix}": _ratio(shared, a),
        f"top_k_overlap{suffix}": _ratio(top_shared, torch.maximum(top_a, top_b)),
        f"n_shared{suffix}": shared,
    }


def _by_sign(keep: torch.Tensor, terms: torch.Tensor) -> torch.Tensor:
    """0/1 indicators ``[..., U, 2]``: term kept and positive, term kept and negative."""
    return torch.stack([keep & (terms > 0), keep & (terms < 0)], dim=-1).to(terms.dtype)


class _Side(NamedTuple):
    """One side of a block, prepared: terms sorted by order, their salience, top-K set."""

    terms: torch.Tensor  # [S, M, U] sorted by order; empty-set terms zeroed
    keep: torch.Tensor  # [S, M, U] bool
    top_signed: torch.Tensor  # [S, M, 2U] 0/1, unsorted order
    scaled: torch.Tensor  # [S, M, 2U'] the vectors of the weighted overlap (unsorted)
    mass: torch.Tensor  # [S, M] their L1 mass (or 1/0 when normalized)


def _side(and_interactions, or_interactions, *, criterion, n_top, l1_normalize, by_order):
    n = and_interactions.shape[-1].bit_length() - 1
    keep = torch.cat(salient_masks(and_interactions, or_interactions, **criterion), dim=-1)
    top = torch.cat(salient_masks(and_interactions, or_interactions, top_k=n_top), dim=-1)
    terms = torch.cat([and_interactions, or_interactions], dim=-1)
    terms[..., [0, 1 << n]] = 0  # the empty-set terms carry v(∅), not an interaction
    mass = terms.abs().sum(-1)
    scaled = terms
    if l1_normalize:
        scaled = terms / torch.where(mass > 0, mass, 1).unsqueeze(-1)
        mass = (mass > 0).to(terms.dtype)
    return _Side(terms[..., by_order], keep[..., by_order], _by_sign(top, terms).flatten(-2),
                 scaled, mass)


def pairwise_statistics(
    and_interactions: torch.Tensor,
    or_interactions: torch.Tensor,
    *,
    criterion: dict[str, Any],
    n_top: int,
    l1_normalize: bool,
    against: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> PairStatistics:
    """All statistics of every ordered pair of models in a ``[S, M, 2**n]`` block.

    ``criterion`` holds the keyword arguments of :func:`salient_masks`; ``n_top`` is the K of
    the top-K overlap; ``l1_normalize`` divides each vector by its L1 norm before the
    strength-weighted overlap. With ``against`` (AND and OR ``[S, M', 2**n]``), model A runs
    over the block and model B over ``against`` instead: statistics ``[S, M, M']``.
    """
    n = and_interactions.shape[-1].bit_length() - 1
    # Terms grouped by order, so that each order is one contiguous slice.
    term_orders = orders(n, device=and_interactions.device).repeat(2)
    by_order = torch.argsort(term_orders, stable=True)
    widths = torch.bincount(term_orders, minlength=n + 1).tolist()
    options = {"criterion": criterion, "n_top": n_top, "l1_normalize": l1_normalize,
               "by_order": by_order}
    left = _side(and_interactions, or_interactions, **options)
    right = left if against is None else _side(*against, **options)
    terms, keep = left.terms, left.keep

    # Strength-weighted overlap. For one term, min(a⁺, b⁺) + min(a⁻, b⁻) = (|a| + |b| -
    # |a - b|) / 2, so with L = |A|₁ + |B|₁ and d = |A - B|₁ the ratio Σ min / Σ max is
    # (L - d) / (L + d): one L1 distance matrix.
    distance = torch.cdist(left.scaled, right.scaled, p=1)
    total = left.mass.unsqueeze(-1) + right.mass.unsqueeze(-2)
    weighted = _ratio((total - distance).clamp(min=0), total + distance)

    # Signed sets as 0/1 matrices with a (positive, negative) column pair per term: the
    # product of A's with B's counts the common terms of the same sign; with B's salience
    # indicator in both columns instead, the common terms of any sign.
    signed = _by_sign(keep, terms)  # [S, M, U, 2]
    strength = signed * terms.abs().unsqueeze(-1)
    value = strength * torch.tensor([1.0, -1.0], dtype=terms.dtype, device=terms.device)
    # Rows: A's indicators, A's |I| and A's I on its salient terms; columns: B's indicators
    # (same sign, then any sign). One product per order gives the common count and A's
    # strength and value on it, for both definitions.
    rows = torch.cat([signed, strength, value], dim=-3).flatten(-2)  # [S, 3M, 2U]
    other = signed if against is None else _by_sign(right.keep, right.terms)
    other = torch.cat([other, right.keep.unsqueeze(-1).expand_as(other).to(terms.dtype)],
                      dim=-3).flatten(-2)  # [S, 2M', 2U]
    models, others = terms.shape[-2], right.terms.shape[-2]
    names = [f"{name}{suffix}" for name in ("shared", "strength_shared", "value_shared")
             for suffix in SHARED_DEFINITIONS.values()]
    parts: dict[str, list[torch.Tensor]] = {name: [] for name in (*names, "salient",
                                                                  "strength", "value")}
    start = 0
    for width in widths:
        pairs = slice(2 * start, 2 * (start + width))
        start += width
        products = _gram(rows[..., pairs], other[..., pairs])
        blocks = [part for row in products.split(models, dim=-2)
                  for part in row.split(others, dim=-1)]
        sums = rows[..., pairs].sum(-1).split(models, dim=-1)
        for name, block in zip(names, blocks, strict=True):
            parts[name].append(block)
        for name, block in zip(("salient", "strength", "value"), sums, strict=True):
            parts[name].append(block)
    by = {name: torch.stack(values, dim=-1) for name, values in parts.items()}
    # A's own totals ([S, M, n + 1]) as rows of the pair tables.
    own = {name: by[name].unsqueeze(-2).expand_as(by["shared"])
           for name in ("salient", "strength", "value")}
    size_a = own["salient"].sum(-1)
    size_b = other[..., :others, :].sum(-1).unsqueeze(-2)
    levels = torch.arange(n + 1, device=terms.device, dtype=terms.dtype)
    top_a, top_b = left.top_signed.sum(-1), right.top_signed.sum(-1)
    top_any = (left.top_signed.unflatten(-1, (-1, 2)).sum(-1),
               right.top_signed.unflatten(-1, (-1, 2)).sum(-1))
    top_shared = {"": _gram(left.top_signed, right.top_signed), "_any_sign": _gram(*top_any)}
    scalars = {"weighted_overlap": weighted, "n_salient_a": size_a.expand_as(weighted),
               "n_salient_b": size_b.expand_as(weighted)}
    per_order = {"order_counts_salient": own["salient"]}
    for suffix in SHARED_DEFINITIONS.values():
        shared = by[f"shared{suffix}"]
        shared_strength, shared_value = by[f"strength_shared{suffix}"], by[f"value_shared{suffix}"]
        # "rest": A's salient terms that B does not share
        rest = (own["salient"] - shared, own["strength"] - shared_strength,
                own["value"] - shared_value)
        count, rest_count = shared.sum(-1), rest[0].sum(-1)
        scalars.update(set_metrics(size_a, size_b, count, top_a.unsqueeze(-1),
                                   top_b.unsqueeze(-2), top_shared[suffix], suffix))
        scalars.update({
            f"mean_order_shared{suffix}": _ratio(shared @ levels, count),
            f"mean_order_not_shared{suffix}": _ratio(rest[0] @ levels, rest_count),
            f"cancellation_shared{suffix}": _cancellation(
                shared_value.sum(-1), shared_strength.sum(-1), count),
            f"cancellation_not_shared{suffix}": _cancellation(
                rest[2].sum(-1), rest[1].sum(-1), rest_count),
        })
        per_order.update({
            f"order_counts_shared{suffix}": shared,
            f"order_cancellation_shared{suffix}": _cancellation(shared_value, shared_strength,
                                                                shared),
            f"order_cancellation_not_shared{suffix}": _cancellation(rest[2], rest[1], rest[0]),
        })
    bounds = np.cumsum([0, *widths]).tolist()
    order_signs = torch.stack([signed[..., bounds[k]:bounds[k + 1], :].sum(-2)
                               for k in range(n + 1)], dim=-2)
    return PairStatistics(
        {name: scalars[name] for name in SCALARS}, per_order, signed.sum(-2),
        left.top_signed.unflatten(-1, (-1, 2)).sum(-2), order_signs,
        torch.where(keep, terms, 0.0))


def _relocated(
    a: np.ndarray, b: np.ndarray, universe: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Common terms of A and of B's set moved to random places (sizes and signs kept).

    ``a``, ``b``: ``[..., 2]`` counts of positive and negative terms. Places B's positive
    terms uniformly among all ``universe`` terms and its negative ones among the rest,
    one hypergeometric draw at a time. Returns (sign-agreeing, any-sign) common counts.
    """
    a_pos, a_neg, b_pos, b_neg = a[..., 0], a[..., 1], b[..., 0], b[..., 1]
    pos_pos = rng.hypergeometric(a_pos, universe - a_pos, b_pos)
    pos_neg = rng.hypergeometric(a_neg, universe - a_pos - a_neg, b_pos - pos_pos)
    left_pos, left_neg = a_pos - pos_pos, a_neg - pos_neg  # A's terms outside B's positives
    free = universe - b_pos
    neg_neg = rng.hypergeometric(left_neg, free - left_neg, b_neg)
    neg_pos = rng.hypergeometric(left_pos, free - left_neg - left_pos, b_neg - neg_neg)
    return pos_pos + neg_neg, pos_pos + pos_neg + neg_neg + neg_pos


def chance_statistics(
    stats: PairStatistics,
    *,
    n: int,
    merge_singletons: bool,
    draws: int,
    rng: np.random.Generator,
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Chance levels ``[S, M, M]`` of the set metrics of both definitions, the mean over
    ``draws`` random relocations of B's salient (and top-K) set: among all terms with its
    size and sign make-up kept (``*_chance_uniform``), and within each order with its count
    and signs per order kept (``*_chance_order``, and the mean order of the common terms
    this chance predicts). By symmetry only the sizes matter, so the common counts are drawn
    directly (hypergeometric), never by permuting vectors. Also returns the expected common
    count per order under order-preserving chance, ``[S, M, M, n + 1]``, of each definition
    (``order_counts_shared_chance_order``, ``order_counts_shared_any_sign_chance_order``)."""
    signs, top_signs, order_signs = stats.signs, stats.top_signs, stats.order_signs
    samples, models, _ = signs.shape
    rows, cols = np.triu_indices(models)

    def relocated(table: np.ndarray, universe: int) -> tuple[torch.Tensor, torch.Tensor]:
        a = np.broadcast_to(table[:, rows], (draws, samples, rows.size, 2))
        b = np.broadcast_to(table[:, cols], (draws, samples, rows.size, 2))
        squares = []
        for drawn in _relocated(a, b, universe, rng):
            square = np.zeros((draws, samples, models, models))
            square[..., rows, cols] = drawn
            square[..., cols, rows] = drawn
            squares.append(torch.from_numpy(square).to(signs))
        return squares[0], squares[1]

    def counts(table: torch.Tensor) -> np.ndarray:
        return table.round().long().cpu().numpy()

    universe = universe_size(n, merge_singletons=merge_singletons)
    suffixes = tuple(SHARED_DEFINITIONS.values())
    shared = dict(zip(suffixes, relocated(counts(signs), universe), strict=True))
    top_shared = dict(zip(suffixes, relocated(counts(top_signs), universe), strict=True))
    size, top_size = signs.sum(-1), top_signs.sum(-1)
    out: dict[str, torch.Tensor] = {}

    def chance(common: dict[str, torch.Tensor], kind: str, names: tuple[str, ...]):
        for suffix in suffixes:
            metrics = set_metrics(size.unsqueeze(-1), size.unsqueeze(-2), common[suffix],
                                  top_size.unsqueeze(-1), top_size.unsqueeze(-2),
                                  top_shared[suffix], suffix)
            # NaN (an empty set) depends only on the sizes: NaN in every draw or in none.
            out.update({f"{name}_chance_{kind}": metrics[name].mean(0) for name in names
                        if name in metrics})

    chance(shared, "uniform", CHANCE)

    # Within each order: only (sample, pair, order) cells where both sets have terms can
    # share any, so only those are drawn, all orders at once (hypergeometric draws take
    # array arguments, the universe of each cell included).
    by_order = counts(order_signs)  # [S, M, K, 2]
    a, b = by_order[:, rows], by_order[:, cols]  # [S, P, K, 2]
    cells = np.nonzero((a.sum(-1) > 0) & (b.sum(-1) > 0))
    sizes = np.array(order_universe_sizes(n, merge_singletons=merge_singletons))
    drawn = _relocated(np.broadcast_to(a[cells], (draws, len(cells[0]), 2)),
                       np.broadcast_to(b[cells], (draws, len(cells[0]), 2)),
                       sizes[cells[2]], rng)
    order_shared = torch.zeros((2, draws, samples, models, models, n + 1), dtype=signs.dtype)
    for kind, values in enumerate(drawn):
        values = torch.from_numpy(values.astype(np.float64))
        order_shared[kind, :, cells[0], rows[cells[1]], cols[cells[1]], cells[2]] = values
        order_shared[kind, :, cells[0], cols[cells[1]], rows[cells[1]], cells[2]] = values
    order_shared = dict(zip(suffixes, order_shared.to(signs.device), strict=True))
    chance({suffix: value.sum(-1) for suffix, value in order_shared.items()}, "order",
           tuple(name for name in CHANCE if not name.startswith("top_k_overlap")))
    expected = {}
    for suffix, value in order_shared.items():
        mean = expected[f"order_counts_shared{suffix}_chance_order"] = value.mean(0)
        levels = torch.arange(n + 1, dtype=mean.dtype, device=mean.device)
        out[f"mean_order_shared{suffix}_chance_order"] = _ratio(mean @ levels, mean.sum(-1))
    return out, expected


def cancellation_controls(
    stats: PairStatistics, *, draws: int, generator: torch.Generator
) -> dict[str, torch.Tensor]:
    """Controls of ``cancellation_shared`` ``[S, M, M]``: the cancellation of as many of A's
    salient terms as A and B share, taken at random (``cancellation_size_matched``, the mean
    over ``draws``) or the strongest (``cancellation_strength_matched``), for both
    definitions of shared. NaN where nothing is shared."""
    values = stats.salient_values  # [S, M, U], 0 off A's salient set
    # A's salient terms first (the only ones drawn), as few columns as the largest set needs
    most = max(int((values != 0).sum(-1).max()), 1)
    first = (values == 0).to(torch.int8).argsort(dim=-1, stable=True)[..., :most]
    values = values.gather(-1, first)
    salient = values != 0
    sizes = {suffix: stats.scalars[f"n_shared{suffix}"].round().long()  # [S, M, M]
             for suffix in SHARED_DEFINITIONS.values()}

    def taken(ordered: torch.Tensor, size: torch.Tensor) -> torch.Tensor:
        """CR of the first ``size`` terms of each row."""
        index = (size - 1).clamp(min=0)
        signed = ordered.cumsum(-1).gather(-1, index)
        strength = ordered.abs().cumsum(-1).gather(-1, index)
        ratio = (1 - signed.abs() / strength.clamp(min=1e-300)).clamp(0, 1)
        return torch.where(size > 0, ratio, math.nan)

    strongest = values.gather(
        -1, torch.where(salient, values.abs(), -1.0).argsort(-1, descending=True))
    totals = {suffix: torch.zeros(size.shape, dtype=values.dtype, device=values.device)
              for suffix, size in sizes.items()}
    for _ in range(draws):
        keys = torch.rand(values.shape, generator=generator, dtype=values.dtype)
        random = values.gather(-1, torch.where(salient, keys.to(values.device), 2.0).argsort(-1))
        for suffix, size in sizes.items():
            totals[suffix] += taken(random, size)
    out = {}
    for suffix, size in sizes.items():
        out[f"cancellation_strength_matched{suffix}"] = taken(strongest, size)
        out[f"cancellation_size_matched{suffix}"] = totals[suffix] / max(draws, 1)
    return out

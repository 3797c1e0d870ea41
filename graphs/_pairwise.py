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

#: Per-sample scalar statistics, in the order they are reported.
SCALARS = (
    "weighted_overlap",
    "jaccard",
    "jaccard_any_sign",
    "cover_ratio",
    "cover_ratio_any_sign",
    "top_k_overlap",
    "n_salient_a",
    "n_salient_b",
    "n_shared",
    "n_shared_any_sign",
    "mean_order_shared",
    "mean_order_not_shared",
    "cancellation_shared",
    "cancellation_not_shared",
)
#: Metrics that get a chance level (random sets of matched size): ``<name>_chance``.
CHANCE = (
    "jaccard",
    "jaccard_any_sign",
    "cover_ratio",
    "cover_ratio_any_sign",
    "top_k_overlap",
    "n_shared",
    "n_shared_any_sign",
)
#: Per-order statistics ``[..., n + 1]``, indexed by order.
ORDERS = (
    "order_counts_salient",
    "order_counts_shared",
    "order_cancellation_shared",
    "order_cancellation_not_shared",
)


class PairStatistics(NamedTuple):
    """Statistics of one block: scalars ``[S, M, M]``, per order ``[S, M, M, n + 1]``, and
    the sizes of each model's salient and top-K sets by sign, ``[S, M, 2]`` (+, -)."""

    scalars: dict[str, torch.Tensor]
    orders: dict[str, torch.Tensor]
    signs: torch.Tensor
    top_signs: torch.Tensor


def universe_size(n: int, *, merge_singletons: bool) -> int:
    """Number of terms that can be salient: both types, S non-empty (no OR singletons when
    merged)."""
    return 2 * ((1 << n) - 1) - (n if merge_singletons else 0)


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
    shared_any: torch.Tensor,
    top_a: torch.Tensor,
    top_b: torch.Tensor,
    top_shared: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """The set metrics from set sizes (used for the real sets and for chance alike).

    ``a``, ``b``: salient set sizes; ``shared``: sign-agreeing common terms;
    ``shared_any``: common terms of any sign; ``top_*`` the same for the top-K sets.
    A set of signed terms counts a term salient in both with opposite signs once in each
    set, so the sign-agreeing union is ``a + b - shared``.
    """
    return {
        "jaccard": _ratio(shared, a + b - shared),
        "jaccard_any_sign": _ratio(shared_any, a + b - shared_any),
        "cover_ratio": _ratio(shared, a),
        "cover_ratio_any_sign": _ratio(shared_any, a),
        "top_k_overlap": _ratio(top_shared, torch.maximum(top_a, top_b)),
        "n_shared": shared,
        "n_shared_any_sign": shared_any,
    }


def _by_sign(keep: torch.Tensor, terms: torch.Tensor) -> torch.Tensor:
    """0/1 indicators ``[..., U, 2]``: term kept and positive, term kept and negative."""
    return torch.stack([keep & (terms > 0), keep & (terms < 0)], dim=-1).to(terms.dtype)


def pairwise_statistics(
    and_interactions: torch.Tensor,
    or_interactions: torch.Tensor,
    *,
    criterion: dict[str, Any],
    n_top: int,
    l1_normalize: bool,
) -> PairStatistics:
    """All statistics of every ordered pair of models in a ``[S, M, 2**n]`` block.

    ``criterion`` holds the keyword arguments of :func:`salient_masks`; ``n_top`` is the K of
    the top-K overlap; ``l1_normalize`` divides each vector by its L1 norm before the
    strength-weighted overlap.
    """
    n = and_interactions.shape[-1].bit_length() - 1
    keep = torch.cat(salient_masks(and_interactions, or_interactions, **criterion), dim=-1)
    top = torch.cat(salient_masks(and_interactions, or_interactions, top_k=n_top), dim=-1)
    terms = torch.cat([and_interactions, or_interactions], dim=-1)
    terms[..., [0, 1 << n]] = 0  # the empty-set terms carry v(∅), not an interaction

    # Strength-weighted overlap. For one term, min(a⁺, b⁺) + min(a⁻, b⁻) = (|a| + |b| -
    # |a - b|) / 2, so with L = |A|₁ + |B|₁ and d = |A - B|₁ the ratio Σ min / Σ max is
    # (L - d) / (L + d): one L1 distance matrix.
    mass = terms.abs().sum(-1)
    scaled = terms
    if l1_normalize:
        scaled = terms / torch.where(mass > 0, mass, 1).unsqueeze(-1)
        mass = (mass > 0).to(terms.dtype)
    distance = torch.cdist(scaled, scaled, p=1)
    total = mass.unsqueeze(-1) + mass.unsqueeze(-2)
    weighted = _ratio((total - distance).clamp(min=0), total + distance)

    # Signed sets as 0/1 matrices with a (positive, negative) column pair per term: the
    # product of two of them counts the common terms of the same sign.
    top_signed = _by_sign(top, terms).flatten(-2)
    top_shared = _gram(top_signed, top_signed)

    # Terms grouped by order, so that each order is one contiguous slice.
    term_orders = orders(n, device=terms.device).repeat(2)
    by_order = torch.argsort(term_orders, stable=True)
    widths = torch.bincount(term_orders, minlength=n + 1).tolist()
    terms, keep = terms[..., by_order], keep[..., by_order]
    signed = _by_sign(keep, terms)  # [S, M, U, 2]
    strength = signed * terms.abs().unsqueeze(-1)
    value = strength * torch.tensor([1.0, -1.0], dtype=terms.dtype, device=terms.device)
    # Rows: A's indicators, A's |I| and A's I on its salient terms; columns: B's indicators.
    # One product per order gives the shared count and A's strength and value on it.
    rows = torch.cat([signed, strength, value], dim=-3).flatten(-2)  # [S, 3M, 2U]
    signed, keep = signed.flatten(-2), keep.to(terms.dtype)
    models = terms.shape[-2]
    parts: dict[str, list[torch.Tensor]] = {
        name: [] for name in ("shared", "strength_shared", "value_shared", "shared_any",
                              "salient", "strength", "value")
    }
    start = 0
    for width in widths:
        cols, pairs = slice(start, start + width), slice(2 * start, 2 * (start + width))
        start += width
        products = _gram(rows[..., pairs], signed[..., pairs]).split(models, dim=-2)
        sums = rows[..., pairs].sum(-1).split(models, dim=-1)
        for name, block in zip(("shared", "strength_shared", "value_shared"), products,
                               strict=True):
            parts[name].append(block)
        for name, block in zip(("salient", "strength", "value"), sums, strict=True):
            parts[name].append(block)
        parts["shared_any"].append(_gram(keep[..., cols], keep[..., cols]))
    by = {name: torch.stack(values, dim=-1) for name, values in parts.items()}
    # A's own totals ([S, M, n + 1]) as rows of the pair tables; "rest" = A's terms not shared.
    own = {name: by[name].unsqueeze(-2).expand_as(by["shared"])
           for name in ("salient", "strength", "value")}
    rest = {"count": own["salient"] - by["shared"],
            "strength": own["strength"] - by["strength_shared"],
            "value": own["value"] - by["value_shared"]}
    totals = {name: values.sum(-1) for name, values in by.items()}
    rest_totals = {name: values.sum(-1) for name, values in rest.items()}
    size_a, size_b = totals["salient"].unsqueeze(-1), totals["salient"].unsqueeze(-2)
    levels = torch.arange(n + 1, device=terms.device, dtype=terms.dtype)
    top_size = top_signed.sum(-1)

    scalars = set_metrics(size_a, size_b, totals["shared"], totals["shared_any"],
                          top_size.unsqueeze(-1), top_size.unsqueeze(-2), top_shared)
    scalars.update(
        weighted_overlap=weighted,
        n_salient_a=size_a.expand_as(weighted),
        n_salient_b=size_b.expand_as(weighted),
        mean_order_shared=_ratio(by["shared"] @ levels, totals["shared"]),
        mean_order_not_shared=_ratio(rest["count"] @ levels, rest_totals["count"]),
        cancellation_shared=_cancellation(totals["value_shared"], totals["strength_shared"],
                                          totals["shared"]),
        cancellation_not_shared=_cancellation(rest_totals["value"], rest_totals["strength"],
                                              rest_totals["count"]),
    )
    per_order = {
        "order_counts_salient": own["salient"],
        "order_counts_shared": by["shared"],
        "order_cancellation_shared": _cancellation(by["value_shared"], by["strength_shared"],
                                                   by["shared"]),
        "order_cancellation_not_shared": _cancellation(rest["value"], rest["strength"],
                                                       rest["count"]),
    }
    signs = signed.unflatten(-1, (-1, 2)).sum(-2)
    top_signs = top_signed.unflatten(-1, (-1, 2)).sum(-2)
    return PairStatistics({name: scalars[name] for name in SCALARS}, per_order, signs, top_signs)


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
    signs: torch.Tensor,
    top_signs: torch.Tensor,
    *,
    universe: int,
    draws: int,
    rng: np.random.Generator,
) -> dict[str, torch.Tensor]:
    """Chance levels ``[S, M, M]`` of the set metrics: the mean over ``draws`` random
    relocations of B's salient (and top-K) set among all ``universe`` terms, with its size
    and sign make-up kept. By symmetry only the sizes matter, so the common counts are
    drawn directly (hypergeometric), never by permuting vectors."""
    samples, models, _ = signs.shape
    rows, cols = np.triu_indices(models)

    def relocated(table: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        table = table.round().long().cpu().numpy()
        a = np.broadcast_to(table[:, rows], (draws, samples, rows.size, 2))
        b = np.broadcast_to(table[:, cols], (draws, samples, rows.size, 2))
        squares = []
        for drawn in _relocated(a, b, universe, rng):
            square = np.zeros((draws, samples, models, models))
            square[..., rows, cols] = drawn
            square[..., cols, rows] = drawn
            squares.append(torch.from_numpy(square).to(signs))
        return squares[0], squares[1]

    shared, shared_any = relocated(signs)
    top_shared, _ = relocated(top_signs)
    size = signs.sum(-1)
    top_size = top_signs.sum(-1)
    metrics = set_metrics(size.unsqueeze(-1), size.unsqueeze(-2), shared, shared_any,
                          top_size.unsqueeze(-1), top_size.unsqueeze(-2), top_shared)
    # NaN (an empty set) depends only on the sizes, so it is NaN in every draw or in none.
    return {f"{name}_chance": metrics[name].mean(0) for name in CHANCE}

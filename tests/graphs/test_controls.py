"""The controls of the overlap metrics against brute-force computations on small planted
results: order-preserving chance, the cross-prompt control, the cancellation controls, the
paired differences and their test."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
import scipy.stats
import torch
from helpers.games import planted_result, random_result

from captum_interactions import InteractionResult
from captum_interactions.graphs._pairwise import order_universe_sizes
from captum_interactions.graphs.comparison import overlap, overlap_matrix


def signed_terms(result: InteractionResult) -> dict[tuple[str, int, int], float]:
    """(type, mask, sign) -> value of the salient terms (merged singletons)."""
    return {(t.type, t.mask, t.sign): t.value for t in result.salient()}


def order(key) -> int:
    return bin(key[1]).count("1")


def cancellation(values) -> float:
    values = list(values)
    return 1 - abs(sum(values)) / sum(map(abs, values)) if values else math.nan


def relabelled(result: InteractionResult, players) -> InteractionResult:
    return InteractionResult(list(players), result.values, result.and_interactions,
                             result.or_interactions)


# --------------------------------------------------------------------- order-preserving chance
def test_order_preserving_chance_matches_moving_b_within_each_order():
    generator = torch.Generator().manual_seed(3)
    a = random_result(4, seed=generator, density=0.5)
    b = random_result(4, seed=generator, density=0.5)
    got = overlap(a, b, n_chance=20_000, seed=1)
    rng = np.random.default_rng(2)
    sa, sb = set(signed_terms(a)), list(signed_terms(b))
    universe = {k: [(kind, mask) for kind in ("and", "or") for mask in range(1, 16)
                    if bin(mask).count("1") == k and not (kind == "or" and k == 1)]
                for k in range(1, 5)}
    assert [len(universe[k]) for k in range(1, 5)] == order_universe_sizes(
        4, merge_singletons=True)[1:]
    jaccards, any_sign, mean_orders, per_order = [], [], [], np.zeros(5)
    for _ in range(20_000):
        moved = set()
        for k, places in universe.items():
            mine = [key for key in sb if order(key) == k]
            picks = rng.permutation(len(places))[: len(mine)]
            moved |= {(*places[p], key[2]) for p, key in zip(picks, mine, strict=True)}
        common = sa & moved
        jaccards.append(len(common) / (len(sa) + len(moved) - len(common)))
        common_any = {key[:2] for key in sa} & {key[:2] for key in moved}
        any_sign.append(len(common_any) / (len(sa) + len(moved) - len(common_any)))
        for key in common:
            per_order[order(key)] += 1
        if common:
            mean_orders.append(np.mean([order(key) for key in common]))
    assert got["jaccard_chance_order"] == pytest.approx(np.mean(jaccards), abs=0.005)
    assert got["jaccard_any_sign_chance_order"] == pytest.approx(np.mean(any_sign), abs=0.005)
    # the expected common count of order k: (a+ b+ + a- b-) / (terms of order k)
    sizes = order_universe_sizes(4, merge_singletons=True)
    def count(keys, k, sign):
        return sum(order(key) == k and key[2] == sign for key in keys)

    expected = np.array([sum(count(sa, k, g) * count(sb, k, g) for g in (1, -1)) / size
                         if size else 0.0 for k, size in enumerate(sizes)])
    assert per_order / 20_000 == pytest.approx(expected, abs=0.03)  # (the oracle's draws)
    assert got["order_counts_shared_chance_order"] == pytest.approx(expected.tolist(), abs=0.02)
    # any sign: |A_k| |B_k| / (terms of order k)
    expected_any = np.array([len([k_ for k_ in sa if order(k_) == k])
                             * len([k_ for k_ in sb if order(k_) == k]) / size
                             if size else 0.0 for k, size in enumerate(sizes)])
    assert got["order_counts_shared_any_sign_chance_order"] == pytest.approx(
        expected_any.tolist(), abs=0.02)
    rates = [e / s if s else math.nan for e, s in zip(
        expected, got["order_counts_salient"], strict=True)]
    assert got["order_sharing_rate_chance_order"] == pytest.approx(rates, abs=0.01,
                                                                    nan_ok=True)
    # the mean order the chance sharing predicts: of the expected counts
    assert got["mean_order_shared_chance_order"] == pytest.approx(
        (expected * np.arange(5)).sum() / expected.sum(), rel=0.01)


def test_purely_combinatorial_sharing_is_at_order_preserving_chance():
    """Two models that pick their salient terms independently, but mostly of low order: their
    sharing is all combinatorial. Uniform chance misses that; order-preserving chance is it."""
    rng = np.random.default_rng(0)
    n, samples = 5, 300
    sizes = {1: 3, 2: 4, 3: 2}  # salient terms per order, in both models

    def pick() -> InteractionResult:
        and_i, or_i = torch.zeros(1 << n, dtype=torch.float64), torch.zeros(1 << n,
                                                                            dtype=torch.float64)
        for k, count in sizes.items():
            places = [(kind, mask) for kind in ("and", "or") for mask in range(1, 1 << n)
                      if bin(mask).count("1") == k and not (kind == "or" and k == 1)]
            for p in rng.permutation(len(places))[:count]:
                kind, mask = places[p]
                (and_i if kind == "and" else or_i)[mask] = 1.0 + rng.random()
        return planted_result(and_i, or_i)

    results = {"A": [pick() for _ in range(samples)], "B": [pick() for _ in range(samples)]}
    matrix = overlap_matrix(results, n_bootstrap=200, n_chance=50, n_cross_prompt=0)
    ratio = matrix.order["order_rate_ratio_chance_order"][0, 1]
    for k in sizes:
        assert float(ratio[k]) == pytest.approx(1.0, abs=0.15), k
    observed, chance = float(matrix["jaccard"][0, 1]), float(matrix["jaccard_chance_order"][0, 1])
    assert observed == pytest.approx(chance, rel=0.1)
    assert float(matrix["jaccard_chance_uniform"][0, 1]) < 0.5 * observed  # too weak a null
    # no sharing beyond order-preserving chance, while uniform chance would "find" plenty
    assert abs(float(matrix["jaccard_minus_jaccard_chance_order"][0, 1])) < 0.015
    assert float(matrix.ci_low["jaccard_minus_jaccard_chance_uniform"][0, 1]) > 0.05
    rate_low = matrix.order_ci_low["order_sharing_rate"][0, 1, 2]
    rate_high = matrix.order_ci_high["order_sharing_rate"][0, 1, 2]
    chance_rate = matrix.order["order_sharing_rate_chance_order"][0, 1, 2]
    assert rate_low < chance_rate < rate_high


# --------------------------------------------------------------------------- cross-prompt
def _cross_reference(results, i, a, b, metric):
    """Mean over the other samples j of the metric of A on i against B on j (by position)."""
    values = []
    for j, other in enumerate(results[b]):
        if j == i or other.n_players != results[a][i].n_players:
            continue
        mine = relabelled(results[a][i], other.players)
        values.append(overlap(mine, other, n_chance=0)[metric])
    values = [v for v in values if not math.isnan(v)]
    return sum(values) / len(values) if values else math.nan


@pytest.mark.parametrize("metric", ["jaccard", "jaccard_any_sign", "weighted_overlap",
                                    "cancellation_shared", "mean_order_shared", "n_shared",
                                    "cancellation_shared_any_sign",
                                    "mean_order_shared_any_sign"])
def test_cross_prompt_control_is_a_on_one_prompt_against_b_on_the_others(metric):
    generator = torch.Generator().manual_seed(7)
    # two groups of prompts with 3 and 4 players: only prompts of one size are paired
    results = {"A": [], "B": []}
    for index in range(7):
        n = 3 if index % 2 else 4
        base = random_result(n, seed=generator, density=0.6,
                             players=[f"p{index}w{k}" for k in range(n)])
        results["A"].append(base)
        results["B"].append(random_result(n, seed=generator, density=0.6,
                                          players=base.players))
    matrix = overlap_matrix(results, n_bootstrap=0, n_chance=0)
    for i in range(7):
        for a, row in (("A", 0), ("B", 1)):
            for b, column in (("A", 0), ("B", 1)):
                got = float(matrix.per_sample[f"{metric}_cross_prompt"][i, row, column])
                assert got == pytest.approx(_cross_reference(results, i, a, b, metric),
                                            rel=1e-12, nan_ok=True), (i, a, b)


def test_cross_prompt_samples_partners_when_there_are_many_and_counts_orders():
    generator = torch.Generator().manual_seed(8)
    results = {m: [random_result(3, seed=generator, density=0.6) for _ in range(12)]
               for m in ("A", "B")}
    few = overlap_matrix(results, n_bootstrap=0, n_chance=0, n_cross_prompt=3, seed=1)
    cross = few.per_sample["jaccard_cross_prompt"][:, 0, 1].numpy()
    # partners are 3 cyclic offsets, the same for every sample, never the sample itself
    by_offset = np.array([[overlap(relabelled(results["A"][i], results["B"][(i + t) % 12]
                                              .players), results["B"][(i + t) % 12],
                                   n_chance=0)["jaccard"] for i in range(12)]
                          for t in range(1, 12)])
    found = [chosen for chosen in itertools.combinations(range(11), 3)
             if np.allclose(by_offset[list(chosen)].mean(0), cross, rtol=1e-12)]
    assert len(found) >= 1
    full = overlap_matrix(results, n_bootstrap=0, n_chance=0, n_cross_prompt=100)
    pooled = sum(
        torch.tensor(overlap(relabelled(results["A"][i], results["B"][j].players),
                             results["B"][j], n_chance=0)["order_counts_shared"],
                     dtype=torch.float64)
        for i in range(12) for j in range(12) if j != i) / 11
    assert torch.allclose(full.order["order_counts_shared_cross_prompt"][0, 1], pooled)


# ------------------------------------------------------------------------- cancellation
def test_cancellation_controls_take_as_many_of_a_s_terms_as_are_shared():
    # A: +3 (shared), -2.5 (shared), +2, -1, +0.5; B shares the first two
    a = planted_result({0b001: 3.0, 0b011: -2.5, 0b010: 2.0, 0b101: -1.0, 0b110: 0.5})
    b = planted_result({0b001: 1.0, 0b011: -1.0, 0b100: 4.0})
    got = overlap(a, b, tau=0.0, absolute=0.1, n_chance=20_000, seed=0)
    assert got["n_shared"] == 2
    assert got["cancellation_shared"] == pytest.approx(1 - 0.5 / 5.5)
    # the 2 strongest of A's salient terms: +3 and -2.5
    assert got["cancellation_strength_matched"] == pytest.approx(1 - 0.5 / 5.5)
    values = [3.0, -2.5, 2.0, -1.0, 0.5]
    pairs = [(x, y) for k, x in enumerate(values) for y in values[k + 1:]]
    exact = np.mean([cancellation(pair) for pair in pairs])  # every 2-subset equally likely
    assert got["cancellation_size_matched"] == pytest.approx(exact, abs=0.01)
    # any sign: B's -2.0 on A's +2.0 makes three terms shared; the 3 strongest: +3, -2.5, +2
    flipped = planted_result({0b001: 1.0, 0b011: -1.0, 0b010: -2.0})
    got = overlap(a, flipped, tau=0.0, absolute=0.1, n_chance=20_000, seed=0)
    assert (got["n_shared"], got["n_shared_any_sign"]) == (2, 3)
    assert got["cancellation_shared_any_sign"] == pytest.approx(1 - 2.5 / 7.5)
    assert got["cancellation_strength_matched_any_sign"] == pytest.approx(1 - 2.5 / 7.5)
    triples = list(itertools.combinations(values, 3))
    assert got["cancellation_size_matched_any_sign"] == pytest.approx(
        np.mean([cancellation(triple) for triple in triples]), abs=0.01)
    assert got["cancellation_size_matched"] == pytest.approx(exact, abs=0.01)
    nothing = overlap(a, planted_result({0b111: 1.0}), tau=0.0, absolute=0.1, n_chance=10)
    assert math.isnan(nothing["cancellation_size_matched"])
    assert math.isnan(nothing["cancellation_strength_matched"])


# ------------------------------------------------------------------- paired differences
def test_paired_differences_and_the_wilcoxon_test_match_scipy():
    generator = torch.Generator().manual_seed(9)
    results = {"A": [], "B": []}
    for _ in range(15):
        base = random_result(4, seed=generator, density=0.5)
        results["A"].append(base)
        noisy = base.and_interactions * (torch.rand(16, generator=generator) < 0.8)
        results["B"].append(planted_result(noisy, base.or_interactions, players=base.players))
    matrix = overlap_matrix(results, n_bootstrap=500, n_chance=20)
    test = matrix.paired("jaccard", "jaccard_cross_prompt")
    differences = (matrix.per_sample["jaccard"] - matrix.per_sample["jaccard_cross_prompt"])[
        :, 0, 1].numpy()
    assert float(test["mean"][0, 1]) == pytest.approx(differences.mean())
    assert float(test["p_value"][0, 1]) == pytest.approx(scipy.stats.wilcoxon(differences).pvalue)
    assert int(test["n_above"][0, 1]) == int((differences > 0).sum())
    assert int(test["n"][0, 1]) == 15
    assert float(test["ci_low"][0, 1]) < differences.mean() < float(test["ci_high"][0, 1])
    assert float(test["mean"][0, 1]) > 0  # B keeps most of A's terms: above the control
    with pytest.raises(Exception, match="no paired difference"):
        matrix.paired("jaccard", "top_k_overlap")


def test_a_tie_up_to_float_rounding_is_a_tie():
    generator = torch.Generator().manual_seed(9)
    results = {m: [random_result(4, seed=generator) for _ in range(6)] for m in "AB"}
    matrix = overlap_matrix(results, n_bootstrap=0, n_chance=5)
    name = "jaccard_minus_jaccard_cross_prompt"
    rounding = torch.tensor([1e-16, -1e-16, 0.0, 0.3, 0.2, -0.1], dtype=torch.float64)
    matrix.per_sample[name] = rounding[:, None, None].expand(6, 2, 2).clone()
    test = matrix.paired("jaccard", "jaccard_cross_prompt")
    assert (int(test["n_above"][0, 1]), int(test["n_below"][0, 1])) == (2, 1)
    assert float(test["p_value"][0, 1]) == pytest.approx(
        scipy.stats.wilcoxon([0.3, 0.2, -0.1]).pvalue)
    # which is scipy's p-value with the zeros in (it drops them), made by a faster method
    assert float(test["p_value"][0, 1]) == pytest.approx(
        scipy.stats.wilcoxon([0.0, 0.0, 0.0, 0.3, 0.2, -0.1]).pvalue)


def test_controls_can_be_turned_off():
    generator = torch.Generator().manual_seed(10)
    results = {m: [random_result(3, seed=generator) for _ in range(3)] for m in "AB"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        matrix = overlap_matrix(results, n_bootstrap=0, n_chance=0, n_cross_prompt=0)
    assert not [name for name in matrix if "chance" in name or "cross" in name
                or "matched" in name]
    # (shared against non-shared cancellation needs no control draws)
    assert [name for name in matrix if "_minus_" in name] == [
        "cancellation_shared_minus_cancellation_not_shared",
        "cancellation_shared_any_sign_minus_cancellation_not_shared_any_sign"]

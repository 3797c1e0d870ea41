"""Overlap metrics of two results and of many: hand-computed cases, a set-based oracle,
chance levels, bootstrap intervals, skipping rules and bad input."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import scipy.stats
import torch
from helpers.games import planted_result, random_result

import captum_interactions as ci
from captum_interactions import InteractionError, InteractionResult
from captum_interactions.graphs import comparison
from captum_interactions.graphs._pairwise import _relocated, universe_size
from captum_interactions.graphs.comparison import OverlapMatrix, overlap, overlap_matrix

X, Y, Z = 0b001, 0b010, 0b100


def related(result: InteractionResult, generator: torch.Generator, noise: float = 0.7):
    """A second result sharing part of ``result``'s terms, with some sign flips."""
    size = result.and_interactions.shape[0]

    def perturb(values):
        kept = values * (torch.rand(size, generator=generator) < 0.7)
        flips = torch.where(torch.rand(size, generator=generator) < 0.15, -1.0, 1.0)
        extra = torch.randn(size, generator=generator, dtype=torch.float64)
        return kept * flips + noise * extra * (torch.rand(size, generator=generator) < 0.2)

    and_i, or_i = perturb(result.and_interactions), perturb(result.or_interactions)
    return InteractionResult(result.players, ci.reconstruct(and_i, or_i), and_i, or_i)


# ------------------------------------------------------------------------------ the oracle
def reference(a: InteractionResult, b: InteractionResult, *, n_top: int = 10,
              l1_normalize: bool = False, merge_singletons: bool = True, **criterion) -> dict:
    """Every metric from Python sets of (type, mask, sign) terms and explicit loops."""
    n = a.n_players

    def signed_set(result, **options):
        return {(t.type, t.mask, t.sign): t.value
                for t in result.salient(merge_singletons=merge_singletons, **options)}

    sa, sb = signed_set(a, **criterion), signed_set(b, **criterion)
    ta, tb = signed_set(a, top_k=n_top), signed_set(b, top_k=n_top)

    def ratio(x, y):
        return x / y if y else math.nan

    def cancellation(keys):
        values = [sa[key] for key in keys]
        return 1 - abs(sum(values)) / sum(map(abs, values)) if values else math.nan

    def vector(result):
        and_i, or_i = result.interactions(merge_singletons=merge_singletons)
        terms = [*and_i[1:].tolist(), *or_i[1:].tolist()]
        total = sum(map(abs, terms))
        return [t / total for t in terms] if l1_normalize and total else terms

    low = high = 0.0
    for u, v in zip(vector(a), vector(b), strict=True):
        low += min(max(u, 0), max(v, 0)) + min(max(-u, 0), max(-v, 0))
        high += max(max(u, 0), max(v, 0)) + max(max(-u, 0), max(-v, 0))

    def order(key):
        return bin(key[1]).count("1")

    def by_order(keys):
        return [sum(order(key) == o for key in keys) for o in range(n + 1)]

    expected = {"weighted_overlap": ratio(low, high), "n_salient_a": len(sa),
                "n_salient_b": len(sb), "order_counts_salient": by_order(sa),
                "order_share": [ratio(c, len(sa)) for c in by_order(sa)]}
    # same sign: (type, mask, sign) in both; any sign: (type, mask) in both
    for suffix, key_of in (("", lambda key: key), ("_any_sign", lambda key: key[:2])):
        in_b, top_b = {key_of(key) for key in sb}, {key_of(key) for key in tb}
        shared = {key for key in sa if key_of(key) in in_b}
        rest = set(sa) - shared
        union = {key_of(key) for key in sa} | in_b
        top_shared = {key_of(key) for key in ta} & top_b
        expected.update({
            f"jaccard{suffix}": ratio(len(shared), len(union)),
            f"cover_ratio{suffix}": ratio(len(shared), len(sa)),
            f"top_k_overlap{suffix}": ratio(len(top_shared), max(len(ta), len(tb))),
            f"n_shared{suffix}": len(shared),
            f"mean_order_shared{suffix}": ratio(sum(map(order, shared)), len(shared)),
            f"mean_order_not_shared{suffix}": ratio(sum(map(order, rest)), len(rest)),
            f"cancellation_shared{suffix}": cancellation(shared),
            f"cancellation_not_shared{suffix}": cancellation(rest),
            f"order_counts_shared{suffix}": by_order(shared),
            f"order_counts_not_shared{suffix}": by_order(rest),
            f"order_sharing_rate{suffix}": [ratio(h, s) for s, h in zip(
                by_order(sa), by_order(shared), strict=True)],
            f"order_cancellation_shared{suffix}": [
                cancellation([key for key in shared if order(key) == o]) for o in range(n + 1)],
            f"order_cancellation_not_shared{suffix}": [
                cancellation([key for key in rest if order(key) == o]) for o in range(n + 1)],
        })
    return expected


def assert_metrics_equal(got, expected, *, rel=1e-9):
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, rel=rel, abs=1e-12, nan_ok=True), name


# --------------------------------------------------------------------------- hand cases
def hand_pair():
    # A: AND{x,y}=+3, AND{z}=+1, OR{y,z}=-2;  B: AND{x,y}=+1, OR{y,z}=-2, AND{x,z}=+1.5
    a = planted_result({X | Y: 3.0, Z: 1.0}, {Y | Z: -2.0})
    b = planted_result({X | Y: 1.0, X | Z: 1.5}, {Y | Z: -2.0})
    return a, b


def test_hand_computed_pair():
    a, b = hand_pair()
    result = overlap(a, b, n_top=2, n_chance=0)
    # Σ min = min(3, 1) + min(2, 2) = 3;  Σ max = 3 + 1 + 2 + 1.5 = 7.5
    assert result["weighted_overlap"] == pytest.approx(3 / 7.5)
    assert result["n_shared"] == 2
    assert result["n_salient_a"] == 3 == result["n_salient_b"]
    assert result["jaccard"] == pytest.approx(2 / 4)
    assert result["cover_ratio"] == pytest.approx(2 / 3)
    assert result["top_k_overlap"] == pytest.approx(1 / 2)  # top-2: {xy, yz} vs {yz, xz}
    assert result["mean_order_shared"] == 2
    assert result["mean_order_not_shared"] == 1
    assert result["cancellation_shared"] == pytest.approx(1 - 1 / 5)  # A's +3 and -2
    assert result["cancellation_not_shared"] == 0  # A's +1 alone
    assert result["order_counts_shared"] == [0, 0, 2, 0]
    assert result["order_counts_not_shared"] == [0, 1, 0, 0]
    assert result["order_share"] == pytest.approx([0, 1 / 3, 2 / 3, 0])
    assert result["order_sharing_rate"] == pytest.approx([math.nan, 0, 1, math.nan], nan_ok=True)
    assert overlap(a, b, n_top=1, n_chance=0)["top_k_overlap"] == 0  # A: xy, B: yz
    assert set(result) >= {"weighted_overlap", "jaccard"}
    assert len(result) == len(dict(result))


def test_symmetric_metrics_are_symmetric_and_cover_is_not():
    generator = torch.Generator().manual_seed(3)
    a = random_result(5, seed=generator)
    b = related(a, generator)
    ab, ba = overlap(a, b, n_chance=0), overlap(b, a, n_chance=0)
    for name in ("weighted_overlap", "jaccard", "jaccard_any_sign", "top_k_overlap",
                 "n_shared", "n_shared_any_sign", "mean_order_shared"):
        assert ab[name] == pytest.approx(ba[name], rel=1e-12), name
    assert ab["n_salient_a"] == ba["n_salient_b"]
    assert ab["cover_ratio"] == pytest.approx(ab["n_shared"] / ab["n_salient_a"])
    assert ba["cover_ratio"] == pytest.approx(ab["n_shared"] / ab["n_salient_b"])


def test_identical_results_overlap_fully():
    a = random_result(5, seed=torch.Generator().manual_seed(0))
    result = overlap(a, a, n_chance=0)
    for name in ("weighted_overlap", "jaccard", "jaccard_any_sign", "cover_ratio",
                 "top_k_overlap"):
        assert result[name] == 1.0, name
    assert result["n_shared"] == result["n_salient_a"] > 0
    assert math.isnan(result["cancellation_not_shared"])  # nothing is left unshared
    assert math.isnan(result["mean_order_not_shared"])


def test_disjoint_and_sign_flipped_results():
    a = planted_result({X | Y: 2.0, Z: -1.0})
    disjoint = planted_result({X | Z: 2.0}, {Y: 1.0})
    result = overlap(a, disjoint, n_chance=0)
    for name in ("weighted_overlap", "jaccard", "jaccard_any_sign", "cover_ratio",
                 "top_k_overlap"):
        assert result[name] == 0.0, name
    assert math.isnan(result["cancellation_shared"])

    flipped = overlap(a, planted_result({X | Y: -2.0, Z: 1.0}), n_chance=0)
    assert flipped["jaccard"] == 0
    assert flipped["weighted_overlap"] == 0
    assert flipped["jaccard_any_sign"] == 1
    assert flipped["cover_ratio_any_sign"] == 1
    assert flipped["n_shared"] == 0
    assert flipped["n_shared_any_sign"] == 2


def test_type_matters_and_merged_singletons():
    and_x = planted_result({X: 2.0, Y | Z: 1.0})
    split = planted_result({X: 1.0, Y | Z: 1.0}, {X: 1.0})  # AND{x} + OR{x} fire on the same masks
    unmerged = overlap(and_x, split, merge_singletons=False, n_chance=0)
    assert unmerged["jaccard"] == pytest.approx(2 / 3)  # OR{x} counts as an extra term
    merged = overlap(and_x, split, merge_singletons=True, n_chance=0)
    assert merged["jaccard"] == 1.0
    assert merged["weighted_overlap"] == 1.0
    or_only, and_only = planted_result({}, {Y | Z: 1.0}), planted_result({Y | Z: 1.0})
    assert overlap(or_only, and_only, n_chance=0)["jaccard"] == 0


def test_empty_salient_sets_give_nan_not_errors():
    a = planted_result({X: 1.0})
    high = overlap(a, a, absolute=5.0, n_chance=10)
    assert high["n_salient_a"] == 0
    for name in ("jaccard", "cover_ratio", "cancellation_shared", "mean_order_shared",
                 "jaccard_chance_uniform", "jaccard_chance_order", "cancellation_size_matched"):
        assert math.isnan(high[name]), name
    assert high["weighted_overlap"] == 1.0  # defined on all terms, not the salient ones
    zero = planted_result({})
    assert math.isnan(overlap(zero, zero, n_chance=0)["weighted_overlap"])
    assert overlap(a, zero, n_chance=0)["weighted_overlap"] == 0.0


def test_normalize_compares_shapes_not_scales():
    generator = torch.Generator().manual_seed(1)
    a = random_result(4, seed=generator)
    double = InteractionResult(a.players, 2 * a.values, 2 * a.and_interactions,
                               2 * a.or_interactions)
    assert overlap(a, double, n_chance=0)["weighted_overlap"] == pytest.approx(0.5)
    assert overlap(a, double, l1_normalize=True, n_chance=0)["weighted_overlap"] == pytest.approx(1)
    assert overlap(a, double, n_chance=0)["jaccard"] == 1.0


@pytest.mark.parametrize(
    "options",
    [{}, {"tau": 0.3}, {"absolute": 0.8}, {"top_k": 7}, {"top_fraction": 0.2},
     {"merge_singletons": False}, {"l1_normalize": True, "n_top": 3}],
    ids=["default", "tau", "absolute", "top_k", "top_fraction", "split", "normalized"],
)
@pytest.mark.parametrize("n", [3, 6])
def test_every_metric_matches_the_set_oracle(options, n):
    generator = torch.Generator().manual_seed(10 + n)
    for _ in range(4):
        a = random_result(n, seed=generator)
        b = related(a, generator)
        assert_metrics_equal(overlap(a, b, n_chance=0, **options), reference(a, b, **options))


# ---------------------------------------------------------------------------------- chance
def test_relocation_counts_have_the_hypergeometric_means():
    rng = np.random.default_rng(0)
    a = np.broadcast_to(np.array([7, 4]), (200_000, 2))
    b = np.broadcast_to(np.array([5, 9]), (200_000, 2))
    shared, shared_any = _relocated(a, b, 40, rng)
    assert shared.mean() == pytest.approx((7 * 5 + 4 * 9) / 40, rel=0.01)
    assert shared_any.mean() == pytest.approx(11 * 14 / 40, rel=0.01)
    assert (shared <= shared_any).all()
    assert shared_any.max() <= 11


def test_chance_matches_random_placement_of_b():
    """Oracle: move B's salient terms to random places with explicit permutations."""
    generator = torch.Generator().manual_seed(5)
    a = random_result(3, seed=generator, density=0.5)
    b = related(a, generator)
    got = overlap(a, b, n_chance=20_000, seed=1, merge_singletons=False)
    rng = np.random.default_rng(2)
    sa = {(t.type, t.mask, t.sign) for t in a.salient(merge_singletons=False)}
    salient_b = b.salient(merge_singletons=False)
    universe = [(kind, mask) for kind in ("and", "or") for mask in range(1, 8)]
    assert len(universe) == universe_size(3, merge_singletons=False)
    jaccards, covers = [], []
    for _ in range(20_000):
        places = rng.permutation(len(universe))[: len(salient_b)]
        sb = {(*universe[p], t.sign) for p, t in zip(places, salient_b, strict=False)}
        common = len(sa & sb)
        jaccards.append(common / (len(sa) + len(sb) - common))
        covers.append(common / len(sa))
    assert got["jaccard_chance_uniform"] == pytest.approx(np.mean(jaccards), abs=0.01)
    assert got["cover_ratio_chance_uniform"] == pytest.approx(np.mean(covers), abs=0.01)
    assert got["n_shared_chance_uniform"] < got["n_shared"]


def test_chance_is_seeded():
    generator = torch.Generator().manual_seed(6)
    a = random_result(4, seed=generator)
    b = related(a, generator)
    for name in ("jaccard_chance_uniform", "jaccard_chance_order", "cancellation_size_matched"):
        assert overlap(a, b, seed=3)[name] == overlap(a, b, seed=3)[name]
        assert name not in overlap(a, b, n_chance=0)


# ---------------------------------------------------------------------------------- matrix
def models_by_samples(models: int = 3, samples: int = 6, n: int = 4, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    bases = [random_result(n, seed=generator) for _ in range(samples)]
    return {f"m{m}": [related(base, generator, noise=0.3 * (m + 1)) for base in bases]
            for m in range(models)}


def test_matrix_equals_pairwise_overlap_per_sample():
    results = models_by_samples()
    matrix = overlap_matrix(results, n_top=5, n_bootstrap=0, n_chance=0)
    names = list(results)
    for s in range(6):
        for i, a in enumerate(names):
            for j, b in enumerate(names):
                pair = overlap(results[a][s], results[b][s], n_top=5, n_chance=0)
                for name in pair.metrics.keys() & matrix.per_sample.keys():
                    assert float(matrix.per_sample[name][s, i, j]) == pytest.approx(
                        pair[name], rel=1e-12, nan_ok=True), name
    assert torch.allclose(matrix["jaccard"], matrix.per_sample["jaccard"].mean(0))
    assert torch.equal(matrix["jaccard"], matrix["jaccard"].T)
    assert torch.all(matrix["jaccard"].diagonal() == 1)
    assert matrix.n_samples.tolist() == [[6] * 3] * 3
    pooled = sum(torch.tensor(overlap(results["m0"][s], results["m1"][s], n_chance=0)
                              ["order_counts_shared"], dtype=torch.float64) for s in range(6))
    assert torch.equal(matrix.order["order_counts_shared"][0, 1], pooled)


def test_matrix_accepts_a_list_of_lists_and_blocks_do_not_change_results(monkeypatch):
    results = models_by_samples(samples=5)
    whole = overlap_matrix(results, seed=0)
    monkeypatch.setattr(comparison, "_BLOCK", 1)  # one sample per block
    blocked = overlap_matrix(list(results.values()), seed=0)
    assert blocked.names == ["0", "1", "2"]
    for name in whole:  # the chance draws differ with the blocks, the rest does not
        if "chance" not in name and "size_matched" not in name:
            assert torch.allclose(whole[name], blocked[name], equal_nan=True), name
            assert torch.allclose(whole.ci_low[name], blocked.ci_low[name], equal_nan=True)


def test_bootstrap_interval_agrees_with_scipy():
    results = models_by_samples(models=2, samples=40, seed=4)
    matrix = overlap_matrix(results, n_bootstrap=4000, seed=0, n_chance=0)
    values = matrix.per_sample["weighted_overlap"][:, 0, 1].numpy()
    scipy_ci = scipy.stats.bootstrap((values,), np.mean, method="percentile",
                                     n_resamples=4000, random_state=1).confidence_interval
    spread = values.std() / np.sqrt(len(values))
    assert float(matrix.ci_low["weighted_overlap"][0, 1]) == pytest.approx(scipy_ci.low,
                                                                            abs=0.1 * spread)
    assert float(matrix.ci_high["weighted_overlap"][0, 1]) == pytest.approx(scipy_ci.high,
                                                                             abs=0.1 * spread)
    assert matrix.ci_low["jaccard"][0, 0] == matrix.ci_high["jaccard"][0, 0] == 1
    again = overlap_matrix(results, n_bootstrap=4000, seed=0, n_chance=0)
    assert torch.equal(again.ci_low["jaccard"], matrix.ci_low["jaccard"])


def test_shared_interactions_beat_chance_in_the_matrix():
    matrix = overlap_matrix(models_by_samples(samples=8), n_chance=50)
    off = ~torch.eye(3, dtype=torch.bool)
    assert bool((matrix["jaccard"][off] > matrix["jaccard_chance_uniform"][off] + 0.1).all())
    assert bool((matrix.ci_low["jaccard"][off] > matrix["jaccard_chance_uniform"][off]).all())


def test_different_players_and_targets_are_skipped_and_counted():
    results = models_by_samples(samples=4, n=3)
    results["m1"][0] = planted_result({X: 1.0}, players=["a", "b", "c"])  # other player words
    results["m2"][1] = planted_result({X: 1.0}, n=4)  # other n
    for m, target in (("m0", " Paris"), ("m1", "Paris"), ("m2", " Rome")):
        results[m][2].target_text = target  # m2 predicts another word at sample 2
    with pytest.warns(UserWarning, match=r"skipped 4 .* different players and 2 with different"):
        matrix = overlap_matrix(results, n_bootstrap=0, n_chance=0)
    assert matrix.n_skipped_players.tolist() == [[0, 1, 1], [1, 0, 2], [1, 2, 0]]
    assert matrix.n_skipped_target.tolist() == [[0, 0, 1], [0, 0, 1], [1, 1, 0]]
    assert matrix.n_samples.tolist() == [[4, 3, 2], [3, 4, 1], [2, 1, 4]]
    assert math.isnan(matrix.per_sample["jaccard"][0, 0, 1])
    assert math.isnan(matrix.per_sample["jaccard"][2, 0, 2])
    assert not math.isnan(matrix.per_sample["jaccard"][2, 0, 1])  # " Paris" == "Paris"
    assert matrix.order["order_counts_salient"].shape == (3, 3, 5)  # padded to n_max + 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loose = overlap_matrix(results, match_target=False, n_bootstrap=0, n_chance=0)
    assert int(loose.n_skipped_target.sum()) == 0
    assert loose.n_samples[0, 2] == 3


def test_target_ids_are_compared_when_there_is_no_text():
    results = models_by_samples(models=2, samples=2, n=3)
    results["m0"][0].target, results["m1"][0].target = 5, 6
    with pytest.warns(UserWarning, match="different targets"):
        matrix = overlap_matrix(results, n_bootstrap=0, n_chance=0)
    assert matrix.n_skipped_target[0, 1] == 1


def test_matrix_records_and_repr():
    matrix = overlap_matrix(models_by_samples(models=2, samples=3), n_chance=0, n_bootstrap=50)
    records = matrix.to_records()
    assert len(records) == len(matrix) * 4
    row = next(r for r in records if r["metric"] == "jaccard" and r["model_a"] == "m0"
               and r["model_b"] == "m1")
    assert row["mean"] == pytest.approx(float(matrix["jaccard"][0, 1]))
    assert row["ci_low"] <= row["mean"] <= row["ci_high"]
    assert row["n_samples"] == 3
    assert "models=['m0', 'm1']" in repr(matrix)
    assert isinstance(matrix, OverlapMatrix)
    frame = matrix.to_pandas()
    assert len(frame) == len(records)


# ------------------------------------------------------------------------------- bad input
def test_pair_errors_name_the_problem():
    a = planted_result({X: 1.0})
    with pytest.raises(InteractionError, match="result_a has 3 players but result_b has 4"):
        overlap(a, planted_result({X: 1.0}, n=4))
    with pytest.raises(InteractionError, match="different players"):
        overlap(a, planted_result({X: 1.0}, players=["a", "b", "c"]))
    with pytest.raises(TypeError, match="result_b is a dict, expected an InteractionResult"):
        overlap(a, {"x": 1})
    broken = planted_result({X: 1.0})
    broken.or_interactions = None
    with pytest.raises(InteractionError, match=r"result_b.or_interactions is None.*missing"):
        overlap(a, broken)
    nan = planted_result({X: 1.0})
    nan.and_interactions[3] = math.nan
    with pytest.raises(InteractionError, match="result_b has non-finite interactions"):
        overlap(a, nan)
    with pytest.raises(InteractionError, match=r"n_top \(how many strongest terms"):
        overlap(a, a, n_top=0)
    with pytest.raises(InteractionError, match="tau must be in"):
        overlap(a, a, tau=2.0)


def test_matrix_errors_name_the_problem():
    results = models_by_samples(models=2, samples=3, n=3)
    with pytest.raises(InteractionError, match=r"one result per sample.*'m0': 3, 'm1': 2"):
        overlap_matrix({"m0": results["m0"], "m1": results["m1"][:2]})
    with pytest.raises(InteractionError, match="at least two"):
        overlap_matrix({"m0": results["m0"]})
    with pytest.raises(TypeError, match=r"results\['m1'\]\[1\] is a str"):
        overlap_matrix({"m0": results["m0"], "m1": [results["m1"][0], "oops", None]})
    with pytest.raises(TypeError, match="mapping model name"):
        overlap_matrix(42)
    bad = results["m1"][2]
    bad.or_interactions[1] = math.inf
    with pytest.raises(InteractionError, match=r"results\['m1'\]\[2\] has non-finite"):
        overlap_matrix(results)
    with pytest.raises(InteractionError, match="confidence"):
        overlap_matrix(models_by_samples(models=2, samples=2), confidence=1.5)
    with pytest.raises(InteractionError, match="n_bootstrap must be an int >= 0"):
        overlap_matrix(models_by_samples(models=2, samples=2), n_bootstrap=-1)
    with pytest.raises(InteractionError, match="n_chance must be an int >= 0"):
        overlap(results["m0"][0], results["m0"][0], n_chance=1.5)


def test_results_that_explain_different_words_are_compared_with_a_warning():
    a = planted_result({X | Y: 1.0}, target_text=" Row")
    b = planted_result({X | Y: 1.0}, target_text=" Rowling")
    with pytest.warns(UserWarning, match="explains 'Row' and result_b 'Rowling'"):
        assert overlap(a, b, n_chance=0)["jaccard"] == 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        overlap(a, planted_result({X: 1.0}, target_text="Row "), n_chance=0)  # same word

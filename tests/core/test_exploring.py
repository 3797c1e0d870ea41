"""Exploring one result like shapiq's InteractionValues: lookup, top_k, by_order, sparsify."""

from __future__ import annotations

import pytest
import torch
from helpers.games import planted_result, random_result

from captum_interactions import InteractionError


@pytest.fixture
def eiffel():
    # AND{Eiffel, city} = 2, OR{Tower, city} = -1, AND{Eiffel} = 0.5 and OR{Eiffel} = 0.25
    return planted_result({0b101: 2.0, 0b001: 0.5}, {0b110: -1.0, 0b001: 0.25},
                          players=["Eiffel", "Tower", "city"], target_text=" Paris")


def test_lookup_by_labels_or_indices_gives_the_and_and_the_or_term(eiffel):
    and_term, or_term = eiffel["Eiffel", "city"]
    assert (and_term.type, and_term.value, or_term.type, or_term.value) == ("and", 2.0, "or", 0.0)
    assert eiffel[2, 0] == eiffel["city", "Eiffel"] == eiffel[("Eiffel", 2)]
    assert eiffel["Tower", "city"][1].value == -1.0
    assert eiffel["Tower", "city"][1].label == "Tower | city"
    # a single player: the merged view, OR{i} added into AND{i}
    assert [term.value for term in eiffel["Eiffel"]] == [0.75, 0.0]
    assert [term.value for term in eiffel[()]] == [0.0, 0.0]


@pytest.mark.parametrize("key", ["Paris", 3, -1, ("Eiffel", "Eiffel"), True],
                         ids=["unknown-label", "index-too-large", "negative", "repeated", "bool"])
def test_lookup_of_a_non_player_says_what_the_players_are(eiffel, key):
    with pytest.raises(InteractionError, match=r"not a player|twice"):
        eiffel[key]


def test_a_result_is_not_a_sequence(eiffel):
    with pytest.raises(TypeError, match="not iterable"):
        list(eiffel)


def test_top_k_and_by_order_reuse_salient(eiffel):
    assert [t.label for t in eiffel.top_k(2)] == ["Eiffel & city", "Tower | city"]
    assert eiffel.top_k(2) == eiffel.salient(top_k=2)
    assert [t.label for t in eiffel.by_order(2)] == ["Eiffel & city", "Tower | city"]
    assert [t.label for t in eiffel.by_order(1)] == ["Eiffel"]
    result = random_result(5, seed=1, density=1.0)
    every = result.by_order(3, tau=0)
    assert len(every) == 2 * 10  # all AND and OR terms of order 3 (none is exactly zero)
    with pytest.raises(InteractionError, match="from 1 to n_players=5"):
        result.by_order(0)


def test_sparsify_keeps_salient_terms_and_moves_the_rest_into_q():
    result = random_result(5, seed=4, density=0.8)
    sparse = result.sparsify(top_k=6)
    assert sparse is not result
    assert sparse.values is result.values
    kept = sparse.and_interactions[1:].ne(0).sum() + sparse.or_interactions[1:].ne(0).sum()
    singletons = [1 << i for i in range(5)]
    split = int((sparse.and_interactions[singletons].ne(0)
                 & sparse.or_interactions[singletons].ne(0)).sum())
    assert int(kept) - split == 6  # a kept singleton keeps its AND and OR parts
    assert sparse.and_interactions[0] == result.and_interactions[0]
    assert sparse.matching_error() < 1e-12
    assert sparse.bound == pytest.approx(float(sparse.q.abs().max()))
    assert sparse.metadata["sparsified"] == {"tau": 0.05, "top_k": 6}
    assert [t.label for t in sparse.salient(tau=0)] == [t.label for t in result.top_k(6)]


def test_repr_is_one_line_with_the_target(eiffel):
    text = repr(eiffel)
    assert text == ("InteractionResult(n_players=3, players=['Eiffel', 'Tower', 'city'], "
                    "target=' Paris', salient=3, objective=3.75)")
    assert "\n" not in repr(random_result(8, seed=0))


def test_attribution_map_spreads_values_like_the_first_order_methods(eiffel):
    mask = torch.tensor([[0, 0, 1], [2, -1, 2]])
    shapley = eiffel.shapley_values()
    expected = torch.tensor([[shapley[0], shapley[0], shapley[1]], [shapley[2], 0.0, shapley[2]]])
    assert torch.equal(eiffel.attribution_map(mask), expected)
    banzhaf = eiffel.attribution_map(mask, "banzhaf", of="interactions")
    assert banzhaf[1, 0] == eiffel.banzhaf_values("interactions")[2]
    pair = eiffel.attribution_map((mask, torch.tensor([1, -1])))
    assert torch.equal(pair[0], expected)
    assert pair[1].tolist() == [float(shapley[1]), 0.0]
    with pytest.raises(InteractionError, match="attribution='interactions'"):
        eiffel.attribution_map(mask, "interactions")
    with pytest.raises(InteractionError, match="result has 3 players"):
        eiffel.attribution_map(torch.tensor([0, 3]))
    with pytest.raises(TypeError, match="integer player ids"):
        eiffel.attribution_map(torch.tensor([0.0, 1.0]))
    with pytest.raises(InteractionError, match="feature_mask is needed"):
        eiffel.attribution_map()


def test_text_results_map_onto_their_tokens(eiffel):
    eiffel.metadata.update(input_ids=[5, 6, 7, 8, 9], player_positions=[[1], [2, 3], [4]])
    token_map = eiffel.attribution_map()
    shapley = eiffel.shapley_values()
    assert token_map.tolist() == [0.0, *map(float, shapley[[0, 1, 1, 2]])]

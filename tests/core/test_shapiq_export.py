"""The Möbius fold of AND and OR terms, and export to / import from shapiq, against brute
force and shapiq's own ExactComputer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.games import random_result
from helpers.oracles import brute_and
from hypothesis import given, settings
from hypothesis import strategies as st

import captum_interactions as ci
from captum_interactions import InteractionError, InteractionResult


def _game_of(coefficients: dict[tuple[int, ...], float], n: int) -> torch.Tensor:
    """v(T) = Σ_{R ⊆ T} m(R), summed term by term from a shapiq-style dict."""
    values = torch.zeros(1 << n, dtype=torch.float64)
    for players, value in coefficients.items():
        inside = torch.ones(1 << n, dtype=torch.bool)
        for i in players:
            inside &= (torch.arange(1 << n) >> i) & 1 == 1
        values += value * inside.to(torch.float64)
    return values


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 6), seed=st.integers(0, 2**31 - 1),
       density=st.sampled_from([0.1, 0.5, 1.0]))
def test_moebius_fold_rebuilds_the_game_of_and_and_or_terms(n, seed, density):
    result = random_result(n, seed=seed, density=density)
    folded = ci.moebius_coefficients(result.and_interactions, result.or_interactions)
    game = result.reconstruct()
    assert torch.allclose(ci.inverse_and_transform(folded), game, atol=1e-10)
    assert torch.allclose(folded, brute_and(game), atol=1e-10)  # the definition, O(3**n)


def test_moebius_fold_keeps_exact_zeros_and_the_sign_of_each_order():
    or_terms = torch.zeros(16, dtype=torch.float64)
    or_terms[0b0111] = 1.0  # OR{0,1,2}: +1 on singletons, -1 on pairs, +1 on the triple
    folded = ci.moebius_coefficients(torch.zeros(16, dtype=torch.float64), or_terms)
    expected = {0b0001: 1, 0b0010: 1, 0b0100: 1, 0b0011: -1, 0b0101: -1, 0b0110: -1, 0b0111: 1}
    assert folded.tolist() == [float(expected.get(mask, 0)) for mask in range(16)]


def test_moebius_fold_rejects_mismatched_shapes():
    with pytest.raises(InteractionError, match="same shape"):
        ci.moebius_coefficients(torch.zeros(4), torch.zeros(8))


# ------------------------------------------------------------------------------ shapiq
shapiq = pytest.importorskip("shapiq")


def _exact(result: InteractionResult):
    """shapiq's ExactComputer on the game the result's interactions rebuild."""
    game = result.reconstruct().numpy()

    def value(coalitions: np.ndarray) -> np.ndarray:
        return game[coalitions.astype(np.int64) @ (1 << np.arange(result.n_players))]

    return shapiq.ExactComputer(n_players=result.n_players, game=value)


def test_export_is_lossless_and_lists_only_nonzero_coefficients():
    result = random_result(6, seed=3, density=0.2)
    exported = result.to_shapiq()
    assert exported.index == "Moebius"
    assert exported.n_players == 6
    assert exported.baseline_value == pytest.approx(float(result.moebius()[0]))
    nonzero = int((result.moebius()[1:] != 0).sum())
    assert len(exported.dict_values) == nonzero + 1  # plus the empty set
    rebuilt = _game_of(exported.dict_values, 6)
    assert float((rebuilt - result.reconstruct()).abs().max()) < 1e-12
    moebius = _exact(result)("Moebius")
    for players, value in moebius.dict_values.items():
        assert exported[players] == pytest.approx(value, abs=1e-10)


@pytest.mark.parametrize(("index", "order"), [("SV", None), ("BV", None), ("SII", 2),
                                              ("k-SII", 2), ("k-SII", 3), ("STII", 2),
                                              ("FSII", 2), ("FBII", 2)])
def test_converted_indices_equal_shapiq_exact_computer(index, order):
    result = random_result(5, seed=11, density=0.4)
    ours = result.to_shapiq(index, order)
    exact = _exact(result)(index, order or 1)
    assert ours.index == exact.index
    # Interactions of order >= 1 are compared; the empty-set entry is shapiq's converter's
    # own convention, which differs from its ExactComputer's for SV, BV and SII.
    keys = {k for k in {*ours.dict_values, *exact.dict_values} if k}
    assert len(keys) >= result.n_players
    assert max(abs(ours[k] - exact[k]) for k in keys) < 1e-8
    if index in ("SV", "BV"):
        mine = result.shapley_values if index == "SV" else result.banzhaf_values
        assert np.allclose([ours[(i,)] for i in range(5)], mine("interactions").numpy())


def test_salient_only_exports_the_sparsified_game():
    result = random_result(5, seed=5, density=0.6)
    exported = result.to_shapiq(salient_only=True, top_k=4)
    sparse = result.sparsify(top_k=4)
    assert torch.allclose(_game_of(exported.dict_values, 5), sparse.reconstruct(), atol=1e-12)
    assert len(exported.dict_values) < len(result.to_shapiq().dict_values)


def test_from_shapiq_reads_exact_computer_moebius_back():
    result = random_result(4, seed=2, density=0.7, players=["a", "b", "c", "d"])
    moebius = _exact(result)("Moebius")
    back = InteractionResult.from_shapiq(moebius, result.players, target_text=" Paris")
    assert back.players == ["a", "b", "c", "d"]
    assert back.target_text == " Paris"
    assert torch.allclose(back.values, result.reconstruct(), atol=1e-12)
    assert not back.or_interactions.any()
    again = back.to_shapiq()
    assert all(again[k] == pytest.approx(v, abs=1e-12) for k, v in moebius.dict_values.items())


def test_bad_indices_and_orders_are_refused_before_shapiq_runs():
    result = random_result(3, seed=0)
    with pytest.raises(InteractionError, match="choose one of"):
        result.to_shapiq("Shapley")
    with pytest.raises(InteractionError, match="order must be 1"):
        result.to_shapiq("SV", order=2)
    with pytest.raises(InteractionError, match="from 1 to n_players=3"):
        result.to_shapiq("k-SII", order=4)
    with pytest.raises(InteractionError, match="every order"):
        result.to_shapiq("Moebius", order=2)
    with pytest.raises(InteractionError, match="index 'SV'"):
        InteractionResult.from_shapiq(result.to_shapiq("SV"))
    with pytest.raises(TypeError, match=r"shapiq\.InteractionValues"):
        InteractionResult.from_shapiq({(0,): 1.0})

"""A prompt's value function as a shapiq Game: the same values as LLMInteractions, shapiq's
exact and approximate computations on it equal ours."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.lm_models import PROMPT

from captum_interactions.adapters import LLMInteractions, PromptGame
from captum_interactions.subsets import all_masks

shapiq = pytest.importorskip("shapiq")
from captum_interactions.adapters.shapiq_game import LLMGame  # noqa: E402 - needs shapiq

PLAYERS = ["capital", "france", "paris", "italy"]


@pytest.fixture(scope="module")
def explained(gpt2):
    _, adapter = gpt2
    explainer = LLMInteractions(adapter)
    result = explainer.attribute(PROMPT, players=PLAYERS, target="rome", mode="none")
    return explainer, result


def test_prompt_game_gives_the_values_of_attribute(explained):
    explainer, result = explained
    game = explainer.game(PROMPT, players=PLAYERS, target="rome")
    assert isinstance(game, PromptGame)
    assert game.players == tuple(result.players)
    assert game.target_text == result.target_text
    assert game.metadata["baseline"] == result.baseline
    assert torch.allclose(game(all_masks(4)), result.values, atol=1e-10)
    assert torch.allclose(game(torch.tensor([5, 0])), result.values[[5, 0]], atol=1e-10)


def test_shapiq_exact_values_of_the_game_equal_ours(explained):
    explainer, result = explained
    game = LLMGame(explainer.game(PROMPT, players=PLAYERS, target="rome"))
    assert game.n_players == 4
    assert game.normalization_value == pytest.approx(float(result.values[0]))
    coalitions = np.array([[bool(mask >> i & 1) for i in range(4)] for mask in range(16)])
    assert np.allclose(game(coalitions) + game.normalization_value, result.values.numpy(),
                       atol=1e-10)
    exact = shapiq.ExactComputer(n_players=4, game=game)
    moebius, ours = exact("Moebius"), result.to_shapiq()
    assert max(abs(moebius[k] - ours[k]) for k in moebius.dict_values if k) < 1e-9
    shapley = exact("SV", 1)
    assert np.allclose([shapley[(i,)] for i in range(4)], result.shapley_values().numpy(),
                       atol=1e-9)


def test_a_shapiq_approximator_runs_on_the_game_in_batches(explained, monkeypatch):
    explainer, result = explained
    game = LLMGame(explainer.game(PROMPT, players=PLAYERS, target="rome"), normalize=False)
    calls = []
    evaluate = game.prompt_game.adapter.evaluate
    monkeypatch.setattr(game.prompt_game.adapter, "evaluate",
                        lambda *args, **kwargs: calls.append(len(args[2])) or evaluate(
                            *args, **kwargs))
    approximator = shapiq.KernelSHAPIQ(n=4, max_order=2, index="k-SII", random_state=0)
    values = approximator.approximate(budget=16, game=game)  # every coalition: exact
    expected = result.to_shapiq("k-SII", 2)
    keys = [k for k in expected.dict_values if k]
    assert max(abs(values[k] - expected[k]) for k in keys) < 1e-6
    assert len(calls) <= 3  # a few batches of masks, never one forward per coalition
    assert sum(calls) <= 16


def test_llm_game_wants_a_prompt_game(explained):
    explainer, _ = explained
    with pytest.raises(TypeError, match="PromptGame"):
        LLMGame(explainer)

"""The per-result plots: the waterfall adds up to v(N), the token heat-map shows the prompt."""

from __future__ import annotations

import matplotlib
import pytest
import torch
from helpers.games import random_result

from captum_interactions import InteractionError, extract
from captum_interactions.graphs import plot_token_heatmap, plot_waterfall

matplotlib.use("Agg")
import matplotlib.pyplot as plt

PROMPT = "The Eiffel Tower stands in the city of"
SPANS = [[4, 10], [11, 16], [31, 35]]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def noisy():
    """An extracted result (noise q != 0) on three words of PROMPT."""
    values = random_result(3, seed=7, density=1.0).reconstruct()
    result = extract(values, players=["Eiffel", "Tower", "city"], qcoef=0.1)
    result.target_text = " Paris"
    result.metadata.update(prompt=PROMPT, player_spans=SPANS)
    return result


def _bar_ends(ax) -> list[float]:
    return [patch.get_x() + patch.get_width() for patch in ax.patches]


def test_waterfall_runs_from_v_empty_to_v_full_through_every_term(noisy):
    _fig, ax = plot_waterfall(noisy, n_top=3)
    labels = [label.get_text() for label in ax.get_yticklabels()]
    assert labels[0] == "v(∅)"
    assert labels[-1] == "v(N)"
    assert labels[1:4] == [term.label for term in noisy.salient()[:3]]
    assert "noise q(∅) − q(N)" in labels
    assert any(label.endswith("other terms") for label in labels)
    assert ax.patches[0].get_x() == pytest.approx(float(noisy.values[0]))
    assert _bar_ends(ax)[-1] == pytest.approx(float(noisy.values[-1]), abs=1e-9)
    assert "Paris" in ax.get_title()


def test_waterfall_of_an_exact_game_needs_no_noise_bar():
    result = random_result(4, seed=1, density=0.3)
    _fig, ax = plot_waterfall(result, 0.0, n_top=50)  # tau=0: every non-zero term
    labels = [label.get_text() for label in ax.get_yticklabels()]
    assert not any("noise" in label or "other" in label for label in labels)
    assert len(ax.patches) == len(result.salient(0.0))
    assert _bar_ends(ax)[-1] == pytest.approx(float(result.values[-1]), abs=1e-9)
    with pytest.raises(InteractionError, match="n_top"):
        plot_waterfall(result, n_top=0)


def test_token_heatmap_shows_the_prompt_with_player_values(noisy):
    fig, ax = plot_token_heatmap(noisy)
    texts = [text.get_text() for text in ax.texts]
    words = [text for text in texts if not text.startswith(("+", "-"))]
    assert words == ["The", "Eiffel", "Tower", "stands", "in", "the", "city", "of", "→ Paris"]
    shapley = noisy.shapley_values()
    assert [text for text in texts if text.startswith(("+", "-"))] == [
        f"{float(value):+.2g}" for value in shapley]
    colours = {word: patch.get_facecolor() for word, patch in zip(words, ax.patches,
                                                                 strict=True)}
    assert colours["The"] == colours["stands"]  # not players: grey
    assert colours["The"] != colours["Eiffel"]
    strongest = noisy.players[int(shapley.abs().argmax())]
    assert max(colours[strongest][:3]) - min(colours[strongest][:3]) > 0.3  # saturated
    fig, ax = plot_token_heatmap(noisy, "banzhaf", of="interactions")
    assert "Banzhaf value" in fig.axes[-1].get_xlabel()
    with pytest.raises(InteractionError, match="'shapley' or 'banzhaf'"):
        plot_token_heatmap(noisy, "moebius")
    with pytest.raises(TypeError, match="InteractionResult"):
        plot_token_heatmap(torch.zeros(4))

"""The learned baseline: sampling, the loss, gradients, training, saving and use."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.lm_models import PROMPT, make_tokenizer, tiny_gpt2

from captum_interactions.adapters.huggingface import HuggingFaceAdapter
from captum_interactions.adapters.learned_baseline import (
    LearnedBaseline,
    _draw,
    _games,
    _loss,
    _samples,
    interaction_loss,
    resolve_baseline,
    train_baseline,
)
from captum_interactions.exceptions import InteractionError, ResultFormatError

PROMPTS = [PROMPT, "the quick brown fox jumps over the lazy dog"]


@pytest.fixture(scope="module")
def adapter():
    tokenizer = make_tokenizer("bpe")
    return HuggingFaceAdapter(tiny_gpt2(tokenizer), tokenizer, name="tiny-gpt2")


def test_draws_are_disjoint_sets_of_one_to_three_players():
    generator = torch.Generator().manual_seed(0)
    sizes = set()
    for n in (2, 3, 5, 10):
        for _ in range(200):
            s1, s2, s3 = _draw(n, generator)
            assert s1 & s2 == 0
            assert s3 & (s1 | s2) == 0
            assert (s1 | s2 | s3) < 1 << n
            assert 1 <= s1.bit_count() <= 3
            assert 1 <= s2.bit_count() <= 3
            sizes.add((s1.bit_count(), s2.bit_count()))
            if n == 2:
                assert s3 == 0
    assert {(1, 1), (3, 3), (1, 3), (3, 1)} <= sizes
    contexts = [_draw(10, generator)[2].bit_count() for _ in range(400)]
    assert 1.5 < np.mean(contexts) < 3.5  # about half of the 4..8 remaining players


def test_loss_matches_values_of_all_masks(adapter):
    """The batched loss equals mean |Δ| computed from v on all 2**n masks."""
    games = _games(adapter, PROMPTS, [["capital", "france", "paris", "italy"], None], None, 5)
    vector = adapter.baseline_vector("pad")
    samples = _samples(games, 40, torch.Generator().manual_seed(3))
    with torch.no_grad():
        loss = _loss(adapter, games, vector, samples, "log_odds")
        full = [
            adapter.evaluate(game.prompt, game.positions, torch.arange(1 << len(game.positions)),
                             target=game.target, baseline=vector)
            for game in games
        ]
    expected = np.mean([
        abs(float(full[g][s1 | s2 | s3] - full[g][s1 | s3] - full[g][s2 | s3] + full[g][s3]))
        for g, s1, s2, s3 in samples
    ])
    assert {g for g, *_ in samples} == {0, 1}
    assert float(loss) == pytest.approx(expected, abs=2e-6)  # float32 batching rounding


def test_gradient_matches_finite_differences():
    tokenizer = make_tokenizer("bpe")
    model = tiny_gpt2(tokenizer).double()
    adapter = HuggingFaceAdapter(model, tokenizer)
    games = _games(adapter, PROMPTS[:1], None, None, 4)
    samples = _samples(games, 12, torch.Generator().manual_seed(1))
    vector = adapter.baseline_vector("pad").clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(_loss(adapter, games, vector, samples, "log_odds"), vector)
    direction = torch.randn(vector.shape, dtype=torch.float64)
    eps = 1e-6
    with torch.no_grad():
        up = _loss(adapter, games, vector + eps * direction, samples, "log_odds")
        down = _loss(adapter, games, vector - eps * direction, samples, "log_odds")
    assert float(gradient @ direction) == pytest.approx(float(up - down) / (2 * eps), rel=1e-5)
    assert not any(p.grad is not None for p in model.parameters())  # the model is untouched


def test_training_lowers_the_loss_and_is_reproducible(adapter):
    before = interaction_loss(adapter, PROMPTS, "pad", n_players=5, samples=64, seed=7)
    learned = train_baseline(adapter, PROMPTS, n_players=5, steps=30, batch_size=8, lr=0.05)
    after = interaction_loss(adapter, PROMPTS, learned, n_players=5, samples=64, seed=7)
    assert after < 0.8 * before
    assert learned.losses.shape == (30,)
    assert learned.model == "tiny-gpt2"
    assert learned.init == "pad"
    assert learned.options["n_players"] == [5, 5]
    assert learned.vector.dtype == torch.float32
    again = train_baseline(adapter, PROMPTS, n_players=5, steps=3, batch_size=8, lr=0.05)
    same = train_baseline(adapter, PROMPTS, n_players=5, steps=3, batch_size=8, lr=0.05)
    torch.testing.assert_close(again.vector, same.vector, rtol=0, atol=0)


def test_save_load_round_trip_without_pickle(adapter, tmp_path):
    learned = train_baseline(adapter, PROMPTS, n_players=4, steps=2, batch_size=4, init="eos")
    path = learned.save(tmp_path / "baseline.npz")
    with np.load(path, allow_pickle=False) as data:
        assert set(data.files) == {"header", "vector", "losses"}
    loaded = LearnedBaseline.load(path)
    torch.testing.assert_close(loaded.vector, learned.vector, rtol=0, atol=0)
    torch.testing.assert_close(loaded.losses, learned.losses, rtol=0, atol=0)
    assert (loaded.model, loaded.init, loaded.options) == (learned.model, "eos", learned.options)
    for spec in (learned, loaded, Path(path)):
        vector, description = resolve_baseline(adapter, spec)
        torch.testing.assert_close(vector, learned.vector)
        assert description == "learned:tiny-gpt2:eos:2-steps"


def test_baseline_of_another_model_warns_and_wrong_width_fails(adapter):
    other = LearnedBaseline(torch.zeros(32), model="someone-else", init="pad")
    with pytest.warns(UserWarning, match="trained for model 'someone-else'"):
        resolve_baseline(adapter, other)
    narrow = LearnedBaseline(torch.zeros(8), model="tiny-gpt2", init="pad")
    with warnings.catch_warnings(), pytest.raises(InteractionError, match=r"shape \[32\]"):
        resolve_baseline(adapter, narrow)


def test_loading_other_files_fails_clearly(tmp_path):
    np.savez(tmp_path / "other.npz", header=np.array('{"format": "x"}'), vector=np.zeros(3))
    with pytest.raises(ResultFormatError, match="is not a learned baseline file"):
        LearnedBaseline.load(tmp_path / "other.npz")
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(ResultFormatError, match="not a readable learned baseline"):
        LearnedBaseline.load(tmp_path / "junk.npz")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"prompts": []}, "at least one prompt"),
        ({"players": [["capital"], None]}, r"has 1 player \(\['capital'\]\); pairwise"),
        ({"players": [None]}, r"players must have one entry per prompt \(2\); got 1"),
        ({"targets": [1, 2, 3]}, r"targets must have one entry per prompt \(2\); got 3"),
        ({"steps": 0}, "steps must be a positive int"),
        ({"batch_size": True}, "batch_size must be a positive int"),
    ],
    ids=["no-prompts", "one-player", "players-length", "targets-length", "steps", "batch"],
)
def test_bad_training_input(adapter, kwargs, match):
    kwargs = {"prompts": PROMPTS, **kwargs}
    with pytest.raises(InteractionError, match=match):
        train_baseline(adapter, kwargs.pop("prompts"), **kwargs)

"""AND/OR transforms against brute-force subset sums, shapiq, and universal matching."""

from __future__ import annotations

import pytest
import torch
from helpers.oracles import brute_and, brute_or
from hypothesis import given, settings
from hypothesis import strategies as st

import captum_interactions as ci
from captum_interactions import InteractionError


@pytest.mark.parametrize("n", range(9))
def test_transforms_equal_subset_sums(n):
    values = torch.randn(3, 1 << n, dtype=torch.float64)
    torch.testing.assert_close(ci.and_transform(values), brute_and(values))
    torch.testing.assert_close(ci.or_transform(values), brute_or(values))


@pytest.mark.parametrize("n", [1, 4, 9])
def test_inverses_round_trip(n):
    values = torch.randn(2, 5, 1 << n, dtype=torch.float64)
    torch.testing.assert_close(ci.inverse_and_transform(ci.and_transform(values)), values)
    torch.testing.assert_close(ci.inverse_or_transform(ci.or_transform(values)), values)
    torch.testing.assert_close(ci.and_transform(ci.inverse_and_transform(values)), values)
    torch.testing.assert_close(ci.or_transform(ci.inverse_or_transform(values)), values)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 7), seed=st.integers(0, 2**31 - 1))
def test_universal_matching_for_any_p_and_q(n, seed):
    generator = torch.Generator().manual_seed(seed)
    v, p, q = torch.randn(3, 1 << n, generator=generator, dtype=torch.float64)
    v_and, v_or = (v + q) / 2 + p, (v + q) / 2 - p
    rebuilt = ci.reconstruct(ci.and_transform(v_and), ci.or_transform(v_or))
    torch.testing.assert_close(rebuilt, v + q)


def test_or_interactions_fire_on_masks_that_meet_them():
    # v(T) = 1 when player 0 or player 2 is present: a single OR term on {0, 2}.
    n = 3
    values = torch.tensor([float(t & 0b101 != 0) for t in range(1 << n)])
    interactions = ci.or_transform(values)
    expected = torch.zeros(1 << n)
    expected[0b101] = 1.0
    torch.testing.assert_close(interactions, expected)


def test_transforms_keep_dtype_and_do_not_modify_input():
    values = torch.arange(16, dtype=torch.float32)
    before = values.clone()
    for transform in (ci.and_transform, ci.or_transform, ci.inverse_or_transform):
        assert transform(values).dtype == torch.float32
    torch.testing.assert_close(values, before)


def test_integer_inputs_are_promoted_instead_of_wrapping_around():
    values = torch.tensor([0, -128, -128, 127], dtype=torch.int8)
    out = ci.and_transform(values)  # I({0, 1}) = 127 + 128 + 128 = 383, beyond int8
    assert out.dtype == torch.float64
    assert out.tolist() == [0.0, -128.0, -128.0, 383.0]
    assert ci.or_transform(torch.tensor([True, False, True, True])).dtype == torch.float64
    assert ci.inverse_and_transform(torch.arange(8)).tolist() == ci.inverse_and_transform(
        torch.arange(8.0)).tolist()


def test_agrees_with_shapiq_moebius():
    shapiq = pytest.importorskip("shapiq")
    n = 5
    values = torch.randn(1 << n, dtype=torch.float64)

    def game(coalitions):
        masks = (coalitions.astype(int) << range(n)).sum(axis=1)
        return values.numpy()[masks]

    moebius = shapiq.ExactComputer(n_players=n, game=game)("Moebius")
    ours = ci.and_transform(values)
    for mask in range(1, 1 << n):
        players = tuple(i for i in range(n) if mask >> i & 1)
        assert ours[mask].item() == pytest.approx(moebius[players], abs=1e-9)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (torch.zeros(6), "length 2\\*\\*n"),
        (torch.tensor([0.0, float("nan")]), "non-finite"),
        (torch.tensor([0.0, float("inf")]), "non-finite"),
        (torch.tensor(1.0), "scalar"),
    ],
    ids=["not-power-of-two", "nan", "inf", "scalar"],
)
def test_bad_values_get_clear_errors(bad, message):
    with pytest.raises(InteractionError, match=message):
        ci.and_transform(bad)


def test_non_tensor_is_a_type_error():
    with pytest.raises(TypeError, match=r"torch\.as_tensor"):
        ci.or_transform([0.0, 1.0])


def test_too_many_players():
    from captum_interactions.subsets import check_n_players

    with pytest.raises(InteractionError, match="n_players=31"):
        check_n_players(31)


def test_reconstruct_rejects_mismatched_shapes_and_devices():
    with pytest.raises(InteractionError, match="same shape"):
        ci.reconstruct(torch.zeros(4), torch.zeros(8))
    with pytest.raises(InteractionError, match="device"):
        ci.reconstruct(torch.zeros(4), torch.zeros(4, device="meta"))

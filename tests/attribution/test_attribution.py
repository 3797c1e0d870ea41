"""AndOrInteractions / HarsanyiInteractions against independent oracles.

Oracles: the model evaluated on inputs masked by explicit Python loops, Captum's own
ShapleyValues, hand-derived interactions of a model with known logic, and log-odds computed
in float64 from the logits.
"""

from __future__ import annotations

import math
import re
import time
import warnings

import pytest
import torch
from captum.attr import PerturbationAttribution, ShapleyValues
from helpers.oracles import brute_and, brute_or

import captum_interactions as ci
from captum_interactions import ConvergenceWarning, CostWarning, InteractionError
from captum_interactions.attribution import AndOrInteractions, HarsanyiInteractions
from captum_interactions.costs import WARN_EVALUATION_PLAYERS, WARN_EXTRACTION_PLAYERS
from captum_interactions.values import log_odds


# ----------------------------------------------------------------------------- models
class TwoInputMLP(torch.nn.Module):
    """Takes x [N, 3, 4], y [N, 5] and a per-example scale [N]; returns logits [N, 4]."""

    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(17, 16), torch.nn.Tanh(), torch.nn.Linear(16, 4)
        )

    def forward(self, x, y, scale, shift=0.0):
        features = torch.cat([x.flatten(1), y], dim=1) * scale[:, None]
        return self.net(features) + shift


def logic_model(x: torch.Tensor) -> torch.Tensor:
    """out = 2·x0·x1 + max(x2, x3): AND{0,1} = 2 and OR{2,3} = 1."""
    return 2 * x[:, 0] * x[:, 1] + torch.maximum(x[:, 2], x[:, 3])


def _masked_by_loop(inputs, baselines, masks, players_present):
    """The masked input, element by element (the oracle for the vectorised masking)."""
    out = []
    for inp, base, mask in zip(inputs, baselines, masks, strict=True):
        base = torch.as_tensor(base, dtype=inp.dtype).expand_as(inp)
        mask = mask.expand_as(inp)
        masked = inp.clone()
        for index in torch.cartesian_prod(*[torch.arange(s) for s in inp.shape]).tolist():
            index = tuple(index) if isinstance(index, list) else (index,)
            player = int(mask[index])
            if player >= 0 and player not in players_present:
                masked[index] = base[index]
        out.append(masked)
    return tuple(out)


# ----------------------------------------------------------------- masking and values
def test_values_match_explicit_masking_across_tensors_with_background():
    model = TwoInputMLP().double()
    x, y = torch.randn(2, 3, 4, dtype=torch.float64), torch.randn(2, 5, dtype=torch.float64)
    scale = torch.tensor([1.0, 0.5], dtype=torch.float64)
    # Player 1 spans both tensors; per-example masks for y; -1 is background.
    mask_x = torch.tensor([[0, 0, 1, 1], [2, 2, -1, -1], [3, 3, 3, 3]])[None]
    mask_y = torch.tensor([[1, 1, 4, -1, 4], [4, 1, 1, 1, -1]])
    base_x = torch.randn(1, 3, 4, dtype=torch.float64)
    target = [3, 1]
    results = AndOrInteractions(model).attribute(
        (x, y), baselines=(base_x, 0.5), target=target, feature_mask=(mask_x, mask_y),
        additional_forward_args=(scale, 0.25), perturbations_per_eval=5, mode="none",
    )
    for example, result in enumerate(results):
        assert result.n_players == 5
        for t in (0, 1, 6, 19, 31):
            present = set(ci.subsets.to_indices(t))
            masked = _masked_by_loop(
                (x[example : example + 1], y[example : example + 1]),
                (base_x, 0.5),
                (mask_x, mask_y[example : example + 1]),
                present,
            )
            logits = model(*masked, scale[example : example + 1], 0.25).double()
            expected = logits[0, target[example]] - torch.logsumexp(
                torch.cat([logits[0, : target[example]], logits[0, target[example] + 1 :]]), 0
            )
            torch.testing.assert_close(result.values[t], expected, rtol=0, atol=1e-12)
        assert result.metadata["elements_per_player"][3] == 4
        assert result.metadata["background_elements"] == 2 + 1
        assert result.target == target[example]
    assert results[0].metadata["elements_per_player"][1] == 2 + 2
    assert results[1].metadata["elements_per_player"][1] == 2 + 3


def test_integer_inputs_with_a_pad_baseline():
    vocab = torch.nn.Embedding(10, 4)
    head = torch.nn.Linear(4, 3)

    def model(ids):
        return head(vocab(ids).mean(1))

    ids = torch.tensor([[5, 7, 2, 9]])
    [result] = AndOrInteractions(model).attribute(ids, baselines=0, target=2, mode="none")
    for t in range(16):
        masked = torch.tensor([[i if t >> k & 1 else 0 for k, i in enumerate(ids[0].tolist())]])
        torch.testing.assert_close(
            result.values[t], log_odds(model(masked), torch.tensor([2]))[0].double()
        )


def test_default_feature_mask_makes_every_scalar_a_player():
    model = torch.nn.Linear(3, 2)
    x, y = torch.randn(1, 2), torch.randn(1, 1)
    [result] = AndOrInteractions(lambda x, y: model(torch.cat([x, y], 1))).attribute(
        (x, y), target=0, mode="none"
    )
    assert result.players == ["x0", "x1", "x2"]
    assert result.metadata["elements_per_player"] == [1, 1, 1]
    [only_y] = AndOrInteractions(lambda x, y: model(torch.cat([x, y], 1))).attribute(
        (x, y), target=0, mode="none",
        feature_mask=(torch.tensor([[-1, -1]]), torch.zeros(1, 1, dtype=torch.long)),
    )
    torch.testing.assert_close(only_y.values[0], result.values[0b011])


# ----------------------------------------------------------------- oracles of the math
@pytest.mark.parametrize(
    ("cls", "options"),
    [(AndOrInteractions, {"mode": "none"}), (HarsanyiInteractions, {"qcoef": 0.0})],
    ids=["and_or-none", "harsanyi-qcoef0"],
)
def test_shapley_values_equal_captum_shapley_values(cls, options):
    model = TwoInputMLP()
    x, y, scale = torch.randn(3, 3, 4), torch.randn(3, 5), torch.rand(3) + 0.5
    mask_x = torch.tensor([[0, 0, 1, 1], [2, 2, 1, 1], [3, 3, 3, 3]])[None]
    mask_y = torch.tensor([[4, 4, 5, 5, 0]])
    baselines = (torch.randn(1, 3, 4), 0.3)
    target = torch.tensor([0, 2, 3])
    results = cls(model).attribute(
        (x, y), baselines=baselines, target=target, feature_mask=(mask_x, mask_y),
        additional_forward_args=(scale,), perturbations_per_eval=16, value="raw", **options,
    )
    captum_x, captum_y = ShapleyValues(model).attribute(
        (x, y), baselines=baselines, target=target, feature_mask=(mask_x, mask_y),
        additional_forward_args=(scale,), perturbations_per_eval=6,
    )
    for example, result in enumerate(results):
        phi = result.shapley_values()
        expected = torch.tensor(
            [captum_x[example][mask_x[0] == 0][0], captum_x[example][mask_x[0] == 1][0],
             captum_x[example][mask_x[0] == 2][0], captum_x[example][mask_x[0] == 3][0],
             captum_y[example][mask_y[0] == 4][0], captum_y[example][mask_y[0] == 5][0]],
            dtype=torch.float64,
        )
        torch.testing.assert_close(phi, expected, rtol=1e-5, atol=1e-6)


def test_known_logic_gives_known_and_or_interactions():
    x = torch.ones(1, 4)
    explainer = AndOrInteractions(logic_model)
    # v(T) by hand: 2·[0, 1 ∈ T] + [2 ∈ T or 3 ∈ T]
    v = torch.tensor(
        [2.0 * (t & 3 == 3) + (t & 12 != 0) for t in range(16)], dtype=torch.float64
    )
    [plain] = explainer.attribute(x, value="raw", mode="none")  # the Harsanyi dividends
    torch.testing.assert_close(plain.values, v)
    torch.testing.assert_close(plain.and_interactions, brute_and(v))
    assert not plain.or_interactions.any()
    [half] = explainer.attribute(x, value="raw", mode="half")
    torch.testing.assert_close(half.and_interactions, brute_and(v / 2))
    torch.testing.assert_close(half.or_interactions, brute_or(v / 2))

    [sparse] = explainer.attribute(x, value="raw", qcoef=0.0)
    expected_and = torch.zeros(16, dtype=torch.float64)
    expected_or = torch.zeros(16, dtype=torch.float64)
    expected_and[0b0011], expected_or[0b1100] = 2.0, 1.0
    torch.testing.assert_close(sparse.and_interactions, expected_and, rtol=0, atol=1e-6)
    torch.testing.assert_close(sparse.or_interactions, expected_or, rtol=0, atol=1e-6)

    [harsanyi] = HarsanyiInteractions(logic_model).attribute(x, value="raw", qcoef=0.0)
    dividends = torch.zeros(16, dtype=torch.float64)
    dividends[[0b0011, 0b0100, 0b1000, 0b1100]] = torch.tensor(
        [2.0, 1.0, 1.0, -1.0], dtype=torch.float64
    )
    torch.testing.assert_close(harsanyi.and_interactions, dividends, rtol=0, atol=1e-9)
    assert not harsanyi.or_interactions.any()
    assert harsanyi.extraction.mode == "and"


def test_batch_equals_examples_one_by_one():
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(8, 12), torch.nn.ReLU(), torch.nn.Linear(12, 3))
    x = torch.randn(3, 8)
    groups = torch.tensor([[0, 0, 1, 2, 2, 3, 4, -1]])
    target = [0, 2, 1]
    explainer = AndOrInteractions(model)
    batch = explainer.attribute(x, target=target, feature_mask=groups, perturbations_per_eval=8)
    for example in range(3):
        [single] = explainer.attribute(
            x[example : example + 1], target=target[example], feature_mask=groups,
            perturbations_per_eval=8,
        )
        torch.testing.assert_close(batch[example].values, single.values, rtol=0, atol=1e-6)
        assert batch[example].bound == pytest.approx(single.bound, rel=1e-6)
        assert batch[example].objective == pytest.approx(single.objective, rel=1e-5, abs=1e-6)


def test_results_do_not_depend_on_perturbations_per_eval():
    model = TwoInputMLP()
    x, y, scale = torch.randn(2, 3, 4), torch.randn(2, 5), torch.ones(2)
    mask_x = torch.tensor([[0, 0, 1, 1], [2, 2, 1, 1], [3, 3, 3, 3]])[None]
    mask_y = torch.tensor([[4, 4, -1, -1, 0]])
    runs = [
        AndOrInteractions(model).attribute(
            (x, y), target=1, feature_mask=(mask_x, mask_y), additional_forward_args=scale,
            perturbations_per_eval=ppe, mode="none",
        )
        for ppe in (1, 3, 7, 32, 10_000)
    ]
    for run in runs[1:]:
        for got, expected in zip(run, runs[0], strict=True):
            torch.testing.assert_close(got.values, expected.values, rtol=0, atol=1e-6)
            torch.testing.assert_close(
                got.and_interactions, expected.and_interactions, rtol=0, atol=1e-5
            )


# --------------------------------------------------------------- three kinds of model
def _check_result(result, v_full, v_empty):
    assert result.matching_error() < 1e-9
    assert float(result.q.abs().max()) <= result.bound + 1e-9
    torch.testing.assert_close(result.values[-1], v_full, rtol=0, atol=1e-5)
    torch.testing.assert_close(result.values[0], v_empty, rtol=0, atol=1e-5)
    game = result.values + result.q  # the game the interactions explain
    torch.testing.assert_close(result.shapley_values(of="interactions").sum(),
                               game[-1] - game[0])
    torch.testing.assert_close(result.shapley_values().sum(),  # of the model's values
                               result.values[-1] - result.values[0])


def _log_odds64(logits, target):
    logits = logits.double()
    others = logits.scatter(1, target[:, None], float("-inf"))
    return logits.gather(1, target[:, None])[:, 0] - torch.logsumexp(others, 1)


def test_tabular_mlp():
    model = torch.nn.Sequential(torch.nn.Linear(12, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2))
    x = torch.randn(2, 12)
    groups = torch.arange(12).div(2, rounding_mode="floor")[None]  # 6 players of 2 columns
    baseline = x.mean(0, keepdim=True)
    results, delta = AndOrInteractions(model).attribute(
        x, baselines=baseline, feature_mask=groups, perturbations_per_eval=64,
        return_convergence_delta=True,
    )
    predicted = model(x).argmax(1)
    full = _log_odds64(model(x), predicted)
    empty = _log_odds64(model(baseline.expand(2, -1)), predicted)
    for example, result in enumerate(results):
        assert result.target == int(predicted[example])
        assert result.metadata["target_source"].startswith("top-1")
        _check_result(result, full[example], empty[example])
    assert delta.shape == (2,)
    assert float(delta.max()) < 1e-9


def test_image_model_with_segment_mask():
    model = torch.nn.Sequential(
        torch.nn.Conv2d(2, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(16, 5),
    )
    images = torch.randn(2, 2, 8, 8)
    segments = torch.full((1, 1, 8, 8), -1)  # one-pixel border stays (background)
    segments[..., 1:4, 1:7], segments[..., 4:7, 1:4], segments[..., 4:7, 4:7] = 0, 1, 2
    segments[..., 1:3, 3:5] = 3
    results = AndOrInteractions(model).attribute(
        images, baselines=0.0, target=4, feature_mask=segments, perturbations_per_eval=16,
    )
    blank = images * (segments < 0)
    target = torch.tensor([4, 4])
    full, empty = _log_odds64(model(images), target), _log_odds64(model(blank), target)
    for example, result in enumerate(results):
        assert result.metadata["elements_per_player"] == [2 * 14, 2 * 9, 2 * 9, 2 * 4]
        _check_result(result, full[example], empty[example])


def test_text_classifier_over_embeddings():
    torch.manual_seed(2)
    embedding = torch.nn.Embedding(20, 6)
    head = torch.nn.Linear(6, 3)

    def classifier(embeds, attention):
        pooled = (embeds * attention[..., None]).sum(1) / attention.sum(1, keepdim=True)
        return head(torch.tanh(pooled))

    token_ids = torch.tensor([[3, 4, 5, 6, 7, 0], [8, 9, 10, 11, 0, 0]])
    attention = (token_ids != 0).float()
    embeds = embedding(token_ids).detach()
    # Words (players) per sentence; padding is background. Masks broadcast over the width.
    words = torch.tensor([[0, 0, 1, 2, 3, -1], [0, 1, 2, 2, -1, -1]])[..., None]
    pad = embedding.weight[:1].detach()[None]  # [1, 1, 6]: the pad token's embedding
    labels = ["w0", "w1", "w2", "w3"]
    explainer = AndOrInteractions(classifier)
    with pytest.raises(InteractionError, match=r"id\(s\) \[3\] do not occur in example 1"):
        explainer.attribute(embeds, baselines=pad, target=1, feature_mask=words,
                            additional_forward_args=attention)
    words = torch.tensor([[0, 0, 1, 2, 3, -1], [0, 1, 2, 2, 3, -1]])[..., None]
    results = explainer.attribute(
        embeds, baselines=pad, target=1, feature_mask=words, additional_forward_args=attention,
        perturbations_per_eval=8, players=labels,
    )
    target = torch.tensor([1, 1])
    empty_embeds = torch.where(words >= 0, pad, embeds)
    full = _log_odds64(classifier(embeds, attention), target)
    empty = _log_odds64(classifier(empty_embeds, attention), target)
    for example, result in enumerate(results):
        assert result.players == labels
        _check_result(result, full[example], empty[example])


# --------------------------------------------------------------------- value definitions
def test_value_definitions_agree_with_independent_formulas():
    torch.manual_seed(3)
    logits_model = torch.nn.Linear(5, 4)

    def probs_model(x):
        return torch.softmax(logits_model(x), dim=-1)

    x = torch.randn(2, 5)
    groups = torch.tensor([[0, 1, 2, 2, 1]])
    common = {"target": [1, 3], "feature_mask": groups, "mode": "none"}
    from_logits = AndOrInteractions(logits_model).attribute(x, **common)
    from_probs = AndOrInteractions(probs_model).attribute(x, output="probs", **common)
    as_callable = AndOrInteractions(logits_model).attribute(x, value=log_odds, **common)
    log_probs = AndOrInteractions(logits_model).attribute(x, value="log_prob", **common)
    log_probs_p = AndOrInteractions(probs_model).attribute(
        x, value="log_prob", output="probs", **common
    )
    for e in range(2):
        torch.testing.assert_close(from_probs[e].values, from_logits[e].values, atol=1e-5, rtol=0)
        torch.testing.assert_close(as_callable[e].values, from_logits[e].values)
        torch.testing.assert_close(log_probs_p[e].values, log_probs[e].values, atol=1e-5, rtol=0)
        full = torch.log_softmax(logits_model(x[e : e + 1]).double(), -1)[0, common["target"][e]]
        torch.testing.assert_close(log_probs[e].values[-1], full, atol=1e-6, rtol=0)
    assert from_probs[0].value_kind == "log_odds"
    assert from_probs[0].metadata["output"] == "probs"
    assert as_callable[0].value_kind == "callable:log_odds"


def test_tuple_target_selects_a_position_of_a_sequence_output():
    weight = torch.randn(3, 5)

    def tagger(x):  # [N, 3 positions] -> [N, 3 positions, 5 classes]
        return x[..., None] * weight

    x = torch.randn(1, 3)
    [by_tuple] = AndOrInteractions(tagger).attribute(x, target=(-1, 2), mode="none")
    [by_hand] = AndOrInteractions(lambda x: tagger(x)[:, -1]).attribute(x, target=2, mode="none")
    torch.testing.assert_close(by_tuple.values, by_hand.values)
    assert by_tuple.target == 2
    assert by_tuple.metadata["target_index"] == [2, 2]


def test_probabilities_of_exactly_zero_or_one():
    def saturated(x):  # class 0 has probability 1 whenever player 0 is present
        p0 = (x[:, :1] > 0).float()
        return torch.cat([p0, 1 - p0], dim=1)

    x = torch.ones(1, 2)
    explainer = AndOrInteractions(saturated)
    with pytest.raises(InteractionError, match=r"exactly 0 or 1.*eps"):
        explainer.attribute(x, target=0, output="probs", mode="none")
    [clipped] = explainer.attribute(x, target=0, output="probs", eps=1e-6, mode="none")
    high = math.log((1 - 1e-6) / 1e-6)
    torch.testing.assert_close(
        clipped.values, torch.tensor([-high, high, -high, high], dtype=torch.float64)
    )


# ------------------------------------------------------------------------ bad input
def _linear():
    return torch.nn.Linear(4, 3)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (
            {"feature_mask": torch.tensor([[0, 2, 2, 3]])},
            InteractionError,
            r"id\(s\) \[1\] do not occur",
        ),
        ({"feature_mask": torch.tensor([[0, 1, 1]])}, InteractionError, "does not broadcast"),
        ({"feature_mask": torch.tensor([[0, 1, -2, 1]])}, InteractionError, "contains id -2"),
        ({"feature_mask": torch.tensor([[0.0, 1, 1, 1]])}, TypeError, "integer player ids"),
        ({"feature_mask": torch.tensor([[-1, -1, -1, -1]])}, InteractionError, "no players"),
        (
            {"feature_mask": (torch.zeros(1, 4, dtype=torch.long),) * 2},
            InteractionError,
            "mask per input",
        ),
        ({"baselines": torch.zeros(3, 4)}, InteractionError, r"baseline 0 has shape \(3, 4\)"),
        ({"baselines": (0, 0)}, InteractionError, "one baseline"),
        ({"baselines": "zero"}, TypeError, "number or a tensor"),
        ({"target": 3}, InteractionError, "out of range"),
        ({"target": -4}, InteractionError, "out of range"),
        ({"target": [0, 1, 2]}, InteractionError, "3 entries but inputs have 2"),
        ({"target": (0, 1)}, InteractionError, "indexes 2 output dimension"),
        ({"target": 1.0}, TypeError, "target must be"),
        ({"value": "logodds"}, InteractionError, r"one of \('log_odds', 'log_prob', 'raw'\)"),
        ({"value": "raw", "target": None}, InteractionError, "one scalar per example"),
        ({"output": "softmax"}, InteractionError, "output must be one of"),
        ({"eps": 1e-6}, InteractionError, "needs output='probs'"),
        ({"output": "probs"}, InteractionError, r"outside \[0, 1\]"),
        ({"perturbations_per_eval": 0}, InteractionError, "at least 1"),
        ({"players": ["a", "b"]}, InteractionError,
         "2 player labels were given but the feature_mask's ids define.* 4 players"),
        ({"players": ["a", "a", "b", "c"]}, InteractionError, "unique"),
        ({"players": "abcd"}, TypeError, "not one string"),
        ({"mode": "and_or", "solver": "ipm", "tol": -1}, InteractionError,
         "tol=-1 of solver 'ipm'"),
        (
            {"max_players": 3},
            InteractionError,
            r"4 players need 2\*\*4 = 16 masked inputs.*16 forward calls.*feature_mask",
        ),
        ({"value": lambda out, t: out[:1, 0]}, InteractionError, "one scalar per input row"),
    ],
    ids=lambda item: str(item)[:40] if isinstance(item, (dict, str)) else "",
)
def test_bad_input_is_rejected_with_a_clear_message(kwargs, error, match):
    kwargs = {"target": 0, "mode": "none", **kwargs}
    with pytest.raises(error, match=match):
        AndOrInteractions(_linear()).attribute(torch.randn(2, 4), **kwargs)


def test_too_many_players_says_how_many_forward_calls():
    with pytest.raises(InteractionError, match=r"784 players need 2\*\*784 = about 2\*\*784"):
        AndOrInteractions(torch.nn.Linear(784, 2)).attribute(torch.randn(1, 784), target=0)
    message = (
        r"21 players need 2\*\*21 = 2,097,152 masked inputs per sample "
        r"\(16,384 forward calls\)"
    )
    with pytest.raises(InteractionError, match=message):
        AndOrInteractions(torch.nn.Linear(21, 2)).attribute(
            torch.randn(1, 21), target=0, perturbations_per_eval=128
        )


def test_extraction_options_are_checked_before_any_forward_call():
    def unreachable(x):
        raise AssertionError("the model ran before the options were checked")

    explainer = AndOrInteractions(unreachable)
    for options, match in (({"solver": "ipm", "tol": -1}, "tol=-1"),
                           ({"solver": "cplex"}, "unknown solver 'cplex'"),
                           ({"scale": "max"}, "unknown scale"),
                           ({"solver": "working_set", "lr": 0.1}, "unknown option 'lr'")):
        with pytest.raises(InteractionError, match=match):
            explainer.attribute(torch.ones(1, 3), value="raw", **options)


def test_non_finite_model_outputs_are_an_error():
    def overflowing(x):
        out = x.sum(1, keepdim=True).repeat(1, 2)
        return torch.where(x[:, :1] * x[:, 1:2] > 0, float("inf"), out)

    with pytest.raises(InteractionError, match=r"2 of 8 values .* not finite .*example 0, mask 3"):
        AndOrInteractions(overflowing).attribute(torch.ones(2, 2), target=0, mode="none")


def test_models_that_aggregate_over_the_batch_are_rejected():
    with pytest.raises(InteractionError, match="first dimension must be the batch"):
        AndOrInteractions(lambda x: x.sum()[None]).attribute(torch.ones(2, 3), value="raw")


def test_fractional_baseline_for_integer_inputs_is_rejected():
    with pytest.raises(InteractionError, match="fractional"):
        AndOrInteractions(lambda ids: ids.float()).attribute(
            torch.tensor([[1, 2]]), baselines=0.5, value="raw", target=0
        )


def test_cost_warning_points_at_the_caller():
    x = torch.ones(1, WARN_EVALUATION_PLAYERS)
    with pytest.warns(CostWarning, match=f"{WARN_EVALUATION_PLAYERS} players") as caught:
        AndOrInteractions(lambda x: x.sum(1)).attribute(
            x, value="raw", mode="none", perturbations_per_eval=1 << WARN_EVALUATION_PLAYERS
        )
    assert caught[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        AndOrInteractions(lambda x: x.sum(1)).attribute(
            x[:, :-1], value="raw", mode="none", perturbations_per_eval=4096
        )
        # A solver is costly sooner; the warning (an error here) comes before any work.
        x = torch.ones(1, WARN_EXTRACTION_PLAYERS)
        with pytest.raises(CostWarning, match="sparse extraction"):
            AndOrInteractions(lambda x: 1 / 0).attribute(x, value="raw")


def test_a_long_solve_is_announced_shown_and_stopped_at_time_limit(capsys):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(13, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))
    x = torch.randn(1, 13)
    start = time.monotonic()
    with pytest.warns(CostWarning) as costs, pytest.warns(ConvergenceWarning) as stops:
        (result,) = AndOrInteractions(net).attribute(
            x, target=1, perturbations_per_eval=1024, show_progress=True, time_limit=1.0
        )
    elapsed = time.monotonic() - start
    messages = [str(w.message) for w in costs if w.category is CostWarning]
    # before any work: the evaluations with the solve's estimate, then the solve itself
    assert re.search(r"13 players: .*sparse extraction .*\(about \d+ (s|min) per sample\)",
                     messages[0])
    assert re.search(r"'working_set' on 1 sample\(s\) of n=13 .*it stops at time_limit=1 s",
                     messages[1])
    (stop,) = [str(w.message) for w in stops if w.category is ConvergenceWarning]
    assert "it reached time_limit=1 s" in stop
    assert elapsed < 15  # the estimate says a minute and more
    assert result.extraction.converged is False
    assert 0 < result.extraction.gap < 1
    assert result.matching_error() < 1e-9
    assert "working set" in capsys.readouterr().err  # the solver's own progress bar


# ----------------------------------------------------------------------- Captum API
def test_captum_conventions_and_result_bookkeeping(tmp_path, capsys):
    calls = []

    def model(x):
        calls.append(x.shape[0])
        return torch.stack([x.sum(1), -x.sum(1)], dim=1)

    explainer = AndOrInteractions(model)
    assert isinstance(explainer, PerturbationAttribution)
    assert explainer.has_convergence_delta()
    assert explainer.get_name() == "And Or Interactions"
    assert HarsanyiInteractions.get_name() == "Harsanyi Interactions"

    x = torch.randn(2, 3)
    results, delta = explainer.attribute(
        x, target=torch.tensor([0, 1]), perturbations_per_eval=3, show_progress=True,
        return_convergence_delta=True, mode="none",
    )
    # ceil(8 / 3) calls, the one with the full mask (the unmasked inputs) first; the bar
    # counts exactly those.
    assert calls == [2 * 2, 2 * 3, 2 * 3]
    assert "3/3" in capsys.readouterr().err
    assert delta.dtype == torch.float64
    assert delta.shape == (2,)
    torch.testing.assert_close(delta, explainer.compute_convergence_delta(results))
    result = results[1]
    assert (result.target, result.value_kind, result.baseline) == (1, "log_odds", "0")
    assert result.metadata["forward_calls"] == 3
    assert result.metadata["perturbations_per_eval"] == 3
    loaded = ci.InteractionResult.load(result.save(tmp_path / "r.npz"))
    assert loaded.metadata == result.metadata
    assert loaded.target == 1
    torch.testing.assert_close(loaded.values, result.values)

"""The shared evaluation engine on a fake causal model with an exact oracle: prefix tree vs
plain plan vs direct evaluation, chunk splitting, out-of-memory back-off, token counts."""

from __future__ import annotations

import random

import pytest
import torch

from captum_interactions.adapters._evaluation import (
    ModelShape,
    Readout,
    auto_rows,
    call_cost,
    check_masks,
    check_positions,
    make_plan,
    run_plan,
    token_computations,
)

BASELINE = -1.0


class FakeLayer:
    def __init__(self, keys: torch.Tensor):
        self.keys = keys

    def batch_select_indices(self, index: torch.Tensor) -> None:
        self.keys = self.keys[index]


class FakeCache:
    """Caches the (masked) inputs seen so far, one row per sequence, like a KV cache."""

    def __init__(self, keys: torch.Tensor):
        self.layers = [FakeLayer(keys)]

    def batch_select_indices(self, index: torch.Tensor) -> None:
        for layer in self.layers:
            layer.batch_select_indices(index)


def readout(inputs: torch.Tensor) -> torch.Tensor:
    """A position-sensitive injective readout of whole sequences (float64, exact)."""
    weights = 3.0 ** torch.arange(inputs.shape[-1], dtype=torch.float64)
    return torch.stack([(inputs + 2) @ weights, inputs.sum(-1)], dim=-1)


class FakeModel:
    def __init__(self, fail_above: int | None = None, error: type = torch.OutOfMemoryError):
        self.fail_above = fail_above
        self.error = error
        self.calls: list[int] = []

    def __call__(self, ids, absent, past, keep):
        rows = absent.shape[0]
        if self.fail_above is not None and rows > self.fail_above:
            raise self.error("CUDA out of memory. Tried to allocate 2.00 GiB")
        self.calls.append(rows)
        inputs = torch.where(absent, BASELINE, ids.double())
        if past is None:
            past = FakeCache(inputs)
        else:  # a cache grows in place when continued, as HuggingFace's DynamicCache does
            past.layers[0].keys = torch.cat([past.layers[0].keys, inputs], dim=1)
        if not keep:
            return past
        seen = past.layers[0].keys
        ends = range(seen.shape[1] - keep + 1, seen.shape[1] + 1)
        return torch.stack([readout(seen[:, :end]) for end in ends], dim=1)


#: Reads the last prompt position only.
FIRST_COLUMN = Readout(((),), lambda logits: logits[0][:, -1, 0])


def direct(ids, positions_of, masks, suffix=()):
    rows = ids.double().repeat(len(masks), 1)
    for r, mask in enumerate(masks.tolist()):
        for i, positions in enumerate(positions_of):
            if not (mask >> i) & 1:
                rows[r, list(positions)] = BASELINE
    rows = torch.cat([rows, torch.tensor(suffix, dtype=torch.float64).expand(len(masks), -1)], 1)
    return readout(rows)[:, 0]


def random_case(seed: int):
    rng = random.Random(seed)
    length = rng.randint(3, 14)
    n = rng.randint(1, min(6, length))
    positions = rng.sample(range(length), rng.randint(n, length))
    positions_of = [[] for _ in range(n)]
    for k, p in enumerate(positions):  # every player gets >= 1 position, some get scattered ones
        positions_of[k % n if k < n else rng.randrange(n)].append(p)
    size = rng.randint(1, 2**n)
    masks = torch.tensor([rng.randrange(2**n) for _ in range(size)])
    ids = torch.tensor([rng.randrange(50) for _ in range(length)])
    return ids, check_positions(positions_of, length), masks


def run(ids, positions_of, masks, *, sharing, max_rows, model=None, call_cost=0):
    plan = make_plan(
        positions_of,
        len(ids),
        prefix_sharing=sharing,
        masks=masks,
        call_cost=call_cost,
        rows=lambda new, total: max_rows,
    )
    return run_plan(
        plan,
        masks,
        model or FakeModel(),
        ids=ids,
        readout=FIRST_COLUMN,
        rows=lambda new, total: max_rows,
    )


@pytest.mark.parametrize("seed", range(40))
def test_tree_and_plain_plans_equal_direct_evaluation(seed):
    ids, positions_of, masks = random_case(seed)
    expected = direct(ids, positions_of, masks)
    for sharing, cost in ((False, 0), (True, 0), (True, 5), (True, 100)):
        for max_rows in (1, 3, 1024):
            values = run(ids, positions_of, masks, sharing=sharing, max_rows=max_rows,
                         call_cost=cost)
            torch.testing.assert_close(values, expected, rtol=0, atol=0)


@pytest.mark.parametrize("seed", range(12))
def test_suffixes_are_appended_unmasked_each_from_a_fresh_past(seed):
    # two words after the prompt, as a contrast: every forward pass of the last segment must
    # start from the node's own cache (the fake cache grows in place when continued)
    ids, positions_of, masks = random_case(seed)
    suffixes = ((7, 8), (9,))
    reader = Readout(suffixes, lambda logits: logits[0][:, -1, 0] - logits[1][:, -1, 0])
    expected = (direct(ids, positions_of, masks, suffixes[0])
                - direct(ids, positions_of, masks, suffixes[1]))
    for sharing in (False, True):
        for max_rows in (1, 3, 1024):
            plan = make_plan(positions_of, len(ids), prefix_sharing=sharing, masks=masks)
            model = FakeModel()
            values = run_plan(plan, masks, model, ids=ids, readout=reader,
                              rows=lambda new, total, m=max_rows: m)
            torch.testing.assert_close(values, expected, rtol=0, atol=0)
    start, end, _ = plan.levels[-1]  # the last segment runs twice, with 2 and 1 more tokens
    extra = len(torch.unique(masks)) * ((end - start) + 2 + 1)
    assert token_computations(plan, masks, suffixes) == token_computations(plan, masks) + extra


def test_merged_levels_trade_tokens_for_calls():
    positions_of = check_positions([[p] for p in (1, 3, 5, 7, 9, 11, 13, 15, 18, 21)], 24)
    masks = torch.arange(2**10)
    full = make_plan(positions_of, 24, prefix_sharing=True)
    merged = make_plan(positions_of, 24, prefix_sharing=True, call_cost=64)
    assert len(merged.levels) < len(full.levels) == 11
    extra_tokens = token_computations(merged, masks) - token_computations(full, masks)
    assert 0 < extra_tokens < 64 * (len(full.levels) - len(merged.levels))


def test_chunks_never_exceed_max_rows():
    ids, positions_of, _ = random_case(7)
    model = FakeModel()
    masks = torch.arange(2 ** len(positions_of))
    run(ids, positions_of, masks, sharing=True, max_rows=5, model=model)
    assert max(model.calls) <= 5


def test_out_of_memory_halves_the_chunk_and_retries():
    ids = torch.arange(12)
    positions_of = check_positions([[1], [3, 4], [6], [8], [10]], 12)
    masks = torch.arange(32)
    model = FakeModel(fail_above=3)
    values = run(ids, positions_of, masks, sharing=True, max_rows=32, model=model)
    torch.testing.assert_close(values, direct(ids, positions_of, masks), rtol=0, atol=0)
    assert max(model.calls) <= 3


def test_out_of_memory_at_one_row_and_other_errors_propagate():
    ids = torch.arange(6)
    positions_of = check_positions([[1], [3]], 6)
    with pytest.raises(torch.OutOfMemoryError):
        run(ids, positions_of, torch.arange(4), sharing=False, max_rows=4, model=FakeModel(0))
    with pytest.raises(ValueError, match="out of memory"):  # not a RuntimeError: no retry
        run(
            ids,
            positions_of,
            torch.arange(4),
            sharing=False,
            max_rows=4,
            model=FakeModel(1, error=ValueError),
        )


def test_prefix_tree_token_savings_on_a_spread_prompt():
    # 24 tokens, 10 one-token positions_of spread over the prompt, as in benchmarks/masked_eval.py
    positions_of = check_positions([[p] for p in (1, 3, 5, 7, 9, 11, 13, 15, 18, 21)], 24)
    masks = torch.arange(2**10)
    tree = token_computations(make_plan(positions_of, 24, prefix_sharing=True), masks)
    plain = token_computations(make_plan(positions_of, 24, prefix_sharing=False), masks)
    assert plain == 2**10 * 24
    # Σ_k 2^k · len(segment_k) by hand: segments 1, 2, 2, ..., 3, 3, and the 3 last tokens
    segments = [1, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3]
    assert tree == sum(2**k * s for k, s in enumerate(segments))
    assert 4 <= plain / tree <= 6


def test_plan_with_memory_sized_chunks_and_a_player_at_position_zero():
    shape = ModelShape(n_layers=2, d_model=8, n_heads=2, kv_width=8, vocab_size=10, itemsize=4)
    positions_of = check_positions([[0], [2], [4]], 6)
    rows = auto_rows(shape, torch.device("cpu"))
    cpu_cost = call_cost(torch.device("cpu"))
    merged = make_plan(positions_of, 6, prefix_sharing=True, call_cost=cpu_cost, rows=rows)
    assert merged.levels == ((0, 6, 3),)  # too short to pay for a second forward call
    plan = make_plan(positions_of, 6, prefix_sharing=True, call_cost=1, rows=rows)
    assert plan.levels == ((0, 2, 1), (2, 4, 2), (4, 6, 3))
    ids = torch.arange(6)
    values = run_plan(
        plan,
        torch.arange(8),
        FakeModel(),
        ids=ids,
        readout=FIRST_COLUMN,
        rows=rows,
    )
    torch.testing.assert_close(values, direct(ids, positions_of, torch.arange(8)), rtol=0, atol=0)


def test_masks_are_deduplicated_and_returned_in_request_order():
    ids = torch.arange(8)
    positions_of = check_positions([[2], [5]], 8)
    masks = torch.tensor([3, 0, 3, 1, 0])
    model = FakeModel()
    values = run(ids, positions_of, masks, sharing=False, max_rows=16, model=model)
    torch.testing.assert_close(values, direct(ids, positions_of, masks), rtol=0, atol=0)
    assert model.calls == [3]


def test_empty_mask_batch():
    positions_of = check_positions([[0]], 3)
    values = run(torch.arange(3), positions_of, check_masks([], 1), sharing=True, max_rows=4)
    assert values.numel() == 0

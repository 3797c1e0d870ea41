"""The evaluation engine shared by the language-model back ends (private).

A back end supplies one primitive, ``forward(ids, absent, past, keep)``: run the prompt
segment ``ids`` ``[S]`` for ``R`` rows at once, the embeddings at ``absent`` ``[R, S]`` replaced
by the baseline, continuing from the key/value cache ``past`` (``R`` rows, or ``None`` at the
start of the prompt); return the logits ``[R, keep, V]`` of the last ``keep`` positions if
``keep > 0``, else the extended cache. Everything else is here, once: the evaluation plan, the
prefix tree, chunking with back-off on out-of-memory, reading values (:class:`Readout`: the
tokens of a target word are appended after the prompt, never masked), progress, and input
checks.

**Prefix tree.** In a causal model a token's keys and values depend only on the tokens up to
it, so masks that agree on the players that start before a position share everything up to
that position. Players are sorted by their first position ``f_0 < f_1 < ...``; segment ``k`` is
``[f_{k-1}, f_k)`` (with ``f_{-1} = 0`` and ``f_n = L``) and depends only on the states of the
first ``k`` players, so it is computed once per distinct prefix of player states among the
requested masks, extending that prefix's cached past. Only the last segment yields logits,
once per suffix of the readout (the suffix's tokens appended to the segment). A
mask's *tree key* puts the state of the first player in the most significant bit, so the
masks below a prefix are contiguous in sorted key order. Where a forward call costs more than
the tokens it saves, consecutive segments are merged (a small dynamic program over the segment
boundaries). Plain evaluation is the same engine with one segment, the whole prompt, after all
players are decided.

>>> plan = make_plan([[1], [3, 4]], length=6, prefix_sharing=True)
>>> plan.levels
((0, 1, 0), (1, 3, 1), (3, 6, 2))
>>> token_computations(plan, torch.arange(4)), 4 * 6
(17, 24)
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from tqdm.auto import tqdm

from captum_interactions.exceptions import InteractionError

from ._tree_attention import SharedPast

__all__ = [
    "ModelShape",
    "Plan",
    "Readout",
    "RowLimit",
    "auto_rows",
    "call_cost",
    "check_masks",
    "check_positions",
    "eval_mode",
    "make_plan",
    "memory_budget",
    "run_plan",
    "token_computations",
]

#: ``forward(ids [S], absent [R, S], past, keep) -> logits [R, keep, V] if keep else cache``.
Forward = Callable[[torch.Tensor, torch.Tensor, Any, int], Any]


@dataclass(frozen=True)
class Readout:
    """How a masked sequence's value is read from the model's logits.

    Attributes:
        suffixes: token ids appended after the prompt (never masked), one forward pass of the
            last segment each; ``((),)`` reads the next token after the prompt alone.
        value: ``value(logits) -> [R]``, where ``logits[c]`` ``[R, len(suffixes[c]) + 1, V]``
            are the logits of the last prompt position and of every token of suffix ``c``.
    """

    suffixes: tuple[tuple[int, ...], ...]
    value: Callable[[Sequence[torch.Tensor]], torch.Tensor]

_MIN_BUDGET, _DEFAULT_BUDGET, _MAX_BUDGET = 1 << 29, 1 << 30, 1 << 33  # bytes, off-GPU
_MAX_ROWS = 1024  # more rows per call stop paying off; keeps every call's latency bounded
_CPU_TOKENS = 2048  # tokens per forward call on the CPU
#: Rough cost of one forward call, in token computations. Every call streams all weights from
#: memory once (plus Python and kernel-launch overhead per layer), which costs about as much as
#: computing tens of tokens on a CPU and hundreds on a GPU.
_CALL_COST = {"cpu": 64}
_ACCELERATOR_CALL_COST = 256


def check_positions(
    positions: Sequence[Sequence[int]], length: int
) -> tuple[tuple[int, ...], ...]:
    """The token positions of every player as sorted tuples: non-empty, inside the prompt,
    disjoint.

    >>> check_positions([[2, 1], [0]], length=3)
    ((1, 2), (0,))
    """
    checked = []
    owner: dict[int, int] = {}
    for i, given in enumerate(positions):
        positions = tuple(sorted(int(p) for p in given))
        if not positions:
            raise InteractionError(f"player {i} has no token positions; give each player >= 1")
        outside = [p for p in positions if not 0 <= p < length]
        if outside:
            raise InteractionError(
                f"player {i} has positions {outside} outside the prompt of {length} tokens "
                f"(valid positions: 0..{length - 1})"
            )
        for p in positions:
            if p in owner:
                raise InteractionError(
                    f"token position {p} belongs to players {owner[p]} and {i}; players must "
                    "be disjoint (merge them into one player)"
                )
            owner[p] = i
        checked.append(positions)
    return tuple(checked)


def check_masks(masks: torch.Tensor | Sequence[int], n_players: int) -> torch.Tensor:
    """Masks as a 1-D int64 CPU tensor of bitmasks in ``[0, 2**n_players)``.

    >>> check_masks([0, 3], n_players=2)
    tensor([0, 3])
    """
    masks = torch.as_tensor(masks)
    integer = masks.dtype != torch.bool and not (masks.is_floating_point() or masks.is_complex())
    if masks.ndim != 1 or (masks.numel() and not integer):
        raise InteractionError(
            f"masks must be a 1-D integer tensor of bitmasks; got dtype {masks.dtype} and "
            f"shape {list(masks.shape)}"
        )
    masks = masks.to(device="cpu", dtype=torch.long)
    if n_players > 62:
        raise InteractionError(f"{n_players} players do not fit in int64 bitmasks (at most 62)")
    if masks.numel() and (int(masks.min()) < 0 or int(masks.max()) >= 1 << n_players):
        raise InteractionError(
            f"masks must lie in [0, 2**{n_players}) for {n_players} players; got values in "
            f"[{int(masks.min())}, {int(masks.max())}]"
        )
    return masks


@dataclass(frozen=True)
class ModelShape:
    """Sizes that set how many masked sequences fit in memory at once.

    ``kv_width`` is the width of one layer's keys (``n_key_value_heads × head_dim``).
    """

    n_layers: int
    d_model: int
    n_heads: int
    kv_width: int
    vocab_size: int
    itemsize: int

    def row_bytes(self, new: int, total: int) -> int:
        """Rough peak bytes of one row of a forward step that computes ``new`` tokens after
        ``total - new`` cached ones: the key/value cache (counted twice: the parent rows it is
        selected from and the extended copy), activations of the new tokens, attention scores
        and float32 copies of the last position's logits.

        >>> ModelShape(2, d_model=4, n_heads=1, kv_width=4, vocab_size=10, itemsize=4).row_bytes(
        ...     new=3, total=3)
        1152
        """
        cache = 2 * self.n_layers * 2 * self.kv_width * total * self.itemsize
        activations = 12 * self.d_model * new * self.itemsize
        attention = 2 * self.n_heads * new * total * 4
        return cache + activations + attention + 12 * self.vocab_size


#: ``rows(new, total)``: masked sequences per forward call for a step that computes ``new``
#: tokens after ``total - new`` cached ones.
RowLimit = Callable[[int, int], int]


def call_cost(device: torch.device) -> int:
    """Rough cost of one forward call on ``device``, in token computations.

    >>> call_cost(torch.device("cpu"))
    64
    """
    return _CALL_COST.get(device.type, _ACCELERATOR_CALL_COST)


def memory_budget(device: torch.device) -> int:
    """Bytes one forward call may use: half the free memory of a GPU, else an eighth of the
    physical memory (within 512 MiB .. 8 GiB; 1 GiB where the size is unknown)."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0] // 2
    try:
        physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # not a POSIX system
        return _DEFAULT_BUDGET
    return min(max(physical // 8, _MIN_BUDGET), _MAX_BUDGET)


def auto_rows(shape: ModelShape, device: torch.device) -> RowLimit:
    """Rows per forward call that fit :func:`memory_budget` (at most 1024). On the CPU a call
    also computes at most 2048 tokens: larger activations fall out of the CPU caches and make
    every token slower.

    >>> rows = auto_rows(ModelShape(2, 4, 1, 4, 10, 4), torch.device("cpu"))
    >>> rows(new=3, total=3), rows(new=25, total=25)
    (682, 81)
    """
    budget = memory_budget(device)
    tokens = _CPU_TOKENS if device.type == "cpu" else budget

    def rows(new: int, total: int) -> int:
        fit = min(budget // shape.row_bytes(new, total), tokens // new)
        return max(1, min(_MAX_ROWS, fit))

    return rows


@dataclass(frozen=True)
class Plan:
    """How to evaluate masks on one prompt.

    Attributes:
        order: players in tree order (by first position); tree key bit ``n-1-k`` is player
            ``order[k]``.
        owner: ``[L]`` int64, the tree index ``k`` of the player owning each position, or -1.
        levels: ``(start, end, decided)`` per forward step: tokens ``[start, end)`` are computed
            once per distinct state of the first ``decided`` players (in tree order).
    """

    order: tuple[int, ...]
    owner: torch.Tensor
    levels: tuple[tuple[int, int, int], ...]


def make_plan(
    positions: Sequence[Sequence[int]],
    length: int,
    *,
    prefix_sharing: bool,
    masks: torch.Tensor | None = None,
    call_cost: int = 0,
    rows: RowLimit | None = None,
) -> Plan:
    """The prefix-tree plan (``prefix_sharing=True``) or the one-step plain plan.

    ``positions`` (of every player) must already be checked (:func:`check_positions`). The
    tree's levels are chosen
    to minimise ``token computations + call_cost × forward calls`` for ``masks`` (default: all
    ``2**n``) in chunks of ``rows(new, total)`` (default 1024): with ``call_cost=0`` every
    player starts a level (the
    fewest token computations); a positive cost merges the first, narrow levels of the tree,
    where a forward call would cost more than the tokens it saves.

    >>> make_plan([[4], [0, 1]], length=6, prefix_sharing=False).levels
    ((0, 6, 2),)
    >>> make_plan([[1], [2], [3], [4]], length=6, prefix_sharing=True, call_cost=3).levels
    ((0, 2, 1), (2, 3, 2), (3, 4, 3), (4, 6, 4))
    """
    n = len(positions)
    order = tuple(sorted(range(n), key=lambda i: positions[i][0]))
    owner = torch.full((length,), -1, dtype=torch.long)
    for k, i in enumerate(order):
        owner[list(positions[i])] = k
    if not prefix_sharing:
        return Plan(order, owner, ((0, length, n),))
    bounds = [0] + [positions[i][0] for i in order] + [length]
    if masks is None:
        width = [2**k for k in range(n + 1)]
    else:
        keys = torch.unique(_tree_keys(Plan(order, owner, ()), masks))
        width = [torch.unique(keys >> (n - k)).numel() for k in range(n + 1)]
    # best[e]: cheapest way to compute tokens [0, bounds[e]); a level [bounds[s], bounds[e])
    # runs once per distinct state of the e - 1 players that start before bounds[e].
    best, start_of = [0.0] + [math.inf] * (n + 1), [0] * (n + 2)
    limit = rows or _default_rows
    for end in range(1, n + 2):
        for start in range(end):
            size = bounds[end] - bounds[start]
            cost = best[start]
            if size:  # an empty segment (a player at position 0) costs nothing
                calls = -(-width[end - 1] // limit(size, bounds[end]))
                cost += width[end - 1] * size + calls * call_cost
            if cost < best[end]:
                best[end], start_of[end] = cost, start
    levels, end = [], n + 1
    while end:
        start = start_of[end]
        if bounds[start] < bounds[end]:
            levels.append((bounds[start], bounds[end], end - 1))
        end = start
    return Plan(order, owner, tuple(reversed(levels)))


def _default_rows(new: int, total: int) -> int:
    return _MAX_ROWS


def _tree_keys(plan: Plan, masks: torch.Tensor) -> torch.Tensor:
    n = len(plan.order)
    order = torch.tensor(plan.order, dtype=torch.long)
    bits = (masks.unsqueeze(-1) >> order) & 1
    return (bits << torch.arange(n - 1, -1, -1)).sum(-1)


def token_computations(
    plan: Plan, masks: torch.Tensor, suffixes: Sequence[Sequence[int]] = ((),)
) -> int:
    """Number of (masked sequence, token) computations ``plan`` needs for ``masks``, with the
    last segment run once per suffix of a :class:`Readout`."""
    return _count(plan, torch.unique(_tree_keys(plan, masks)), suffixes)


def _count(plan: Plan, keys: torch.Tensor, suffixes: Sequence[Sequence[int]]) -> int:
    n = len(plan.order)
    total = 0
    for level, (start, end, decided) in enumerate(plan.levels):
        tokens = end - start
        if level == len(plan.levels) - 1:
            tokens = sum(tokens + len(suffix) for suffix in suffixes)
        total += torch.unique(keys >> (n - decided)).numel() * tokens
    return total


def _select_rows(cache: Any, index: torch.Tensor, device: torch.device) -> Any:
    """A new cache with rows ``index`` (CPU int64) of ``cache``, which stays untouched.

    A :class:`SharedPast` only maps rows. HuggingFace caches select rows in place by rebinding
    each layer's tensors, so a shallow copy of the cache and of its layers is enough to leave
    the original intact.
    """
    if isinstance(cache, SharedPast):
        return cache.select(index)
    selected = copy.copy(cache)
    selected.layers = [copy.copy(layer) for layer in cache.layers]
    selected.batch_select_indices(index.to(device, non_blocking=True))
    return selected


def _is_out_of_memory(error: BaseException) -> bool:
    if isinstance(error, torch.OutOfMemoryError):
        return True
    text = str(error).lower()
    return isinstance(error, RuntimeError) and (
        "out of memory" in text or "can't allocate memory" in text
    )


@dataclass
class _Node:
    level: int
    cache: Any
    parents: torch.Tensor  # the prefixes of the cache's rows, sorted
    lo: int
    hi: int  # unique tree keys [lo, hi) below this node


def run_plan(
    plan: Plan,
    masks: torch.Tensor,
    forward: Forward,
    *,
    ids: torch.Tensor,
    readout: Readout,
    rows: RowLimit,
    show_progress: bool = False,
) -> torch.Tensor:
    """``v`` for every mask: ``[M]`` float64 on the device of ``ids``.

    The tree is walked depth first; a node whose children exceed ``rows(new, total)`` is
    split, and an out-of-memory error halves every later chunk and retries the node.
    """
    suffixes = [torch.tensor(suffix, dtype=torch.long, device=ids.device)
                for suffix in readout.suffixes]
    longest = max(len(suffix) for suffix in suffixes)
    n = len(plan.order)
    device = ids.device
    if masks.numel() == 0:
        return torch.zeros(0, dtype=torch.float64, device=device)
    keys, inverse = torch.unique(_tree_keys(plan, masks), return_inverse=True)
    owner = plan.owner.to(device)
    pieces: list[torch.Tensor] = []
    halvings = 0
    stack = [_Node(0, None, torch.zeros(1, dtype=torch.long), 0, keys.numel())]
    with tqdm(
        total=_count(plan, keys, readout.suffixes) if show_progress else None,
        disable=not show_progress,
        unit="tok",
        desc="masked evaluation",
    ) as progress:
        while stack:
            node = stack.pop()
            start, end, decided = plan.levels[node.level]
            last = node.level == len(plan.levels) - 1
            prefixes = keys[node.lo : node.hi] >> (n - decided)
            children = torch.unique_consecutive(prefixes)
            extra = longest if last else 0
            limit = max(1, rows(end - start + extra, end + extra) >> halvings)
            if children.numel() > limit:
                cut = node.lo + int(torch.searchsorted(prefixes, children[limit]))
                stack.append(_Node(node.level, node.cache, node.parents, cut, node.hi))
                stack.append(_Node(node.level, node.cache, node.parents, node.lo, cut))
                continue
            previous = plan.levels[node.level - 1][2] if node.level else 0
            states = children.to(device, non_blocking=True)
            own = owner[start:end]
            shift = (decided - 1 - own).clamp(min=0)
            absent = (own >= 0) & (((states.unsqueeze(-1) >> shift) & 1) == 0)
            parent = None
            if node.cache is not None:
                parent = torch.searchsorted(node.parents, children >> (decided - previous))
            try:
                if last:
                    logits = [forward(*_appended(ids[start:end], absent, suffix),
                                      _past(node.cache, parent, device), len(suffix) + 1)
                              for suffix in suffixes]
                    pieces.append(readout.value(logits).double())
                else:
                    cache = forward(ids[start:end], absent, _past(node.cache, parent, device), 0)
            except RuntimeError as error:  # torch.OutOfMemoryError is one
                if limit == 1 or not _is_out_of_memory(error):
                    raise
                halvings += 1
                del error
                if device.type == "cuda":
                    torch.cuda.empty_cache()
                stack.append(node)
                continue
            if last:
                progress.update(sum(children.numel() * (end - start + len(suffix))
                                    for suffix in suffixes))
            else:
                progress.update(children.numel() * (end - start))
                stack.append(_Node(node.level + 1, cache, children, node.lo, node.hi))
    return torch.cat(pieces)[inverse.to(device)]


def _past(cache: Any, parent: torch.Tensor | None, device: torch.device) -> Any:
    """The rows ``parent`` of a node's cache, fresh for every forward call (a HuggingFace
    cache grows in place when a forward call continues it)."""
    return None if cache is None else _select_rows(cache, parent, device)


def _appended(
    ids: torch.Tensor, absent: torch.Tensor, suffix: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """A segment with ``suffix`` appended to its ids, the suffix never absent."""
    if not len(suffix):
        return ids, absent
    present = absent.new_zeros(absent.shape[0], len(suffix))
    return torch.cat([ids, suffix]), torch.cat([absent, present], 1)


@contextlib.contextmanager
def eval_mode(module: torch.nn.Module) -> Iterator[None]:
    """Run ``module`` in eval mode (no dropout) and restore every submodule's mode after."""
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training

"""Attention over the prefix tree's shared keys and values (private; HuggingFace models).

With an ordinary key/value cache every masked sequence carries its own copy of the keys and
values before the current segment: each tree level copies its parents' rows once per child,
appends the new tokens (a second copy) and, for grouped-query models, repeats every key/value
head for its query heads (transformers' ``repeat_kv``, a third copy). On a CPU those copies
cost more than the attention itself. Here nothing is copied: each tree level stores the keys
and values of its own tokens once per distinct prefix (:class:`SharedPast`), and a row of a
later level attends to its ancestors' stored segments through a row map. When a forward
call's rows are the children of consecutive parents in equal numbers (the usual case), a
segment's keys are read in place: the queries of one parent's children, and of the query heads
that share a key/value head, are stacked into one matrix per parent.

The attention function is registered once with transformers' public
``AttentionInterface.register`` and switched on with the public
``model.set_attn_implementation`` for the duration of one forward call
(:func:`tree_attention`); the model's own attention implementation is restored after it.

>>> past = SharedPast(keys=(), values=(), rows=(), starts=(), length=0)
>>> past.select(torch.tensor([0, 0])).rows
()
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import itertools
from collections.abc import Iterator

import torch

from captum_interactions.exceptions import InteractionError

__all__ = [
    "ATTENTION_NAME",
    "AttentionBypassedError",
    "SharedPast",
    "supports_tree_attention",
    "tree_attention",
]

#: Name under which the attention function is registered with transformers.
ATTENTION_NAME = "captum_interactions_prefix_tree"

class AttentionBypassedError(InteractionError):
    """The model computed attention without the registered function (e.g. a TransformerBridge
    replaced its attention modules), so it cannot attend to a shared prefix."""


Layer = torch.nn.Module  # an attention module: the key of its stored keys and values
_UNSUPPORTED = ("s_aux", "sinks", "position_bias")  # attention terms this function lacks


@dataclasses.dataclass(frozen=True)
class SharedPast:
    """Keys and values of the segments before the current one, for ``R`` rows (masked
    sequences), each segment stored once per distinct prefix.

    Attributes:
        keys, values: per segment, ``{attention module: [P, kv_heads, length, head_dim]}``.
        rows: per segment, the segment row (``[R]`` int64, CPU) each current row continues.
        starts: first prompt position of each segment.
        length: prompt tokens covered (the next segment's first position).
    """

    keys: tuple[dict[Layer, torch.Tensor], ...]
    values: tuple[dict[Layer, torch.Tensor], ...]
    rows: tuple[torch.Tensor, ...]
    starts: tuple[int, ...]
    length: int

    def select(self, index: torch.Tensor) -> SharedPast:
        """The past of rows ``index`` (CPU int64): new row maps, the same stored tensors."""
        return dataclasses.replace(self, rows=tuple(rows[index] for rows in self.rows))


def supports_tree_attention(model: torch.nn.Module) -> bool:
    """Whether ``model`` (a transformers model) dispatches attention through
    ``AttentionInterface``, so that :func:`tree_attention` can take it over."""
    return bool(getattr(model, "_supports_attention_backend", False))


_Layout = tuple[int, int, int] | torch.Tensor  # (first, parents, children) or a row index


def _layout(rows: torch.Tensor, device: torch.device) -> _Layout:
    """``(first, parents, children)`` when row ``r`` continues segment row
    ``first + r // children``, else the segment rows as an index on ``device``."""
    first, count = int(rows[0]), rows.numel()
    parents = int(rows[-1]) - first + 1
    if count % parents == 0:
        children = count // parents
        expected = torch.arange(first, first + parents).repeat_interleave(children)
        if torch.equal(rows, expected):
            return first, parents, children
    return rows.to(device, non_blocking=True)


def _grouped(x: torch.Tensor, parents: int) -> torch.Tensor:
    """``[R, kv, m, k] -> [parents, kv, (R / parents) m, k]``: rows of one parent stacked."""
    rows, kv, m, k = x.shape
    return x.view(parents, rows // parents, kv, m, k).transpose(1, 2).reshape(parents, kv, -1, k)


def _ungrouped(x: torch.Tensor, rows: int, m: int) -> torch.Tensor:
    """Inverse of :func:`_grouped`: ``[parents, kv, (R / parents) m, k] -> [R, kv, m, k]``."""
    parents, kv, _, k = x.shape
    return x.view(parents, kv, rows // parents, m, k).transpose(1, 2).reshape(rows, kv, m, k)


def _times(x: torch.Tensor, stored: torch.Tensor, layout: _Layout) -> torch.Tensor:
    """``x [R, kv, m, k] @ stored[row of r]`` for each row, without copying ``stored``."""
    if isinstance(layout, torch.Tensor):
        return x @ stored.index_select(0, layout.to(stored.device, non_blocking=True))
    first, parents, _ = layout
    product = _grouped(x, parents) @ stored[first : first + parents]
    return _ungrouped(product, x.shape[0], x.shape[2])


class _Call:
    """One forward call: the stored segments as seen by its rows, and the new keys/values."""

    def __init__(self, past: SharedPast, new: int, device: torch.device, store: bool):
        self.past = past
        self.store = store
        self.layouts = [_layout(rows, device) for rows in past.rows]
        bounds = (*past.starts, past.length)
        self.split = [end - start for start, end in itertools.pairwise(bounds)] + [new]
        self.key_positions = torch.arange(past.length + new)
        self.query_positions = torch.arange(past.length, past.length + new)
        self.keys: dict[Layer, torch.Tensor] = {}
        self.values: dict[Layer, torch.Tensor] = {}
        self._masks: dict[tuple[int | None, torch.device], torch.Tensor] = {}
        self.calls = 0

    def blocked(self, window: int | None, device: torch.device) -> torch.Tensor:
        """``[new, L]`` True where a query may not see a key (future, or outside the window)."""
        if (window, device) not in self._masks:
            keys, queries = self.key_positions[None, :], self.query_positions[:, None]
            blocked = keys > queries
            if window is not None:
                blocked |= keys <= queries - window
            self._masks[window, device] = blocked.to(device)
        return self._masks[window, device]

    def attend(self, module, query, key, value, scaling, softcap, window) -> torch.Tensor:
        self.calls += 1
        rows, heads, new, dim = query.shape
        kv = key.shape[1]
        m = heads // kv * new  # query rows per key/value head: (head in group, position)
        q = query.reshape(rows, kv, m, dim)
        key, value = key.contiguous(), value.contiguous()
        if self.store:
            self.keys[module], self.values[module] = key, value
        scores = [
            _times(q, keys[module].mT, layout)
            for keys, layout in zip(self.past.keys, self.layouts, strict=True)
        ]
        scores = torch.cat([*scores, q @ key.mT], dim=-1) * scaling
        if softcap is not None:
            scores = torch.tanh(scores / softcap) * softcap
        total = scores.shape[-1]
        scores = scores.view(rows, kv, heads // kv, new, total).masked_fill(
            self.blocked(window, scores.device), float("-inf")
        )
        weights = scores.softmax(-1, dtype=torch.float32).to(value.dtype).view(rows, kv, m, total)
        parts = weights.split(self.split, dim=-1)
        out = parts[-1] @ value
        for part, values, layout in zip(parts[:-1], self.past.values, self.layouts, strict=True):
            out += _times(part, values[module], layout)
        return out.view(rows, heads, new, dim).transpose(1, 2)

    def extended(self) -> SharedPast:
        """The past after this call: its own keys and values as a new segment."""
        rows = next(iter(self.keys.values())).shape[0]
        past = self.past
        return SharedPast(
            keys=(*past.keys, self.keys),
            values=(*past.values, self.values),
            rows=(*past.rows, torch.arange(rows)),
            starts=(*past.starts, past.length),
            length=past.length + self.split[-1],
        )


_ACTIVE: contextvars.ContextVar[_Call | None] = contextvars.ContextVar(
    "captum_interactions_tree_call", default=None
)


def _attention(module, query, key, value, attention_mask, dropout=0.0, scaling=None,
               softcap=None, sliding_window=None, **kwargs):
    """The registered attention function: tree attention inside :func:`tree_attention`, and
    transformers' SDPA for any other caller of the model meanwhile (e.g. another thread)."""
    call = _ACTIVE.get()
    if call is None:
        from transformers.integrations.sdpa_attention import sdpa_attention_forward

        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout,
                                      scaling=scaling, softcap=softcap,
                                      sliding_window=sliding_window, **kwargs)
    present = [name for name in _UNSUPPORTED if kwargs.get(name) is not None]
    if present:
        raise InteractionError(
            f"{type(module).__name__} uses attention terms ({', '.join(present)}) that prefix-"
            "tree attention does not implement; evaluate with prefix_sharing=False"
        )
    if scaling is None:
        scaling = query.shape[-1] ** -0.5
    return call.attend(module, query, key, value, scaling, softcap, sliding_window), None


def _register() -> None:
    from transformers import AttentionInterface

    if ATTENTION_NAME not in AttentionInterface():
        AttentionInterface.register(ATTENTION_NAME, _attention)


@contextlib.contextmanager
def tree_attention(model, past: SharedPast | None, new: int, *, store: bool) -> Iterator[_Call]:
    """Run ``model``'s attention over ``past`` plus ``new`` tokens during the block.

    The block must call the model without a cache (``use_cache=False``) and with the
    ``position_ids`` of the new tokens (from ``past.length``). With ``store``, the call's
    :meth:`~_Call.extended` gives the past for the next segment.
    """
    _register()
    past = past or SharedPast(keys=(), values=(), rows=(), starts=(), length=0)
    call = _Call(past, new, model.device, store)
    # transformers has no public getter of the implementation in use; the config attribute
    # is read, never written (set_attn_implementation writes it, here and in sub-configs).
    previous = model.config._attn_implementation
    token = _ACTIVE.set(call)
    model.set_attn_implementation(ATTENTION_NAME)
    try:
        yield call
    finally:
        model.set_attn_implementation(previous)
        _ACTIVE.reset(token)
    if not call.calls:
        raise AttentionBypassedError(
            f"{type(model).__name__} computed its attention without transformers' "
            "AttentionInterface, so it cannot attend to a shared prefix; evaluate with "
            "prefix_sharing=False"
        )

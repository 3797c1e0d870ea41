"""The contract between language-model back ends and the rest of captum-interactions.

An adapter wraps one causal language model and its tokenizer. The text front end
(:mod:`captum_interactions.adapters.text`) turns a prompt into a :class:`Prompt` and word
players into token positions; the adapter evaluates ``v(T)`` for a batch of masks ``T`` by
replacing, at the embedding level, the token embeddings of absent players with one
baseline vector (sequence length, positions and attention unchanged).

A back end implements four things: :meth:`~LanguageModelAdapter.embed` (token ids to the
embeddings that masking replaces), :meth:`~LanguageModelAdapter._forward` (one masked forward
step, optionally continuing a key/value cache), :attr:`~LanguageModelAdapter.model_shape` and
the properties ``device``, ``tokenizer``, ``context_length`` and ``supports_prefix_sharing``.
Tokenising, baselines, input checks, chunking, out-of-memory back-off, the prefix tree and the
values are shared (:mod:`captum_interactions.adapters._evaluation`).
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from captum_interactions.exceptions import InteractionError
from captum_interactions.values import ValueFunction

from ._evaluation import (
    ModelShape,
    Plan,
    RowLimit,
    auto_rows,
    call_cost,
    check_masks,
    check_positions,
    eval_mode,
    make_plan,
    run_plan,
)
from .baselines import BaselineSpec, baseline_vector
from .targets import readout

__all__ = ["LanguageModelAdapter", "ModelShape", "Prompt"]


@dataclass(frozen=True)
class Prompt:
    """A tokenised prompt, as one model sees it.

    Attributes:
        text (str): the prompt text.
        input_ids (Tensor): ``[L]`` int64 token ids on the CPU, special tokens included.
        offsets (tuple[tuple[int, int], ...]): the character span ``[start, end)`` of each token
            in ``text``; ``(0, 0)`` for special tokens that cover no text (e.g. BOS).
    """

    text: str
    input_ids: torch.Tensor
    offsets: tuple[tuple[int, int], ...]

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])


class LanguageModelAdapter(abc.ABC):
    """Evaluates a causal LM on batches of masks with embedding-level masking.

    Args:
        name (str): short name of the model, recorded in results.
        chunk_size (int, optional): masked sequences per forward call; ``None`` sizes chunks
            per forward step from the memory available (half the free GPU memory, an eighth of
            the RAM on the CPU) and halves them on out-of-memory errors.
        prefix_sharing (bool, optional): evaluate masks as a prefix tree over a key/value cache
            (same values, several times faster on full mask sets); ``None`` uses it whenever the
            model supports it.

    Everything stays on the model's device; the model runs in eval mode during evaluation
    (its previous mode is restored afterwards).
    """

    #: Short name of the model, recorded in results (e.g. ``"smollm2-135m"``).
    name: str

    def __init__(self, *, name: str, chunk_size: int | None, prefix_sharing: bool | None):
        if chunk_size is not None and (
            isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1
        ):
            raise InteractionError(
                f"chunk_size must be a positive int (masked sequences per forward call) or "
                f"None (sized from the free memory); got {chunk_size!r}"
            )
        if prefix_sharing and not self.supports_prefix_sharing:
            raise InteractionError(self._no_prefix_sharing())
        self.name = name
        self.chunk_size = chunk_size
        self.prefix_sharing = prefix_sharing

    # ------------------------------------------------------------------ back-end interface
    @property
    @abc.abstractmethod
    def device(self) -> torch.device:
        """Device the model lives on."""

    @property
    @abc.abstractmethod
    def tokenizer(self):
        """The model's fast HuggingFace tokenizer (passed explicitly, never downloaded), or
        ``None`` for a model without one (then only token ids can be evaluated)."""

    @property
    @abc.abstractmethod
    def context_length(self) -> int | None:
        """Most tokens the model reads at once (``None``: unknown, not checked)."""

    @property
    @abc.abstractmethod
    def model_shape(self) -> ModelShape:
        """Layer count, width, heads, vocabulary size and bytes per parameter."""

    @property
    @abc.abstractmethod
    def supports_prefix_sharing(self) -> bool:
        """Whether :meth:`_forward` can continue a HuggingFace key/value cache."""

    @abc.abstractmethod
    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Embeddings ``[..., d_model]`` of token ids ``[...]``, where masking replaces them.

        That is the output of the model's token embedding layer, through the same path as the
        prompt's tokens (scaled for Gemma), before positions are added.
        """

    @abc.abstractmethod
    def _forward(
        self,
        ids: torch.Tensor,
        absent: torch.Tensor,
        baseline: torch.Tensor,
        past: Any,
        keep: int,
    ) -> Any:
        """One masked forward step over the prompt segment ``ids`` ``[S]`` for ``R`` rows.

        The embeddings at ``absent`` ``[R, S]`` (bool) are replaced by ``baseline``
        ``[d_model]``. ``past`` is ``None`` at the start of the prompt, else a HuggingFace
        cache of ``R`` rows covering the tokens before ``ids``. Returns the logits
        ``[R, keep, V]`` of the segment's last ``keep`` positions if ``keep > 0``, else the
        cache extended by the segment.
        """

    # ------------------------------------------------------------------ shared behaviour
    def tokenize(self, text: str) -> Prompt:
        """Token ids and character offsets of ``text`` as the model reads it."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str; got {type(text).__name__}")
        if self.tokenizer is None:
            raise InteractionError(
                f"{type(self).__name__} has no tokenizer to tokenise text; pass tokenizer= when "
                "creating it"
            )
        encoding = self.tokenizer(text, return_offsets_mapping=True)
        ids = torch.tensor(encoding["input_ids"], dtype=torch.long)
        if ids.numel() == 0:
            raise InteractionError("the prompt has no tokens; give a non-empty text")
        vocab = self.model_shape.vocab_size
        if int(ids.max()) >= vocab:
            raise InteractionError(
                f"the tokenizer gives token id {int(ids.max())} but the model's embedding has "
                f"{vocab} rows: the tokenizer does not belong to this model. Pass the model's "
                "own tokenizer"
            )
        self._check_length(ids.numel())
        offsets = tuple((int(a), int(b)) for a, b in encoding["offset_mapping"])
        return Prompt(text, ids, offsets)

    def baseline_vector(self, baseline: BaselineSpec) -> torch.Tensor:
        """The ``[d_model]`` baseline vector of a spec, on the model's device.

        Valid specs are listed in :mod:`captum_interactions.adapters.baselines`.
        """
        with torch.no_grad():
            vector = baseline_vector(
                baseline,
                embed=self.embed,
                tokenizer=self.tokenizer,
                vocab_size=self.model_shape.vocab_size,
                d_model=self.model_shape.d_model,
            )
        return vector.to(self.device)

    def next_token_logits(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Logits ``[vocab]`` (float32) of the next token after the unmasked prompt."""
        ids = torch.as_tensor(input_ids, dtype=torch.long).reshape(-1)
        self._check_length(ids.numel())
        ids = ids.to(self.device)
        absent = torch.zeros(1, ids.numel(), dtype=torch.bool, device=self.device)
        baseline = torch.zeros(self.model_shape.d_model, device=self.device)
        with torch.no_grad(), eval_mode(self._module):
            return self._forward(ids, absent, baseline, None, 1)[0, -1].float()

    def evaluate(
        self,
        prompt: Prompt,
        positions: Sequence[Sequence[int]],
        masks: torch.Tensor,
        *,
        target: int | Sequence[int],
        baseline: BaselineSpec,
        value: str | ValueFunction = "auto",
        foil: int | Sequence[int] | None = None,
        prefix_sharing: bool | None = None,
        show_progress: bool = False,
    ) -> torch.Tensor:
        """``v(T)`` for every mask ``T`` in ``masks``.

        Args:
            prompt (Prompt): the tokenised prompt.
            positions (sequence of sequences of int): the token positions of each player
                (disjoint).
            masks (Tensor): ``[M]`` int64 bitmasks (bit ``i`` = player ``i`` present).
            target (int or sequence of int): the token id, or the token ids of a word, whose
                value is explained (a word's tokens are appended after the prompt).
            baseline: ``[d_model]`` vector that replaces absent players' embeddings (e.g. from
                :meth:`baseline_vector`, or a learned one), or a baseline spec such as ``"pad"``.
            value (str or callable): ``"auto"`` (default: ``"log_odds"``, with a foil
                ``"log_prob"``), ``"log_odds"``, ``"log_prob"``, ``"raw"`` (the target's
                logit) or ``f(logits [R, vocab], target [R]) -> [R]`` (see
                :mod:`captum_interactions.adapters.targets`).
            foil (int or sequence of int, optional): token id(s) of a word to contrast with:
                ``v`` becomes ``value(target) - value(foil)``.
            prefix_sharing (bool, optional): override the adapter's setting for this call.
            show_progress (bool): tqdm progress bar over token computations.

        Returns:
            Tensor ``[M]`` float64 on the model's device. Differentiable with respect to a
            baseline vector that requires grad (when grad mode is on).
        """
        target, foil = self._token_ids(target, "target"), self._token_ids(foil, "foil")
        reader, _ = readout(target, foil, value)
        plan, masks, rows = self._plan(prompt, positions, masks, prefix_sharing,
                                       appended=max(map(len, reader.suffixes)))
        vector = self.baseline_vector(baseline)
        grad = torch.is_grad_enabled() and vector.requires_grad

        def forward(ids: torch.Tensor, absent: torch.Tensor, past: Any, keep: int) -> Any:
            return self._forward(ids, absent, vector, past, keep)

        with torch.set_grad_enabled(grad), eval_mode(self._module):
            return run_plan(
                plan,
                masks,
                forward,
                ids=prompt.input_ids.to(self.device),
                readout=reader,
                rows=rows,
                show_progress=show_progress,
            )

    def plan(
        self,
        prompt: Prompt,
        positions: Sequence[Sequence[int]],
        masks: torch.Tensor,
        *,
        prefix_sharing: bool | None = None,
    ) -> Plan:
        """How :meth:`evaluate` would run these masks: the forward steps (token segments and
        how many players are decided before each); count its work with
        :func:`~captum_interactions.adapters._evaluation.token_computations`."""
        return self._plan(prompt, positions, masks, prefix_sharing)[0]

    # ------------------------------------------------------------------ helpers
    def _plan(
        self,
        prompt: Prompt,
        positions: Sequence[Sequence[int]],
        masks: torch.Tensor,
        prefix_sharing: bool | None,
        appended: int = 0,
    ) -> tuple[Plan, torch.Tensor, RowLimit]:
        length = len(prompt)
        self._check_length(length + appended)
        positions = check_positions(positions, length)
        masks = check_masks(masks, len(positions))
        share = self.prefix_sharing if prefix_sharing is None else prefix_sharing
        if share is None:
            share = self.supports_prefix_sharing
        elif share and not self.supports_prefix_sharing:
            raise InteractionError(self._no_prefix_sharing())
        chunk = self.chunk_size
        rows = auto_rows(self.model_shape, self.device) if chunk is None else lambda *_: chunk
        plan = make_plan(
            positions,
            length,
            prefix_sharing=share,
            masks=masks,
            call_cost=call_cost(self.device),
            rows=rows,
        )
        return plan, masks, rows

    @property
    @abc.abstractmethod
    def _module(self) -> torch.nn.Module:
        """The wrapped model (switched to eval mode during evaluation)."""

    def _token_ids(self, given: int | Sequence[int] | None, role: str) -> tuple[int, ...] | None:
        """Token ids of a target or foil, checked against the vocabulary."""
        if given is None and role == "foil":
            return None
        vocab = self.model_shape.vocab_size
        ids = (given,) if isinstance(given, int) and not isinstance(given, bool) else given
        if not isinstance(ids, (tuple, list, torch.Tensor)) or not len(ids) or any(
                isinstance(t, bool) or not isinstance(t, (int, torch.Tensor))
                or not 0 <= int(t) < vocab for t in ids):
            raise InteractionError(
                f"{role} must be a token id in [0, {vocab}) or a non-empty sequence of them; "
                f"got {given!r}"
            )
        return tuple(int(t) for t in ids)

    def _check_length(self, length: int) -> None:
        limit = self.context_length
        if limit is not None and length > limit:
            raise InteractionError(
                f"the prompt has {length} tokens, more than the model's context of {limit}; "
                "shorten the prompt"
            )

    def _no_prefix_sharing(self) -> str:
        return (
            f"{type(self).__name__} cannot share prefixes for this model (its forward does not "
            "continue a HuggingFace key/value cache); use prefix_sharing=False or None"
        )

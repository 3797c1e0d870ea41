"""The contract between language-model back ends and the rest of captum-interactions.

An adapter wraps one causal language model and its tokenizer. The text front end
(:mod:`captum_interactions.adapters.text`) turns a prompt into a :class:`Prompt` and word
players into token positions; the adapter evaluates ``v(T)`` for a batch of masks ``T`` by
replacing, at the embedding level, the token embeddings of absent players with one
baseline vector (sequence length, positions and attention unchanged).
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass

import torch

__all__ = ["LanguageModelAdapter", "Prompt"]


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

    Subclasses implement the abstract methods; everything stays on the model's device.
    """

    #: Short name of the model, recorded in results (e.g. ``"smollm2-135m"``).
    name: str

    @property
    @abc.abstractmethod
    def device(self) -> torch.device:
        """Device the model lives on."""

    @property
    @abc.abstractmethod
    def tokenizer(self):
        """The model's HuggingFace tokenizer (always passed explicitly, never downloaded)."""

    @abc.abstractmethod
    def tokenize(self, text: str) -> Prompt:
        """Token ids and character offsets of ``text`` as the model reads it."""

    @abc.abstractmethod
    def next_token_logits(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Logits ``[vocab]`` (float32) of the next token after the unmasked prompt."""

    @abc.abstractmethod
    def evaluate(
        self,
        prompt: Prompt,
        players: Sequence[Sequence[int]],
        masks: torch.Tensor,
        *,
        target: int,
        baseline: torch.Tensor,
        value: str = "log_odds",
        show_progress: bool = False,
    ) -> torch.Tensor:
        """``v(T)`` for every mask ``T`` in ``masks``.

        Args:
            prompt (Prompt): the tokenised prompt.
            players (sequence of sequences of int): token positions of each player.
            masks (Tensor): ``[M]`` int64 bitmasks (bit ``i`` = player ``i`` present).
            target (int): token id whose value is explained.
            baseline (Tensor): ``[d_model]`` vector that replaces absent players' embeddings.
            value (str): ``"log_odds"`` (default), ``"log_prob"`` or ``"logit"``.
            show_progress (bool): tqdm progress bar over forward passes.

        Returns:
            Tensor ``[M]`` float64 on the model's device.
        """

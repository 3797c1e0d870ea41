"""The text front end: prompt text -> word players -> target -> AND-OR interactions.

:class:`LLMInteractions` explains one next-token prediction of a causal language model by the
AND and OR interactions between words of the prompt. Players are words (see
:mod:`captum_interactions.adapters.text`), chosen on the text, so two models with different
tokenizers get the same players and their results can be compared directly. Absent words are
masked at the embedding level by the adapter, with one baseline vector; every word's tokens
are masked together, and tokens outside the players (BOS, punctuation, unchosen words) stay.

>>> from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast
>>> from tokenizers import Tokenizer, models, pre_tokenizers
>>> from captum_interactions.adapters.huggingface import HuggingFaceAdapter
>>> vocab = {"<pad>": 0, "the": 1, "cat": 2, "sat": 3, "down": 4}
>>> backend = Tokenizer(models.WordLevel(vocab, unk_token="<pad>"))
>>> backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
>>> tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>")
>>> _ = torch.manual_seed(0)
>>> config = GPT2Config(vocab_size=5, n_embd=8, n_layer=1, n_head=2, bos_token_id=0, eos_token_id=0)
>>> model = GPT2LMHeadModel(config).eval()
>>> explainer = LLMInteractions(HuggingFaceAdapter(model, tokenizer, name="toy"))
>>> result = explainer.attribute("the cat sat", target="down", mode="none")
>>> result.players, result.target_text, result.baseline, result.metadata["player_positions"]
(['cat', 'sat'], 'down', 'pad', [[1], [2]])
>>> result.matching_error() < 1e-12
True

With a real model (see :func:`~captum_interactions.adapters.pretrained.load_pretrained`)::

    model, tokenizer = load_pretrained("smollm2-135m")
    explainer = LLMInteractions(HuggingFaceAdapter(model, tokenizer))
    result = explainer.attribute("The capital of France is", players=["capital", "France"])
    result.target_text, result.salient()
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch

from captum_interactions.costs import DEFAULT_MAX_PLAYERS, check_cost, check_max_players
from captum_interactions.extraction import check_extraction, extract
from captum_interactions.result import InteractionResult
from captum_interactions.subsets import all_masks
from captum_interactions.values import ValueFunction, value_function

from .base import LanguageModelAdapter
from .baselines import BaselineSpec
from .learned_baseline import LearnedBaseline, resolve_baseline
from .text import PlayerSpec, resolve_target, select_players

__all__ = ["LLMInteractions"]


class LLMInteractions:
    """AND-OR interactions between the words of a prompt, for a causal language model.

    Args:
        adapter (LanguageModelAdapter): the model (``HuggingFaceAdapter`` or
            ``TransformerLensAdapter``).
        max_players (int): refuse more players than this (``2**n`` masked sequences are
            evaluated; a :class:`~captum_interactions.CostWarning` comes first, see
            :mod:`captum_interactions.costs`).
    """

    def __init__(self, adapter: LanguageModelAdapter, *, max_players: int = DEFAULT_MAX_PLAYERS):
        if not isinstance(adapter, LanguageModelAdapter):
            raise TypeError(
                f"LLMInteractions needs a LanguageModelAdapter (HuggingFaceAdapter or "
                f"TransformerLensAdapter wrapping the model); got {type(adapter).__name__}"
            )
        self.adapter = adapter
        self.max_players = check_max_players(max_players)

    def __repr__(self) -> str:
        return f"LLMInteractions(adapter={self.adapter.name!r}, max_players={self.max_players})"

    def attribute(
        self,
        prompt: str,
        players: Sequence[PlayerSpec] | None = None,
        target: str | int | None = None,
        baseline: BaselineSpec | LearnedBaseline | os.PathLike[str] = "pad",
        n_players: int = 10,
        *,
        value: str | ValueFunction = "log_odds",
        show_progress: bool = False,
        **extract_options: Any,
    ) -> InteractionResult:
        """Sparse AND-OR interactions of the words of ``prompt`` for one next token.

        Args:
            prompt (str): the text the model continues.
            players (sequence, optional): words (``"France"``, ``"the#2"``), ``"text@start"``
                or ``(start, end)`` character spans; ``None`` chooses the last ``n_players``
                content words (see :mod:`captum_interactions.adapters.text`).
            target (str, int or None): the explained next token: ``None`` for the model's
                top-1, a token id, or the text that follows the prompt (its first token).
            baseline: what replaces absent words' embeddings: ``"pad"`` (default), ``"unk"``,
                ``"bos"``, ``"eos"``, ``"zero"``, ``"mean"``, a token id or vocabulary entry,
                a ``[d_model]`` tensor, a :class:`LearnedBaseline` or a ``pathlib.Path`` to one.
            n_players (int): how many players to choose automatically (default 10; fewer when
                the prompt has fewer content words).
            value (str or callable): ``v`` of a mask: ``"log_odds"`` (default),
                ``"log_prob"``, ``"raw"`` (the target's logit) or
                ``f(logits [R, vocab], target [R]) -> [R]``.
            show_progress (bool): progress bars over the masked forward passes and the
                extraction.
            **extract_options: options of :func:`captum_interactions.extraction.extract`
                (``mode``, ``qcoef``, ``scale``, ``solver``, ``time_limit``, ...), checked
                before the model runs.

        Returns:
            InteractionResult with word labels as players, the target id and text, the
            baseline description, the value kind, and in ``metadata`` the model name, prompt,
            each player's character span and token positions, the token ids and the model's
            own top-1 prediction.
        """
        adapter = self.adapter
        score, value_kind = value_function(value)
        tokens = adapter.tokenize(prompt)
        chosen = select_players(prompt, players, n_players=n_players)
        n = len(chosen)
        plan = check_extraction(n, **extract_options)
        check_cost(n, max_players=self.max_players, samples=1, solves=plan is not None,
                   solve_seconds=plan and plan.seconds,
                   advice="give fewer players (players=[...] or a smaller n_players)")
        positions = chosen.positions(tokens)
        explained = resolve_target(adapter, tokens, target)
        vector, description = resolve_baseline(adapter, baseline)
        with torch.no_grad():
            values = adapter.evaluate(
                tokens,
                positions,
                all_masks(n),
                target=explained.id,
                baseline=vector,
                value=score,
                show_progress=show_progress,
            )
        if explained.given is None:
            prediction = explained.id
        else:
            prediction = int(adapter.next_token_logits(tokens.input_ids).argmax())
        metadata = {
            "model": adapter.name,
            "prompt": prompt,
            "player_selection": "automatic" if chosen.automatic else "given",
            "player_spans": [list(span) for span in chosen.spans],
            "player_positions": [list(found) for found in positions],
            "input_ids": tokens.input_ids.tolist(),
            "target_given": explained.given,
            "target_tokens": list(explained.tokens),
            "prediction": prediction,
            "prediction_text": adapter.tokenizer.decode([prediction]),
        }
        result = extract(values, players=list(chosen.labels), metadata=metadata,
                         show_progress=show_progress, **extract_options)
        result.target = explained.id
        result.target_text = explained.text
        result.baseline = description
        result.value_kind = value_kind
        return result

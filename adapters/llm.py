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

A contrastive target, and a batch of prompts (one result each):

>>> result = explainer.attribute("the cat sat", target="down", foil="the", mode="none")
>>> result.target_text, result.value_kind
('down vs the', 'log_prob_diff')
>>> batch = explainer.attribute(["the cat sat", "cat sat"], target=["down", "the"], mode="none")
>>> [(r.players, r.target_text) for r in batch]
[(['cat', 'sat'], 'down'), (['cat', 'sat'], 'the')]

With a real model (see :func:`~captum_interactions.adapters.pretrained.load_pretrained`)::

    model, tokenizer = load_pretrained("smollm2-135m")
    explainer = LLMInteractions(HuggingFaceAdapter(model, tokenizer))
    result = explainer.attribute("The capital of France is", players=["capital", "France"])
    result.target_text, result.salient()
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch
from tqdm.auto import tqdm

from captum_interactions.costs import DEFAULT_MAX_PLAYERS, check_cost, check_max_players
from captum_interactions.exceptions import InteractionError
from captum_interactions.extraction import check_extraction, extract
from captum_interactions.result import InteractionResult
from captum_interactions.subsets import all_masks
from captum_interactions.values import ValueFunction

from .base import LanguageModelAdapter, Prompt
from .baselines import BaselineSpec
from .captum_text import TEMPLATE, TOKENS, captum_text_kind, template_players, token_players
from .learned_baseline import LearnedBaseline, resolve_baseline
from .targets import Target, readout, resolve_target
from .text import PlayerSpec, PlayerWarning, select_players

__all__ = ["LLMInteractions", "PromptGame"]

TargetSpec = str | int | None
#: Players chosen automatically when no number is given.
AUTO_PLAYERS = 10


@dataclass(frozen=True)
class _Case:
    """One prompt, checked and resolved before any masked evaluation."""

    prompt: Prompt
    labels: tuple[str, ...]
    positions: tuple[tuple[int, ...], ...]
    target: Target | None  # resolved after the cost checks
    foil: Target | None
    metadata: dict[str, Any]


@dataclass(frozen=True)
class PromptGame:
    """``v(T)`` of one prompt as a function of masks (from :meth:`LLMInteractions.game`).

    Attributes:
        players (tuple[str, ...]): the word players, bit ``i`` of a mask is player ``i``.
        target_text (str): what is explained (``" Paris"``, ``" Paris vs London"``).
        metadata (dict): model, prompt, player spans and positions, target and baseline, as
            in the metadata of :meth:`LLMInteractions.attribute`'s results.
    """

    adapter: LanguageModelAdapter
    prompt: Prompt
    players: tuple[str, ...]
    positions: tuple[tuple[int, ...], ...]
    target: tuple[int, ...]
    foil: tuple[int, ...] | None
    baseline: torch.Tensor
    value: str | ValueFunction
    target_text: str
    metadata: dict[str, Any]

    @property
    def n_players(self) -> int:
        """Number of players."""
        return len(self.players)

    def __call__(self, masks: torch.Tensor, *, show_progress: bool = False) -> torch.Tensor:
        """``v(T)`` (``[M]`` float64 on the CPU) for ``[M]`` int64 bitmasks ``T``."""
        with torch.no_grad():
            return self.adapter.evaluate(
                self.prompt, self.positions, masks, target=self.target, foil=self.foil,
                baseline=self.baseline, value=self.value, show_progress=show_progress,
            ).cpu()


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
        prompt: str | Sequence[str] | Any,
        players: Sequence[PlayerSpec] | Sequence[Sequence[PlayerSpec] | None] | None = None,
        target: TargetSpec | Sequence[TargetSpec] = None,
        baseline: BaselineSpec | LearnedBaseline | os.PathLike[str] | None = None,
        n_players: int | None = None,
        *,
        foil: TargetSpec | Sequence[TargetSpec] = None,
        value: str | ValueFunction = "auto",
        show_progress: bool = False,
        **extract_options: Any,
    ) -> InteractionResult | list[InteractionResult]:
        """Sparse AND-OR interactions of the words of ``prompt`` for what follows it.

        Args:
            prompt: the text the model continues; a list of texts (a batch: one result each);
                or Captum's ``TextTemplateInput`` (its values are the players) or
                ``TextTokenInput`` (its tokens are the players), see
                :mod:`~captum_interactions.adapters.captum_text`.
            players (sequence, optional): words (``"France"``, ``"the#2"``), ``"text@start"``
                or ``(start, end)`` character spans; ``None`` chooses the last ``n_players``
                content words (see :mod:`captum_interactions.adapters.text`). For a batch,
                ``None`` or one entry (a list or ``None``) per prompt.
            target (str, int or None): what is explained: ``None`` for the model's top-1 next
                token, a token id, or the text that follows the prompt, as a whole word (all
                its tokens, see :mod:`captum_interactions.adapters.targets`). For a batch, one
                for all prompts or a list with one per prompt.
            baseline: what replaces absent words' embeddings: ``"pad"`` (default), ``"unk"``,
                ``"bos"``, ``"eos"``, ``"zero"``, ``"mean"``, a token id or vocabulary entry,
                a ``[d_model]`` tensor, a :class:`LearnedBaseline` or a ``pathlib.Path`` to one
                (a ``TextTokenInput`` brings its own baseline token).
            n_players (int, optional): how many players to choose automatically: up to 10 by
                default; a number given here that the prompt cannot meet (it has fewer
                content words) gets a :class:`~captum_interactions.adapters.PlayerWarning`.
            foil (str, int or None): a word to contrast the target with: ``v`` becomes
                ``value(target) - value(foil)`` (by default the log-probability difference).
                For a batch, as ``target``.
            value (str or callable): ``"auto"`` (default: ``"log_odds"`` of the target, the
                log-probability difference with a foil), ``"log_odds"``, ``"log_prob"``,
                ``"raw"`` (the target's logit; single tokens) or ``f(logits [R, vocab],
                target [R]) -> [R]`` (single-token targets without a foil).
            show_progress (bool): progress bars over the prompts, the masked forward passes
                and the extraction.
            **extract_options: options of :func:`captum_interactions.extraction.extract`
                (``mode``, ``qcoef``, ``scale``, ``solver``, ``time_limit``, ...), checked
                before the model runs. Prompts with the same number of players are extracted
                together (``time_limit`` bounds each such extraction).

        Returns:
            An InteractionResult (a list for a batch) with word labels as players, the target
            (its first token id) and ``target_text`` naming what was explained (``" Paris"``,
            ``" Paris vs London"``), the baseline description, the value kind, and in
            ``metadata`` the model name, prompt, each player's character span and token
            positions, the token ids of the prompt, target and foil, and the model's own
            top-1 prediction.
        """
        adapter = self.adapter
        batch = isinstance(prompt, (list, tuple))
        prompts = list(prompt) if batch else [prompt]
        if batch and not prompts:
            raise InteractionError("the batch of prompts is empty; give at least one prompt")
        per_prompt = {
            "players": _per_prompt(players, len(prompts), "players", lists=True, batch=batch),
            "target": _per_prompt(target, len(prompts), "target", lists=False, batch=batch),
            "foil": _per_prompt(foil, len(prompts), "foil", lists=False, batch=batch),
        }
        if baseline is not None and any(captum_text_kind(p) == TOKENS
                                        for p in prompts):
            raise InteractionError(
                "a TextTokenInput brings its own baseline token (its baselines=); leave "
                "baseline= unset"
            )
        cases = [self._case(text, chosen, n_players)
                 for text, chosen in zip(prompts, per_prompt["players"], strict=True)]
        sizes = sorted({len(case.labels) for case in cases})
        plans = {n: check_extraction(n, **extract_options) for n in sizes}
        check_cost(sizes[-1], max_players=self.max_players, samples=len(cases),
                   solves=any(plan is not None for plan in plans.values()),
                   solve_seconds=max((plan.seconds for plan in plans.values() if plan),
                                     default=None),
                   advice="give fewer players (players=[...] or a smaller n_players)")
        cases = [self._targeted(case, given, against)
                 for case, given, against in zip(cases, per_prompt["target"],
                                                 per_prompt["foil"], strict=True)]
        kinds = [readout(case.target.tokens, case.foil and case.foil.tokens, value)
                 for case in cases]  # every target and foil checked before the masked runs
        vectors = {}
        values = []
        for case, (_, kind) in tqdm(list(zip(cases, kinds, strict=True)), desc="prompts",
                                    disable=not show_progress or len(cases) == 1):
            vector, description = self._baseline(case, baseline, vectors)
            with torch.no_grad():
                values.append(adapter.evaluate(
                    case.prompt, case.positions, all_masks(len(case.labels)),
                    target=case.target.tokens, foil=case.foil and case.foil.tokens,
                    baseline=vector, value=value, show_progress=show_progress,
                ))
            case.metadata["baseline"] = description
            case.metadata["value_kind"] = kind
        results: list[InteractionResult | None] = [None] * len(cases)
        for n in sizes:
            group = [i for i, case in enumerate(cases) if len(case.labels) == n]
            extracted = extract(torch.stack([values[i] for i in group]),
                                players=list(cases[group[0]].labels),
                                show_progress=show_progress, **extract_options)
            for i, result in zip(group, extracted, strict=True):
                results[i] = _finish(result, cases[i])
        return results if batch else results[0]

    def game(
        self,
        prompt: str | Any,
        players: Sequence[PlayerSpec] | None = None,
        target: TargetSpec = None,
        baseline: BaselineSpec | LearnedBaseline | os.PathLike[str] | None = None,
        n_players: int | None = None,
        *,
        foil: TargetSpec = None,
        value: str | ValueFunction = "auto",
    ) -> PromptGame:
        """The value function of one prompt, ``masks -> v(T)``, without evaluating it.

        Players, target, baseline and value are resolved exactly as in :meth:`attribute`
        (same arguments, one prompt), so ``game(all_masks(n))`` equals the ``values`` of
        ``attribute(..., mode="none")``. Any set of masks can be evaluated, e.g. the
        coalitions an approximator samples (see
        :class:`~captum_interactions.adapters.shapiq_game.LLMGame`); the adapter's
        embedding-level masking and prefix sharing apply to every call.
        """
        if isinstance(prompt, (list, tuple)):
            raise InteractionError("game() takes one prompt; call it once per prompt")
        case = self._case(prompt, players, n_players)
        case = self._targeted(case, target, foil)
        _, kind = readout(case.target.tokens, case.foil and case.foil.tokens, value)
        vector, description = self._baseline(case, baseline, {})
        case.metadata.update(baseline=description, value_kind=kind)
        text = case.target.text if case.foil is None else (
            f"{case.target.text} vs {case.foil.text.strip()}")
        return PromptGame(self.adapter, case.prompt, case.labels, case.positions,
                          case.target.tokens, case.foil and case.foil.tokens, vector, value,
                          text, case.metadata)

    def _baseline(self, case: _Case, baseline: Any, vectors: dict) -> tuple[torch.Tensor, str]:
        """The baseline vector of a case and its description (cached in ``vectors``)."""
        token = case.metadata.pop("baseline_token", None)
        spec = ("pad" if baseline is None else baseline) if token is None else token
        key = spec if isinstance(spec, (str, int)) else id(spec)
        if key not in vectors:
            vectors[key] = resolve_baseline(self.adapter, spec)
        return vectors[key]

    def _case(self, given: Any, players: Any, n_players: int | None) -> _Case:
        """Tokens and players of one prompt (the model does not run)."""
        adapter = self.adapter
        metadata: dict[str, Any] = {"model": adapter.name}
        if captum_text_kind(given) == TEMPLATE:
            if players is not None:
                raise InteractionError("a TextTemplateInput's values are its players; leave "
                                       "players= unset")
            given, players = template_players(given)
            metadata["input"] = TEMPLATE
        if captum_text_kind(given) == TOKENS:
            if players is not None:
                raise InteractionError("a TextTokenInput's tokens are its players; leave "
                                       "players= unset (skip tokens with its skip_tokens=)")
            ids, positions, labels, token = token_players(given)
            vocab = adapter.model_shape.vocab_size
            if max(ids) >= vocab:
                raise InteractionError(
                    f"the TextTokenInput has token id {max(ids)} but the model {adapter.name!r} "
                    f"has {vocab} tokens: its tokenizer is not the model's; use the model's own"
                )
            prompt = Prompt(given.tokenizer.decode(ids), torch.tensor(ids),
                            ((0, 0),) * len(ids))
            metadata.update(input=TOKENS, player_selection="tokens",
                            baseline_token=token)
        else:
            if not isinstance(given, str):
                raise TypeError(
                    "prompt must be a str, a list of str, or Captum's TextTemplateInput or "
                    f"TextTokenInput; got {type(given).__name__}"
                )
            prompt = adapter.tokenize(given)
            chosen = select_players(
                given, players, n_players=AUTO_PLAYERS if n_players is None else n_players)
            if n_players is not None and chosen.shortfall:
                warnings.warn(f"{given!r}: {chosen.shortfall}", PlayerWarning, stacklevel=4)
            positions, labels = chosen.positions(prompt), chosen.labels
            metadata.update(
                player_selection="automatic" if chosen.automatic else "given",
                players_requested=n_players,
                player_spans=[list(span) for span in chosen.spans],
            )
        metadata.update(prompt=prompt.text, input_ids=prompt.input_ids.tolist(),
                        player_positions=[list(found) for found in positions])
        return _Case(prompt, tuple(labels), tuple(tuple(p) for p in positions), None, None,
                     metadata)

    def _targeted(self, case: _Case, target: TargetSpec, foil: TargetSpec) -> _Case:
        """``case`` with its target and foil resolved (one forward pass for the model's own
        prediction)."""
        adapter, prompt = self.adapter, case.prompt
        explained = resolve_target(adapter, prompt, target)
        contrast = None if foil is None else resolve_target(adapter, prompt, foil, role="foil")
        prediction = (explained.id if explained.given is None
                      else int(adapter.next_token_logits(prompt.input_ids).argmax()))
        metadata = {
            **case.metadata,
            "target_given": explained.given,
            "target_tokens": list(explained.tokens),
            "prediction": prediction,
            "prediction_text": adapter.tokenizer.decode([prediction]),
        }
        if contrast is not None:
            metadata.update(foil_given=contrast.given, foil_text=contrast.text,
                            foil_tokens=list(contrast.tokens))
        return replace(case, target=explained, foil=contrast, metadata=metadata)


def _finish(result: InteractionResult, case: _Case) -> InteractionResult:
    """``result`` with the case's players, target, baseline and metadata."""
    metadata = dict(case.metadata)
    text = case.target.text
    if case.foil is not None:
        text = f"{text} vs {case.foil.text.strip()}"
    result.players = list(case.labels)
    result.target = case.target.id
    result.target_text = text
    result.baseline = metadata.pop("baseline")
    result.value_kind = metadata.pop("value_kind")
    result.metadata.update(metadata)
    return result


def _per_prompt(given: Any, count: int, name: str, *, lists: bool, batch: bool) -> list:
    """``given`` as one entry per prompt: a list with one per prompt for a batch, or one
    value for all (players: ``None`` only)."""
    if not batch:
        return [given]
    if given is None or (not lists and not isinstance(given, (list, tuple))):
        return [given] * count
    if not isinstance(given, (list, tuple)) or len(given) != count or (
            lists and any(entry is not None and isinstance(entry, (str, tuple))
                          for entry in given)):
        shape = ("None or one list of players (or None) per prompt" if lists
                 else "one value for all prompts or a list with one per prompt")
        raise InteractionError(
            f"for a batch of {count} prompts, {name} must be {shape}; got {given!r}"
        )
    return list(given)

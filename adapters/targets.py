"""What a language model's value explains after the prompt: a target word, and optionally a
foil it is contrasted with.

**Targets** (:func:`resolve_target`): ``None`` is the model's top-1 next token on the full
prompt; an ``int`` is a token id; a ``str`` is the **whole word** (or words) that follows the
prompt. A target that starts with a letter or digit is read as a new word: unless the prompt
ends with whitespace, a space is put in front of it (``"Paris"`` after ``"... is"`` becomes
``" Paris"``). The continuation is tokenised together with the prompt, and all its tokens
``t_1 .. t_k`` are explained: they are appended after the prompt (never masked) and the value
reads the word's full probability ``p(word) = Π_j p(t_j | prompt, t_<j)``. Give a token id to
explain one token, e.g. the first piece of a word.

**Foils** (``foil=``, resolved like targets): the value becomes the contrast ``v(target) -
v(foil)``, the question "why this word rather than that one". With the default
``"log_prob"`` this is the log-probability difference ``log p(target) - log p(foil)``, which
for single tokens is the logit difference.

**Values** (:func:`readout`): ``"auto"`` (default) is ``"log_odds"`` without a foil and
``"log_prob"`` with one. ``"log_odds"`` is ``log p / (1 - p)`` of the word's full probability,
exact for words of several tokens (``1 - p`` is accumulated token by token, never as ``1``
minus a rounded ``p``); ``"log_prob"`` is ``log p``; ``"raw"`` is the target's logit (single
tokens only: a word of several tokens has no single logit); a callable ``f(logits [R, vocab],
target [R]) -> [R]`` reads single-token targets without a foil. Results record the kind as
``value_kind``: the name, with ``"_diff"`` appended for a contrast (``"log_prob_diff"``).

>>> logits = torch.tensor([[[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])   # 1 row, 2 steps, vocab 3
>>> reader, kind = readout((0, 1), value="log_prob")
>>> reader.suffixes, kind
(((0,),), 'log_prob')
>>> round(reader.value([logits]).item(), 4)   # log p(0) + log p(1 | 0)
-0.791
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from captum_interactions.exceptions import InteractionError
from captum_interactions.values import ValueFunction, log_odds, log_prob, value_function

from ._evaluation import Readout

if TYPE_CHECKING:
    from .base import LanguageModelAdapter, Prompt

__all__ = [
    "LM_VALUES",
    "WORD_TOKENS",
    "NextWord",
    "Target",
    "TargetError",
    "next_word",
    "readout",
    "resolve_target",
]

#: Value names of a language model's target (see the module docstring).
LM_VALUES = ("auto", "log_odds", "log_prob", "raw")


class TargetError(InteractionError):
    """A target or foil that is not a token of the model or cannot follow the prompt."""


@dataclass(frozen=True)
class Target:
    """An explained continuation of the prompt (a target or a foil).

    Attributes:
        tokens (tuple[int, ...]): its token ids, in order (one for a token id or the top-1).
        text (str): its text, decoded from all its tokens (e.g. ``" Paris"``).
        given (str | int | None): as given (``None``: the model's top-1 token).
    """

    tokens: tuple[int, ...]
    text: str
    given: str | int | None

    @property
    def id(self) -> int:
        """The first token id."""
        return self.tokens[0]


def resolve_target(
    adapter: LanguageModelAdapter,
    prompt: Prompt,
    target: str | int | None = None,
    *,
    role: str = "target",
) -> Target:
    """The continuation of ``prompt`` that is explained (see the module docstring).

    Args:
        adapter (LanguageModelAdapter): the model.
        prompt (Prompt): the prompt, tokenised by ``adapter``.
        target (str, int or None): a continuation text (a whole word), a token id, or
            ``None`` for the model's top-1 next token.
        role (str): ``"target"`` or ``"foil"``, for messages.

    Raises:
        TargetError: a token id outside the vocabulary, an empty text, or a text that changes
            the prompt's own tokens when appended.
    """
    tokenizer = adapter.tokenizer
    vocab = adapter.model_shape.vocab_size
    if target is None:
        token = int(adapter.next_token_logits(prompt.input_ids).argmax())
        return Target((token,), tokenizer.decode([token]), None)
    if isinstance(target, bool) or not isinstance(target, (int, str)):
        raise TypeError(
            f"{role} must be None (the model's top-1), a token id (int) or a string; got "
            f"{type(target).__name__}"
        )
    if isinstance(target, int):
        if not 0 <= target < vocab:
            raise TargetError(
                f"{role} token id {target} is outside the model's vocabulary [0, {vocab}); "
                "give a valid id, a string, or None for the model's top-1 token"
            )
        return Target((target,), tokenizer.decode([target]), target)
    if not target.strip():
        raise TargetError(f"{role} must contain text; got {target!r}")
    continuation = target
    if re.match(r"\w", target) and prompt.text and not prompt.text[-1].isspace():
        continuation = " " + target
    ids = tokenizer(prompt.text + continuation)["input_ids"]
    own = prompt.input_ids.tolist()
    if ids[: len(own)] != own or len(ids) == len(own):
        raise TargetError(
            f"the {role} {target!r} merges with the end of the prompt when tokenised (the "
            f"prompt's own tokens change), so it has no tokens of its own; give its token id "
            f"instead (tokens of the prompt + {role}: {tokenizer.convert_ids_to_tokens(ids)})"
        )
    tokens = tuple(ids[len(own) :])
    return Target(tokens, tokenizer.decode(list(tokens)), target)


#: Most tokens :func:`next_word` follows to the end of a word.
WORD_TOKENS = 8


@dataclass(frozen=True)
class NextWord:
    """A model's greedy continuation of a prompt to the end of its next word.

    Attributes:
        tokens (tuple[int, ...]): the greedy tokens of the word.
        text (str): the word as the tokens spell it (e.g. ``" Rowling"``).
        probability (float): the probability of that token path.
    """

    tokens: tuple[int, ...]
    text: str
    probability: float


def next_word(adapter: LanguageModelAdapter, prompt: Prompt,
              max_tokens: int = WORD_TOKENS) -> NextWord:
    """The model's greedy next word after ``prompt``: its top-1 token, then top-1 tokens for
    as long as they continue the word (they start with a letter, digit, apostrophe or
    hyphen, with no space before; ``" Row"`` + ``"ling"`` is ``" Rowling"``), up to
    ``max_tokens``. A first token that is punctuation is the whole "word".

    Models with different tokenizers are compared on these words, not on their first
    tokens."""
    tokenizer = adapter.tokenizer
    ids = prompt.input_ids
    tokens: list[int] = []
    log_probability = 0.0
    for step in range(max_tokens):
        logits = adapter.next_token_logits(torch.cat([ids, torch.tensor(tokens,
                                                                         dtype=ids.dtype)]))
        scores = torch.log_softmax(logits.double(), -1)
        token = int(scores.argmax())
        piece = tokenizer.decode([token])
        if step and not re.match(r"[\w'’-]", piece):  # a space or punctuation: a new word
            break
        tokens.append(token)
        log_probability += float(scores[token])
        if not step and not re.search(r"\w", piece):  # punctuation: the whole "word"
            break
    return NextWord(tuple(tokens), tokenizer.decode(tokens), math.exp(log_probability))


def readout(
    target: Sequence[int], foil: Sequence[int] | None = None, value: str | ValueFunction = "auto"
) -> tuple[Readout, str]:
    """How ``v`` is read from the logits after the prompt, and the ``value_kind`` results
    record (see the module docstring).

    Args:
        target (sequence of int): the target's token ids.
        foil (sequence of int, optional): the foil's token ids.
        value (str or callable): one of :data:`LM_VALUES` or ``f(logits [R, V], target [R])``.
    """
    words = [tuple(int(t) for t in target)] + ([] if foil is None else [tuple(map(int, foil))])
    if any(not word for word in words):
        raise TargetError("a target or foil needs at least one token")
    if foil is not None and words[0] == words[1]:
        raise TargetError(f"the foil is the target itself (tokens {list(words[0])}); give "
                          "another word to contrast with, or no foil")
    single = all(len(word) == 1 for word in words)
    if callable(value):
        if foil is not None or not single:
            raise TargetError(
                "a value function reads one token's logits; with a foil or a target of "
                f"several tokens (here {[len(w) for w in words]}) use value='log_prob' or "
                "'log_odds', or give single token ids"
            )
        function, kind = value_function(value)
        token = words[0][0]
        return Readout(((),), lambda logits: function(logits[0][:, -1], _rows(logits, token))), kind
    if value not in LM_VALUES:
        raise InteractionError(
            f"unknown value {value!r}; valid values: {', '.join(LM_VALUES)} or a callable "
            "f(logits [R, vocab], target [R]) -> [R]"
        )
    if value == "auto":
        value = "log_prob" if foil is not None else "log_odds"
    if value == "raw" and not single:
        raise TargetError(
            f"value='raw' reads one logit, but the target or foil takes several tokens "
            f"({[len(w) for w in words]}); use value='log_prob' (or 'log_odds'), or a token id"
        )
    # One forward pass per suffix (the tokens appended after the prompt); a word whose suffix
    # is a prefix of another word's reads its logits from that longer pass.
    suffixes = tuple(sorted({word[:-1] for word in words}, key=len, reverse=True))
    suffixes = tuple(s for i, s in enumerate(suffixes)
                     if not any(t[: len(s)] == s for t in suffixes[:i]))
    place = [next(i for i, s in enumerate(suffixes) if s[: len(w) - 1] == w[:-1])
             for w in words]
    score = {"raw": _raw, "log_prob": _log_prob, "log_odds": _log_odds}[value]

    def read(logits: Sequence[torch.Tensor]) -> torch.Tensor:
        scores = [score(logits[at][:, : len(word)], word) for at, word in zip(place, words,
                                                                              strict=True)]
        return scores[0] if len(scores) == 1 else scores[0] - scores[1]

    return Readout(suffixes, read), value + ("_diff" if foil is not None else "")


# --------------------------------------------------------------------------------- helpers
def _rows(logits: Sequence[torch.Tensor], token: int) -> torch.Tensor:
    return torch.full((logits[0].shape[0],), token, device=logits[0].device)


def _float(logits: torch.Tensor) -> torch.Tensor:
    return logits if logits.dtype in (torch.float32, torch.float64) else logits.float()


def _raw(logits: torch.Tensor, word: tuple[int, ...]) -> torch.Tensor:
    return _float(logits[:, 0, word[0]])


def _terms(logits: torch.Tensor, word: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """``log p_j`` and ``log (1 - p_j)`` of every token of ``word`` (``[R, k]``, float64)."""
    logits = _float(logits)
    index = torch.tensor(word, device=logits.device).expand(logits.shape[0], -1)[..., None]
    total = torch.logsumexp(logits, -1)
    chosen = logits.gather(-1, index)[..., 0]
    others = torch.logsumexp(logits.scatter(-1, index, float("-inf")), -1)
    return (chosen - total).double(), (others - total).double()


def _first(logits: torch.Tensor, word: tuple[int, ...]) -> torch.Tensor:
    return torch.full_like(logits[:, 0, 0], word[0], dtype=torch.long)


def _log_prob(logits: torch.Tensor, word: tuple[int, ...]) -> torch.Tensor:
    if len(word) == 1:  # the same numbers as the Captum class's log_prob
        return log_prob(logits[:, 0], _first(logits, word))
    return _terms(logits, word)[0].sum(-1)


def _log_odds(logits: torch.Tensor, word: tuple[int, ...]) -> torch.Tensor:
    """``log p - log (1 - p)`` of ``p = Π_j p_j``, with ``1 - p`` accumulated exactly:
    ``1 - p_1 p_2 = (1 - p_1) + p_1 (1 - p_2)``, in log space."""
    if len(word) == 1:  # the same numbers as the Captum class's log_odds
        return log_odds(logits[:, 0], _first(logits, word))
    log_p, log_q = _terms(logits, word)
    prob, rest = log_p[:, 0], log_q[:, 0]
    for j in range(1, len(word)):
        rest = torch.logaddexp(rest, prob + log_q[:, j])
        prob = prob + log_p[:, j]
    return prob - rest

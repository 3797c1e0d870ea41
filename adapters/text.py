"""Words as players: choose them in a prompt and find each model's tokens for them.

Players are defined on the prompt's **text**, as character spans, never on tokens; every model
then maps the same spans to its own token positions (a word may span several tokens). Results
of models with different tokenizers therefore share player labels and can be compared.

**Words.** A word is a run of letters, digits or underscores, optionally joined by an inner
apostrophe or hyphen (``"It's"``, ``"state-of-the-art"``) or, between digits, a point or comma
(``"1,000"``, ``"3.14"``); punctuation marks are separate units (``"$"``, ``"%"``).

**Giving players** (``players=[...]``, in the order wanted; each entry one of):

- ``"France"``: a whole word (or words, ``"New York"``) of the prompt, matched case-sensitively
  on whole words only (``"state"`` does not match inside ``"state-of-the-art"``). A word
  listed again names its next occurrence: ``["the", "the"]`` are the first and the second
  ``"the"``.
- ``"the#2"``: the second occurrence of ``"the"`` (unless ``"the#2"`` itself is in the text).
- ``"ing@14"``: the text ``"ing"`` starting at character 14, for spans inside words.
- ``(start, end)``: the characters ``text[start:end]``.

**Labels** depend only on where a player is: the ``k``-th occurrence of a word is labelled
``"word"`` for ``k = 1`` and ``"word#k"`` after that, any other span ``"text@start"``. Labels
are unique, and a result's labels given back as players name the same spans.

**Automatic players** (``players=None``): the last ``n_players`` content words of the prompt
(those nearest the predicted token), in reading order. A content word is a word that is not in
:data:`STOP_WORDS` (compared in lower case); punctuation is never chosen. The choice depends on
the text only, so every model gets the same players. A prompt with fewer content words gets
fewer players (:attr:`TextPlayers.requested` keeps the number asked for).

**Tokens.** A token belongs to the player whose characters it covers, ignoring its leading and
trailing whitespace (``"Ġcapital"`` and ``"▁capital"`` both cover ``"capital"``). Tokens that
cover no player (special tokens such as BOS, whitespace, unchosen words) are **background**
and are never masked. A token that covers characters of two players is an error: the models
cannot mask one without the other.

Targets (what the model's value explains) are in :mod:`captum_interactions.adapters.targets`.

>>> chosen = select_players("The cat sat on the mat.", ["the", "cat", "mat"])
>>> chosen.labels, chosen.spans
(('the', 'cat', 'mat'), ((15, 18), (4, 7), (19, 22)))
>>> select_players("The cat sat on the mat.", n_players=2).labels
('sat', 'mat')
>>> select_players("the dog saw the cat", ["the", "the"]).labels
('the', 'the#2')
>>> select_players("It costs $1,000 in state-of-the-art labs", n_players=3).labels
('1,000', 'state-of-the-art', 'labs')
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from captum_interactions.exceptions import InteractionError

from .base import Prompt

__all__ = [
    "STOP_WORDS",
    "PlayerError",
    "PlayerWarning",
    "TextPlayers",
    "content_words",
    "select_players",
    "token_positions",
    "words",
]

#: Function words never chosen as automatic players (English; compared in lower case).
STOP_WORDS = frozenset(
    """
    a about above after again against all also am an and any are aren't as at be because been
    before being below between both but by can can't cannot could couldn't did didn't do does
    doesn't doing don't down during each either else ever few for from further had hadn't has
    hasn't have haven't having he he'd he'll he's her here here's hers herself him himself his
    how how's however i i'd i'll i'm i've if in into is isn't it it's its itself just let's me
    might more most must mustn't my myself neither no nor not now of off on once only or other
    ought our ours ourselves out over own same shall shan't she she'd she'll she's should
    shouldn't so some such than that that's the their theirs them themselves then there
    there's these they they'd they'll they're they've this those though through thus to too
    under until up upon us very was wasn't we we'd we'll we're we've were weren't what what's
    when when's where where's whether which while who who's whom whose why why's will with
    won't would wouldn't yet you you'd you'll you're you've your yours yourself yourselves
    """.split()  # noqa: SIM905 - a word list reads better as text
)

_WORD = re.compile(r"\w+(?:(?:['’-]|(?<=\d)[.,](?=\d))\w+)*")
_UNIT = re.compile(_WORD.pattern + r"|[^\w\s]")
_OCCURRENCE = re.compile(r"(.+)#([1-9][0-9]*)")
_AT = re.compile(r"(.+)@([0-9]+)")

Span = tuple[int, int]
PlayerSpec = str | tuple[int, int]


class PlayerError(InteractionError):
    """Players that cannot be found in, or mapped onto the tokens of, a prompt."""


class PlayerWarning(UserWarning):
    """Fewer automatic players than requested (the prompt has fewer content words)."""


@dataclass(frozen=True)
class TextPlayers:
    """Players of one prompt: a label and a character span ``[start, end)`` each.

    Attributes:
        text (str): the prompt.
        labels (tuple[str, ...]): unique player labels (see the module docstring).
        spans (tuple[tuple[int, int], ...]): character spans, disjoint.
        automatic (bool): whether the players were chosen automatically.
        requested (int | None): how many were asked for when chosen automatically (more than
            ``len(labels)`` when the prompt has fewer content words).
    """

    text: str
    labels: tuple[str, ...]
    spans: tuple[Span, ...]
    automatic: bool = False
    requested: int | None = None

    @property
    def shortfall(self) -> str | None:
        """Why there are fewer automatic players than requested, or ``None``.

        >>> print(select_players("The cat sat.", n_players=4).shortfall)
        the prompt has 2 content words, so 2 players were chosen instead of 4 (stop words such
        as 'The' and punctuation are never chosen)
        """
        if not self.automatic or self.requested is None or len(self) >= self.requested:
            return None
        skipped = [self.text[a:b] for a, b in words(self.text)
                   if self.text[a:b].lower() in STOP_WORDS][:3]
        such = f" such as {', '.join(map(repr, skipped))}" if skipped else ""
        return (f"the prompt has {len(self)} content words, so {len(self)} players were chosen "
                f"instead of {self.requested} (stop words{such} and punctuation are never "
                "chosen)")

    def __len__(self) -> int:
        return len(self.labels)

    def positions(self, prompt: Prompt) -> tuple[tuple[int, ...], ...]:
        """Token positions of each player in ``prompt`` (see :func:`token_positions`)."""
        if prompt.text != self.text:
            raise PlayerError(
                f"the players were chosen in {self.text!r} but the prompt is {prompt.text!r}; "
                "select players in the same text"
            )
        return token_positions(prompt, self.spans, self.labels)


def words(text: str) -> list[Span]:
    """Character spans of the words of ``text``.

    >>> text = "It's state-of-the-art, 100%!"
    >>> [text[a:b] for a, b in words(text)]
    ["It's", 'state-of-the-art', '100']
    """
    return [match.span() for match in _WORD.finditer(text)]


def content_words(text: str) -> list[Span]:
    """Spans of the words of ``text`` that are not :data:`STOP_WORDS`.

    >>> text = "The capital of France is"
    >>> [text[a:b] for a, b in content_words(text)]
    ['capital', 'France']
    """
    return [(a, b) for a, b in words(text) if text[a:b].lower() not in STOP_WORDS]


def select_players(
    text: str, players: Sequence[PlayerSpec] | None = None, *, n_players: int = 10
) -> TextPlayers:
    """Resolve ``players`` (or choose them automatically) to labelled character spans.

    Args:
        text (str): the prompt.
        players (sequence, optional): words, ``"word#k"``, ``"text@start"`` or
            ``(start, end)`` spans (see the module docstring); ``None`` chooses the last
            ``n_players`` content words.
        n_players (int): the most players chosen automatically (ignored when ``players`` is
            given).

    Returns:
        TextPlayers, in the order given (automatic players in reading order).

    Raises:
        PlayerError: a word is not in the prompt, players overlap, more players than words,
            or no content word to choose.
    """
    if not isinstance(text, str):
        raise TypeError(f"the prompt must be a str; got {type(text).__name__}")
    if players is None:
        return _automatic(text, n_players)
    if isinstance(players, str) or _is_span(players):
        raise TypeError(
            f"players must be a list of words or (start, end) spans; got {players!r}. "
            f"Wrap a single player in a list: players=[{players!r}]"
        )
    players = list(players)
    if not players:
        raise PlayerError(
            "players is empty; give at least one word, or players=None to choose content words"
        )
    units = _UNIT.findall(text)
    if len(players) > len(units):
        raise PlayerError(
            f"{len(players)} players were given but the prompt has only {len(units)} words and "
            f"punctuation marks ({units}); give at most one player per word"
        )
    spans: list[Span | None] = [None] * len(players)
    plain: list[tuple[int, str]] = []
    for i, spec in enumerate(players):
        fixed = _fixed_span(text, spec)
        if fixed is None:
            plain.append((i, spec.strip()))
        else:
            spans[i] = fixed
    claimed = {span for span in spans if span is not None}
    for i, word in plain:
        found = _occurrences(text, word)
        free = [span for span in found if span not in claimed]
        if not free:
            raise PlayerError(_not_found(text, word, players, len(found)))
        spans[i] = free[0]
        claimed.add(free[0])
    _check_disjoint(text, players, spans)
    labels = tuple(_label(text, span) for span in spans)
    return TextPlayers(text, labels, tuple(spans))


def token_positions(
    prompt: Prompt, spans: Sequence[Span], labels: Sequence[str] | None = None
) -> tuple[tuple[int, ...], ...]:
    """Token positions of each character span in a tokenised prompt.

    A token belongs to a span when its characters, without leading and trailing whitespace,
    overlap the span. Every span must get at least one token and no token two spans.

    >>> import torch
    >>> prompt = Prompt("the cat", torch.tensor([5, 6, 7]), ((0, 0), (0, 3), (3, 7)))
    >>> token_positions(prompt, [(4, 7), (0, 3)])
    ((2,), (1,))
    """
    labels = [repr(prompt.text[a:b]) for a, b in spans] if labels is None else labels
    owner: dict[int, int] = {}
    found: list[list[int]] = [[] for _ in spans]
    for position, (start, end) in enumerate(prompt.offsets):
        start, end = _strip(prompt.text, start, end)
        if start >= end:
            continue
        for player, (a, b) in enumerate(spans):
            if start < b and a < end:
                if position in owner:
                    other = owner[position]
                    raise PlayerError(
                        f"token {position} ({prompt.text[start:end]!r}, characters {start}-{end})"
                        f" covers both player {labels[other]} and player {labels[player]}, so "
                        "the model cannot mask one without the other; merge them into one "
                        "player or choose spans that end at token boundaries"
                    )
                owner[position] = player
                found[player].append(position)
    for player, positions in enumerate(found):
        if not positions:
            a, b = spans[player]
            raise PlayerError(
                f"player {labels[player]} (characters {a}-{b}) covers no token of the prompt; "
                "choose a span that contains text, not only whitespace"
            )
    return tuple(tuple(positions) for positions in found)


# --------------------------------------------------------------------------------- helpers
def _automatic(text: str, n_players: int) -> TextPlayers:
    if isinstance(n_players, bool) or not isinstance(n_players, int):
        raise TypeError(f"n_players must be an int; got {n_players!r}")
    if n_players < 1:
        raise PlayerError(f"n_players must be at least 1; got {n_players}")
    chosen = content_words(text)[-n_players:]
    if not chosen:
        raise PlayerError(
            f"the prompt {text!r} has no content words (all words are stop words or "
            "punctuation); give the players explicitly, e.g. players=['...']"
        )
    labels = tuple(_label(text, span) for span in chosen)
    return TextPlayers(text, labels, tuple(chosen), automatic=True, requested=n_players)


def _is_span(spec: object) -> bool:
    return (
        isinstance(spec, tuple)
        and len(spec) == 2
        and all(isinstance(x, int) and not isinstance(x, bool) for x in spec)
    )


def _fixed_span(text: str, spec: PlayerSpec) -> Span | None:
    """The span of a ``(start, end)``, ``"word#k"`` or ``"text@start"`` player, else None."""
    if _is_span(spec):
        start, end = spec
        if not 0 <= start < end <= len(text):
            raise PlayerError(
                f"player span {spec} is not inside the prompt; expected (start, end) with "
                f"0 <= start < end <= {len(text)}"
            )
        if not text[start:end].strip():
            raise PlayerError(f"player span {spec} covers only whitespace ({text[start:end]!r})")
        return _strip(text, start, end)
    if not isinstance(spec, str):
        raise TypeError(
            f"a player must be a word (str) or a (start, end) tuple of ints; got {spec!r}"
        )
    word = spec.strip()
    if not word:
        raise PlayerError(f"a player must contain text; got {spec!r}")
    if _occurrences(text, word):
        return None
    if match := _OCCURRENCE.fullmatch(word):
        base, k = match.group(1), int(match.group(2))
        found = _occurrences(text, base)
        if k > len(found):
            raise PlayerError(
                f"player {spec!r} names occurrence {k} of {base!r}, but the prompt has "
                f"{len(found)}"
            )
        return found[k - 1]
    if match := _AT.fullmatch(word):
        base, start = match.group(1), int(match.group(2))
        if text[start : start + len(base)] != base:
            raise PlayerError(
                f"player {spec!r}: the prompt has {text[start : start + len(base)]!r} at "
                f"character {start}, not {base!r}"
            )
        return start, start + len(base)
    return None


def _occurrences(text: str, word: str) -> list[Span]:
    """Non-overlapping occurrences of ``word`` that start and end on whole words or
    punctuation marks (:data:`_UNIT` boundaries), in reading order."""
    units = [match.span() for match in _UNIT.finditer(text)]
    starts, ends = {a for a, _ in units}, {b for _, b in units}
    found: list[Span] = []
    for match in re.finditer(f"(?=({re.escape(word)}))", text):
        start, end = match.span(1)
        if start in starts and end in ends and (not found or start >= found[-1][1]):
            found.append((start, end))
    return found


def _label(text: str, span: Span) -> str:
    word = text[span[0] : span[1]]
    found = _occurrences(text, word)
    if span not in found:
        return f"{word}@{span[0]}"
    k = found.index(span) + 1
    return word if k == 1 else f"{word}#{k}"


def _strip(text: str, start: int, end: int) -> Span:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _not_found(text: str, word: str, players: list, count: int) -> str:
    if count:
        listed = sum(1 for p in players if isinstance(p, str) and p.strip() == word)
        return (
            f"player {word!r} is listed {listed} times (or also as a span) but occurs only "
            f"{count} time(s) in the prompt; list each occurrence once, e.g. "
            f"{[word] + [f'{word}#{k}' for k in range(2, count + 1)]}"
        )
    close = sorted({text[a:b] for a, b in words(text) if text[a:b].lower() == word.lower()})
    hint = f" (the prompt has {close})" if close else ""
    return (
        f"player {word!r} does not occur as a whole word in the prompt {text!r}{hint}; "
        "players are matched case-sensitively at word boundaries. Give a word of the prompt, "
        "'word#k' for its k-th occurrence, or a (start, end) character span"
    )


def _check_disjoint(text: str, players: list, spans: list[Span]) -> None:
    order = sorted(range(len(spans)), key=lambda i: spans[i])
    for left, right in itertools.pairwise(order):
        (a, b), (c, d) = spans[left], spans[right]
        if c < b:
            raise PlayerError(
                f"players {players[left]!r} ({text[a:b]!r}, characters {a}-{b}) and "
                f"{players[right]!r} ({text[c:d]!r}, characters {c}-{d}) overlap; players "
                "must be disjoint. Use 'word#k' or (start, end) spans to pick other occurrences"
            )

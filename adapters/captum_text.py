"""Captum's text inputs as prompts and players.

:class:`~captum_interactions.adapters.LLMInteractions` accepts Captum's
``TextTemplateInput`` and ``TextTokenInput`` in place of a prompt string:

- ``TextTemplateInput(template, values)``: the template's values are the players (one each,
  at the characters the value fills in the formatted text), so they are words and phrases
  chosen by the user and comparable across tokenizers. The template must be a format string
  (``"{} lives in {}"``, ``"{0}"`` or named fields with a ``dict`` of values), each value used
  once, without format specs. Captum's *text* baselines (a value replaced by other text)
  change the tokens, which embedding-level masking does not do: leave them unset (Captum's
  default, removal) and choose the embedding baseline with ``baseline=``.
- ``TextTokenInput(text, tokenizer, baselines=..., skip_tokens=...)``: every token not skipped
  is a player, labelled by its token string; absent tokens take the embedding of the input's
  baseline token, as in Captum. Its tokenizer must be the model's.

>>> from captum.attr import TextTemplateInput
>>> text, spans = template_players(TextTemplateInput("{} lives in {}.", ["Dave", "Palm Coast"]))
>>> text, [text[a:b] for a, b in spans]
('Dave lives in Palm Coast.', ['Dave', 'Palm Coast'])
"""

from __future__ import annotations

import string
from typing import Any

from captum_interactions.exceptions import InteractionError

__all__ = ["TEMPLATE", "TOKENS", "captum_text_kind", "template_players", "token_players"]

TEMPLATE, TOKENS = "TextTemplateInput", "TextTokenInput"


def captum_text_kind(given: Any) -> str | None:
    """:data:`TEMPLATE` or :data:`TOKENS` for Captum's text inputs, else ``None`` (Captum is
    not imported).

    >>> captum_text_kind("a prompt") is None
    True
    """
    kind = type(given)
    if kind.__module__.startswith("captum.") and kind.__name__ in (TEMPLATE, TOKENS):
        return kind.__name__
    return None


def template_players(given: Any) -> tuple[str, list[tuple[int, int]]]:
    """The formatted text of a ``TextTemplateInput`` and the character span of each value."""
    template = given.template
    if not isinstance(template, str):
        raise InteractionError(
            "a TextTemplateInput with a template function cannot be located in its text; give "
            "a format string such as '{} lives in {}'"
        )
    baselines = given.baselines
    if callable(baselines) or any(baseline != "" for baseline in baselines):
        raise InteractionError(
            f"TextTemplateInput baselines replace a value by other text ({baselines!r}); "
            "LLMInteractions masks words at the embedding level instead. Leave the text "
            "baselines unset and choose baseline= ('pad', 'unk', a token, a LearnedBaseline)"
        )
    mask = getattr(given, "formatted_mask", None) if given.mask is not None else None
    if mask is not None and len(set(mask)) != len(mask):
        raise InteractionError(
            f"the TextTemplateInput mask {given.mask!r} groups several values into one "
            "feature; LLMInteractions needs one player per value: give each value its own "
            "mask id, or merge the values in the template"
        )
    values, keys = list(given.values), list(given.dict_keys)
    text, spans, used, automatic = "", [None] * len(values), set(), 0
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as error:
        raise InteractionError(
            f"the template {template!r} is not a format string: {error}") from None
    for literal, field, spec, conversion in parsed:
        text += literal
        if field is None:
            continue
        if spec or conversion:
            raise InteractionError(
                f"the template field {{{field}!{conversion}:{spec}}} has a conversion or "
                "format spec; use plain fields ('{}', '{0}' or '{name}')"
            )
        if field == "":
            index, automatic = automatic, automatic + 1
        elif field.isdigit():
            index = int(field)
        elif field in keys:
            index = keys.index(field)
        else:
            raise InteractionError(f"the template field {{{field}}} names no value ({keys})")
        if index in used:
            raise InteractionError(
                f"value {values[index]!r} fills two template fields; a player is one place "
                "in the text: give it once"
            )
        used.add(index)
        value = str(values[index])
        if not value.strip():
            raise InteractionError(f"template value {index} is empty ({value!r}); a player "
                                   "needs text")
        spans[index] = (len(text), len(text) + len(value))
        text += value
    missing = [values[i] for i in range(len(values)) if spans[i] is None]
    if missing:
        raise InteractionError(f"the template has no field for the values {missing!r}")
    return text, spans


def token_players(given: Any) -> tuple[list[int], list[list[int]], list[str], int]:
    """The token ids of a ``TextTokenInput``, the position and label of each player (every
    token not skipped) and the baseline token id."""
    ids = [int(t) for t in given.inp_tensor[0].tolist()]
    keep = (
        [True] * len(ids) if given.itp_mask is None else [bool(k) for k in given.itp_mask[0]]
    )
    positions = [[p] for p, kept in enumerate(keep) if kept]
    if not positions:
        raise InteractionError("the TextTokenInput skips every token: there are no players")
    tokens = given.tokenizer.convert_ids_to_tokens([ids[p] for [p] in positions])
    labels, seen = [], {}
    for token in tokens:
        seen[token] = seen.get(token, 0) + 1
        labels.append(token if seen[token] == 1 else f"{token}#{seen[token]}")
    return ids, positions, labels, int(given.baselines)

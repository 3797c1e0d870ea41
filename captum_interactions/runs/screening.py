"""Screening a run's prompts before the expensive part: each model's next word.

A run compares two models on a prompt only when both predict the same next word, and it
learns that only after evaluating all ``2**n`` masks of every model. :func:`screen` costs a
few forward passes per model and prompt instead: each model's greedy next *word* (its
tokens followed to the end of the word, so ``" Row"`` + ``"ling"`` and ``" Rowling"`` agree
across tokenizers), the probability of that path, and the prompt's content-word count (the
most automatic players it can have). ``captum-interactions screen`` prints the table; keep
the prompts the models agree on, or give each its agreed word as ``target``.

A run of two or more models screens by itself (:func:`screen_run`, ``RunOptions.screen``):
before any masked evaluation it skips the prompts on which the models predict different
words, and explains the agreed word on the others (its full probability, all its tokens, in
each model's own tokenizer).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from captum_interactions.adapters.targets import NextWord, next_word
from captum_interactions.adapters.text import content_words

from .specs import ModelSpec, PromptSpec, read_prompts

__all__ = ["ScreenRow", "next_words", "screen", "screen_records", "screen_rows", "screen_run"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScreenRow:
    """One prompt, screened.

    Attributes:
        prompt (PromptSpec): the prompt.
        words (dict[str, NextWord]): each model's greedy next word, by model label.
        content_words (int): the prompt's content words (the most automatic players).
    """

    prompt: PromptSpec
    words: dict[str, NextWord]
    content_words: int

    @property
    def agree(self) -> bool:
        """Whether every model predicts the same word (compared without surrounding
        spaces, as runs compare targets)."""
        found = {word.text.strip() for word in self.words.values()}
        return len(found) == 1 and "" not in found


def screen(
    models: Sequence[str | ModelSpec],
    prompts: str | os.PathLike | Sequence[PromptSpec],
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
    show_progress: bool = False,
) -> list[ScreenRow]:
    """Each model's next word on each prompt (models loaded one at a time)."""
    from captum_interactions._devices import check_device

    specs = [m if isinstance(m, ModelSpec) else ModelSpec.parse(m) for m in models]
    if isinstance(prompts, (str, os.PathLike)):
        prompts = read_prompts(prompts)
    prompts = list(prompts)
    device = check_device(device)
    words = {}
    for spec in specs:
        adapter = spec.load(device=device, dtype=dtype)
        words[spec.label] = next_words(adapter, prompts, desc=f"screen {spec.label}",
                                       show_progress=show_progress)
        del adapter
    return screen_rows(prompts, words)


def next_words(adapter, prompts: Sequence[PromptSpec], *, desc: str = "screen",
               show_progress: bool = False) -> list[NextWord]:
    """The next word of ``adapter``'s model on each prompt (a progress bar ``desc``)."""
    from tqdm.auto import tqdm

    return [next_word(adapter, adapter.tokenize(prompt.text))
            for prompt in tqdm(prompts, desc=desc, disable=not show_progress)]


def screen_rows(prompts: Sequence[PromptSpec], words: Mapping[str, Sequence[NextWord]]
                ) -> list[ScreenRow]:
    """One row per prompt from each model's next words (``words[label][k]`` of
    ``prompts[k]``)."""
    return [ScreenRow(prompt, {label: found[k] for label, found in words.items()},
                      len(content_words(prompt.text)))
            for k, prompt in enumerate(prompts)]


def screen_records(rows: Sequence[ScreenRow]) -> list[dict[str, Any]]:
    """One flat record per prompt: id, content_words, agree, and per model its word and
    the word's probability.

    >>> words = {"a": NextWord((5,), " Paris", 0.5), "b": NextWord((9,), "Paris", 0.25)}
    >>> record = screen_records([ScreenRow(PromptSpec("p1", "The capital of France is"),
    ...                                    words, 2)])[0]
    >>> record["agree"], record["b_word"], record["b_probability"]
    (True, 'Paris', 0.25)
    """
    records = []
    for row in rows:
        record: dict[str, Any] = {"prompt": row.prompt.id, "content_words": row.content_words,
                                  "agree": row.agree}
        for label, word in row.words.items():
            record[f"{label}_word"] = word.text
            record[f"{label}_probability"] = word.probability
        records.append(record)
    return records


def screen_run(
    folder,
    models: Sequence[ModelSpec],
    prompts: Sequence[PromptSpec],
    screener: Callable[[list[PromptSpec]], list[ScreenRow]],
) -> tuple[list[PromptSpec], list[ScreenRow]]:
    """The prompts a run computes, and the screened rows of those it skips.

    A prompt with a ``target`` of its own is kept as it is. Every other prompt is screened
    by ``screener`` (``prompts -> rows``, e.g. :func:`screen` of ``models``; a Ray run
    screens on its cluster): kept, with the agreed word as its target, when every model
    predicts the same next word, else skipped. Words are recorded in the manifest of
    ``folder`` (a :class:`~captum_interactions.runs.folder.RunFolder`, held) under
    ``"screen"``, so a resumed run screens only new prompts or models; the caller saves the
    manifest.
    """
    record = folder.manifest.setdefault("screen", {})

    def known(prompt: PromptSpec, model: ModelSpec) -> bool:
        entry = record.get(prompt.id, {})
        word = entry.get("words", {}).get(model.label, {})
        return entry.get("text") == prompt.text and word.get("model") == model.source

    open_prompts = [p for p in prompts if p.target is None]
    missing = [p for p in open_prompts if not all(known(p, m) for m in models)]
    if missing:
        logger.info("screening %d prompt(s) with %d model(s) before any masked evaluation",
                    len(missing), len(models))
        for row in screener(missing):
            record[row.prompt.id] = {"text": row.prompt.text, "words": {
                model.label: {"model": model.source, "word": word.text,
                              "tokens": list(word.tokens), "probability": word.probability}
                for model, word in zip(models, row.words.values(), strict=True)}}
    kept, skipped = [], []
    for prompt in prompts:
        if prompt.target is not None:
            kept.append(prompt)
            continue
        entries = record[prompt.id]["words"]
        words = {m.label: NextWord(tuple(entries[m.label]["tokens"]), entries[m.label]["word"],
                                   entries[m.label]["probability"]) for m in models}
        row = ScreenRow(prompt, words, len(content_words(prompt.text)))
        if row.agree:
            kept.append(dataclasses.replace(prompt, target=words[models[0].label].text))
        else:
            skipped.append(row)
    folder.manifest["screened_out"] = [row.prompt.id for row in skipped]
    return kept, skipped

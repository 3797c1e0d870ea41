"""How capable is each model on the study's own prompts? (The seed paper's claim 2.)

For every model and prompt a few forward passes of the unmasked prompt give
(:func:`score_prompt`):

- the model's greedy next **word** (:func:`~captum_interactions.adapters.targets.next_word`,
  the word ``screen`` compares) and the log-probability of that token path;
- where the prompt's ``meta`` has an ``"answer"``: the log-probability of the answer as a
  whole word, read exactly as a run's ``"log_prob"`` value reads a target word (all its
  tokens, tokenised after the prompt, :func:`~captum_interactions.adapters.targets.
  resolve_target`), and whether the greedy word is the answer (compared without the
  surrounding spaces, as ``screen`` compares words).

:func:`summarise` turns the scores into one :class:`Capability` per model: the mean
log-probability of the prompt's **reference word** (its answer; without one, the next word
every model agrees on, as the log-probability of each model's own token path to it; prompts
with neither are left out, so all models are scored on the same prompts) with a bootstrap
interval over prompts, and the accuracy on the prompts with an answer.
:func:`capability` loads models one at a time and does both. A run scores every model it
loads on the prompts it computes and on those screening skipped, and keeps the scores in
``capability/<model>.json`` (:class:`ScoreStore`); with three
or more models, :func:`write_capability` also relates each pair's control-adjusted sharing
to its capability (:func:`captum_interactions.graphs.sharing_vs_capability`).

>>> scores = {"a": {"p1": WordScore(" Paris", -0.1, "Paris", -0.1, True),
...                 "p2": WordScore(" Rome", -0.5, None, None, None)},
...           "b": {"p1": WordScore(" Lyon", -0.7, "Paris", -2.0, False),
...                 "p2": WordScore(" Rome", -0.3, None, None, None)}}
>>> [(c.model, c.n_prompts, round(c.mean_log_prob, 2), c.accuracy, c.n_with_answer)
...  for c in summarise(scores, n_bootstrap=0)]
[('a', 2, -0.3, 1.0, 1), ('b', 2, -1.15, 0.0, 1)]
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from captum_interactions._files import atomic_path
from captum_interactions.adapters.targets import next_word, resolve_target
from captum_interactions.exceptions import InteractionError

from .options import RunOptions
from .specs import ModelSpec, PromptSpec, read_prompts
from .store import read_json, write_csv, write_json

if TYPE_CHECKING:
    from captum_interactions.adapters.base import LanguageModelAdapter, Prompt
    from captum_interactions.graphs import OverlapMatrix, SharingCapability

    from .folder import RunData

__all__ = [
    "CAPABILITY_COLUMNS",
    "Capability",
    "ScoreStore",
    "WordScore",
    "answer_of",
    "capability",
    "capability_findings",
    "relate",
    "run_capability",
    "score_prompt",
    "summarise",
    "write_capability",
]

#: Columns of ``capability.csv``.
CAPABILITY_COLUMNS = ("model", "n_prompts", "mean_log_prob", "ci_low", "ci_high", "accuracy",
                      "n_with_answer")


@dataclass(frozen=True)
class WordScore:
    """One model on one prompt.

    Attributes:
        word (str): the greedy next word (e.g. ``" Paris"``).
        word_log_prob (float): log-probability of the model's token path to that word.
        answer (str | None): the prompt's ``meta["answer"]``.
        answer_log_prob (float | None): log-probability of the answer as a whole word.
        correct (bool | None): whether the greedy word is the answer.
    """

    word: str
    word_log_prob: float
    answer: str | None
    answer_log_prob: float | None
    correct: bool | None


@dataclass(frozen=True)
class Capability:
    """One model's capability on the prompts (see the module docstring).

    Attributes:
        model (str): the model label.
        n_prompts (int): prompts with a reference word (answer or agreed word).
        mean_log_prob (float): mean log-probability of the reference word over them.
        ci_low, ci_high (float): its percentile bootstrap interval over prompts.
        accuracy (float): fraction of the prompts with an answer where the greedy next word
            is the answer (NaN without answers).
        n_with_answer (int): prompts with an answer.
    """

    model: str
    n_prompts: int
    mean_log_prob: float
    ci_low: float
    ci_high: float
    accuracy: float
    n_with_answer: int

    def to_record(self) -> dict[str, Any]:
        """The row of ``capability.csv``."""
        return asdict(self)


def answer_of(prompt: PromptSpec) -> str | None:
    """The prompt's ``meta["answer"]`` as a word (a number such as a year becomes its text),
    or ``None``; anything else is an error that names the prompt."""
    answer = prompt.meta.get("answer") if isinstance(prompt.meta, Mapping) else None
    if isinstance(answer, int) and not isinstance(answer, bool):
        answer = str(answer)
    if answer is not None and (not isinstance(answer, str) or not answer.strip()):
        raise InteractionError(
            f"{prompt.where or 'prompt ' + repr(prompt.id)}: meta['answer'] must be a "
            f"non-empty word (a string, or an integer such as a year), got {answer!r}; fix "
            "it or remove it (the capability then uses the word all models agree on)")
    return answer


def _word_log_prob(adapter: LanguageModelAdapter, prompt: Prompt,
                   tokens: Sequence[int]) -> float:
    """``log p`` of the word ``tokens`` after the unmasked ``prompt``, read as a run reads a
    target word with ``value="log_prob"`` (one player, the last token, present)."""
    value = adapter.evaluate(prompt, [[len(prompt) - 1]], torch.tensor([1]), target=tokens,
                             baseline="zero", value="log_prob")
    return float(value[0])


def score_prompt(adapter: LanguageModelAdapter, prompt: PromptSpec) -> WordScore:
    """The model's greedy next word on ``prompt`` with its log-probability and, where the
    prompt has an answer, the answer's (a few forward passes)."""
    tokens = adapter.tokenize(prompt.text)
    word = next_word(adapter, tokens)
    answer = answer_of(prompt)
    answer_log_prob = correct = None
    if answer is not None:
        target = resolve_target(adapter, tokens, answer)
        answer_log_prob = _word_log_prob(adapter, tokens, target.tokens)
        correct = word.text.strip() == answer.strip()
    return WordScore(word.text, _word_log_prob(adapter, tokens, word.tokens), answer,
                     answer_log_prob, correct)


def _interval(values: np.ndarray, *, n_bootstrap: int, confidence: float,
              rng: np.random.Generator) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (NaN without resamples)."""
    if not n_bootstrap or len(values) < 2:
        return math.nan, math.nan
    means = values[rng.integers(0, len(values), size=(n_bootstrap, len(values)))].mean(1)
    low, high = np.quantile(means, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(low), float(high)


def summarise(
    scores: Mapping[str, Mapping[str, WordScore]],
    *,
    n_bootstrap: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> list[Capability]:
    """One :class:`Capability` per model from ``scores[model][prompt id]`` (every model
    scored on the same prompts)."""
    models = list(scores)
    prompts = list(next(iter(scores.values()), {}))
    for model in models:
        if list(scores[model]) != prompts:
            raise InteractionError(
                f"every model must be scored on the same prompts; {model!r} has "
                f"{sorted(scores[model])}, {models[0]!r} has {sorted(prompts)}")
    log_probs: dict[str, list[float]] = {m: [] for m in models}
    for prompt in prompts:
        first = scores[models[0]][prompt]
        if first.answer is not None:
            for model in models:
                log_probs[model].append(scores[model][prompt].answer_log_prob)
        elif len({scores[m][prompt].word.strip() for m in models}) == 1:
            for model in models:
                log_probs[model].append(scores[model][prompt].word_log_prob)
    rng = np.random.default_rng(seed)
    out = []
    for model in models:
        values = np.array(log_probs[model], dtype=np.float64)
        correct = [s.correct for s in scores[model].values() if s.correct is not None]
        low, high = _interval(values, n_bootstrap=n_bootstrap, confidence=confidence, rng=rng)
        out.append(Capability(
            model=model, n_prompts=len(values),
            mean_log_prob=float(values.mean()) if len(values) else math.nan,
            ci_low=low, ci_high=high,
            accuracy=sum(correct) / len(correct) if correct else math.nan,
            n_with_answer=len(correct)))
    return out


def capability(
    models: Sequence[str | ModelSpec],
    prompts: str | os.PathLike | Sequence[PromptSpec],
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
    n_bootstrap: int = 2000,
    seed: int = 0,
    show_progress: bool = False,
) -> list[Capability]:
    """Each model's capability on ``prompts`` (models loaded one at a time; see the module
    docstring).

    Example (it needs the pretrained models, so it is not run here)::

        for row in capability(["smollm2-135m", "gemma-3-270m"], "study_prompts.jsonl"):
            print(row.model, row.mean_log_prob, row.accuracy)
    """
    from tqdm.auto import tqdm

    from captum_interactions._devices import check_device

    specs = [m if isinstance(m, ModelSpec) else ModelSpec.parse(m) for m in models]
    if isinstance(prompts, (str, os.PathLike)):
        prompts = read_prompts(prompts)
    prompts = list(prompts)
    for prompt in prompts:  # bad answers surface before any model loads
        answer_of(prompt)
    device = check_device(device)
    scores: dict[str, dict[str, WordScore]] = {}
    for spec in specs:
        adapter = spec.load(device=device, dtype=dtype)
        scores[spec.label] = {
            p.id: score_prompt(adapter, p)
            for p in tqdm(prompts, desc=f"capability {spec.label}", disable=not show_progress)
        }
        del adapter
    return summarise(scores, n_bootstrap=n_bootstrap, seed=seed)


class ScoreStore:
    """The scores of a run folder, ``capability/<model>.json``: per prompt its score and what
    it depends on (model source, dtype, prompt text, answer), so a resumed run scores only
    what is missing or changed."""

    def __init__(self, out_dir: str | os.PathLike, dtype: str) -> None:
        self.folder = Path(out_dir) / "capability"
        self.dtype = dtype

    def _key(self, model: ModelSpec, prompt: PromptSpec) -> dict[str, Any]:
        return {"model": model.source, "dtype": self.dtype, "prompt": prompt.text,
                "answer": answer_of(prompt)}

    def _read(self, label: str) -> dict[str, Any]:
        path = self.folder / f"{label}.json"
        return read_json(path) if path.exists() else {}

    def missing(self, model: ModelSpec, prompts: Sequence[PromptSpec]) -> list[PromptSpec]:
        """The prompts ``model`` has no valid score for."""
        found = self._read(model.label)
        return [p for p in prompts
                if found.get(p.id, {}).get("key") != self._key(model, p)]

    def measure(self, adapter: LanguageModelAdapter, model: ModelSpec,
                prompts: Sequence[PromptSpec]) -> None:
        """Score ``prompts`` with the loaded ``model`` and save the scores."""
        self.save(model, prompts, [score_prompt(adapter, prompt) for prompt in prompts])

    def save(self, model: ModelSpec, prompts: Sequence[PromptSpec],
             scores: Sequence[WordScore]) -> None:
        """Save the ``scores`` of ``model`` on ``prompts`` (made elsewhere, e.g. by a Ray
        actor)."""
        if not prompts:
            return
        found = self._read(model.label)
        for prompt, score in zip(prompts, scores, strict=True):
            found[prompt.id] = {"key": self._key(model, prompt), **asdict(score)}
        write_json(self.folder / f"{model.label}.json", found)

    def scores(self, models: Sequence[str], prompts: Sequence[str]
               ) -> dict[str, dict[str, WordScore]] | None:
        """``scores[model][prompt]`` for every model and prompt, or ``None`` if any is
        missing (a run stopped before scoring them)."""
        out = {}
        for model in models:
            found = self._read(model)
            if any(p not in found for p in prompts):
                return None
            out[model] = {p: WordScore(**{k: v for k, v in found[p].items() if k != "key"})
                          for p in prompts}
        return out


def run_capability(out_dir: str | os.PathLike, manifest: Mapping[str, Any],
                   models: Sequence[str], prompts: Sequence[str], options: RunOptions
                   ) -> list[Capability] | None:
    """The capability of a run's ``models`` on ``prompts`` and on the prompts its screening
    skipped, from its scores (for a re-analysis, those of the run it was made from), or
    ``None`` where a score is missing."""
    source = Path(manifest.get("reanalysis_of", out_dir))
    skipped = (manifest if "reanalysis_of" not in manifest
               else read_json(source / "manifest.json")).get("screened_out", [])
    store = ScoreStore(source, options.dtype)
    scores = store.scores(models, [*prompts, *skipped])
    return None if scores is None else summarise(scores, seed=options.seed)


def relate(matrix: OverlapMatrix, rows: Sequence[Capability], options: RunOptions
           ) -> SharingCapability:
    """Each pair's Jaccard (under the run's primary definition of a shared term) minus its
    cross-prompt control against the lower mean log p of its two models (with the models'
    intervals, for the plot)."""
    from captum_interactions.graphs import SHARED_DEFINITIONS, sharing_vs_capability

    suffix = SHARED_DEFINITIONS[options.definition]
    return sharing_vs_capability(
        matrix, {c.model: (c.mean_log_prob, c.ci_low, c.ci_high) for c in rows},
        metric=f"jaccard{suffix}_minus_jaccard{suffix}_cross_prompt", seed=options.seed)


def write_capability(
    out_dir: str | os.PathLike,
    *,
    manifest: Mapping[str, Any],
    models: Sequence[str],
    prompts: Sequence[str],
    options: RunOptions,
    matrix: OverlapMatrix | None,
) -> None:
    """``capability.csv`` (:data:`CAPABILITY_COLUMNS`) from a run's scores and, with three
    or more models, ``capability_sharing.csv`` (one row per model pair, see
    :meth:`~captum_interactions.graphs.SharingCapability.to_records`) from the run's
    overlap ``matrix`` of independent results on ``prompts``
    (:func:`~captum_interactions.runs.analysis.analyse` made it); nothing where a model has
    not been scored on every prompt."""
    rows = run_capability(out_dir, manifest, models, prompts, options)
    if rows is None:
        return
    write_csv(Path(out_dir) / "capability.csv", [row.to_record() for row in rows])
    if len(rows) >= 3 and matrix is not None:
        write_csv(Path(out_dir) / "capability_sharing.csv",
                  relate(matrix, rows, options).to_records())


def _num(value: float, digits: int = 2) -> str:
    return f"{value:.{digits}f}" if math.isfinite(value) else "–"


def capability_findings(data: RunData, matrix: OverlapMatrix, figures: Path) -> list[str]:
    """The report's claim 2 paragraph: each model's capability, and with three or more
    models the rank correlation of control-adjusted sharing with the pairs' capability
    (and its figure), in words the numbers support."""
    rows = run_capability(data.out_dir, data.manifest, list(data.models),
                          [p.id for p in data.complete_prompts()], data.options)
    lines = ["", "**Claim 2 — sharing and capability.**", ""]
    if rows is None:
        return [*lines, "Capability was not measured for every model on every prompt (a run "
                "made before capability scoring; run the same command again to score them)."]
    lines += ["| model | prompts | mean log p(reference word) | accuracy (prompts with an "
              "answer) |", "|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row.model} | {row.n_prompts} | {_num(row.mean_log_prob)} "
                     f"[{_num(row.ci_low)}, {_num(row.ci_high)}] | {_num(row.accuracy)} "
                     f"({row.n_with_answer}) |")
    lines += ["", "Measured on the prompts this run compares and on those its screening "
              "skipped (where the models predict different words). The reference word of a "
              "prompt is its `answer`, or else the word every model predicts (prompts with "
              "neither are left out); the interval is a 95% bootstrap interval over prompts."]
    if len(rows) < 3:
        return [*lines, "", f"Claim 2 (more sharing between more capable models) cannot be "
                f"tested by this run: with {len(rows)} models there is "
                f"{len(rows) * (len(rows) - 1) // 2} model pair, and a rank correlation of "
                "sharing with capability across pairs needs at least 3 pairs (3 models)."]
    found = relate(matrix, rows, data.options)
    metric = (f"the Jaccard ({data.options.definition.replace('_', ' ')}) minus its "
              "cross-prompt control")
    if not math.isfinite(found.rho):
        return [*lines, "", f"No rank correlation of {metric} with the pairs' capability: "
                f"{found.note}."]
    interval = (f" [{found.ci_low:.2f}, {found.ci_high:.2f}]" if math.isfinite(found.ci_low)
                else " (no interval)")
    if found.ci_low > 0 or found.ci_high < 0:
        verdict = ("the interval excludes 0: across these pairs, sharing is "
                   f"{'higher' if found.rho > 0 else 'lower'} where the weaker model is more "
                   "capable")
    else:
        verdict = "the interval includes 0: these pairs show no clear rank relation"
    lines += ["", f"Spearman rank correlation of {metric} (each pair's mean over prompts) "
              f"with the pair's capability (the lower mean log p of its two models): "
              f"ρ = {found.rho:.2f}{interval} over {found.n_pairs} pairs; {verdict}. The "
              f"interval resamples pairs, which share models, so it is likely too narrow; with "
              f"{found.n_pairs} pairs of {len(rows)} models this cannot separate capability "
              "from anything else that differs between the models (size, data, tokenizer)."]
    from matplotlib.figure import Figure

    from captum_interactions.graphs import plot_sharing_vs_capability

    figure, _ = plot_sharing_vs_capability(
        found, capability_label="lower mean log p(reference word) of the pair",
        figure=Figure())
    with atomic_path(figures / "capability-sharing.png") as tmp:
        figure.savefig(tmp, format="png", dpi=110)
    return [*lines, "", "![sharing against capability](figures/capability-sharing.png)"]

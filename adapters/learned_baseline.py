"""A learned baseline: the one vector that makes masked words look absent (Ren et al.).

Replacing an absent word by a pad or zero embedding is a choice, and a poor one can create
interactions that the model does not have. Ren et al. learn the baseline instead: one vector
``b`` shared by all masked positions, initialised from a token embedding, trained with SGD
(momentum 0.9, learning rate 1e-3) to make **conditional pairwise interactions** small. Each
training sample draws a prompt, two disjoint player sets ``S1`` and ``S2`` of 1-3 players each
and a context ``S3`` (every other player joins it with probability 1/2), and the loss is::

    mean |v(S1 ∪ S2 ∪ S3) - v(S1 ∪ S3) - v(S2 ∪ S3) + v(S3)|

Gradients flow through the model to ``b`` only (the model is not changed): the adapters'
:meth:`~captum_interactions.adapters.base.LanguageModelAdapter.evaluate` is differentiable with
respect to a baseline vector that requires grad, so masking is never re-implemented here.

A :class:`LearnedBaseline` saves to one ``.npz`` file (arrays and a JSON header, no pickle) and
is accepted wherever a baseline is (``LLMInteractions.attribute(..., baseline=learned)``, or a
``pathlib.Path`` to the saved file).

>>> import numpy as np
>>> learned = LearnedBaseline(torch.ones(3), model="toy", init="zero", losses=torch.zeros(2))
>>> learned
LearnedBaseline(model='toy', d_model=3, init='zero', steps=2)
>>> learned.description
'learned:toy:zero:2-steps'
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from captum_interactions._npz import MAPPING, TEXT, load_npz, save_npz
from captum_interactions._version import __version__
from captum_interactions.exceptions import InteractionError, ResultFormatError

from .base import LanguageModelAdapter, Prompt
from .baselines import BaselineSpec, describe_baseline
from .targets import resolve_target
from .text import PlayerSpec, select_players

__all__ = [
    "LearnedBaseline",
    "interaction_loss",
    "resolve_baseline",
    "train_baseline",
]

FORMAT = "captum-interactions/learned-baseline"
FORMAT_VERSION = 1
_WHAT = "learned baseline"
_MAX_SET = 3  # S1 and S2 hold 1-3 players each


@dataclass(eq=False)
class LearnedBaseline:
    """A baseline vector learned for one model, with its training record.

    Attributes:
        vector (Tensor): ``[d_model]`` float32, on the CPU.
        model (str): the adapter name it was trained for.
        init (str): the baseline it started from (e.g. ``"pad"``).
        losses (Tensor): the training loss of every step.
        options (dict): training options (steps, lr, momentum, batch size, seed, prompts, ...).
        version (str): the captum-interactions version that trained it.
    """

    vector: torch.Tensor
    model: str
    init: str
    losses: torch.Tensor = field(default_factory=lambda: torch.zeros(0))
    options: dict[str, Any] = field(default_factory=dict)
    version: str = __version__

    def __post_init__(self) -> None:
        if not isinstance(self.vector, torch.Tensor) or self.vector.ndim != 1:
            raise InteractionError(
                f"a learned baseline is a 1-D [d_model] tensor; got {self.vector!r:.80}"
            )
        self.vector = self.vector.detach().to("cpu", torch.float32)
        self.losses = torch.as_tensor(self.losses).detach().to("cpu", torch.float64).flatten()

    @property
    def d_model(self) -> int:
        """Width of the vector."""
        return int(self.vector.shape[0])

    @property
    def description(self) -> str:
        """How results record this baseline."""
        return f"learned:{self.model}:{self.init}:{self.losses.numel()}-steps"

    def __repr__(self) -> str:
        return (
            f"LearnedBaseline(model={self.model!r}, d_model={self.d_model}, init={self.init!r}, "
            f"steps={self.losses.numel()})"
        )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write to one ``.npz`` file (vector, losses and a JSON header; no pickle)."""
        header = {
            "model": self.model,
            "init": self.init,
            "options": self.options,
            "version": self.version,
        }
        arrays = {"vector": self.vector, "losses": self.losses}
        return save_npz(path, header, arrays, fmt=FORMAT, version=FORMAT_VERSION, what=_WHAT)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> LearnedBaseline:
        """Read a file written by :meth:`save`."""
        header, arrays = load_npz(
            path, ("vector", "losses"), fmt=FORMAT, versions=(FORMAT_VERSION,), what=_WHAT,
            fields={"model": TEXT, "init": TEXT, "options": MAPPING, "version": TEXT},
        )
        try:
            return cls(arrays["vector"], losses=arrays["losses"], **header)
        except InteractionError as error:
            raise ResultFormatError(f"{path} holds an inconsistent {_WHAT}: {error}") from error


def resolve_baseline(
    adapter: LanguageModelAdapter, baseline: BaselineSpec | LearnedBaseline | os.PathLike[str]
) -> tuple[torch.Tensor, str]:
    """The ``[d_model]`` vector of a baseline, on the model's device, and its description.

    ``baseline`` is a spec of :mod:`captum_interactions.adapters.baselines` (``"pad"``,
    ``"zero"``, a token, a vector, ...), a :class:`LearnedBaseline`, or a ``pathlib.Path`` to a
    saved one (a plain ``str`` names a token, never a file).
    """
    if isinstance(baseline, os.PathLike):
        baseline = LearnedBaseline.load(baseline)
    if isinstance(baseline, LearnedBaseline):
        if baseline.model != adapter.name:
            warnings.warn(
                f"the learned baseline was trained for model {baseline.model!r} but is used "
                f"with {adapter.name!r}; a baseline is only meaningful for its own model",
                UserWarning,
                stacklevel=3,
            )
        return adapter.baseline_vector(baseline.vector), baseline.description
    return adapter.baseline_vector(baseline), describe_baseline(baseline)


@dataclass(frozen=True)
class _Game:
    """One training prompt: its tokens, players' token positions and target."""

    prompt: Prompt
    positions: tuple[tuple[int, ...], ...]
    target: tuple[int, ...]  # the token ids of the target word


def train_baseline(
    adapter: LanguageModelAdapter,
    prompts: str | Sequence[str],
    *,
    players: Sequence[Sequence[PlayerSpec] | None] | None = None,
    targets: Sequence[str | int | None] | None = None,
    n_players: int = 10,
    init: BaselineSpec | LearnedBaseline = "pad",
    steps: int = 200,
    batch_size: int = 16,
    lr: float = 1e-3,
    momentum: float = 0.9,
    value: str = "log_odds",
    seed: int = 0,
    show_progress: bool = False,
) -> LearnedBaseline:
    """Learn a baseline vector that makes conditional pairwise interactions small.

    Args:
        adapter (LanguageModelAdapter): the model (it is not changed).
        prompts (str or sequence of str): training prompts.
        players (sequence, optional): players of each prompt, as in
            :func:`~captum_interactions.adapters.text.select_players` (``None`` entries, or
            ``None`` altogether, choose the last ``n_players`` content words).
        targets (sequence, optional): target of each prompt (default: the model's top-1).
        n_players (int): players per prompt when chosen automatically.
        init: the starting baseline (``"pad"``, a token, a vector or a learned baseline).
        steps (int): SGD steps.
        batch_size (int): samples ``(prompt, S1, S2, S3)`` per step (4 masks each).
        lr (float), momentum (float): SGD with momentum (Ren et al.: 1e-3 and 0.9).
        value (str): the value of a mask (``"log_odds"``, ``"log_prob"`` or ``"logit"``).
        seed (int): seeds the sampling of player sets (the model is deterministic).
        show_progress (bool): tqdm progress bar over steps, with the running loss.

    Returns:
        LearnedBaseline, usable as ``baseline=`` and saved with ``.save(path)``.

    Examples::

        learned = train_baseline(adapter, ["The capital of France is"], steps=100)
        learned.save("smollm2-baseline.npz")
        LLMInteractions(adapter).attribute(prompt, baseline=learned)
    """
    for name, number in (("steps", steps), ("batch_size", batch_size)):
        if isinstance(number, bool) or not isinstance(number, int) or number < 1:
            raise InteractionError(f"{name} must be a positive int; got {number!r}")
    games = _games(adapter, prompts, players, targets, n_players)
    start, description = resolve_baseline(adapter, init)
    vector = start.detach().float().clone().requires_grad_(True)
    optimizer = torch.optim.SGD([vector], lr=lr, momentum=momentum)
    generator = torch.Generator().manual_seed(seed)
    losses = torch.zeros(steps, dtype=torch.float64, device=adapter.device)
    with tqdm(range(steps), disable=not show_progress, desc="learning baseline") as bar:
        for step in bar:
            loss = _loss(adapter, games, vector, _samples(games, batch_size, generator), value)
            (gradient,) = torch.autograd.grad(loss, vector)
            vector.grad = gradient
            optimizer.step()
            losses[step] = loss.detach()
            if show_progress and (step % 10 == 0 or step == steps - 1):
                bar.set_postfix(loss=f"{float(losses[max(0, step - 9) : step + 1].mean()):.4g}")
    options = {
        "steps": steps,
        "batch_size": batch_size,
        "lr": lr,
        "momentum": momentum,
        "value": value,
        "seed": seed,
        "n_prompts": len(games),
        "n_players": [len(game.positions) for game in games],
    }
    return LearnedBaseline(vector, adapter.name, description, losses, options)


def interaction_loss(
    adapter: LanguageModelAdapter,
    prompts: str | Sequence[str],
    baseline: BaselineSpec | LearnedBaseline | os.PathLike[str] = "pad",
    *,
    players: Sequence[Sequence[PlayerSpec] | None] | None = None,
    targets: Sequence[str | int | None] | None = None,
    n_players: int = 10,
    samples: int = 64,
    value: str = "log_odds",
    seed: int = 0,
) -> float:
    """The training loss of :func:`train_baseline` for a baseline, on fixed random samples.

    Use it to compare baselines (e.g. ``"pad"`` against a learned one) on held-out prompts;
    the same ``seed`` draws the same player sets for every baseline.
    """
    games = _games(adapter, prompts, players, targets, n_players)
    vector, _ = resolve_baseline(adapter, baseline)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        return float(_loss(adapter, games, vector, _samples(games, samples, generator), value))


def _games(
    adapter: LanguageModelAdapter,
    prompts: str | Sequence[str],
    players: Sequence[Sequence[PlayerSpec] | None] | None,
    targets: Sequence[str | int | None] | None,
    n_players: int,
) -> list[_Game]:
    prompts = [prompts] if isinstance(prompts, str) else list(prompts)
    if not prompts:
        raise InteractionError("give at least one prompt to learn a baseline from")
    players = [None] * len(prompts) if players is None else list(players)
    targets = [None] * len(prompts) if targets is None else list(targets)
    for name, given in (("players", players), ("targets", targets)):
        if len(given) != len(prompts):
            raise InteractionError(
                f"{name} must have one entry per prompt ({len(prompts)}); got {len(given)}"
            )
    games = []
    for text, chosen, target in zip(prompts, players, targets, strict=True):
        prompt = adapter.tokenize(text)
        selected = select_players(text, chosen, n_players=n_players)
        if len(selected) < 2:
            raise InteractionError(
                f"the prompt {text!r} has {len(selected)} player ({list(selected.labels)}); "
                "pairwise interactions need at least 2 players per prompt"
            )
        games.append(
            _Game(prompt, selected.positions(prompt),
                  resolve_target(adapter, prompt, target).tokens)
        )
    return games


def _samples(
    games: list[_Game], count: int, generator: torch.Generator
) -> list[tuple[int, int, int, int]]:
    """``count`` draws of ``(game, S1, S2, S3)`` as bitmasks, grouped by game."""
    chosen = torch.randint(len(games), (count,), generator=generator).sort().values.tolist()
    return [(index, *_draw(len(games[index].positions), generator)) for index in chosen]


def _draw(n: int, generator: torch.Generator) -> tuple[int, int, int]:
    """Bitmasks of disjoint ``S1``, ``S2`` (1-3 players each) and a context ``S3``."""
    order = torch.randperm(n, generator=generator).tolist()
    k1 = int(torch.randint(1, min(_MAX_SET, n - 1) + 1, (), generator=generator))
    k2 = int(torch.randint(1, min(_MAX_SET, n - k1) + 1, (), generator=generator))
    rest = order[k1 + k2 :]
    keep = torch.rand(len(rest), generator=generator) < 0.5
    s1 = sum(1 << i for i in order[:k1])
    s2 = sum(1 << i for i in order[k1 : k1 + k2])
    s3 = sum(1 << i for i, kept in zip(rest, keep.tolist(), strict=True) if kept)
    return s1, s2, s3


def _loss(
    adapter: LanguageModelAdapter,
    games: list[_Game],
    vector: torch.Tensor,
    samples: list[tuple[int, int, int, int]],
    value: str,
) -> torch.Tensor:
    """Mean ``|v(S1∪S2∪S3) - v(S1∪S3) - v(S2∪S3) + v(S3)|`` over the samples.

    One masked evaluation per game; the four masks of a sample rarely share a prefix, so the
    prefix tree is not used (it costs more than it saves here).
    """
    terms = []
    for index in sorted({sample[0] for sample in samples}):
        game = games[index]
        masks = torch.tensor(
            [[s1 | s2 | s3, s1 | s3, s2 | s3, s3] for i, s1, s2, s3 in samples if i == index],
            dtype=torch.long,
        )
        v = adapter.evaluate(
            game.prompt,
            game.positions,
            masks.flatten(),
            target=game.target,
            baseline=vector,
            value=value,
            prefix_sharing=False,
        ).view(-1, 4)
        terms.append((v[:, 0] - v[:, 1] - v[:, 2] + v[:, 3]).abs())
    return torch.cat(terms).mean()

"""Value definitions: how a model output becomes the scalar ``v(T)`` of a mask.

One registry serves the Captum class and the language-model adapters alike:
:func:`value_function` turns a name (:data:`VALUES`) or a callable into the function
``(output [R, ...], target) -> v [R]`` and the name results record as ``value_kind``:

- ``"log_odds"`` (the papers' default for classifiers and language models): the log-odds of
  the target class, ``log p_y / (1 - p_y)``, computed stably from logits as
  ``z_y - logsumexp_{c != y} z_c``;
- ``"log_prob"``: ``log p_y``;
- ``"raw"``: the output entry the target selects (for a language model, the target's logit;
  for a regressor, its output).

Computation runs in float32 or better, even for half-precision models.

>>> score, kind = value_function("raw")
>>> score(torch.tensor([[1.0, 3.0]]), torch.tensor([1])), kind
(tensor([3.]), 'raw')

>>> logits = torch.tensor([[2.0, 0.0, 0.0]])
>>> round(log_odds(logits, torch.tensor([0])).item(), 4)   # log(e^2 / (1 + 1))
1.3069
>>> round(log_prob(logits, torch.tensor([0])).item(), 4)
-0.2395

Models that output probabilities use the ``*_from_probs`` variants, which read
``1 - p_y`` as the summed mass of the other classes (exact even when ``p_y`` is close to 1):

>>> probs = torch.softmax(logits, dim=-1)
>>> round(log_odds_from_probs(probs, torch.tensor([0])).item(), 4)
1.3069
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from .exceptions import InteractionError

__all__ = [
    "OUTPUTS",
    "VALUES",
    "ValueFunction",
    "log_odds",
    "log_odds_from_probs",
    "log_prob",
    "log_prob_from_probs",
    "value_function",
]

#: Names of the value definitions.
VALUES = ("log_odds", "log_prob", "raw")
#: What a model's class scores are: ``"logits"`` or ``"probs"`` (probabilities).
OUTPUTS = ("logits", "probs")

#: ``value(output [R, ...], target) -> v [R]``: the target is ``None``, ``[R]`` (one index per
#: row) or ``[R, k]`` (a tuple of ``k`` indices after the row dimension per row).
ValueFunction = Callable[[Tensor, "Tensor | None"], Tensor]


def _at_least_float32(logits: torch.Tensor) -> torch.Tensor:
    if logits.dtype in (torch.float16, torch.bfloat16) or not logits.is_floating_point():
        return logits.float()
    return logits


def log_odds(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``z_y - logsumexp_{c != y} z_c`` for logits ``[..., C]`` and targets ``[...]``."""
    logits = _at_least_float32(logits)
    index = target.to(device=logits.device, dtype=torch.long).unsqueeze(-1)
    chosen = logits.gather(-1, index).squeeze(-1)
    others = logits.scatter(-1, index, float("-inf"))
    return chosen - torch.logsumexp(others, dim=-1)


def log_prob(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``log softmax(z)_y`` for logits ``[..., C]`` and targets ``[...]``."""
    logits = _at_least_float32(logits)
    index = target.to(device=logits.device, dtype=torch.long).unsqueeze(-1)
    return (logits.gather(-1, index).squeeze(-1) - torch.logsumexp(logits, dim=-1))


def log_odds_from_probs(
    probs: torch.Tensor, target: torch.Tensor, *, eps: float | None = None
) -> torch.Tensor:
    """``log p_y - log Σ_{c != y} p_c`` for probabilities ``[..., C]`` and targets ``[...]``.

    A probability of exactly 0 or 1 gives an infinite log-odds. With ``eps``, ``p_y`` and
    the other classes' mass are both clipped into ``[eps, 1 - eps]`` first, so the result
    lies within ``±log((1 - eps) / eps)``.

    >>> p = torch.tensor([[1.0, 0.0]])
    >>> log_odds_from_probs(p, torch.tensor([0])).item()
    inf
    >>> round(log_odds_from_probs(p, torch.tensor([0]), eps=1e-6).item(), 4)
    13.8155
    """
    probs = _at_least_float32(probs)
    index = target.to(device=probs.device, dtype=torch.long).unsqueeze(-1)
    chosen = probs.gather(-1, index).squeeze(-1)
    rest = probs.scatter(-1, index, 0.0).sum(-1)
    if eps is not None:
        chosen, rest = chosen.clamp(eps, 1 - eps), rest.clamp(eps, 1 - eps)
    return chosen.log() - rest.log()


def log_prob_from_probs(
    probs: torch.Tensor, target: torch.Tensor, *, eps: float | None = None
) -> torch.Tensor:
    """``log p_y`` for probabilities ``[..., C]``; with ``eps``, ``p_y`` is clipped to ``>= eps``.

    >>> round(log_prob_from_probs(torch.tensor([[0.5, 0.5]]), torch.tensor([1])).item(), 4)
    -0.6931
    """
    probs = _at_least_float32(probs)
    index = target.to(device=probs.device, dtype=torch.long).unsqueeze(-1)
    chosen = probs.gather(-1, index).squeeze(-1)
    if eps is not None:
        chosen = chosen.clamp(min=eps)
    return chosen.log()


def value_function(
    value: str | ValueFunction = "log_odds", *, output: str = "logits", eps: float | None = None
) -> tuple[ValueFunction, str]:
    """The value function named by ``value`` and the name results record as ``value_kind``.

    Args:
        value (str or callable): one of :data:`VALUES`, or your own
            ``value(output, target) -> [R]`` (recorded as ``"callable:<its name>"``).
        output (str): ``"logits"`` or ``"probs"``: what the class scores of ``"log_odds"``
            and ``"log_prob"`` are.
        eps (float, optional): with ``output="probs"``, clip probabilities into
            ``[eps, 1 - eps]`` (finite log-odds for probabilities of exactly 0 or 1).

    With ``"log_odds"`` and ``"log_prob"`` the last index of the target is the class and any
    leading ones select a ``[classes]`` row (e.g. ``(-1, token)`` for ``[R, positions,
    vocab]``); ``"raw"`` reads the one entry the target selects (or the output itself
    without a target).

    >>> score, kind = value_function("log_odds")
    >>> round(score(torch.tensor([[2.0, 0.0, 0.0]]), torch.tensor([0])).item(), 4), kind
    (1.3069, 'log_odds')
    """
    if output not in OUTPUTS:
        raise InteractionError(f"output must be one of {OUTPUTS}, got {output!r}")
    if eps is not None and (output != "probs" or not 0 < eps < 0.5):
        raise InteractionError(
            f"eps clips probabilities into [eps, 1 - eps]: it needs output='probs' and "
            f"0 < eps < 0.5, got eps={eps} with output={output!r}"
        )
    if callable(value):
        return value, f"callable:{getattr(value, '__qualname__', type(value).__qualname__)}"
    if value == "raw":
        return _raw_value, "raw"
    if value in ("log_odds", "log_prob"):
        if output == "logits":
            formula = log_odds if value == "log_odds" else log_prob
        else:
            from_probs = log_odds_from_probs if value == "log_odds" else log_prob_from_probs

            def formula(probs: Tensor, classes: Tensor) -> Tensor:
                return from_probs(probs, classes, eps=eps)

        def class_value(scores: Tensor, target: Tensor | None) -> Tensor:
            rows, classes = _class_scores(scores, target, value)
            return formula(rows, classes)

        return class_value, value
    raise InteractionError(
        f"value must be one of {VALUES} or a callable(output, target) -> Tensor, got {value!r}"
    )


def _select(output: Tensor, target: Tensor) -> Tensor:
    """``output[r, *target[r]]`` for every row ``r``."""
    rows = torch.arange(output.shape[0], device=output.device)
    return output[(rows, *target.reshape(output.shape[0], -1).unbind(1))]


def _raw_value(output: Tensor, target: Tensor | None) -> Tensor:
    selected = output if target is None else _select(output, target)
    flat = selected.reshape(output.shape[0], -1)
    if flat.shape[1] != 1:
        raise InteractionError(
            f"value='raw' needs one scalar per example, but the output of shape "
            f"{tuple(output.shape)} leaves {tuple(selected.shape[1:])} per example after the "
            "target; pass a target that selects one entry, or value='log_odds' for class scores"
        )
    return flat[:, 0]


def _class_scores(output: Tensor, target: Tensor | None, kind: str) -> tuple[Tensor, Tensor]:
    """Class scores ``[rows, C]`` and the class of each row from a (tuple) target."""
    if target is None:
        raise InteractionError(
            f"value={kind!r} needs a target: the class whose {kind} is explained"
        )
    columns = target.reshape(output.shape[0], -1)
    scores = _select(output, columns[:, :-1]) if columns.shape[1] > 1 else output
    if scores.dim() != 2 or scores.shape[1] < 2:
        raise InteractionError(
            f"value={kind!r} needs class scores [batch, classes >= 2] after the target's "
            f"leading indices, got shape {tuple(scores.shape)} from an output of shape "
            f"{tuple(output.shape)}. For a single sigmoid logit per example, value='raw' "
            "already is the log-odds."
        )
    return scores, columns[:, -1]

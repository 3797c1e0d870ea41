"""Value definitions: how a model output becomes the scalar ``v(T)`` of a mask.

The papers' default for classifiers and language models is the log-odds of the target,
``log p_y / (1 - p_y)``, computed stably from logits as ``z_y - logsumexp_{c != y} z_c``.
Computation runs in float32 or better, even for half-precision models.

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

import torch

__all__ = ["log_odds", "log_odds_from_probs", "log_prob", "log_prob_from_probs", "logit"]


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


def logit(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The target's logit ``z_y`` (float32 or better) for logits ``[..., C]``, targets ``[...]``."""
    logits = _at_least_float32(logits)
    index = target.to(device=logits.device, dtype=torch.long).unsqueeze(-1)
    return logits.gather(-1, index).squeeze(-1)


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

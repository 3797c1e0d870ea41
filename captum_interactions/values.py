"""Value definitions: how a model output becomes the scalar ``v(T)`` of a mask.

The papers' default for classifiers and language models is the log-odds of the target,
``log p_y / (1 - p_y)``, computed stably from logits as ``z_y - logsumexp_{c != y} z_c``.
Computation runs in float32 or better, even for half-precision models.

>>> logits = torch.tensor([[2.0, 0.0, 0.0]])
>>> round(log_odds(logits, torch.tensor([0])).item(), 4)   # log(e^2 / (1 + 1))
1.3069
>>> round(log_prob(logits, torch.tensor([0])).item(), 4)
-0.2395
"""

from __future__ import annotations

import torch

__all__ = ["log_odds", "log_prob"]


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

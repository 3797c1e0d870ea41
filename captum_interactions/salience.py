"""Which interactions are salient: thresholds on ``|I(S)|`` over AND and OR together.

The papers' convention (the default) keeps ``S`` when ``|I(S)| >= tau * max_S' |I(S')|``,
the maximum running over both types and every non-empty ``S``. The empty set never counts:
its terms carry ``v(∅)``, not an interaction between players. All functions accept leading
batch dimensions, so many samples are thresholded in one call.

>>> I_and = torch.tensor([9.0, 1.0, 0.01, 2.0])
>>> I_or = torch.tensor([9.0, 0.0, -0.5, 0.0])
>>> keep_and, keep_or = salient_masks(I_and, I_or, tau=0.2)
>>> keep_and.tolist(), keep_or.tolist()
([False, True, False, True], [False, False, True, False])
>>> salient_masks(I_and, I_or, top_k=1)[0].tolist()
[False, False, False, True]
"""

from __future__ import annotations

import math

import torch

from .exceptions import InteractionError

__all__ = ["merge_singletons", "salient_masks"]


def merge_singletons(
    and_interactions: torch.Tensor, or_interactions: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The merged-singleton view: ``OR{i}`` added into ``AND{i}`` and set to zero.

    ``AND{i}`` and ``OR{i}`` fire on exactly the same masks (those containing ``i``), so only
    their sum is identifiable. Returns new tensors; the inputs are unchanged.
    """
    merged_and, merged_or = and_interactions.clone(), or_interactions.clone()
    n = and_interactions.shape[-1].bit_length() - 1
    singletons = [1 << i for i in range(n)]
    merged_and[..., singletons] += or_interactions[..., singletons]
    merged_or[..., singletons] = 0
    return merged_and, merged_or


def salient_masks(
    and_interactions: torch.Tensor,
    or_interactions: torch.Tensor,
    *,
    tau: float = 0.05,
    absolute: float | None = None,
    top_k: int | None = None,
    top_fraction: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Boolean masks of the salient AND and OR interactions (same shape as the inputs).

    Exactly one criterion applies, the first one given of: ``absolute`` (``|I| >= absolute``),
    ``top_k`` (the ``k`` strongest over both types), ``top_fraction`` (that fraction of the
    ``2 * (2**n - 1)`` non-empty terms, rounded up), else ``tau`` (``|I| >= tau * max |I|``).
    Exact zeros are never salient.
    """
    for name, value in (("tau", tau), ("absolute", absolute), ("top_fraction", top_fraction)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise TypeError(f"{name} must be a number, got {type(value).__name__} ({value!r})")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int)):
        raise TypeError(f"top_k must be an int (how many terms), got {top_k!r}")
    if and_interactions.shape != or_interactions.shape:
        raise InteractionError(
            f"AND and OR interactions must have the same shape, got "
            f"{tuple(and_interactions.shape)} and {tuple(or_interactions.shape)}"
        )
    strength = torch.stack([and_interactions, or_interactions], dim=-2).abs()
    strength[..., 0] = 0  # the empty set is not an interaction between players
    flat = strength.flatten(-2)
    if absolute is not None:
        if not absolute >= 0:
            raise InteractionError(f"absolute threshold must be >= 0, got {absolute}")
        keep = flat >= absolute
    elif top_k is not None or top_fraction is not None:
        if top_k is None:
            if not 0 < top_fraction <= 1:
                raise InteractionError(f"top_fraction must be in (0, 1], got {top_fraction}")
            top_k = math.ceil(top_fraction * (flat.shape[-1] - 2))
        if top_k < 0:
            raise InteractionError(f"top_k must be >= 0, got {top_k}")
        k = min(top_k, flat.shape[-1])
        keep = torch.zeros_like(flat, dtype=torch.bool)
        keep.scatter_(-1, flat.topk(k, dim=-1).indices, True)
    else:
        if not 0 <= tau <= 1:
            raise InteractionError(f"tau must be in [0, 1] (a fraction of the maximum), got {tau}")
        keep = flat >= tau * flat.amax(dim=-1, keepdim=True)
    keep &= flat > 0
    keep = keep.view(strength.shape)
    return keep[..., 0, :], keep[..., 1, :]

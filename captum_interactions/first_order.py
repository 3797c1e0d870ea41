"""First-order attributions (Shapley and Banzhaf values) derived from interactions.

An AND interaction on ``S`` and an OR interaction on ``S`` both give each member of ``S``
the same Shapley share ``I(S) / |S|`` and the same Banzhaf share ``I(S) / 2**(|S|-1)``,
so both summaries are weighted sums over the masks that contain a player.

>>> from captum_interactions import and_transform
>>> v = torch.tensor([0.0, 1.0, 2.0, 5.0])
>>> shapley_values(and_transform(v)).tolist()
[2.0, 3.0]
>>> banzhaf_values(and_transform(v)).tolist()
[2.0, 3.0]

:func:`spread` puts one value per player back onto an input's shape through a Captum
``feature_mask`` (every element of group ``i`` gets player ``i``'s value, background ``-1``
gets zero), the shape Captum's attributions and visualisation functions use:

>>> spread(torch.tensor([2.0, 3.0]), torch.tensor([[0, 0, 1, -1]])).tolist()
[[2.0, 2.0, 3.0, 0.0]]
"""

from __future__ import annotations

import torch

from ._transforms import _checked
from .exceptions import InteractionError
from .subsets import orders

__all__ = ["banzhaf_values", "shapley_values", "spread"]


def _combined(and_interactions: torch.Tensor, or_interactions: torch.Tensor | None):
    total, n = _checked(and_interactions, "and_interactions")
    if or_interactions is not None:
        if or_interactions.shape != total.shape:
            raise InteractionError(
                f"or_interactions has shape {tuple(or_interactions.shape)}, expected "
                f"{tuple(total.shape)} like and_interactions"
            )
        total = total + or_interactions
    return total, n


def _per_player_sums(weighted: torch.Tensor, n: int) -> torch.Tensor:
    """``out[..., i] = Σ_{T ∋ i} weighted[..., T]`` in ``O(n * 2**n)``."""
    lead = weighted.shape[:-1]
    sums = [
        weighted.view(*lead, 1 << (n - 1 - i), 2, 1 << i)[..., 1, :].sum(dim=(-1, -2))
        for i in range(n)
    ]
    return torch.stack(sums, dim=-1) if sums else weighted.new_zeros(*lead, 0)


def shapley_values(
    and_interactions: torch.Tensor, or_interactions: torch.Tensor | None = None
) -> torch.Tensor:
    """Shapley values ``φ_i = Σ_{S ∋ i} (I_and(S) + I_or(S)) / |S|``; shape ``[..., n]``."""
    total, n = _combined(and_interactions, or_interactions)
    size = orders(n, device=total.device).to(total.dtype).clamp_(min=1)
    return _per_player_sums(total / size, n)


def banzhaf_values(
    and_interactions: torch.Tensor, or_interactions: torch.Tensor | None = None
) -> torch.Tensor:
    """Banzhaf values ``β_i = Σ_{S ∋ i} (I_and(S) + I_or(S)) / 2**(|S|-1)``; shape ``[..., n]``."""
    total, n = _combined(and_interactions, or_interactions)
    size = orders(n, device=total.device).to(total.dtype)
    return _per_player_sums(total * torch.exp2(1 - size), n)


def spread(per_player: torch.Tensor, feature_mask: torch.Tensor) -> torch.Tensor:
    """``out[e] = per_player[feature_mask[e]]`` (``0`` where ``feature_mask[e] == -1``), shaped
    like ``feature_mask`` and typed like ``per_player``."""
    if not isinstance(feature_mask, torch.Tensor):
        raise TypeError(f"feature_mask must be a torch.Tensor of player ids, got "
                        f"{type(feature_mask).__name__}; wrap it with torch.as_tensor(...)")
    if feature_mask.is_floating_point() or feature_mask.is_complex() or (
            feature_mask.dtype == torch.bool):
        raise TypeError(f"feature_mask must hold integer player ids, got dtype "
                        f"{feature_mask.dtype}; convert it with .long()")
    n = per_player.shape[-1]
    if feature_mask.numel() and (int(feature_mask.min()) < -1 or int(feature_mask.max()) >= n):
        raise InteractionError(
            f"feature_mask holds ids from {int(feature_mask.min())} to "
            f"{int(feature_mask.max())}, but the result has {n} players: ids must be 0 .. "
            f"{n - 1} (or -1 for background). Pass the feature_mask the result was made with"
        )
    ids = feature_mask.to(per_player.device).long()
    padded = torch.cat([per_player, per_player.new_zeros(1)])  # id -1 reads the zero
    return padded[ids]

"""The result of one sample: values over all masks, AND and OR interactions, metadata.

>>> import torch
>>> from captum_interactions import and_transform, or_transform
>>> v = torch.tensor([0.0, 1.0, 2.0, 5.0])
>>> result = InteractionResult(
...     players=["a", "b"], values=v,
...     and_interactions=and_transform(v), or_interactions=torch.zeros(4))
>>> result
InteractionResult(n_players=2, players=['a', 'b'], salient=3, objective=5)
>>> [(i.label, i.type, i.value) for i in result.salient()]
[('b', 'and', 2.0), ('a & b', 'and', 2.0), ('a', 'and', 1.0)]
>>> result.shapley_values().tolist()
[2.0, 3.0]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

import torch

from ._npz import load_npz, save_npz
from ._transforms import _checked, reconstruct
from ._version import __version__
from .exceptions import InteractionError
from .first_order import banzhaf_values, shapley_values
from .salience import merge_singletons as _merge_singletons
from .salience import salient_masks
from .subsets import MASK_CONVENTION, orders, to_indices

__all__ = ["Interaction", "InteractionResult"]

FORMAT = "captum-interactions/result"
FORMAT_VERSION = 1
_ARRAYS = ("values", "and_interactions", "or_interactions", "p", "q")
_WHAT = "captum-interactions result"


class Interaction(NamedTuple):
    """One interaction term: the players of ``S``, its type and its value."""

    mask: int
    indices: tuple[int, ...]
    players: tuple[str, ...]
    type: Literal["and", "or"]
    value: float

    @property
    def order(self) -> int:
        """Number of players in the interaction."""
        return len(self.indices)

    @property
    def sign(self) -> int:
        """+1, -1 or 0."""
        return (self.value > 0) - (self.value < 0)

    @property
    def label(self) -> str:
        """Player labels joined by ``" & "`` (AND) or ``" | "`` (OR)."""
        return (" & " if self.type == "and" else " | ").join(self.players)


@dataclass(eq=False)
class InteractionResult:
    """AND and OR interactions of one sample, with everything needed to interpret them.

    Vectors have length ``2**n`` and are indexed by bitmask (bit ``i`` = player ``i``).
    Universal matching holds: ``values + q == reconstruct(and_interactions, or_interactions)``.

    Attributes:
        players (list[str]): one label per player.
        values (Tensor): ``v(T)`` for every mask ``T``.
        and_interactions, or_interactions (Tensor): ``I_and(S)`` and ``I_or(S)``.
        p (Tensor): the AND/OR decomposition vector (zeros when not learned).
        q (Tensor): the noise vector, ``|q| <= bound`` (zeros when not learned).
        bound (float): the noise bound used.
        target (int | None), target_text (str | None): the explained output.
        baseline (str | None): how absent players were replaced.
        value_kind (str | None): how ``v`` was computed ("log_odds", "raw", ...).
        extraction (dict): mode, solver, objective, gap, iterations, seconds, qcoef, scale.
        metadata (dict): model, prompt and anything else (JSON-serialisable).
        version (str): the captum-interactions version that made the result.
    """

    players: list[str]
    values: torch.Tensor
    and_interactions: torch.Tensor
    or_interactions: torch.Tensor
    p: torch.Tensor | None = None
    q: torch.Tensor | None = None
    bound: float = 0.0
    target: int | None = None
    target_text: str | None = None
    baseline: str | None = None
    value_kind: str | None = None
    extraction: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    version: str = __version__
    mask_convention: str = MASK_CONVENTION

    def __post_init__(self) -> None:
        self.players = [str(player) for player in self.players]
        _, n = _checked(self.values, "values")
        if n != len(self.players):
            raise InteractionError(
                f"values have length 2**{n} but {len(self.players)} player labels were given "
                f"({self.players}); give one label per player"
            )
        if len(set(self.players)) != n:
            raise InteractionError(f"player labels must be unique, got {self.players}")
        for name in ("and_interactions", "or_interactions", "p", "q"):
            tensor = getattr(self, name)
            if tensor is None:
                tensor = torch.zeros_like(self.values)
                setattr(self, name, tensor)
            if tensor.shape != self.values.shape:
                raise InteractionError(
                    f"{name} has shape {tuple(tensor.shape)}, expected "
                    f"{tuple(self.values.shape)} like values (one sample, 2**n masks)"
                )
        if self.values.dim() != 1:
            raise InteractionError(
                f"one InteractionResult holds one sample: values must be 1-D, got shape "
                f"{tuple(self.values.shape)}"
            )
        if not self.bound >= 0:
            raise InteractionError(f"bound must be >= 0, got {self.bound}")
        self.bound = float(self.bound)

    # ----------------------------------------------------------------------------- basics
    @property
    def n_players(self) -> int:
        """Number of players ``n``."""
        return len(self.players)

    @property
    def objective(self) -> float:
        """``Σ_{S ≠ ∅} |I_and(S)| + |I_or(S)|``, the L1 norm that sparse extraction minimises.

        The empty-set terms carry ``v(∅)`` and are left out, so a constant shift of ``v``
        does not change the objective.
        """
        total = self.and_interactions.abs().sum() + self.or_interactions.abs().sum()
        return float(total - self.and_interactions[0].abs() - self.or_interactions[0].abs())

    def reconstruct(self) -> torch.Tensor:
        """Values rebuilt from the interactions by universal matching (``values + q``)."""
        return reconstruct(self.and_interactions, self.or_interactions)

    def matching_error(self) -> float:
        """Largest ``|reconstruct() - (values + q)|`` over all masks (float rounding only)."""
        return float((self.reconstruct() - self.values - self.q).abs().max())

    def interactions(
        self, *, merge_singletons: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(I_and, I_or)``; with ``merge_singletons`` each ``OR{i}`` is added into ``AND{i}``."""
        if merge_singletons:
            return _merge_singletons(self.and_interactions, self.or_interactions)
        return self.and_interactions.clone(), self.or_interactions.clone()

    def shapley_values(self) -> torch.Tensor:
        """Shapley value of every player for the game ``v + q`` (``[n]``)."""
        return shapley_values(self.and_interactions, self.or_interactions)

    def banzhaf_values(self) -> torch.Tensor:
        """Banzhaf value of every player for the game ``v + q`` (``[n]``)."""
        return banzhaf_values(self.and_interactions, self.or_interactions)

    # ---------------------------------------------------------------------------- views
    def salient_masks(
        self, tau: float = 0.05, *, merge_singletons: bool = False, **criterion: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Boolean ``[2**n]`` masks of salient AND and OR terms (see :func:`salient_masks`)."""
        and_i, or_i = self.interactions(merge_singletons=merge_singletons)
        return salient_masks(and_i, or_i, tau=tau, **criterion)

    def salient(
        self,
        tau: float = 0.05,
        *,
        absolute: float | None = None,
        top_k: int | None = None,
        top_fraction: float | None = None,
        merge_singletons: bool = False,
    ) -> list[Interaction]:
        """Salient interactions, strongest first.

        Args:
            tau (float): keep ``|I(S)| >= tau * max |I|`` (the papers' 0.05 by default).
            absolute (float, optional): keep ``|I(S)| >= absolute`` instead.
            top_k (int, optional): keep the ``k`` strongest instead.
            top_fraction (float, optional): keep that fraction of all terms instead.
            merge_singletons (bool): add ``OR{i}`` into ``AND{i}`` first.
        """
        and_i, or_i = self.interactions(merge_singletons=merge_singletons)
        keep_and, keep_or = salient_masks(
            and_i, or_i, tau=tau, absolute=absolute, top_k=top_k, top_fraction=top_fraction
        )
        found = []
        for kind, values, keep in (("and", and_i, keep_and), ("or", or_i, keep_or)):
            masks = torch.nonzero(keep).flatten().tolist()
            for mask, value in zip(masks, values[masks].tolist(), strict=True):
                indices = to_indices(mask)
                labels = tuple(self.players[i] for i in indices)
                found.append(Interaction(mask, indices, labels, kind, value))
        found.sort(key=lambda term: (-abs(term.value), term.type, term.mask))
        return found

    def order_histogram(self, tau: float = 0.05, **criterion: Any) -> dict[str, list[int]]:
        """Number of salient AND and OR interactions of each order ``0 .. n``."""
        keep_and, keep_or = self.salient_masks(tau, **criterion)
        order = orders(self.n_players, device=keep_and.device)
        return {
            kind: torch.bincount(order[keep], minlength=self.n_players + 1).tolist()
            for kind, keep in (("and", keep_and), ("or", keep_or))
        }

    def to_records(self, tau: float = 0.05, **criterion: Any) -> list[dict[str, Any]]:
        """Salient interactions as a tidy list of dicts (one row per interaction)."""
        return [
            {
                "players": term.label,
                "indices": list(term.indices),
                "mask": term.mask,
                "type": term.type,
                "order": term.order,
                "value": term.value,
                "sign": term.sign,
            }
            for term in self.salient(tau, **criterion)
        ]

    def to_pandas(self, tau: float = 0.05, **criterion: Any):
        """:meth:`to_records` as a ``pandas.DataFrame`` (needs pandas)."""
        from ._optional import require

        pandas = require("pandas", purpose="InteractionResult.to_pandas")
        return pandas.DataFrame.from_records(self.to_records(tau, **criterion))

    def __repr__(self) -> str:
        players = self.players if self.n_players <= 6 else [*self.players[:6], "..."]
        return (
            f"{type(self).__name__}(n_players={self.n_players}, players={players}, "
            f"salient={len(self.salient())}, objective={self.objective:.4g})"
        )

    # ------------------------------------------------------------------------ save/load
    def _header(self) -> dict[str, Any]:
        return {
            "players": self.players,
            "bound": self.bound,
            "target": self.target,
            "target_text": self.target_text,
            "baseline": self.baseline,
            "value_kind": self.value_kind,
            "extraction": self.extraction,
            "metadata": self.metadata,
            "version": self.version,
            "mask_convention": self.mask_convention,
        }

    def save(self, path: str | Path) -> Path:
        """Write the result to one ``.npz`` file (arrays + a JSON header, no pickle)."""
        arrays = {name: getattr(self, name) for name in _ARRAYS}
        return save_npz(path, self._header(), arrays, fmt=FORMAT, version=FORMAT_VERSION,
                        what=_WHAT)

    @classmethod
    def load(cls, path: str | Path) -> InteractionResult:
        """Read a result written by :meth:`save`; tensors come back on the CPU."""
        header, arrays = load_npz(path, _ARRAYS, fmt=FORMAT, version=FORMAT_VERSION, what=_WHAT)
        return cls(**header, **arrays)


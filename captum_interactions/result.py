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

Explore it like shapiq's ``InteractionValues``: by labels or indices, strongest first, by order.

>>> and_term, or_term = result["a", "b"]
>>> and_term
Interaction(mask=3, indices=(0, 1), players=('a', 'b'), type='and', value=2.0)
>>> or_term.label, or_term.value
('a | b', 0.0)
>>> [term.label for term in result.top_k(2)], [t.label for t in result.by_order(1)]
(['b', 'a & b'], ['b', 'a'])
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import torch

from . import _shapiq
from ._npz import (
    BOOLEAN,
    INTEGER,
    MAPPING,
    NUMBER,
    OPTIONAL_BOOLEAN,
    OPTIONAL_INTEGER,
    OPTIONAL_MAPPING,
    OPTIONAL_NUMBER,
    OPTIONAL_TEXT,
    TEXT,
    TEXT_LIST,
    Field,
    check_fields,
    load_npz,
    save_npz,
)
from ._transforms import (
    _checked,
    and_transform,
    inverse_and_transform,
    moebius_coefficients,
    reconstruct,
)
from ._version import __version__
from .exceptions import InteractionError, ResultFormatError
from .first_order import banzhaf_values, shapley_values, spread
from .salience import merge_singletons as _merge_singletons
from .salience import salient_masks
from .subsets import (
    MASK_CONVENTION,
    check_labels,
    n_players_of,
    orders,
    to_indices,
    to_mask,
)

if TYPE_CHECKING:
    from shapiq import InteractionValues

__all__ = [
    "ExtractionInfo",
    "Interaction",
    "InteractionResult",
    "SharedExtraction",
    "attribution_maps",
]

#: The first-order views :meth:`InteractionResult.attribution_map` can spread over the input.
_ATTRIBUTIONS = ("shapley", "banzhaf")

FORMAT = "captum-interactions/result"
#: Version 2 stores the extraction as an :class:`ExtractionInfo` record; version 1 files
#: (a free dict) still load.
FORMAT_VERSION = 2
_READS = (1, 2)
_ARRAYS = ("values", "and_interactions", "or_interactions", "p", "q")
_WHAT = "captum-interactions result"
_SCALE = Field(lambda x: isinstance(x, str) or NUMBER.check(x), "a string or a finite number")
#: The fields of a saved result's header, and of its extraction record.
_HEADER = {"players": TEXT_LIST, "bound": NUMBER, "target": OPTIONAL_INTEGER,
           "target_text": OPTIONAL_TEXT, "baseline": OPTIONAL_TEXT, "value_kind": OPTIONAL_TEXT,
           "extraction": OPTIONAL_MAPPING, "metadata": MAPPING, "version": TEXT,
           "mask_convention": TEXT}
_EXTRACTION = {"mode": TEXT, "solver": TEXT, "qcoef": NUMBER, "scale": _SCALE,
               "subtract_v0": BOOLEAN, "objective": NUMBER, "dual": OPTIONAL_NUMBER,
               "gap": OPTIONAL_NUMBER, "converged": OPTIONAL_BOOLEAN, "iterations": INTEGER,
               "seconds": NUMBER, "shared": OPTIONAL_MAPPING}
_SHARED = {"model": INTEGER, "n_models": INTEGER, "alpha": NUMBER, "pcoef": NUMBER,
           "normalize": BOOLEAN, "p_bound": NUMBER}


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


@dataclass(frozen=True)
class SharedExtraction:
    """The joint side of a result made by :func:`~captum_interactions.extract_shared`.

    Attributes:
        model (int): the index of this result's model among the models extracted jointly.
        n_models (int): how many models were extracted jointly.
        alpha (float): weight of the sum in the joint loss.
        pcoef (float): bound of the model parts ``p_m``, relative to the batch mean of
            ``|v_m(N) - v_m(∅)|``.
        normalize (bool): whether each model's values were divided by their scale.
        p_bound (float): this model's bound of ``|p_m|``.
    """

    model: int
    n_models: int
    alpha: float
    pcoef: float
    normalize: bool
    p_bound: float


@dataclass(frozen=True)
class ExtractionInfo:
    """How a result's interactions were extracted: the problem, the solver, its certificate.

    ``objective``, ``dual`` and ``gap`` describe the problem that was solved: for one model
    its loss ``Σ_{S≠∅} |I_and(S)| + |I_or(S)|`` (equal to the result's
    :attr:`~InteractionResult.objective`), for shared extraction the joint loss of all
    models (the same in every model's result). The noise bound is the result's
    :attr:`~InteractionResult.bound`.

    Attributes:
        mode (str): ``"and_or"``, ``"and"``, ``"none"``, ``"half"`` (see
            :data:`~captum_interactions.modes.MODES`) or ``"shared"``.
        solver (str): the solver that ran (``"none"`` when none was needed).
        qcoef (float): noise bound relative to the scale.
        scale (str | float): ``"vN-v0"``, ``"mean-vN-v0"`` or the number used.
        subtract_v0 (bool): whether ``v(∅)`` was subtracted first (the lab's convention).
        objective (float): the loss of the returned point.
        dual (float | None): a certified lower bound on the optimal loss (``None``: the
            solver gives none).
        gap (float | None): ``(objective - dual) / max(|objective|, s)``, with ``s`` the
            largest ``|v(T) - v(∅)|`` of the sample (in the solved units), so that an optimum
            of (nearly) zero does not make the relative gap explode.
        converged (bool | None): whether the solver reached its tolerance; ``False`` after
            an iteration cap (a :class:`~captum_interactions.ConvergenceWarning` said so),
            ``None`` when no solver ran or it has no tolerance (the lab's SGD).
        iterations (int): solver iterations (of the slowest sample of the batch).
        seconds (float): solve time per sample.
        shared (SharedExtraction | None): the joint fields of shared extraction.
    """

    mode: str
    solver: str
    qcoef: float
    scale: str | float
    subtract_v0: bool
    objective: float
    dual: float | None
    gap: float | None
    converged: bool | None
    iterations: int
    seconds: float
    shared: SharedExtraction | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form (as saved with a result)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "extraction") -> ExtractionInfo:
        """Read :meth:`to_dict`'s form, or the free dict of version-1 result files; a
        :class:`~captum_interactions.ResultFormatError` names ``where`` and the field that is
        missing or of the wrong kind."""
        data = dict(data) if isinstance(data, Mapping) else data
        if isinstance(data, dict) and "joint_objective" in data:  # version 1 (0.1)
            data["shared"] = {key: data.pop(key, None) for key in _SHARED}
            for key in ("objective", "dual", "gap"):
                data[key] = data.pop(f"joint_{key}")
        if isinstance(data, dict):
            data.pop("bound", None)  # version 1 kept a copy of the result's bound
            data.setdefault("shared", None)
            data.setdefault("converged", None)  # version 1 did not say
        check_fields(data, _EXTRACTION, where=where)
        shared = data["shared"]
        if shared is not None:
            shared = SharedExtraction(**check_fields(shared, _SHARED, where=f"{where}.shared"))
        return cls(**{**data, "shared": shared})


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
        extraction (ExtractionInfo | None): how the interactions were extracted (``None``
            for a result built by hand).
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
    extraction: ExtractionInfo | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    version: str = __version__
    mask_convention: str = MASK_CONVENTION

    def __post_init__(self) -> None:
        _, n = _checked(self.values, "values")
        self.players = check_labels(self.players, n, source=f"values of length 2**{n}")
        if self.extraction is not None and not isinstance(self.extraction, ExtractionInfo):
            raise TypeError(
                f"extraction must be an ExtractionInfo or None, got "
                f"{type(self.extraction).__name__}; build it with ExtractionInfo(...) or, from "
                "a saved dict, ExtractionInfo.from_dict(...)"
            )
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
    def target_key(self) -> tuple[str, str | int | None]:
        """What the result explains, as compared across models: ``("text", word)`` with the
        target's text stripped of surrounding whitespace when it is known (comparable across
        tokenizers), else ``("id", target)``. Two results explain the same output exactly
        when their keys are equal; results without a target all share ``("id", None)``.

        >>> zero = torch.zeros(2)
        >>> InteractionResult(["a"], zero, zero, zero, target=7, target_text=" Paris").target_key
        ('text', 'Paris')
        """
        if self.target_text is not None:
            return ("text", self.target_text.strip())
        return ("id", self.target)

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
        self, *, merge_singletons: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(I_and, I_or)`` as new tensors. With ``merge_singletons`` (the default) each
        ``OR{i}`` is added into ``AND{i}``: the two fire on the same masks, so only their sum
        is identified; :attr:`and_interactions` and :attr:`or_interactions` keep the split."""
        if merge_singletons:
            return _merge_singletons(self.and_interactions, self.or_interactions)
        return self.and_interactions.clone(), self.or_interactions.clone()

    def shapley_values(self, of: Literal["values", "interactions", "noise"] = "values"
                       ) -> torch.Tensor:
        """Shapley value of every player (``[n]``), exact.

        Args:
            of: ``"values"`` (default): of the model's values ``v``, as Captum's
                ``ShapleyValues`` computes them; ``"interactions"``: of ``v + q``, the game
                the extracted interactions explain; ``"noise"``: of ``q`` (Shapley values
                are linear: the first two differ by the third).
        """
        return shapley_values(*self._game(of))

    def banzhaf_values(self, of: Literal["values", "interactions", "noise"] = "values"
                       ) -> torch.Tensor:
        """Banzhaf value of every player (``[n]``), exact; ``of`` as in
        :meth:`shapley_values`."""
        return banzhaf_values(*self._game(of))

    def first_order(self, attribution: Literal["shapley", "banzhaf"] = "shapley",
                    of: Literal["values", "interactions", "noise"] = "values"
                    ) -> torch.Tensor:
        """The first-order view ``attribution`` (:meth:`shapley_values` or
        :meth:`banzhaf_values`) of the game ``of``, ``[n]``: what graphs, maps and plots
        take as ``attribution=``.

        >>> v = torch.tensor([0.0, 1.0, 2.0, 5.0])
        >>> InteractionResult(["a", "b"], v, and_transform(v), torch.zeros(4)).first_order(
        ...     "banzhaf").tolist()
        [2.0, 3.0]
        """
        if attribution not in _ATTRIBUTIONS:
            raise InteractionError(f"unknown attribution {attribution!r} (attribution="
                                   f"{attribution!r}); choose 'shapley' or 'banzhaf' (which "
                                   "game is shared out is chosen with of=)")
        return (shapley_values if attribution == "shapley" else banzhaf_values)(
            *self._game(of))

    def _game(self, of: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Interactions whose first-order view is that of the game ``of``."""
        if of == "values":
            return and_transform(self.values), None
        if of == "interactions":
            return self.and_interactions, self.or_interactions
        if of == "noise":
            return and_transform(self.q), None
        raise InteractionError(
            f"of={of!r}: give 'values' (the model's values v), 'interactions' (v + q, what "
            "the interactions explain) or 'noise' (q)"
        )

    # ---------------------------------------------------------------------------- views
    def salient_masks(
        self, tau: float = 0.05, *, merge_singletons: bool = True, **criterion: Any
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
        merge_singletons: bool = True,
    ) -> list[Interaction]:
        """Salient interactions, strongest first.

        Args:
            tau (float): keep ``|I(S)| >= tau * max |I|`` (the papers' 0.05 by default).
            absolute (float, optional): keep ``|I(S)| >= absolute`` instead.
            top_k (int, optional): keep the ``k`` strongest instead.
            top_fraction (float, optional): keep that fraction of all terms instead.
            merge_singletons (bool): add ``OR{i}`` into ``AND{i}`` first (default; see
                :meth:`interactions`).
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

    def __getitem__(self, players: str | int | Iterable[str | int]) -> tuple[
            Interaction, Interaction]:
        """The AND and the OR term on one set of players, ``(and_term, or_term)``.

        ``players`` is a label, an index, or a tuple of them (``result["Eiffel", "city"]``,
        ``result[0, 3]``, ``result[()]`` for the empty set). Values are those of the merged
        view (:meth:`interactions`): a single player's ``OR{i}`` is added into its AND term,
        so its OR term reads 0. Terms that are zero are returned too (they are not salient).

        Raises:
            InteractionError: for a label or index that is not a player, or a repeated one.
        """
        mask = self._mask_of(players)
        and_i, or_i = self.interactions()
        indices = to_indices(mask)
        labels = tuple(self.players[i] for i in indices)
        return (Interaction(mask, indices, labels, "and", float(and_i[mask])),
                Interaction(mask, indices, labels, "or", float(or_i[mask])))

    #: Lookup by players does not make a result a sequence: ``iter(result)`` is a TypeError
    #: (rather than Python's fallback of calling ``result[0], result[1], ...``).
    __iter__ = None

    def _mask_of(self, players: str | int | Iterable[str | int]) -> int:
        given = (players,) if isinstance(players, (str, int)) else players
        if not isinstance(given, Iterable):
            raise TypeError(f"look terms up by a player label, an index or a tuple of them; "
                            f"got {type(players).__name__}")
        indices = []
        for player in given:
            if isinstance(player, str) and player in self.players:
                indices.append(self.players.index(player))
            elif (isinstance(player, int) and not isinstance(player, bool)
                  and 0 <= player < self.n_players):
                indices.append(player)
            else:
                raise InteractionError(
                    f"{player!r} is not a player of this result; players are "
                    f"{self.players} (labels) or indices 0 .. {self.n_players - 1}"
                )
        return to_mask(indices)

    def top_k(self, k: int = 10, *, merge_singletons: bool = True) -> list[Interaction]:
        """The ``k`` strongest terms, AND and OR together: :meth:`salient` with ``top_k=k``."""
        return self.salient(top_k=k, merge_singletons=merge_singletons)

    def by_order(self, order: int, tau: float = 0.05, **criterion: Any) -> list[Interaction]:
        """The salient terms of one order ``|S|``, strongest first.

        Salience is judged over all orders, as in :meth:`salient` (same arguments); ``tau=0``
        lists every non-zero term of that order.
        """
        if isinstance(order, bool) or not isinstance(order, int) or not (
                1 <= order <= self.n_players):
            raise InteractionError(f"order must be an int from 1 to n_players="
                                   f"{self.n_players}, got {order!r}")
        return [term for term in self.salient(tau, **criterion) if term.order == order]

    def sparsify(self, tau: float = 0.05, **criterion: Any) -> InteractionResult:
        """A copy that keeps only the salient terms (criterion as in :meth:`salient`, on the
        merged view; a kept singleton keeps both its stored AND and OR parts).

        The empty-set terms stay. What the dropped terms added moves into the noise ``q``, so
        universal matching (``values + q == reconstruct()``) still holds; ``bound`` becomes
        ``max |q|`` and ``metadata["sparsified"]`` records the criterion.

        >>> v = torch.tensor([0.0, 1.0, 2.0, 5.0])
        >>> result = InteractionResult(["a", "b"], v, and_transform(v), torch.zeros(4))
        >>> small = result.sparsify(top_k=2)
        >>> small.and_interactions.tolist(), small.q.tolist(), small.matching_error()
        ([0.0, 0.0, 2.0, 2.0], [0.0, -1.0, 0.0, -1.0], 0.0)
        """
        keep_and, keep_or = self.salient_masks(tau, **criterion)
        singletons = [1 << i for i in range(self.n_players)]
        keep_or[singletons] = keep_and[singletons]
        keep_and[0] = keep_or[0] = True
        and_i = torch.where(keep_and, self.and_interactions, 0.0)
        or_i = torch.where(keep_or, self.or_interactions, 0.0)
        q = reconstruct(and_i, or_i) - self.values
        return replace(self, and_interactions=and_i, or_interactions=or_i, q=q,
                       bound=float(q.abs().max()),
                       metadata={**self.metadata, "sparsified": {"tau": tau, **criterion}})

    def __repr__(self) -> str:
        players = self.players if self.n_players <= 6 else [*self.players[:6], "..."]
        target = "" if self.target_text is None else f"target={self.target_text!r}, "
        return (
            f"{type(self).__name__}(n_players={self.n_players}, players={players}, {target}"
            f"salient={len(self.salient())}, objective={self.objective:.4g})"
        )

    # --------------------------------------------------------------------------- bridges
    def attribution_map(
        self,
        feature_mask: torch.Tensor | tuple[torch.Tensor, ...] | None = None,
        attribution: Literal["shapley", "banzhaf"] = "shapley",
        *,
        of: Literal["values", "interactions", "noise"] = "values",
    ) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """Each player's first-order value spread back over the input, in Captum's shape.

        Every element of player ``i``'s group gets ``i``'s value (as Captum's
        ``ShapleyValues`` with the same ``feature_mask``); background (``-1``) gets 0. The
        map can go straight to ``captum.attr.visualization.visualize_image_attr``.

        Args:
            feature_mask (Tensor or tuple of Tensors, optional): the player ids the result
                was made with (one tensor per input); the map has its shape. ``None`` for a
                text result (of :class:`~captum_interactions.adapters.LLMInteractions`): one
                entry per prompt token, from ``metadata["player_positions"]``, for Captum's
                ``visualize_text``.
            attribution (str): ``"shapley"`` (:meth:`shapley_values`) or ``"banzhaf"``
                (:meth:`banzhaf_values`), as in the graphs' ``attribution=``.
            of (str): the game shared out, as in :meth:`shapley_values`: ``"values"`` (the
                model's), ``"interactions"`` (the share of the extracted interactions,
                ``v + q``) or ``"noise"``.

        >>> v = torch.tensor([0.0, 1.0, 2.0, 5.0])
        >>> result = InteractionResult(["a", "b"], v, and_transform(v), torch.zeros(4))
        >>> result.attribution_map(torch.tensor([[0, 1], [1, -1]])).tolist()
        [[2.0, 3.0], [3.0, 0.0]]
        """
        values = self.first_order(attribution, of)
        if feature_mask is None:
            feature_mask = self._token_players()
        if isinstance(feature_mask, tuple):
            return tuple(spread(values, mask) for mask in feature_mask)
        return spread(values, feature_mask)

    def _token_players(self) -> torch.Tensor:
        """``[tokens]`` player id of every prompt token (``-1``: no player) of a text result."""
        if not {"input_ids", "player_positions"} <= self.metadata.keys():
            raise InteractionError(
                "feature_mask is needed: this result has no token positions in its metadata "
                "(only results of LLMInteractions do); pass the feature_mask it was made with"
            )
        ids = torch.full((len(self.metadata["input_ids"]),), -1, dtype=torch.long)
        for player, positions in enumerate(self.metadata["player_positions"]):
            ids[list(positions)] = player
        return ids

    def moebius(self) -> torch.Tensor:
        """Möbius coefficients of the game the interactions rebuild (``values + q``): AND and
        OR terms folded together, see :func:`~captum_interactions.moebius_coefficients`."""
        return moebius_coefficients(self.and_interactions, self.or_interactions)

    def to_shapiq(
        self,
        index: str = "Moebius",
        order: int | None = None,
        *,
        salient_only: bool = False,
        tau: float = 0.05,
        **criterion: Any,
    ) -> InteractionValues:
        """The result as a ``shapiq.InteractionValues`` (needs shapiq).

        ``index="Moebius"`` is lossless: the Möbius coefficients of the game that the AND
        and OR terms rebuild (:meth:`moebius`), every non-zero one listed in
        ``interaction_lookup``, ``baseline_value = m(∅)``. Any other index is computed from
        them by shapiq's ``MoebiusConverter``: ``"SV"``, ``"BV"`` (order 1), ``"SII"``,
        ``"k-SII"``, ``"STII"``, ``"FSII"``, ``"FBII"`` (``order`` 2 unless given).

        Args:
            index (str): the shapiq index.
            order (int, optional): the highest order of an interaction index.
            salient_only (bool): fold only the salient terms (``tau`` and ``criterion`` as in
                :meth:`salient`, the empty-set terms always), i.e. export the game of
                :meth:`sparsify`.

        Example (with shapiq installed)::

            values = result.to_shapiq()               # lossless Möbius coefficients
            values.get_top_k(5)
            result.to_shapiq("k-SII", order=2).plot_force()
        """
        _shapiq.check_index(index, order, self.n_players)
        source = self.sparsify(tau, **criterion) if salient_only else self
        return _shapiq.to_interaction_values(source.moebius(), index=index, order=order)

    @classmethod
    def from_shapiq(
        cls, values: InteractionValues, players: Sequence[str] | None = None, **fields: Any
    ) -> InteractionResult:
        """An AND-only result from a ``shapiq.InteractionValues`` of Möbius coefficients.

        The coefficients become the AND interactions (OR terms zero, no noise) and the game
        they define becomes ``values``; ``players`` labels them (default ``x0 .. x{n-1}``),
        ``fields`` sets any other attribute (``target_text``, ``metadata``, ...).
        ``result.to_shapiq()`` of the result gives the same coefficients back.
        """
        coefficients = _shapiq.coefficients_from_shapiq(values)
        n = n_players_of(coefficients.shape[0])
        labels = check_labels(players, n, source="the InteractionValues")
        return cls(labels, inverse_and_transform(coefficients), coefficients,
                   torch.zeros_like(coefficients), **fields)

    # ------------------------------------------------------------------------ save/load
    def _header(self) -> dict[str, Any]:
        return {
            "players": self.players,
            "bound": self.bound,
            "target": self.target,
            "target_text": self.target_text,
            "baseline": self.baseline,
            "value_kind": self.value_kind,
            "extraction": None if self.extraction is None else self.extraction.to_dict(),
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
        """Read a result written by :meth:`save`; tensors come back on the CPU. Any damage
        (truncated, tampered or inconsistent) raises
        :class:`~captum_interactions.ResultFormatError` naming the file."""
        header, arrays = load_npz(path, _ARRAYS, fmt=FORMAT, versions=_READS, what=_WHAT,
                                  fields=_HEADER)
        extraction = header.pop("extraction")
        if extraction:  # version 1 saved {} for a result built by hand
            header["extraction"] = ExtractionInfo.from_dict(extraction,
                                                            where=f"{path}: extraction")
        try:
            return cls(**header, **arrays)
        except (InteractionError, TypeError) as error:
            raise ResultFormatError(f"{path} holds an inconsistent {_WHAT}: {error}") from error



def attribution_maps(
    results: Sequence[InteractionResult],
    feature_mask: torch.Tensor | tuple[torch.Tensor, ...],
    attribution: Literal["shapley", "banzhaf"] = "shapley",
    *,
    of: Literal["values", "interactions", "noise"] = "values",
) -> torch.Tensor | tuple[torch.Tensor, ...]:
    """:meth:`InteractionResult.attribution_map` of a batch, stacked like Captum's output.

    ``results`` are one result per example (as ``AndOrInteractions.attribute`` returns them);
    ``feature_mask`` is the batch's (leading dimension 1 when shared, else one row per
    example). The maps have shape ``[len(results), *feature_mask.shape[1:]]``.

    >>> v = torch.tensor([0.0, 1.0, 2.0, 5.0])
    >>> a = InteractionResult(["a", "b"], v, and_transform(v), torch.zeros(4))
    >>> b = InteractionResult(["a", "b"], -v, and_transform(-v), torch.zeros(4))
    >>> attribution_maps([a, b], torch.tensor([[0, 1, -1]])).tolist()
    [[2.0, 3.0, 0.0], [-2.0, -3.0, 0.0]]
    """
    results = list(results)
    if not results or not all(isinstance(result, InteractionResult) for result in results):
        raise TypeError("attribution_maps takes a non-empty list of InteractionResult (one per "
                        "example)")
    masks = feature_mask if isinstance(feature_mask, tuple) else (feature_mask,)
    views = [result.first_order(attribution, of) for result in results]  # once per result
    stacked = []
    for position, mask in enumerate(masks):
        if not isinstance(mask, torch.Tensor) or mask.dim() == 0 or mask.shape[0] not in (
                1, len(results)):
            shape = tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
            raise InteractionError(
                f"feature_mask[{position}] has shape {shape}; for {len(results)} results its "
                f"leading dimension must be 1 (shared by the batch) or {len(results)} (one row "
                "per example), as in AndOrInteractions.attribute"
            )
        stacked.append(torch.stack([spread(view, mask[i if mask.shape[0] > 1 else 0])
                                    for i, view in enumerate(views)]))
    return tuple(stacked) if isinstance(feature_mask, tuple) else stacked[0]

"""The Captum attribution class: AND and OR interactions between groups of input features.

:class:`AndOrInteractions` is a :class:`captum.attr.PerturbationAttribution`. Its
``attribute`` takes Captum's arguments with Captum's meaning; the groups of a
``feature_mask`` are the players. It evaluates the model on all ``2**n`` masked inputs
(absent players replaced by their baselines), turns every output into a scalar value
``v(T)`` (log-odds of the target by default), and extracts sparse AND and OR interactions
with :func:`captum_interactions.extraction.extract`. :class:`HarsanyiInteractions` is the
AND-only sibling (Harsanyi dividends when ``qcoef=0``).

>>> import torch
>>> def model(x):                                   # 2·x0·x1 + max(x2, x3)
...     return 2 * x[:, 0] * x[:, 1] + torch.maximum(x[:, 2], x[:, 3])
>>> explainer = AndOrInteractions(model)
>>> [result] = explainer.attribute(torch.ones(1, 4), value="raw", qcoef=0)
>>> [(term.label, term.type, round(term.value, 6)) for term in result.salient()]
[('x0 & x1', 'and', 2.0), ('x2 | x3', 'or', 1.0)]
>>> [result] = HarsanyiInteractions(model).attribute(torch.ones(1, 4), value="raw", qcoef=0)
>>> [(term.label, round(term.value, 6)) for term in result.salient()]
[('x0 & x1', 2.0), ('x2', 1.0), ('x3', 1.0), ('x2 & x3', -1.0)]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Literal

import torch
from captum._utils.common import (
    _expand_additional_forward_args,
    _format_additional_forward_args,
    _format_feature_mask,
)
from captum._utils.typing import BaselineType, TargetType, TensorOrTupleOfTensorsGeneric
from captum.attr import PerturbationAttribution
from torch import Tensor
from tqdm.auto import tqdm

from .costs import DEFAULT_MAX_PLAYERS, check_cost, check_max_players
from .exceptions import InteractionError
from .extraction import check_extraction, extract
from .result import InteractionResult
from .subsets import check_labels, to_indices
from .values import ValueFunction, value_function

__all__ = ["BACKGROUND", "AndOrInteractions", "HarsanyiInteractions"]

#: ``feature_mask`` id of background elements: they belong to no player and are never masked.
BACKGROUND = -1


class AndOrInteractions(PerturbationAttribution):
    """Sparse AND and OR interactions between feature groups, with Captum's ``attribute`` API.

    A *player* is a group of input elements sharing one ``feature_mask`` id ``0 .. n-1``;
    groups may span several input tensors. Elements with id ``-1`` (:data:`BACKGROUND`) belong
    to no player and always keep their input value. For every mask ``T`` of present players,
    absent players' elements take their baseline values, the model runs on the masked input,
    and its output becomes ``v(T)``. All ``2**n`` masks are evaluated, so ``n`` is capped at
    ``max_players`` (20 by default, see :mod:`.costs`): group elements into fewer players
    (superpixels, words, feature groups) rather than explaining single scalars.

    The result of each example is an :class:`~captum_interactions.InteractionResult` with the
    values over all masks, the AND and OR interactions found by sparse extraction, and the
    value definition, target and baselines used. ``get_name()`` is ``"And Or Interactions"``;
    the convergence delta is the universal-matching error of each result.

    Args:
        forward_func (Callable or torch.nn.Module): the model, or any function of the inputs
            (and ``additional_forward_args``) that returns one output row per input row.
    """

    #: Extraction mode used when ``attribute`` gets no ``mode`` (see :func:`extract`).
    default_mode: ClassVar[str] = "and_or"

    def __init__(self, forward_func: Callable[..., Any]) -> None:
        PerturbationAttribution.__init__(self, forward_func)

    def has_convergence_delta(self) -> bool:
        """True: the delta is the universal-matching error of each result."""
        return True

    def compute_convergence_delta(self, results: Sequence[InteractionResult]) -> Tensor:
        """Per-result universal-matching error ``max_T |Σ interactions - (v(T) + q_T)|``.

        Returns:
            Tensor ``[len(results)]`` (float64), float rounding only for correct results.
        """
        device = results[0].values.device if results else None
        return torch.tensor(
            [result.matching_error() for result in results], dtype=torch.float64, device=device
        )

    def attribute(
        self,
        inputs: TensorOrTupleOfTensorsGeneric,
        baselines: BaselineType = None,
        target: TargetType = None,
        additional_forward_args: Any = None,
        feature_mask: Tensor | tuple[Tensor, ...] | None = None,
        perturbations_per_eval: int = 1,
        show_progress: bool = False,
        *,
        value: Literal["auto", "log_odds", "log_prob", "raw"] | ValueFunction = "auto",
        output: Literal["logits", "probs"] = "logits",
        eps: float | None = None,
        players: Sequence[str] | None = None,
        max_players: int = DEFAULT_MAX_PLAYERS,
        return_convergence_delta: bool = False,
        mode: str | None = None,
        qcoef: float = 0.05,
        scale: str | float = "vN-v0",
        solver: str = "auto",
        time_limit: float | None = None,
        **solver_options: Any,
    ) -> list[InteractionResult] | tuple[list[InteractionResult], Tensor]:
        """AND and OR interactions of every example in ``inputs``.

        Args:
            inputs (Tensor or tuple[Tensor, ...]): as in Captum; dimension 0 indexes the
                examples, aligned across tensors. Integer inputs (e.g. token ids) work too,
                with baselines of the same kind (e.g. a pad id).
            baselines (scalar, Tensor or tuple of them, optional): the values absent players
                take. Per input tensor: a scalar, or a tensor that broadcasts to that input's
                shape (e.g. ``[1, ...]`` for one reference shared by all examples, or the
                input's own shape). Default: 0 everywhere.
            target (int, tuple, Tensor or list, optional): as in Captum: an int or a tuple of
                ints applied to every example, or a list / 1-D tensor with one per example.
                A tuple indexes several output dimensions after the batch dimension. With
                ``value="log_odds"`` or ``"log_prob"`` the last index is the class and the
                others select one ``[classes]`` row (e.g. ``(-1, token)`` for ``[batch,
                positions, vocab]``); without a target the model's top-1 class on the full
                input is explained. With ``value="raw"`` the target must leave one scalar
                per example.
            additional_forward_args (Any, optional): extra arguments of ``forward_func``,
                as in Captum; tensors are repeated along dimension 0 once per mask in a batch.
            feature_mask (Tensor or tuple[Tensor, ...], optional): one integer tensor per
                input, broadcastable to it: e.g. ``[1, 1, H, W]`` segments shared by all
                examples and channels of images ``[N, C, H, W]``, or ``[N, ...]`` for
                per-example groups. Ids ``0 .. n-1`` are the players and must all occur in
                every example; ``-1`` marks background. Default (Captum's): every scalar is
                its own player.
            perturbations_per_eval (int): masks evaluated in one forward call; each call sees
                at most ``perturbations_per_eval * len(examples)`` rows. Captum's default of
                1 gives ``2**n`` calls; raise it (e.g. 64-1024) when memory allows.
            show_progress (bool): tqdm progress bars over the forward calls and the solver.
            value ("auto", "log_odds", "log_prob", "raw" or callable): how an output becomes
                ``v(T)``. ``"auto"`` (default): ``"log_odds"`` when the model gives class
                scores (``[N, C]`` with ``C >= 2`` after the target's leading indices, or
                probabilities), ``"raw"`` when it gives one number per example (a regressor,
                a single logit); pass ``"raw"`` for a multi-output regressor. The choice is
                recorded in ``result.value_kind``. ``"log_odds"`` (the papers' default for
                classifiers): ``log p_y / (1 - p_y)``, stable from logits; ``"log_prob"``:
                ``log p_y``; ``"raw"``: the output selected by ``target``. A callable gets the
                forward output of a batch of ``R`` rows and the per-row target (a LongTensor ``[R]``
                for int targets, ``[R, k]`` for tuples, ``None`` without target) and returns
                ``R`` scalars, e.g. :func:`captum_interactions.values.log_odds`.
            output ("logits" or "probs"): what the model returns, for "log_odds" and
                "log_prob". From probabilities, ``1 - p_y`` is the other classes' summed mass;
                a probability of exactly 0 or 1 is an error unless ``eps`` is given.
            eps (float, optional): with ``output="probs"``, clip probabilities into
                ``[eps, 1 - eps]`` (see :func:`~captum_interactions.values.log_odds_from_probs`).
            players (sequence of str, optional): one unique label per player (feature group
                ``0 .. n-1``); default ``"x0" .. "x{n-1}"``.
            max_players (int): hard cap on ``n`` (at most 30; default 20). A
                :class:`~captum_interactions.CostWarning` comes first (see
                :mod:`captum_interactions.costs`).
            return_convergence_delta (bool): also return the universal-matching error of each
                result (see :meth:`compute_convergence_delta`).
            mode, qcoef, scale, solver, time_limit, solver_options: passed to
                :func:`~captum_interactions.extraction.extract` (``solver_options`` as
                further keyword arguments), once for the whole batch,
                and checked before any forward call. ``mode`` defaults to the class's
                :attr:`default_mode` ("and_or" here); ``mode="none"`` skips the
                optimisation and gives the plain Harsanyi dividends.

        Returns:
            list[InteractionResult], one per example (``target``, ``baseline``,
            ``value_kind`` and ``metadata`` filled in); with ``return_convergence_delta``,
            a pair ``(results, delta)`` with ``delta`` a float64 tensor ``[examples]``.

        Raises:
            InteractionError: bad ids, shapes, targets, too many players, non-finite values.
            TypeError: arguments of the wrong type.

        Examples:
            >>> import torch
            >>> torch.manual_seed(0) and None
            >>> model = torch.nn.Sequential(torch.nn.Linear(6, 3))
            >>> x = torch.randn(2, 6)
            >>> groups = torch.tensor([[0, 0, 1, 1, 2, -1]])   # 3 players, 1 background
            >>> results = AndOrInteractions(model).attribute(
            ...     x, target=[0, 2], feature_mask=groups, perturbations_per_eval=8,
            ...     mode="none", players=["a", "b", "c"])
            >>> len(results), results[1].players, results[1].target, results[1].value_kind
            (2, ['a', 'b', 'c'], 2, 'log_odds')
        """
        inputs_tuple = _format_inputs(inputs)
        n_examples = inputs_tuple[0].shape[0]
        if isinstance(perturbations_per_eval, bool) or not isinstance(perturbations_per_eval, int):
            raise TypeError(
                "perturbations_per_eval must be an int, got "
                f"{type(perturbations_per_eval).__name__}"
            )
        if perturbations_per_eval < 1:
            raise InteractionError(
                f"perturbations_per_eval must be at least 1, got {perturbations_per_eval}"
            )
        check_max_players(max_players)

        ids = _player_ids(feature_mask, inputs_tuple)
        n = 1 + max((int(mask.max()) for mask in ids if mask.numel()), default=BACKGROUND)
        calls = -(-(1 << n) // perturbations_per_eval)
        mode = self.default_mode if mode is None else mode
        plan = check_extraction(n, mode=mode, qcoef=qcoef, scale=scale, solver=solver,
                                time_limit=time_limit, **solver_options)
        check_cost(
            n, max_players=max_players, samples=n_examples, calls=calls,
            solves=plan is not None, solve_seconds=plan and plan.seconds,
            advice="group input elements into fewer players with feature_mask (superpixels, "
            f"words, feature groups) and mark elements you do not explain as background "
            f"({BACKGROUND})",
        )
        if n == 0:
            raise InteractionError(
                f"feature_mask marks every input element as background ({BACKGROUND}): there "
                "are no players to explain; give ids 0..n-1 to the groups of interest"
            )
        elements = _elements_per_player(ids, inputs_tuple, n)
        labels = check_labels(players, n, source="the feature_mask's ids")
        baseline_tuple = _format_baselines(baselines, inputs_tuple)
        forward_args = _format_additional_forward_args(additional_forward_args)
        target_index = _target_index(target, n_examples)
        if target_index is not None:
            target_index = target_index.to(inputs_tuple[0].device)

        scorer = _Scorer(value, output, eps, target_index)
        with torch.no_grad(), tqdm(
            total=calls, desc=f"{self.get_name()} attribution", disable=not show_progress
        ) as progress:
            values = self._evaluate_all_masks(
                inputs_tuple, baseline_tuple, ids, n, forward_args, scorer,
                perturbations_per_eval, progress,
            )
        _check_finite(values, labels, hint_probs=scorer.from_probs and eps is None)
        value_kind = scorer.kind

        results = extract(
            values,
            mode=mode,
            qcoef=qcoef,
            scale=scale,
            solver=solver,
            players=labels,
            show_progress=show_progress,
            time_limit=time_limit,
            **solver_options,
        )
        baseline_text = _describe_baselines(baselines, len(inputs_tuple))
        name = getattr(self.forward_func, "__qualname__", type(self.forward_func).__qualname__)
        counts = elements.tolist()
        for example, result in enumerate(results):
            result.baseline = baseline_text
            result.value_kind = value_kind
            result.metadata.update(
                forward_func=name,
                example=example,
                output=output if value_kind in ("log_odds", "log_prob") else None,
                value_choice="auto" if value == "auto" else "given",
                elements_per_player=counts[example][:n],
                background_elements=counts[example][n],
                forward_calls=calls,
                perturbations_per_eval=perturbations_per_eval,
                attribution=self.get_name(),
            )
            if scorer.target is not None:
                index = scorer.target[example].tolist()
                result.target = int(index[-1])
                result.metadata.update(target_index=index, target_source=scorer.target_source)
        if return_convergence_delta:
            return results, self.compute_convergence_delta(results)
        return results

    # ------------------------------------------------------------------------ evaluation
    def _forward(self, inputs: tuple[Tensor, ...], forward_args: Any, rows: int) -> Tensor:
        """One forward call; the output must have one row per input row."""
        output = self.forward_func(*inputs, *(forward_args or ()))
        if isinstance(output, torch.futures.Future):
            raise TypeError(
                "forward_func returned a torch.futures.Future; AndOrInteractions needs the "
                "output tensor itself (call .wait() inside your forward function)"
            )
        if not isinstance(output, Tensor):
            output = _as_tensor(output, inputs[0].device)
        if output.dim() == 0:
            output = output.reshape(1)
        if output.shape[0] != rows:
            raise InteractionError(
                f"forward_func returned shape {tuple(output.shape)} for {rows} input rows; "
                "its first dimension must be the batch (one output row per input row). A "
                "model that aggregates over the batch cannot be explained per example: wrap "
                "it to return per-example outputs."
            )
        return output

    def _evaluate_all_masks(
        self,
        inputs: tuple[Tensor, ...],
        baselines: tuple[Tensor, ...],
        ids: tuple[Tensor, ...],
        n: int,
        forward_args: tuple[Any, ...] | None,
        scorer: _Scorer,
        perturbations_per_eval: int,
        progress: tqdm,
    ) -> Tensor:
        """``v(T)`` for every example and every mask ``T``: a float64 ``[examples, 2**n]``.

        The batch holding the full mask (the unmasked inputs, in its last rows) goes first,
        so the target is resolved and checked before any other evaluation.
        """
        device = inputs[0].device
        n_examples = inputs[0].shape[0]
        n_masks = 1 << n
        # Background elements carry id n; bit n is set in every mask, so they stay present.
        slots = tuple(mask.masked_fill(mask < 0, n) for mask in ids)
        bit_of_player = torch.arange(n + 1, device=device)
        always = 1 << n
        values = torch.empty(n_examples, n_masks, dtype=torch.float64, device=device)

        size = min(perturbations_per_eval, n_masks)
        starts = list(range(0, n_masks, size))
        starts.insert(0, starts.pop())
        expanded_args = {}  # per batch size; at most two sizes
        for start in starts:
            stop = min(start + size, n_masks)
            count = stop - start
            if count not in expanded_args:
                expanded_args[count] = (
                    _expand_additional_forward_args(forward_args, count)
                    if forward_args is not None
                    else None
                )
            masks = torch.arange(start, stop, device=device) | always
            present = (masks[:, None] >> bit_of_player & 1).bool()  # [count, n + 1]
            batch = tuple(
                torch.where(present[:, slot], inp, base).reshape(-1, *inp.shape[1:])
                for inp, base, slot in zip(inputs, baselines, slots, strict=True)
            )
            output = self._forward(batch, expanded_args[count], count * n_examples)
            if stop == n_masks:
                scorer.resolve(output[-n_examples:])
            values[:, start:stop] = scorer(output, count).reshape(count, n_examples).T
            progress.update()
        return values


def _as_tensor(output: Any, device: torch.device) -> Tensor:
    """A forward output that is not a tensor, as one (numbers, arrays), or a clear error."""
    if output is None:
        raise InteractionError(
            "forward_func returned None; it must return a tensor with one output row per "
            "input row (is a 'return' missing?)"
        )
    if isinstance(output, Mapping) or hasattr(output, "logits"):
        raise InteractionError(
            f"forward_func returned a {type(output).__name__} (e.g. a HuggingFace ModelOutput), "
            "not a tensor; return the tensor to explain, e.g. forward_func=lambda x: "
            "model(x).logits"
        )
    if isinstance(output, (tuple, list)) and any(isinstance(item, Tensor) for item in output):
        raise InteractionError(
            f"forward_func returned a {type(output).__name__} of {len(output)} items; return "
            "the one tensor to explain, e.g. forward_func=lambda x: model(x)[0]"
        )
    try:
        return torch.as_tensor(output, device=device)
    except (TypeError, ValueError, RuntimeError) as error:
        raise InteractionError(
            f"forward_func returned a {type(output).__name__} that is not a tensor and does "
            f"not convert to one ({error}); return a tensor with one row per input row"
        ) from error


class HarsanyiInteractions(AndOrInteractions):
    """AND-only interactions: sparse Harsanyi dividends (plain dividends with ``qcoef=0``).

    The same as :class:`AndOrInteractions` with ``mode="and"``: ``v + q`` is explained by AND
    interactions alone and the OR interactions are zero. ``get_name()`` is
    ``"Harsanyi Interactions"``.
    """

    default_mode: ClassVar[str] = "and"


# ----------------------------------------------------------------------------- formatting
def _format_inputs(inputs: TensorOrTupleOfTensorsGeneric) -> tuple[Tensor, ...]:
    inputs_tuple = inputs if isinstance(inputs, tuple) else (inputs,)
    if not inputs_tuple or not all(isinstance(inp, Tensor) for inp in inputs_tuple):
        raise TypeError(
            "inputs must be a torch.Tensor or a non-empty tuple of tensors, got "
            f"{type(inputs).__name__}"
            + (f" of {[type(inp).__name__ for inp in inputs_tuple]}" if inputs_tuple else "")
        )
    if any(inp.dim() == 0 for inp in inputs_tuple):
        raise InteractionError(
            "inputs must have a batch dimension (dimension 0 = examples); got a scalar "
            "tensor. Add one with x.unsqueeze(0)."
        )
    sizes = [inp.shape[0] for inp in inputs_tuple]
    if len(set(sizes)) != 1 or sizes[0] == 0:
        raise InteractionError(
            f"every input tensor must hold the same number (>= 1) of examples in dimension "
            f"0, got {sizes}"
        )
    devices = {inp.device for inp in inputs_tuple}
    if len(devices) != 1:
        raise InteractionError(
            f"input tensors are on several devices {sorted(map(str, devices))}; move them to "
            "one device with .to(device)"
        )
    return inputs_tuple


def _broadcasts(shape: torch.Size, to: torch.Size) -> bool:
    """Whether a tensor of ``shape`` broadcasts to ``to`` (without changing ``to``)."""
    return len(shape) <= len(to) and all(
        size in (1, target) for size, target in zip(reversed(shape), reversed(to), strict=False)
    )


def _player_ids(
    feature_mask: Tensor | tuple[Tensor, ...] | None, inputs: tuple[Tensor, ...]
) -> tuple[Tensor, ...]:
    """Validated int64 masks, one per input, with as many dimensions as their input."""
    masks = _format_feature_mask(
        feature_mask if feature_mask is None or isinstance(feature_mask, tuple) else
        (feature_mask,),
        inputs,
    )
    if len(masks) != len(inputs):
        raise InteractionError(
            f"feature_mask has {len(masks)} tensor(s) but inputs have {len(inputs)}; give one "
            f"mask per input tensor (use {BACKGROUND} for inputs that hold no player)"
        )
    formatted = []
    for i, (mask, inp) in enumerate(zip(masks, inputs, strict=True)):
        if not isinstance(mask, Tensor):
            raise TypeError(f"feature_mask[{i}] must be a tensor, got {type(mask).__name__}")
        if mask.dtype == torch.bool or mask.is_floating_point() or mask.is_complex():
            raise TypeError(
                f"feature_mask[{i}] must hold integer player ids, got dtype {mask.dtype}; "
                "convert it with .long()"
            )
        if not _broadcasts(mask.shape, inp.shape):
            raise InteractionError(
                f"feature_mask[{i}] has shape {tuple(mask.shape)}, which does not broadcast to "
                f"input {i} of shape {tuple(inp.shape)}; give a mask shaped like the input, "
                "like one example with a leading 1, or with 1 in dimensions it shares"
            )
        mask = mask.to(device=inp.device, dtype=torch.long)
        formatted.append(mask.reshape((1,) * (inp.dim() - mask.dim()) + tuple(mask.shape)))
        if mask.numel() and int(mask.min()) < BACKGROUND:
            raise InteractionError(
                f"feature_mask[{i}] contains id {int(mask.min())}; ids must be players "
                f"0..n-1 or {BACKGROUND} (background, never masked)"
            )
    return tuple(formatted)


def _elements_per_player(ids: tuple[Tensor, ...], inputs: tuple[Tensor, ...], n: int) -> Tensor:
    """``[examples, n + 1]`` input elements of each player (last column: background).

    Raises if a player id 0..n-1 is missing from some example.
    """
    n_examples = inputs[0].shape[0]
    counts = torch.zeros(n_examples, n + 1, dtype=torch.long, device=inputs[0].device)
    for mask, inp in zip(ids, inputs, strict=True):
        if not mask.numel():
            continue
        spread = inp[0].numel() // mask[0].numel()  # input elements behind one mask entry
        flat = mask.masked_fill(mask < 0, n).reshape(mask.shape[0], -1)
        part = torch.zeros(mask.shape[0], n + 1, dtype=torch.long, device=counts.device)
        counts += part.scatter_add_(1, flat, torch.ones_like(flat)) * spread
    missing = counts[:, :n] == 0
    if bool(missing.any()):
        example = int(missing.any(dim=1).nonzero()[0])
        absent = missing[example].nonzero().flatten().tolist()
        where = f" in example {example}" if n_examples > 1 else ""
        raise InteractionError(
            f"feature_mask must use every player id 0..{n - 1} (n = largest id + 1), but "
            f"id(s) {absent} do not occur{where}; renumber the groups consecutively from 0 "
            f"(and use {BACKGROUND} for background)"
        )
    return counts


def _format_baselines(baselines: BaselineType, inputs: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    given = (0,) * len(inputs) if baselines is None else baselines
    given = given if isinstance(given, tuple) else (given,)
    if len(given) != len(inputs):
        raise InteractionError(
            f"baselines has {len(given)} entries but inputs have {len(inputs)} tensors; give "
            "one baseline (scalar or tensor) per input tensor"
        )
    formatted = []
    for i, (baseline, inp) in enumerate(zip(given, inputs, strict=True)):
        if isinstance(baseline, Tensor):
            tensor = baseline.to(device=inp.device)
        elif isinstance(baseline, (int, float)) and not isinstance(baseline, bool):
            tensor = torch.tensor(baseline, device=inp.device)
        else:
            raise TypeError(
                f"baseline {i} must be a number or a tensor, got {type(baseline).__name__}"
            )
        if not _broadcasts(tensor.shape, inp.shape):
            raise InteractionError(
                f"baseline {i} has shape {tuple(tensor.shape)}, which does not broadcast to "
                f"input {i} of shape {tuple(inp.shape)}; give a scalar, a tensor shaped like "
                "one example with a leading 1, or one shaped like the input"
            )
        fractional = tensor.is_floating_point() and not bool((tensor == tensor.round()).all())
        if fractional and not inp.is_floating_point():
            raise InteractionError(
                f"input {i} holds integers ({inp.dtype}) but baseline {i} has fractional "
                "values; give an integer baseline (e.g. a pad token id)"
            )
        formatted.append(tensor.to(inp.dtype))
    return tuple(formatted)


def _describe_baselines(baselines: BaselineType, n_inputs: int) -> str:
    given = (0,) * n_inputs if baselines is None else baselines
    given = given if isinstance(given, tuple) else (given,)
    return ", ".join(
        f"tensor{list(item.shape)}" if isinstance(item, Tensor) else repr(item) for item in given
    )


# -------------------------------------------------------------------------------- targets
def _target_index(target: TargetType, n_examples: int) -> Tensor | None:
    """Captum's target forms as a LongTensor ``[examples, k]`` of output indices."""
    if target is None:
        return None

    def is_int(item: object) -> bool:
        return isinstance(item, int) and not isinstance(item, bool)

    if is_int(target):
        return torch.tensor([[target]]).expand(n_examples, 1)
    if isinstance(target, tuple) and target and all(map(is_int, target)):
        return torch.tensor([target]).expand(n_examples, -1)
    if isinstance(target, Tensor):
        if target.is_floating_point() or target.dtype == torch.bool:
            raise TypeError(f"a target tensor must hold integer indices, got {target.dtype}")
        if target.numel() == 1:
            return target.reshape(1, 1).long().expand(n_examples, 1)
        if target.dim() in (1, 2) and target.shape[0] == n_examples:
            return target.reshape(n_examples, -1).long()
        raise InteractionError(
            f"target tensor has shape {tuple(target.shape)}; expected one index, or one per "
            f"example ([{n_examples}] or [{n_examples}, k])"
        )
    if isinstance(target, list):
        if len(target) != n_examples:
            raise InteractionError(
                f"target list has {len(target)} entries but inputs have {n_examples} "
                "examples; give one target per example, or a single int for all"
            )
        if all(map(is_int, target)):
            return torch.tensor(target).reshape(n_examples, 1)
        if all(isinstance(t, tuple) and t and all(map(is_int, t)) for t in target) and (
            len({len(t) for t in target}) == 1
        ):
            return torch.tensor(target)
        raise InteractionError(
            "a target list must hold one int per example or one tuple of ints (all of the "
            f"same length) per example, got {target!r}"
        )
    raise TypeError(
        "target must be None, an int, a tuple of ints, a list or an integer tensor, got "
        f"{type(target).__name__}"
    )


def _resolve_target(
    index: Tensor | None, full_output: Tensor, value_kind: str, *, user_defined: bool
) -> tuple[Tensor | None, str | None]:
    """Default target (top-1 class) and range check against the unmasked output."""
    device = full_output.device
    if index is None:
        if value_kind not in ("log_odds", "log_prob"):
            return None, None
        if full_output.dim() != 2:
            raise InteractionError(
                f"value={value_kind!r} without a target explains the top-1 class of a "
                f"[batch, classes] output, but forward_func returned shape "
                f"{tuple(full_output.shape)}; pass target=... (a tuple selects a position, "
                "e.g. (-1, class) for [batch, positions, classes])"
            )
        return full_output.argmax(dim=-1, keepdim=True), "top-1 prediction on the full input"
    if user_defined:  # a user value function reads the target its own way
        return index, "given"
    k = index.shape[1]
    if k > full_output.dim() - 1:
        raise InteractionError(
            f"target indexes {k} output dimension(s) but forward_func's output has shape "
            f"{tuple(full_output.shape)} ({full_output.dim() - 1} after the batch dimension)"
        )
    sizes = torch.tensor(full_output.shape[1 : 1 + k], device=device)
    bad = (index < -sizes) | (index >= sizes)
    if bool(bad.any()):
        raise InteractionError(
            f"target {index[bad.any(dim=1)][0].tolist()} is out of range for output shape "
            f"{tuple(full_output.shape)}: index j must lie in -size..size-1 of output "
            "dimension j+1"
        )
    return index % sizes, "given"


def _per_row(index: Tensor | None, count: int) -> Tensor | None:
    """The target of every row of ``count`` stacked copies of the examples (mask-major)."""
    if index is None:
        return None
    rows = index.repeat(count, 1)
    return rows[:, 0] if rows.shape[1] == 1 else rows


# ------------------------------------------------------------------------------- values
class _Scorer:
    """A value function with its target: the choice of ``value="auto"``, the default target,
    range checks and per-row expansion."""

    def __init__(self, value: str | ValueFunction, output: str, eps: float | None,
                 target: Tensor | None) -> None:
        self.output, self.eps, self.target = output, eps, target
        self.user_defined = callable(value)
        # Checks value, output and eps now, before any forward call ("auto" as log-odds).
        function, kind = value_function("log_odds" if value == "auto" else value,
                                        output=output, eps=eps)
        self.function, self.kind = (None, "auto") if value == "auto" else (function, kind)
        self.target_source: str | None = None
        self._rows: dict[int, Tensor | None] = {}  # per-row targets by batch size

    @property
    def from_probs(self) -> bool:
        """Whether the value reads probabilities (and must check them)."""
        return self.output == "probs" and self.kind in ("log_odds", "log_prob")

    def resolve(self, full_output: Tensor) -> None:
        """Fix the value (for ``"auto"``) and the target from the output on the unmasked
        inputs, and check both."""
        if self.kind == "auto":
            self.function, self.kind = value_function(
                _auto_value(full_output, self.target, self.output), output=self.output,
                eps=self.eps)
        self.target, self.target_source = _resolve_target(
            self.target, full_output, self.kind, user_defined=self.user_defined
        )
        self._rows.clear()
        if self.from_probs:
            _check_probabilities(full_output)
        _check_values(self(full_output, 1), full_output.shape[0])

    def __call__(self, output: Tensor, count: int) -> Tensor:
        """Values of ``count`` stacked copies of the examples (mask-major rows)."""
        if count not in self._rows:
            self._rows[count] = _per_row(self.target, count)
        return self.function(output, self._rows[count])


def _auto_value(full_output: Tensor, target: Tensor | None, output: str) -> str:
    """``value="auto"``: the log-odds of a class when the model gives class scores (after the
    target's leading indices, one dimension of at least two entries, or probabilities), the
    raw output otherwise (one number per example: a regressor, a single logit)."""
    if output == "probs":
        return "log_odds"
    lead = 0 if target is None else target.shape[1] - 1
    scores = full_output.shape[1 + lead:]
    return "log_odds" if len(scores) == 1 and scores[0] >= 2 else "raw"


def _check_probabilities(full_output: Tensor) -> None:
    low, high = float(full_output.min()), float(full_output.max())
    if low < 0 or high > 1:
        raise InteractionError(
            f"output='probs' but forward_func returned values in [{low:.4g}, {high:.4g}], "
            "outside [0, 1]; for unnormalised scores pass output='logits'"
        )


def _check_values(scores: Tensor, rows: int) -> None:
    if not isinstance(scores, Tensor) or scores.numel() != rows:
        shape = tuple(scores.shape) if isinstance(scores, Tensor) else type(scores).__name__
        raise InteractionError(
            f"the value function must return one scalar per input row ({rows}), got {shape}"
        )


def _check_finite(values: Tensor, labels: list[str], *, hint_probs: bool) -> None:
    bad = ~torch.isfinite(values)
    if not bool(bad.any()):
        return
    example, mask = (int(i) for i in bad.nonzero()[0])
    present = [labels[i] for i in to_indices(mask)]
    hint = (
        "Probabilities of exactly 0 or 1 give infinite log-odds and log-probabilities: pass "
        "logits (output='logits') or set eps (e.g. 1e-7) to clip them."
        if hint_probs
        else "Check the model on masked inputs (overflow, NaN, log of 0) and the baselines."
    )
    raise InteractionError(
        f"{int(bad.sum())} of {values.numel()} values v(T) are not finite (first: example "
        f"{example}, mask {mask} with players {present} present, v = "
        f"{float(values[example, mask])}); interactions of non-finite values are undefined. "
        f"{hint}"
    )

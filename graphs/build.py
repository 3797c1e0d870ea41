"""Interaction graphs of one result, as plain networkx graphs with scalar attributes.

Two views of the salient interactions of an :class:`~captum_interactions.InteractionResult`
(salience exactly as in :meth:`InteractionResult.salient`):

* :func:`and_or_graph`, a directed graph: player nodes, one node per salient interaction,
  edges from its players to it and from it to one output node.
* :func:`player_graph`, an undirected graph: players only, an edge between two players when
  some salient interaction contains both, weighted by those interactions' strength
  (positive and negative strength kept apart).

Node ids are strings (players ``"p0", "p1", ...``, interactions ``"and:<mask>"`` and
``"or:<mask>"``, the output ``"output"``) and every attribute is a str, int, float or bool,
so both graphs survive GraphML and node-link JSON unchanged (see
:mod:`captum_interactions.graphs.io`).

>>> from captum_interactions import InteractionResult, and_transform
>>> v = torch.tensor([0.0, 1.0, 2.0, 5.0])
>>> result = InteractionResult(["a", "b"], v, and_transform(v), torch.zeros(4))
>>> graph = and_or_graph(result)
>>> sorted(graph.nodes)
['and:1', 'and:2', 'and:3', 'output', 'p0', 'p1']
>>> node = graph.nodes["and:3"]
>>> node["label"], node["type"], node["order"], node["value"], node["rank"]
('a & b', 'and', 2, 2.0, 2)
>>> sorted(graph.predecessors("and:3")), list(graph.successors("and:3"))
(['p0', 'p1'], ['output'])
>>> player_graph(result).edges["p0", "p1"]
{'positive': 2.0, 'negative': 0.0, 'weight': 2.0, 'net': 2.0, 'count': 1}
"""

from __future__ import annotations

from typing import Any, Literal

import networkx as nx
import torch

from captum_interactions.result import InteractionResult
from captum_interactions.salience import salient_masks
from captum_interactions.subsets import mask_bits

__all__ = ["and_or_graph", "interaction_node", "player_graph", "player_node"]

def player_node(index: int) -> str:
    """Node id of player ``index`` in both graphs.

    >>> player_node(3)
    'p3'
    """
    return f"p{index}"


def interaction_node(kind: Literal["and", "or"], mask: int) -> str:
    """Node id of the ``kind`` interaction on bitmask ``mask`` in :func:`and_or_graph`.

    >>> interaction_node("or", 5)
    'or:5'
    """
    return f"{kind}:{mask}"


def _criterion(
    tau: float,
    absolute: float | None,
    top_k: int | None,
    top_fraction: float | None,
) -> dict[str, Any]:
    """The salience criterion in effect (the first given, as in ``salient_masks``)."""
    for name, value in (("absolute", absolute), ("top_k", top_k), ("top_fraction", top_fraction)):
        if value is not None:
            return {name: value}
    return {"tau": tau}


def _base_graph(
    graph: nx.Graph,
    result: InteractionResult,
    kind: str,
    criterion: dict[str, Any],
    merge_singletons: bool,
    attribution: str,
) -> nx.Graph:
    """Graph attributes and player nodes shared by both graphs."""
    if not isinstance(result, InteractionResult):
        raise TypeError(
            f"expected an InteractionResult, got {type(result).__name__}; build one with "
            "captum_interactions.extract(...) or InteractionResult(...)"
        )
    first_order = result.first_order(attribution)  # (checks attribution)
    graph.graph.update(kind=kind, n_players=result.n_players, attribution=attribution,
                       merge_singletons=merge_singletons, **criterion)
    graph.graph.update(_provenance(result))
    for index, (label, value) in enumerate(zip(result.players, first_order.tolist(), strict=True)):
        graph.add_node(player_node(index), kind="player", index=index, label=label,
                       attribution=value)
    return graph


def _provenance(result: InteractionResult) -> dict[str, Any]:
    """What a graph shows and how it was made, as scalars (for Gephi, Cytoscape, networkx):
    the result's target and baseline, the model and prompt of its metadata, the extraction."""
    found: dict[str, Any] = {name: getattr(result, name) for name in
                             ("target", "target_text", "baseline", "value_kind")}
    found.update({name: result.metadata.get(name) for name in ("model", "prompt")})
    found["bound"] = result.bound
    info = result.extraction
    if info is not None:
        found.update(extraction_mode=info.mode, solver=info.solver, qcoef=info.qcoef,
                     scale=info.scale, subtract_v0=info.subtract_v0, objective=info.objective,
                     gap=info.gap, converged=info.converged)
    return {name: value for name, value in found.items()
            if isinstance(value, (str, int, float, bool))}


def and_or_graph(
    result: InteractionResult,
    tau: float = 0.05,
    *,
    absolute: float | None = None,
    top_k: int | None = None,
    top_fraction: float | None = None,
    merge_singletons: bool = True,
    attribution: Literal["shapley", "banzhaf"] = "shapley",
) -> nx.DiGraph:
    """The AND-OR graph of the salient interactions of one result.

    Parameters
    ----------
    result : InteractionResult
        The result to draw.
    tau, absolute, top_k, top_fraction, merge_singletons
        Which interactions are salient, as in :meth:`InteractionResult.salient`.
    attribution : {"shapley", "banzhaf"}
        First-order attribution stored on player nodes.

    Returns
    -------
    networkx.DiGraph
        Player nodes ``"p<i>"``: ``kind="player"``, ``index``, ``label``, ``attribution``.
        Interaction nodes ``"and:<mask>"`` / ``"or:<mask>"``: ``kind="interaction"``,
        ``type`` ("and"/"or"), ``mask``, ``label`` (labels joined by " & " or " | "),
        ``order``, ``value``, ``strength`` (``|value|``), ``sign`` and ``rank`` (1 = strongest).
        Output node ``"output"``: ``kind="output"``, ``label`` (the target text, else
        "output"), ``value`` (``v(N)``) and ``empty_value`` (``v(∅)``).
        Edges player -> interaction have ``kind="member"``; edges interaction -> output have
        ``kind="contribution"``, ``value``, ``sign`` and ``weight`` (``|value|``).
        Graph attributes: ``kind="and_or"``, ``n_players``, the salience criterion in effect
        (``tau``, ``absolute``, ``top_k`` or ``top_fraction``), ``merge_singletons``, the
        result's ``target``, ``target_text``, ``baseline``, ``value_kind``, ``bound``, the
        ``model`` and ``prompt`` of its metadata, and its extraction (``extraction_mode``,
        ``solver``, ``qcoef``, ``scale``, ``subtract_v0``, ``objective``, ``gap``,
        ``converged``), each when set. Player and interaction nodes carry their words in
        ``label``, which Gephi and Cytoscape show.

    Examples
    --------
    >>> from captum_interactions import InteractionResult, reconstruct
    >>> I_and, I_or = torch.zeros(8), torch.zeros(8)
    >>> I_and[0b011], I_or[0b110] = 3.0, -1.0
    >>> result = InteractionResult(["x", "y", "z"], reconstruct(I_and, I_or), I_and, I_or)
    >>> graph = and_or_graph(result)
    >>> [graph.nodes[node]["label"] for node in graph if node.startswith(("and", "or"))]
    ['x & y', 'y | z']
    >>> graph.edges["or:6", "output"]["value"]
    -1.0
    """
    criterion = _criterion(tau, absolute, top_k, top_fraction)
    graph = _base_graph(nx.DiGraph(), result, "and_or", criterion, merge_singletons, attribution)
    graph.add_node(
        "output",
        kind="output",
        label=result.target_text if result.target_text is not None else "output",
        value=float(result.values[-1]),
        empty_value=float(result.values[0]),
    )
    for rank, term in enumerate(result.salient(merge_singletons=merge_singletons, **criterion),
                                start=1):
        node = interaction_node(term.type, term.mask)
        graph.add_node(node, kind="interaction", type=term.type, mask=term.mask,
                       label=term.label, order=term.order, value=term.value,
                       strength=abs(term.value), sign=term.sign, rank=rank)
        graph.add_edges_from(((player_node(i), node) for i in term.indices), kind="member")
        graph.add_edge(node, "output", kind="contribution", value=term.value, sign=term.sign,
                       weight=abs(term.value))
    return graph


def player_graph(
    result: InteractionResult,
    tau: float = 0.05,
    *,
    absolute: float | None = None,
    top_k: int | None = None,
    top_fraction: float | None = None,
    merge_singletons: bool = True,
    attribution: Literal["shapley", "banzhaf"] = "shapley",
) -> nx.Graph:
    """Players linked by the salient interactions that contain both of them.

    Parameters
    ----------
    result : InteractionResult
        The result to draw.
    tau, absolute, top_k, top_fraction, merge_singletons
        Which interactions are salient, as in :meth:`InteractionResult.salient`.
    attribution : {"shapley", "banzhaf"}
        First-order attribution stored on the nodes.

    Returns
    -------
    networkx.Graph
        Nodes ``"p<i>"`` as in :func:`and_or_graph`. An edge joins ``i`` and ``j`` when at
        least one salient interaction (AND or OR) contains both, with ``positive`` (sum of
        the positive values of those interactions), ``negative`` (sum of ``|value|`` of the
        negative ones), ``weight`` (``positive + negative``), ``net`` (``positive -
        negative``) and ``count`` (how many). Graph attributes as in :func:`and_or_graph`,
        with ``kind="player"``.

    Examples
    --------
    >>> from captum_interactions import InteractionResult, reconstruct
    >>> I_and, I_or = torch.zeros(8), torch.zeros(8)
    >>> I_and[0b111], I_or[0b011] = 2.0, -1.5
    >>> result = InteractionResult(["x", "y", "z"], reconstruct(I_and, I_or), I_and, I_or)
    >>> graph = player_graph(result)
    >>> graph.edges["p0", "p1"]["positive"], graph.edges["p0", "p1"]["negative"]
    (2.0, 1.5)
    >>> graph.edges["p1", "p2"]["count"]
    1
    """
    criterion = _criterion(tau, absolute, top_k, top_fraction)
    graph = _base_graph(nx.Graph(), result, "player", criterion, merge_singletons, attribution)
    and_i, or_i = result.interactions(merge_singletons=merge_singletons)
    keep_and, keep_or = salient_masks(and_i, or_i, **criterion)
    and_i, or_i = and_i * keep_and, or_i * keep_or
    positive = and_i.clamp(min=0) + or_i.clamp(min=0)
    negative = (-and_i).clamp(min=0) + (-or_i).clamp(min=0)
    count = keep_and.to(and_i.dtype) + keep_or.to(and_i.dtype)
    bits = mask_bits(result.n_players, device=and_i.device).to(and_i.dtype)
    # pair[i, j] = Σ_S weight(S) [i ∈ S][j ∈ S], for all three weights in one product
    pairs = torch.einsum("ti,wt,tj->wij", bits, torch.stack([positive, negative, count]), bits)
    pos, neg, cnt = pairs.tolist()
    for i in range(result.n_players):
        for j in range(i + 1, result.n_players):
            if cnt[i][j] > 0:
                graph.add_edge(player_node(i), player_node(j), positive=pos[i][j],
                               negative=neg[i][j], weight=pos[i][j] + neg[i][j],
                               net=pos[i][j] - neg[i][j], count=round(cnt[i][j]))
    return graph

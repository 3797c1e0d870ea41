"""Lossless export and import of interaction graphs: GraphML and node-link JSON.

GraphML opens in Gephi and Cytoscape; node-link JSON is networkx's own format (also read by
d3). Both keep node ids, every attribute and its type, so ``read_graph(write_graph(g, p))``
equals ``g``. Only graphs with string node ids and scalar attributes (str, int, float, bool)
are written; anything else is named in the error, because it would not come back unchanged.

Any Python string survives GraphML: XML 1.0 cannot hold control characters, lone surrogates
or a bare carriage return (readers turn ``\r\n`` into ``\n``), so a string with any of them
(or one that starts with the marker) is stored as ``ci-escaped:`` followed by its JSON form,
and :func:`read_graph` restores it.

>>> import tempfile, pathlib, networkx as nx
>>> graph = nx.DiGraph(kind="demo")
>>> graph.add_edge("p0", "and:3", kind="member")
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> back = read_graph(write_graph(graph, folder / "demo.graphml"))
>>> nx.utils.graphs_equal(graph, back), back.graph
(True, {'kind': 'demo'})
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

import networkx as nx

from captum_interactions._files import atomic_path
from captum_interactions.exceptions import InteractionError, ResultFormatError

__all__ = ["read_graph", "write_graph"]

Format = Literal["graphml", "node_link"]
_SUFFIXES: dict[str, Format] = {".graphml": "graphml", ".json": "node_link"}
_SCALARS = (str, int, float, bool)
#: Attribute names that the file format uses itself, by owner.
_RESERVED: dict[Format, dict[str, tuple[str, ...]]] = {
    "graphml": {},
    "node_link": {"node": ("id",), "edge": ("source", "target")},
}


#: Prefix of a string stored in its JSON form (GraphML cannot hold it as it is).
ESCAPED = "ci-escaped:"
_XML_UNSAFE = re.compile("[^\t\n\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _escape(value: Any) -> Any:
    if isinstance(value, str) and (value.startswith(ESCAPED) or _XML_UNSAFE.search(value)):
        return ESCAPED + json.dumps(value)  # ASCII: every unsafe character as \uXXXX
    return value


def _unescape(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(ESCAPED):
        return json.loads(value[len(ESCAPED):])
    return value


def _mapped(graph: nx.Graph, convert) -> nx.Graph:
    """A copy of ``graph`` with ``convert`` applied to node ids and attribute values."""
    out = graph.__class__()
    out.graph.update({key: convert(value) for key, value in graph.graph.items()})
    out.add_nodes_from((convert(node), {key: convert(value) for key, value in data.items()})
                       for node, data in graph.nodes(data=True))
    out.add_edges_from((convert(u), convert(v), {key: convert(value) for key, value in
                                                 data.items()})
                       for u, v, data in graph.edges(data=True))
    return out


def _format(path: Path, format: Format | None) -> Format:
    if format is None:
        format = _SUFFIXES.get(path.suffix.lower())
        if format is None:
            raise InteractionError(
                f"cannot tell the graph format of {path.name!r} from its suffix; name the file "
                f"*.graphml or *.json, or pass format= one of {sorted(set(_SUFFIXES.values()))}"
            )
    if format not in _SUFFIXES.values():
        raise InteractionError(
            f"unknown graph format {format!r}; choose one of {sorted(set(_SUFFIXES.values()))}"
        )
    return format


def _check_scalars(graph: nx.Graph, format: Format) -> None:
    """Raise if a node id is not a str, an attribute not a str/int/float/bool, or reserved."""
    for node in graph.nodes:
        if not isinstance(node, str):
            raise InteractionError(
                f"node id {node!r} is a {type(node).__name__}; files store node ids as text, so "
                "it would come back as a str. Relabel first: nx.relabel_nodes(graph, str)"
            )
    owners: list[tuple[str, dict[str, Any]]] = [("graph", graph.graph)]
    owners += [(f"node {node!r}", data) for node, data in graph.nodes(data=True)]
    owners += [(f"edge {u!r} -> {v!r}", data) for u, v, data in graph.edges(data=True)]
    for owner, data in owners:
        reserved = _RESERVED[format].get(owner.split(" ")[0], ())
        for name, value in data.items():
            if name in reserved:
                raise InteractionError(
                    f"attribute {name!r} of {owner} clashes with a field of the {format} format "
                    f"(reserved: {list(reserved)}); rename the attribute"
                )
            if not isinstance(value, _SCALARS):
                raise InteractionError(
                    f"attribute {name!r} of {owner} is a {type(value).__name__} ({value!r}); "
                    "only str, int, float and bool survive GraphML and JSON unchanged. Convert "
                    "it first (join sequences into a string, float() numpy or torch scalars)"
                )


def write_graph(graph: nx.Graph, path: str | Path, *, format: Format | None = None) -> Path:
    """Write ``graph`` to ``path`` as GraphML or node-link JSON; returns the path.

    Parameters
    ----------
    graph : networkx.Graph or networkx.DiGraph
        String node ids, scalar attributes (as made by :func:`and_or_graph` and
        :func:`player_graph`).
    path : str or Path
        Destination; the format follows the suffix (``.graphml`` or ``.json``).
    format : {"graphml", "node_link"}, optional
        Overrides the suffix.
    """
    path = Path(path)
    format = _format(path, format)
    if graph.is_multigraph():
        raise InteractionError(
            "write_graph stores simple graphs (Graph or DiGraph), got a multigraph; "
            "convert with nx.Graph(graph) or nx.DiGraph(graph)"
        )
    _check_scalars(graph, format)
    with atomic_path(path) as tmp:
        if format == "graphml":
            nx.write_graphml(_mapped(graph, _escape), tmp)
        else:
            data = nx.node_link_data(graph, edges="edges")
            tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return path


def read_graph(path: str | Path, *, format: Format | None = None) -> nx.Graph:
    """Read a graph written by :func:`write_graph` (or any GraphML / node-link JSON file).

    Returns a ``networkx.DiGraph`` for directed files and a ``networkx.Graph`` otherwise.
    """
    path = Path(path)
    format = _format(path, format)
    try:
        return _read(path, format)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except Exception as error:  # any damage: not XML / JSON, or not a graph in it
        raise ResultFormatError(
            f"{path} is not a readable {format} graph ({type(error).__name__}: {error}); it "
            "may be truncated or written by another program"
        ) from error


def _read(path: Path, format: Format) -> nx.Graph:
    if format == "graphml":
        graph = nx.read_graphml(path)
        for name in ("node_default", "edge_default"):  # empty entries the reader adds
            if not graph.graph.get(name, True):
                del graph.graph[name]
        return _mapped(graph, _unescape)
    data = json.loads(path.read_text(encoding="utf-8"))
    return nx.node_link_graph(data, edges="edges")

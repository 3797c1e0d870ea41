"""Interaction graphs: structure against the result, lossless GraphML / JSON round trips,
drawing, bad input, and no matplotlib on import."""

from __future__ import annotations

import itertools

import matplotlib
import networkx as nx
import pytest
from helpers.games import random_result

from captum_interactions import InteractionError, InteractionResult, extract
from captum_interactions.graphs.build import (
    and_or_graph,
    interaction_node,
    player_graph,
    player_node,
)
from captum_interactions.graphs.draw import draw_and_or_graph, draw_player_graph
from captum_interactions.graphs.io import read_graph, write_graph

matplotlib.use("Agg")
import matplotlib.pyplot as plt

WORDS = ["The", "capital", "of", "France", "is"]


def planted(n: int = 5, *, seed: int = 0, density: float = 0.3) -> InteractionResult:
    """Random sparse AND and OR terms on ``n`` word players (a target and a baseline set)."""
    players = WORDS if n == len(WORDS) else [f"w{i}" for i in range(n)]
    return random_result(n, seed=seed, density=density, players=players, target=42,
                         target_text=" Paris", baseline="pad", value_kind="log_odds")


def test_and_or_graph_mirrors_the_salient_interactions():
    result = planted()
    graph = and_or_graph(result)
    salient = result.salient()
    assert isinstance(graph, nx.DiGraph)
    assert graph.number_of_nodes() == result.n_players + len(salient) + 1
    assert graph.graph == {"kind": "and_or", "n_players": 5, "attribution": "shapley",
                           "merge_singletons": True, "tau": 0.05, "target": 42,
                           "target_text": " Paris", "baseline": "pad",
                           "value_kind": "log_odds", "bound": 0.0}
    shapley = result.shapley_values().tolist()
    for i, word in enumerate(WORDS):
        assert graph.nodes[player_node(i)] == {"kind": "player", "index": i, "label": word,
                                               "attribution": pytest.approx(shapley[i])}
    for rank, term in enumerate(salient, start=1):
        node = interaction_node(term.type, term.mask)
        data = graph.nodes[node]
        assert data == {"kind": "interaction", "type": term.type, "mask": term.mask,
                        "label": term.label, "order": term.order, "value": term.value,
                        "strength": abs(term.value), "sign": term.sign, "rank": rank}
        assert sorted(graph.predecessors(node)) == [player_node(i) for i in term.indices]
        assert list(graph.successors(node)) == ["output"]
        assert graph.edges[node, "output"] == {"kind": "contribution", "value": term.value,
                                               "sign": term.sign, "weight": abs(term.value)}
    output = graph.nodes["output"]
    assert output["label"] == " Paris"
    assert output["value"] == pytest.approx(float(result.values[-1]))
    assert graph.in_degree("output") == len(salient)


def test_thresholds_pass_through_like_salient():
    result = planted()
    for options in ({"top_k": 3}, {"tau": 0.5}, {"absolute": 0.7}, {"merge_singletons": False}):
        graph = and_or_graph(result, **options)
        expected = {interaction_node(t.type, t.mask) for t in result.salient(**options)}
        assert {n for n, kind in graph.nodes(data="kind") if kind == "interaction"} == expected
        assert all(graph.graph[key] == value for key, value in options.items())


def test_player_graph_weights_match_a_loop_over_salient_terms():
    result = planted(seed=3, density=0.5)
    graph = player_graph(result, tau=0.1, attribution="banzhaf")
    expected = {}
    for term in result.salient(0.1):
        for i, j in itertools.combinations(term.indices, 2):
            entry = expected.setdefault((i, j), [0.0, 0.0, 0])
            entry[0 if term.value > 0 else 1] += abs(term.value)
            entry[2] += 1
    assert {tuple(sorted(graph.nodes[n]["index"] for n in edge)) for edge in graph.edges} == set(
        expected)
    for (i, j), (positive, negative, count) in expected.items():
        data = graph.edges[player_node(i), player_node(j)]
        assert data["positive"] == pytest.approx(positive)
        assert data["negative"] == pytest.approx(negative)
        assert data["weight"] == pytest.approx(positive + negative)
        assert data["net"] == pytest.approx(positive - negative)
        assert data["count"] == count
    banzhaf = result.banzhaf_values().tolist()
    assert [graph.nodes[player_node(i)]["attribution"] for i in range(5)] == pytest.approx(
        banzhaf)
    assert graph.graph["kind"] == "player"


def test_graph_errors():
    with pytest.raises(TypeError, match="expected an InteractionResult, got dict"):
        and_or_graph({"players": []})
    with pytest.raises(InteractionError, match=r"unknown attribution 'lime'.*'shapley'"):
        player_graph(planted(), attribution="lime")


# ------------------------------------------------------------------------------ round trips
def assert_same_graph(graph: nx.Graph, back: nx.Graph) -> None:
    """Equal structure and attributes, and every attribute keeps its exact type."""
    assert nx.utils.graphs_equal(graph, back)
    assert type(graph) is type(back)
    pairs = [(graph.graph, back.graph)]
    pairs += [(graph.nodes[node], back.nodes[node]) for node in graph]
    pairs += [(graph.edges[edge], back.edges[edge]) for edge in graph.edges]
    for original, restored in pairs:
        assert {k: type(v) for k, v in original.items()} == {k: type(v)
                                                              for k, v in restored.items()}


@pytest.mark.parametrize("suffix", [".graphml", ".json"])
@pytest.mark.parametrize("build", [and_or_graph, player_graph], ids=["and_or", "player"])
def test_export_and_import_are_lossless(tmp_path, build, suffix):
    graph = build(planted(seed=1), merge_singletons=True)
    path = write_graph(graph, tmp_path / f"graph{suffix}")
    assert_same_graph(graph, read_graph(path))


def test_graphml_is_plain_graphml_with_typed_keys(tmp_path):
    path = write_graph(and_or_graph(planted()), tmp_path / "g.xml", format="graphml")
    text = path.read_text()
    assert 'attr.name="value" attr.type="double"' in text
    assert 'attr.name="label" attr.type="string"' in text
    assert 'edgedefault="directed"' in text
    assert_same_graph(and_or_graph(planted()), read_graph(path, format="graphml"))


def test_graphml_carries_words_prompt_model_and_extraction_for_other_tools(tmp_path):
    values = random_result(5, seed=2, density=0.5).reconstruct()
    result = extract(values, players=WORDS, qcoef=0.05)
    result.target_text = " Paris"
    result.metadata.update(model="smollm2-135m", prompt="The capital of France is")
    path = write_graph(and_or_graph(result), tmp_path / "graph.graphml")
    graph = nx.read_graphml(path)  # networkx itself, as Gephi and Cytoscape read it
    assert {key: graph.graph[key] for key in ("model", "prompt", "target_text",
                                              "extraction_mode", "solver")} == {
        "model": "smollm2-135m", "prompt": "The capital of France is",
        "target_text": " Paris", "extraction_mode": "and_or",
        "solver": result.extraction.solver}
    assert graph.graph["qcoef"] == 0.05
    assert graph.graph["bound"] == pytest.approx(result.bound)
    assert graph.graph["objective"] == pytest.approx(result.objective)
    words = {data["label"] for node, data in graph.nodes(data=True) if node.startswith("p")}
    assert words == set(WORDS)
    top = result.salient()[0]
    assert graph.nodes[f"{top.type}:{top.mask}"]["label"] == top.label
    rank = nx.pagerank(graph, weight="weight")  # every term feeds the output: it ranks first
    assert max(rank, key=rank.get) == "output"
    players = nx.read_graphml(write_graph(player_graph(result), tmp_path / "players.graphml"))
    communities = nx.community.louvain_communities(players, weight="weight", seed=0)
    assert set().union(*communities) == {f"p{i}" for i in range(5)}


def test_writer_rejects_what_would_not_come_back(tmp_path):
    graph = nx.Graph()
    graph.add_node("p0", players=("a", "b"))
    with pytest.raises(InteractionError, match=r"attribute 'players' of node 'p0' is a tuple"):
        write_graph(graph, tmp_path / "g.graphml")
    numbers = nx.path_graph(2)
    with pytest.raises(InteractionError, match=r"node id 0 is a int.*relabel_nodes"):
        write_graph(numbers, tmp_path / "g.json")
    reserved = nx.Graph()
    reserved.add_node("a", id="x")
    with pytest.raises(InteractionError, match="clashes with a field of the node_link"):
        write_graph(reserved, tmp_path / "g.json")
    write_graph(reserved, tmp_path / "g.graphml")  # no clash in GraphML
    with pytest.raises(InteractionError, match=r"suffix.*\*\.graphml or \*\.json"):
        write_graph(reserved, tmp_path / "g.txt")
    with pytest.raises(InteractionError, match="unknown graph format 'gexf'"):
        read_graph(tmp_path / "g.graphml", format="gexf")
    with pytest.raises(InteractionError, match="multigraph"):
        write_graph(nx.MultiGraph(), tmp_path / "g.json")


# ---------------------------------------------------------------------------------- drawing
def test_draw_and_or_graph_shows_the_strongest_interactions():
    result = planted(n=12, seed=2, density=0.015)
    graph = and_or_graph(result)
    count = sum(1 for _, kind in graph.nodes(data="kind") if kind == "interaction")
    assert count > 25
    fig, ax = draw_and_or_graph(graph, max_interactions=25)
    labels = [text.get_text() for text in ax.texts]
    assert labels[:12] == result.players
    drawn = [label for label in labels if "   " in label]
    strongest = [f"{t.label}   {t.value:+.3g}" for t in result.salient()[:25]]
    assert drawn == strongest
    assert f"the strongest 25 of {count} salient terms" in ax.get_title()
    fig.canvas.draw()
    plt.close(fig)


def test_drawing_into_given_axes_and_wrong_graphs():
    result = planted()
    fig, axes = plt.subplots(1, 2)
    got_fig, got_ax = draw_player_graph(player_graph(result), ax=axes[1], title="players",
                                        max_links=100)
    assert got_fig is fig
    assert got_ax is axes[1]
    links = sum((data["positive"] > 0) + (data["negative"] > 0)
                for _, _, data in player_graph(result).edges(data=True))
    assert got_ax.get_title() == f"players\nall {links} links"
    assert len(got_ax.patches) == links
    draw_and_or_graph(and_or_graph(result), ax=axes[0])
    fig.canvas.draw()
    plt.close(fig)
    with pytest.raises(InteractionError, match=r"made by and_or_graph.*got 'player'"):
        draw_and_or_graph(player_graph(result))
    with pytest.raises(InteractionError, match=r"made by player_graph.*got 'list'"):
        draw_player_graph([1, 2])

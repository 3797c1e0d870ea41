"""Interaction graphs (networkx), export, drawing and cross-model overlap.

Graphs of one result: :func:`and_or_graph` and :func:`player_graph` (plain networkx graphs
with scalar attributes), :func:`write_graph` / :func:`read_graph` (GraphML, node-link JSON),
:func:`draw_and_or_graph` and :func:`draw_player_graph`. Overlap of results on the same
players: :func:`overlap` (two results), :func:`overlap_matrix` (many models or checkpoints
over many samples), and the plots :func:`plot_overlap_heatmap`, :func:`plot_overlap_pairs`,
:func:`plot_order_histogram` and :func:`plot_cancellation`; :func:`plot_top_interactions`
draws the strongest terms of results side by side, :func:`plot_waterfall` how one result's
terms add up to its output, :func:`plot_token_heatmap` its words coloured by their Shapley
values. Sharing against capability over model pairs (the seed paper's claim 2):
:func:`sharing_vs_capability` and :func:`plot_sharing_vs_capability`. Drawing and plotting
import matplotlib only when called. This package imports the core of captum-interactions
only (never the adapters or the run application).
"""

from __future__ import annotations

from .build import and_or_graph, interaction_node, player_graph, player_node
from .capability import SharingCapability, plot_sharing_vs_capability, sharing_vs_capability
from .comparison import SHARED_DEFINITIONS, OverlapMatrix, PairOverlap, overlap, overlap_matrix
from .contributions import plot_token_heatmap, plot_waterfall
from .draw import draw_and_or_graph, draw_player_graph
from .io import read_graph, write_graph
from .plots import (
    plot_cancellation,
    plot_order_histogram,
    plot_overlap_heatmap,
    plot_overlap_pairs,
    plot_top_interactions,
)

__all__ = [
    "SHARED_DEFINITIONS",
    "OverlapMatrix",
    "PairOverlap",
    "SharingCapability",
    "and_or_graph",
    "draw_and_or_graph",
    "draw_player_graph",
    "interaction_node",
    "overlap",
    "overlap_matrix",
    "player_graph",
    "player_node",
    "plot_cancellation",
    "plot_order_histogram",
    "plot_overlap_heatmap",
    "plot_overlap_pairs",
    "plot_sharing_vs_capability",
    "plot_token_heatmap",
    "plot_top_interactions",
    "plot_waterfall",
    "read_graph",
    "sharing_vs_capability",
    "write_graph",
]

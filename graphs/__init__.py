"""Interaction graphs (networkx), export, drawing and cross-model overlap."""

from __future__ import annotations

__all__: list[str] = []

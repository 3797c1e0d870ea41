"""Model back ends that evaluate language models on batches of masks (embedding-level masking)."""

from __future__ import annotations

__all__: list[str] = []

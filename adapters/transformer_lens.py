"""TransformerLens models, masked at their ``hook_embed`` hook point.

Works with any TransformerLens model (``hook_dict`` and ``hooks()``, as on a
``HookedRootModule``) that takes token ids and has a ``hook_embed`` hook point on the output
of its ``embed`` module:
the ``TransformerBridge`` (``boot_native`` or ``boot_transformers``; TransformerLens 3.9 and
4.x) and the ``HookedTransformer`` of TransformerLens 3.x (4.0 removed it; tested with 3.9 by
``make test-tl3``). A forward hook replaces the output of
``hook_embed`` at absent players' positions with the baseline; positions and attention stay
intact. Hooks are attached with ``model.hooks(...)``, which removes them even after an
exception. A second hook keeps, at the unembedding's input (``unembed.hook_in`` or
``ln_final.hook_normalized``), only the positions whose logits are read.

Prefix sharing needs a key/value cache: a ``TransformerBridge`` around a HuggingFace model
passes ``past_key_values`` through to it, so it gets the prefix tree; ``boot_native`` bridges
and ``HookedTransformer`` evaluate every masked sequence in full (still batched).

>>> from transformer_lens.config import TransformerBridgeConfig
>>> from transformer_lens.model_bridge import TransformerBridge
>>> config = TransformerBridgeConfig(
...     d_model=8, d_head=4, n_heads=2, n_layers=1, n_ctx=16, d_vocab=5, act_fn="gelu", seed=0
... )
>>> from captum_interactions.adapters.base import Prompt
>>> bridge = TransformerBridge.boot_native(config, device="cpu")
>>> adapter = TransformerLensAdapter(bridge, tokenizer=None)
>>> prompt = Prompt("", torch.tensor([1, 2, 3, 4]), ((0, 0),) * 4)
>>> v = adapter.evaluate(prompt, [[1], [2]], torch.arange(4), target=0, baseline="zero")
>>> v.shape, adapter.supports_prefix_sharing
(torch.Size([4]), False)
"""

from __future__ import annotations

import sys
from typing import Any

import torch

from captum_interactions.exceptions import InteractionError

from ._evaluation import ModelShape
from .base import LanguageModelAdapter

__all__ = ["TransformerLensAdapter"]

#: Hook points whose output feeds the unembedding, per position (first one found is used).
_UNEMBED_INPUTS = ("unembed.hook_in", "ln_final.hook_normalized")


class TransformerLensAdapter(LanguageModelAdapter):
    """Masked evaluation of a TransformerLens model through its ``hook_embed`` hook point.

    Args:
        model: a ``HookedRootModule`` with a ``hook_embed`` hook point (``TransformerBridge``,
            ``HookedTransformer``).
        tokenizer: a fast HuggingFace tokenizer; defaults to ``model.tokenizer``. Pass the
            same tokenizer as for the HuggingFace path to feed both paths the same ids (a
            bridge's own tokenizer may prepend a BOS token).
        name (str, optional): recorded in results; defaults to ``model.cfg.model_name``.
        chunk_size (int, optional): masked sequences per forward call (``None``: automatic).
        prefix_sharing (bool, optional): prefix tree over the key/value cache; only for a
            ``TransformerBridge`` around a HuggingFace model (``None``: whenever supported).
    """

    def __init__(
        self,
        model,
        tokenizer=None,
        *,
        name: str | None = None,
        chunk_size: int | None = None,
        prefix_sharing: bool | None = None,
    ):
        if not (
            isinstance(model, torch.nn.Module)
            and isinstance(getattr(model, "hook_dict", None), dict)
            and callable(getattr(model, "hooks", None))
        ):
            raise TypeError(
                "TransformerLensAdapter needs a TransformerLens model with hook points (a "
                "TransformerBridge, HookedTransformer or other HookedRootModule); got "
                f"{type(model).__name__}. For HuggingFace models use HuggingFaceAdapter."
            )
        hooks = model.hook_dict
        if "hook_embed" not in hooks or not callable(getattr(model, "embed", None)):
            shown = ", ".join(list(hooks)[:8]) or "none"
            raise InteractionError(
                f"{type(model).__name__} has no 'hook_embed' hook point with an 'embed' module "
                f"behind it, where masking replaces token embeddings (its hook points start "
                f"with: {shown}). Use a model with a token embedding hook, or "
                "HuggingFaceAdapter for a HuggingFace model."
            )
        tokenizer = tokenizer if tokenizer is not None else getattr(model, "tokenizer", None)
        if tokenizer is not None and not getattr(tokenizer, "is_fast", False):
            raise TypeError(
                "TransformerLensAdapter needs a fast tokenizer (PreTrainedTokenizerFast, with "
                f"character offsets); got {type(tokenizer).__name__}"
            )
        self.model = model
        self._tokenizer = tokenizer
        self._unembed_input = next((h for h in _UNEMBED_INPUTS if h in hooks), None)
        cfg = model.cfg
        parameter = next(model.parameters())
        self._shape = ModelShape(
            n_layers=cfg.n_layers,
            d_model=cfg.d_model,
            n_heads=cfg.n_heads,
            kv_width=(getattr(cfg, "n_key_value_heads", None) or cfg.n_heads) * cfg.d_head,
            vocab_size=cfg.d_vocab,
            itemsize=parameter.dtype.itemsize,
        )
        super().__init__(
            name=name or getattr(cfg, "model_name", None) or type(model).__name__,
            chunk_size=chunk_size,
            prefix_sharing=prefix_sharing,
        )

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def tokenizer(self):
        return self._tokenizer

    @property
    def context_length(self) -> int | None:
        return self.model.cfg.n_ctx

    @property
    def model_shape(self) -> ModelShape:
        return self._shape

    @property
    def supports_prefix_sharing(self) -> bool:
        transformers = sys.modules.get("transformers")
        wrapped = getattr(self.model, "original_model", None) if transformers else None
        return transformers is not None and isinstance(wrapped, transformers.PreTrainedModel)

    @property
    def _module(self) -> torch.nn.Module:
        return self.model

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        """The output of ``hook_embed`` for each token id: the model's ``embed`` module."""
        return self.model.embed(input_ids.to(self.device))

    def _forward(
        self,
        ids: torch.Tensor,
        absent: torch.Tensor,
        baseline: torch.Tensor,
        past: Any,
        keep: int,
    ) -> Any:
        def replace(activation: torch.Tensor, hook: Any) -> torch.Tensor:
            return torch.where(absent.unsqueeze(-1), baseline.to(activation.dtype), activation)

        def keep_last(activation: torch.Tensor, hook: Any) -> torch.Tensor:
            return activation[:, -max(keep, 1) :]

        hooks = [("hook_embed", replace)]
        if self._unembed_input is not None:
            hooks.append((self._unembed_input, keep_last))
        tokens = ids.expand(absent.shape[0], -1)
        with self.model.hooks(fwd_hooks=hooks):
            if past is None and keep:
                return self.model(tokens)[:, -keep:]
            logits, cache = self.model(
                tokens, return_type="logits_and_cache", past_key_values=past, use_cache=True
            )
        return logits[:, -keep:] if keep else cache

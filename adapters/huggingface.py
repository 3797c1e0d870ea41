"""HuggingFace causal language models, masked through ``inputs_embeds``.

The prompt's token embeddings come from the model's own input embedding layer (so Gemma's
``sqrt(d_model)`` scaling applies to real tokens and to token baselines alike); absent
players' embeddings are replaced by the baseline and the model runs on ``inputs_embeds`` with
``logits_to_keep=1``, so only the last position is unembedded. With prefix sharing (see
:mod:`captum_interactions.adapters._evaluation`) the model runs one segment at a time: models
that dispatch attention through transformers' ``AttentionInterface`` (GPT-2, Llama, Gemma and
most others) attend to the keys and values of earlier segments where they are stored, once per
prefix, without copies (:mod:`captum_interactions.adapters._tree_attention`); any other model
extends a ``DynamicCache``.

>>> from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast
>>> from tokenizers import Tokenizer, models, pre_tokenizers
>>> vocab = {"<pad>": 0, "a": 1, "b": 2, "c": 3}
>>> backend = Tokenizer(models.WordLevel(vocab, unk_token="<pad>"))
>>> backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
>>> tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>")
>>> _ = torch.manual_seed(0)
>>> config = GPT2Config(vocab_size=4, n_embd=8, n_layer=1, n_head=2, bos_token_id=0, eos_token_id=0)
>>> model = GPT2LMHeadModel(config).eval()
>>> adapter = HuggingFaceAdapter(model, tokenizer)
>>> prompt = adapter.tokenize("a b c")
>>> prompt.input_ids, prompt.offsets
(tensor([1, 2, 3]), ((0, 1), (2, 3), (4, 5)))
>>> v = adapter.evaluate(prompt, [[0], [1]], torch.arange(4), target=1, baseline="pad")
>>> v.shape, v.dtype
(torch.Size([4]), torch.float64)
"""

from __future__ import annotations

import inspect
from typing import Any

import torch

from captum_interactions._optional import require

from ._evaluation import ModelShape
from ._tree_attention import (
    AttentionBypassedError,
    SharedPast,
    supports_tree_attention,
    tree_attention,
)
from .base import LanguageModelAdapter

__all__ = ["HuggingFaceAdapter"]


class HuggingFaceAdapter(LanguageModelAdapter):
    """Masked evaluation of a HuggingFace causal LM (GPT-2, Llama, Gemma, SmolLM, ...).

    Args:
        model: a ``transformers`` causal LM (``...ForCausalLM``) whose forward accepts
            ``inputs_embeds`` and ``logits_to_keep``.
        tokenizer: its fast tokenizer (character offsets are needed for word players).
        name (str, optional): recorded in results; defaults to the model's ``name_or_path``.
        chunk_size (int, optional): masked sequences per forward call (``None``: automatic).
        prefix_sharing (bool, optional): evaluate masks as a prefix tree over the key/value
            cache (``None``: whenever the model supports it).
    """

    def __init__(
        self,
        model,
        tokenizer,
        *,
        name: str | None = None,
        chunk_size: int | None = None,
        prefix_sharing: bool | None = None,
    ):
        transformers = require("transformers", purpose="HuggingFaceAdapter")
        if not isinstance(model, transformers.PreTrainedModel):
            raise TypeError(
                "HuggingFaceAdapter needs a transformers causal LM (e.g. from "
                f"AutoModelForCausalLM.from_pretrained); got {type(model).__name__}. For "
                "TransformerLens models use TransformerLensAdapter."
            )
        accepted = inspect.signature(model.forward).parameters
        missing = [p for p in ("inputs_embeds", "logits_to_keep") if p not in accepted]
        if missing:
            raise TypeError(
                f"{type(model).__name__}.forward does not accept {', '.join(missing)}; "
                "HuggingFaceAdapter needs a causal LM (a ...ForCausalLM class) of transformers "
                ">= 4.45"
            )
        if not getattr(tokenizer, "is_fast", False):
            raise TypeError(
                "HuggingFaceAdapter needs a fast tokenizer (PreTrainedTokenizerFast, with "
                f"character offsets); got {type(tokenizer).__name__}. Load it with "
                "AutoTokenizer.from_pretrained(..., use_fast=True)."
            )
        self.model = model
        self._tokenizer = tokenizer
        self._tree_attention = supports_tree_attention(model)
        config = model.config.get_text_config()
        heads = config.num_attention_heads
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
        self._shape = ModelShape(
            n_layers=config.num_hidden_layers,
            d_model=config.hidden_size,
            n_heads=heads,
            kv_width=(getattr(config, "num_key_value_heads", None) or heads) * head_dim,
            vocab_size=model.get_input_embeddings().weight.shape[0],
            itemsize=model.dtype.itemsize,
        )
        self._context = getattr(config, "max_position_embeddings", None)
        super().__init__(
            name=name or model.config.name_or_path or type(model).__name__,
            chunk_size=chunk_size,
            prefix_sharing=prefix_sharing,
        )

    @property
    def device(self) -> torch.device:
        return self.model.get_input_embeddings().weight.device

    @property
    def tokenizer(self):
        return self._tokenizer

    @property
    def context_length(self) -> int | None:
        return self._context

    @property
    def model_shape(self) -> ModelShape:
        return self._shape

    @property
    def supports_prefix_sharing(self) -> bool:
        return "past_key_values" in inspect.signature(self.model.base_model.forward).parameters

    @property
    def _module(self) -> torch.nn.Module:
        return self.model

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.model.get_input_embeddings()(input_ids.to(self.device))

    def _forward(
        self,
        ids: torch.Tensor,
        absent: torch.Tensor,
        baseline: torch.Tensor,
        past: Any,
        keep: int,
    ) -> Any:
        with torch.no_grad():
            tokens = self.embed(ids)
        embeds = torch.where(absent.unsqueeze(-1), baseline.to(tokens.dtype), tokens)
        if past is None and keep:  # the whole prompt at once
            return self.model(inputs_embeds=embeds, use_cache=False, logits_to_keep=keep).logits
        if self._tree_attention:
            try:
                return self._tree_forward(embeds, past, keep)
            except AttentionBypassedError:
                if past is not None:
                    raise
                # Wrapped since (a TransformerBridge replaces the attention modules): from now
                # on this adapter extends a key/value cache instead.
                self._tree_attention = False
        if keep:
            out = self.model(
                inputs_embeds=embeds, past_key_values=past, use_cache=True, logits_to_keep=keep
            )
            return out.logits
        out = self.model.base_model(inputs_embeds=embeds, past_key_values=past, use_cache=True)
        return out.past_key_values

    def _tree_forward(self, embeds: torch.Tensor, past: SharedPast | None, keep: int) -> Any:
        """One segment with attention over the stored segments of ``past``."""
        new = embeds.shape[1]
        start = past.length if past is not None else 0
        positions = torch.arange(start, start + new, device=embeds.device)[None]
        inputs = {"inputs_embeds": embeds, "position_ids": positions, "use_cache": False}
        with tree_attention(self.model, past, new, store=not keep) as call:
            if keep:
                return self.model(**inputs, logits_to_keep=keep).logits
            self.model.base_model(**inputs)
        return call.extended()

"""Tiny offline language models and tokenizers for tests (no model hub, seeded, float32).

Import from any test with ``from helpers.lm_models import ...`` (pytest puts ``tests/`` on
``sys.path``). Every builder is a plain function, deterministic, and takes well under a second:

- :func:`make_tokenizer`: a byte-level BPE (``kind="bpe"``, words split into 1-3 tokens, as in
  GPT-2/Llama tokenizers) or a word-level tokenizer (``kind="word"``, one token per word),
  wrapped in :class:`transformers.PreTrainedTokenizerFast` with offsets and the special tokens
  ``<pad> <unk> <bos> <eos>``; ``add_bos=True`` prepends BOS like Llama/Gemma tokenizers.
- :func:`tiny_gpt2`, :func:`tiny_llama`, :func:`tiny_gemma3`: random HuggingFace causal LMs
  with the tokenizer's vocabulary (Gemma 3 scales its embeddings by ``sqrt(d_model)``).
- :func:`tiny_native_bridge`: a TransformerLens 4.x ``TransformerBridge`` from ``boot_native``.
- :func:`tiny_hf_bridge`: a ``TransformerBridge`` wrapping one of the tiny HF models via
  ``boot_transformers(..., hf_model=...)`` (sharing its weights).
- :func:`tiny_hooked_transformer`, :func:`hooked_transformer_from_hf`: TransformerLens 3.x
  ``HookedTransformer`` models (random from a config, or TL's own conversion of an HF model).
- :func:`check_equals_token_substitution`, :func:`check_hooks_removed_after_an_exception`,
  :func:`check_refuses_prefix_sharing`: checks of ``TransformerLensAdapter`` on a
  TransformerLens-native model without a prefix cache, shared by the ``TransformerBridge``
  and the ``HookedTransformer`` tests.
"""

from __future__ import annotations

import copy
import functools
import os
from typing import Literal

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch

__all__ = [
    "CORPUS",
    "MASKS",
    "PLAYERS",
    "PROMPT",
    "SPECIAL_TOKENS",
    "check_equals_token_substitution",
    "check_hooks_removed_after_an_exception",
    "check_refuses_prefix_sharing",
    "hooked_transformer_from_hf",
    "make_tokenizer",
    "no_hooks_left",
    "tiny_gemma3",
    "tiny_gpt2",
    "tiny_hf_bridge",
    "tiny_hooked_transformer",
    "tiny_llama",
    "tiny_native_bridge",
]

#: Special tokens, in id order 0..3.
SPECIAL_TOKENS = ("<pad>", "<unk>", "<bos>", "<eos>")

#: Training text of the tokenizers: every word of it is in the word-level vocabulary.
CORPUS = (
    "the quick brown fox jumps over the lazy dog . "
    "a cat sat on the mat and looked at the dog . "
    "the capital of france is paris , and the capital of italy is rome . "
    "she said that the weather was nice today , so we went outside . "
    "i think therefore i am . to be or not to be , that is the question . "
    "the students read books in the library every morning before class . "
    "water boils at one hundred degrees , ice melts at zero degrees . "
    "my favourite colour is blue because it reminds me of the sea ."
)

#: A prompt made only of corpus words (multi-token words under the BPE tokenizer).
PROMPT = "the capital of france is paris , and the capital of italy is"

#: Word-like players spread over the 23-token BPE prompt, one of them split in two pieces.
PLAYERS = [[1, 2], [4], [6, 7, 8], [9, 20], [12], [15, 16]]

#: Every coalition of :data:`PLAYERS` (bit ``i`` set: player ``i`` present).
MASKS = torch.arange(2 ** len(PLAYERS))

#: Vocabulary size of the BPE tokenizer (256 byte symbols + merges + 4 specials).
_BPE_VOCAB = 330
_SEED = 1234


@functools.cache
def _backend_json(kind: str, add_bos: bool) -> str:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    if kind == "bpe":
        tok = Tokenizer(models.BPE(unk_token="<unk>"))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=_BPE_VOCAB,
            special_tokens=list(SPECIAL_TOKENS),
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        tok.train_from_iterator([CORPUS], trainer=trainer)
        post = processors.ByteLevel(trim_offsets=True)
    elif kind == "word":
        words = sorted(set(CORPUS.split()))
        vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS + tuple(words))}
        tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
        tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        tok.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces
        post = None
    else:
        raise ValueError(f"kind must be 'bpe' or 'word', got {kind!r}")
    if add_bos:
        bos = processors.TemplateProcessing(
            single="<bos> $A", pair="<bos> $A <bos> $B", special_tokens=[("<bos>", 2)]
        )
        post = bos if post is None else processors.Sequence([post, bos])
    if post is not None:
        tok.post_processor = post
    return tok.to_str()


def make_tokenizer(kind: Literal["bpe", "word"] = "bpe", *, add_bos: bool = False):
    """A fresh tiny fast tokenizer (pad 0, unk 1, bos 2, eos 3), built offline.

    >>> tok = make_tokenizer("word")
    >>> tok("the dog .", return_offsets_mapping=True)["offset_mapping"]
    [(0, 3), (4, 7), (8, 9)]
    """
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer.from_str(_backend_json(kind, add_bos))
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token="<pad>",
        unk_token="<unk>",
        bos_token="<bos>",
        eos_token="<eos>",
        clean_up_tokenization_spaces=False,
    )


def _vocab_size(tokenizer) -> int:
    return len(tokenizer) if tokenizer is not None else _BPE_VOCAB


def _seeded(build):
    """Build a model under a fixed seed without touching the caller's RNG state.

    ``config.architectures`` is set as ``from_pretrained`` would (the bridge needs it).
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_SEED)
        model = build()
    model.config.architectures = [type(model).__name__]
    return model.eval()


def _special_ids() -> dict[str, int]:
    return {"pad_token_id": 0, "bos_token_id": 2, "eos_token_id": 3}


def tiny_gpt2(tokenizer=None, *, d_model: int = 32, n_layers: int = 2):
    """A random 2-layer GPT-2 (learned positions, LayerNorm, tied unembedding)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=_vocab_size(tokenizer),
        n_positions=64,
        n_embd=d_model,
        n_layer=n_layers,
        n_head=4,
        n_inner=2 * d_model,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        attn_implementation="eager",
        **_special_ids(),
    )
    return _seeded(lambda: GPT2LMHeadModel(config))


def tiny_llama(tokenizer=None, *, d_model: int = 32, n_layers: int = 2):
    """A random 2-layer Llama (rotary positions, RMSNorm, grouped-query attention)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=_vocab_size(tokenizer),
        hidden_size=d_model,
        intermediate_size=2 * d_model,
        num_hidden_layers=n_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
        tie_word_embeddings=False,
        attn_implementation="eager",
        **_special_ids(),
    )
    return _seeded(lambda: LlamaForCausalLM(config))


def tiny_gemma3(tokenizer=None, *, d_model: int = 32, n_layers: int = 2):
    """A random 2-layer Gemma 3 text model (embeddings scaled by ``sqrt(d_model)``).

    One sliding-window layer (window 4, shorter than the test prompts) and one global layer.
    """
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    config = Gemma3TextConfig(
        vocab_size=_vocab_size(tokenizer),
        hidden_size=d_model,
        intermediate_size=2 * d_model,
        num_hidden_layers=n_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=d_model // 4,
        max_position_embeddings=64,
        sliding_window=4,
        layer_types=["sliding_attention", "full_attention"][:n_layers],
        final_logit_softcapping=30.0,
        attn_implementation="eager",
        **_special_ids(),
    )
    return _seeded(lambda: Gemma3ForCausalLM(config))


def _bridge_tokenizer(tokenizer):
    """A copy of ``tokenizer`` that TransformerLens (bridge or ``HookedTransformer``) keeps as is.

    Unless ``add_bos_token`` is in its init kwargs, TransformerLens reloads the tokenizer from
    ``name_or_path`` (a hub name or folder), which an in-memory tokenizer does not have.
    The flag only stops the reload; the copy tokenizes exactly like the original.
    """
    if tokenizer is None:
        return None
    tokenizer = copy.deepcopy(tokenizer)
    tokenizer.init_kwargs.setdefault("name_or_path", tokenizer.name_or_path)
    tokenizer.init_kwargs["add_bos_token"] = True
    return tokenizer


def _native_config(tokenizer, d_model: int, n_layers: int) -> dict:
    """The shared fields of the TransformerLens-native tiny models' configs."""
    return {
        "d_model": d_model,
        "d_head": d_model // 4,
        "n_heads": 4,
        "n_layers": n_layers,
        "n_ctx": 64,
        "d_vocab": _vocab_size(tokenizer),
        "d_mlp": 2 * d_model,
        "act_fn": "gelu",
        "normalization_type": "LN",
        "seed": _SEED,
    }


def tiny_native_bridge(tokenizer=None, *, d_model: int = 32, n_layers: int = 2):
    """A random TransformerLens-native ``TransformerBridge`` (``boot_native``, LayerNorm, GELU)."""
    from transformer_lens.config import TransformerBridgeConfig
    from transformer_lens.model_bridge import TransformerBridge

    config = TransformerBridgeConfig(
        **_native_config(tokenizer, d_model, n_layers),
        positional_embedding_type="standard",
        tokenizer_prepends_bos=False,
    )
    bridge = TransformerBridge.boot_native(
        config, tokenizer=_bridge_tokenizer(tokenizer), device="cpu"
    )
    return bridge.eval()


def tiny_hf_bridge(hf_model, tokenizer=None):
    """Wrap a tiny HF model in a ``TransformerBridge`` (``boot_transformers``, same weights).

    The architecture comes from ``hf_model.config.architectures``; nothing is downloaded.
    """
    from transformer_lens.model_bridge import TransformerBridge

    bridge = TransformerBridge.boot_transformers(
        f"tiny-{hf_model.config.model_type}",
        hf_model=hf_model,
        tokenizer=_bridge_tokenizer(tokenizer),
        device="cpu",
    )
    return bridge.eval()


def tiny_hooked_transformer(tokenizer=None, *, d_model: int = 32, n_layers: int = 2):
    """A random TransformerLens 3.x ``HookedTransformer`` from a config (LayerNorm, GELU)."""
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    config = HookedTransformerConfig(
        **_native_config(tokenizer, d_model, n_layers), default_prepend_bos=False, device="cpu"
    )
    return HookedTransformer(config, _bridge_tokenizer(tokenizer)).eval()


def hooked_transformer_from_hf(hf_model, tokenizer, folder):
    """Convert an HF model into a TransformerLens 3.x ``HookedTransformer``, offline.

    TransformerLens' ``from_pretrained`` accepts only the hub names it lists, so this takes the
    two steps inside it: the config conversion (which reads ``config.json`` from a local
    ``folder``) and the architecture's weight conversion of ``hf_model``, followed by the usual
    processing (folded norms, centred unembedding). ``folder``'s path must not contain "llama"
    or "gemma": TransformerLens would take it for a name and skip reading its config.
    """
    from transformer_lens import HookedTransformer, loading

    hf_model.config.save_pretrained(folder)
    config = loading.get_pretrained_model_config(str(folder), fold_ln=True, device="cpu")
    state = loading.get_pretrained_state_dict(str(folder), config, hf_model)
    model = HookedTransformer(config, _bridge_tokenizer(tokenizer))
    model.load_and_process_state_dict(state)
    return model.eval()


def no_hooks_left(model) -> bool:
    """Whether no forward hook is left on any of a TransformerLens model's hook points."""
    return all(not point._forward_hooks for point in model.hook_dict.values())


def check_equals_token_substitution(model, tokenizer) -> None:
    """``TransformerLensAdapter`` on a TransformerLens-native ``model`` (no prefix cache) gives
    the log-odds of the model run on token ids with absent players' tokens replaced by UNK, and
    leaves no hook behind."""
    from captum_interactions.adapters.transformer_lens import TransformerLensAdapter
    from helpers.oracles import substituted_log_odds

    adapter = TransformerLensAdapter(model, tokenizer)
    prompt = adapter.tokenize(PROMPT)
    values = adapter.evaluate(prompt, PLAYERS, MASKS, target=9, baseline="unk")
    expected = substituted_log_odds(
        model, prompt.input_ids[None], PLAYERS, MASKS, tokenizer.unk_token_id, 9
    )
    assert not adapter.supports_prefix_sharing
    assert no_hooks_left(model)
    torch.testing.assert_close(values, expected, rtol=1e-5, atol=1e-5)


def check_hooks_removed_after_an_exception(model, tokenizer) -> None:
    """A forward pass of ``TransformerLensAdapter`` on ``model`` that fails inside the model
    (a mask of the wrong shape) still removes its hooks."""
    import pytest

    from captum_interactions.adapters.transformer_lens import TransformerLensAdapter

    adapter = TransformerLensAdapter(model, tokenizer)
    ids = adapter.tokenize(PROMPT).input_ids
    wrong = torch.zeros(2, 3, dtype=torch.bool)  # does not match the 23 positions
    with pytest.raises(RuntimeError):
        adapter._forward(ids, wrong, torch.zeros(32), None, True)
    assert no_hooks_left(model)


def check_refuses_prefix_sharing(model, tokenizer) -> None:
    """``TransformerLensAdapter`` on a ``model`` without a key/value cache refuses prefix
    sharing, both when built and when asked for it by ``evaluate``."""
    import pytest

    from captum_interactions.adapters.transformer_lens import TransformerLensAdapter
    from captum_interactions.exceptions import InteractionError

    with pytest.raises(InteractionError, match=r"cannot share prefixes.*prefix_sharing=False"):
        TransformerLensAdapter(model, tokenizer, prefix_sharing=True)
    adapter = TransformerLensAdapter(model, tokenizer)
    prompt = adapter.tokenize(PROMPT)
    with pytest.raises(InteractionError, match="cannot share prefixes"):
        adapter.evaluate(prompt, PLAYERS, MASKS, target=1, baseline="pad", prefix_sharing=True)

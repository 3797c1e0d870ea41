"""Random causal LMs, a word-level tokenizer and a dozen prompts for the benchmarks, offline.

:func:`save_tiny_models` writes a tiny GPT-2 and a tiny Llama (random weights, one word-level
tokenizer over :data:`PROMPTS`' words, :func:`word_tokenizer`) as ``save_pretrained``
folders, the form ``--model`` takes. :func:`build` makes a random model of a real
architecture's shape (:data:`CONFIGS`: SmolLM2-135M, a 1.1B Llama): speed does not depend on
the weights.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

__all__ = ["CONFIGS", "PROMPTS", "build", "save_tiny_models", "word_tokenizer", "write_prompts"]

#: Real architectures' configs (LlamaConfig fields): SmolLM2-135M's, and TinyLlama-1.1B's.
CONFIGS = {
    "smollm2-135m": {
        "vocab_size": 49152, "hidden_size": 576, "intermediate_size": 1536,
        "num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3,
        "max_position_embeddings": 8192, "rope_theta": 100000.0, "rms_norm_eps": 1e-5,
        "tie_word_embeddings": True, "hidden_act": "silu",
    },
    "llama-1.1b": {
        "vocab_size": 32000, "hidden_size": 2048, "intermediate_size": 5632,
        "num_hidden_layers": 22, "num_attention_heads": 32, "num_key_value_heads": 4,
        "max_position_embeddings": 2048, "rope_theta": 10000.0, "rms_norm_eps": 1e-5,
        "tie_word_embeddings": False, "hidden_act": "silu",
    },
}


#: Twelve prompts with at least eight content words each (n = 8 players).
PROMPTS = [
    "quick brown foxes jump over lazy dogs while small cats watch green gardens quietly",
    "paris remains france capital while rome remains italy capital since ancient roman times",
    "she said warm weather made today nice so we walked outside near old rivers",
    "students read books inside quiet libraries every morning before math class begins early",
    "water boils near hundred degrees while ice melts near zero degrees under normal pressure",
    "my favourite colour remains blue because blue reminds me about deep sea waves",
    "small cats sat near warm mats looking sleepy while old dogs watched them closely",
    "thinking makes people exist according famous philosophers who wrote many long careful books",
    "old dogs jump over brown foxes while young cats sat near green gardens",
    "every morning young students walked toward quiet libraries reading books about ancient rome",
    "deep sea waves look blue while warm weather makes sleepy cats happy today",
    "inside quiet libraries she said italy capital remains rome since ancient roman times",
]


def word_tokenizer(texts: list[str] = PROMPTS):
    """A word-level fast tokenizer (pad 0, unk 1, bos 2, eos 3) over the words of ``texts``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = sorted({word for text in texts for word in text.split()})
    vocab = {token: i for i, token in enumerate(["<pad>", "<unk>", "<bos>", "<eos>", *words])}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.decoder = decoders.WordPiece(prefix="##")
    return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>",
                                   unk_token="<unk>", bos_token="<bos>", eos_token="<eos>")


def save_tiny_models(root: Path) -> list[str]:
    """Save the two models into ``root/gpt2`` and ``root/llama``; return their folders."""
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    tokenizer = word_tokenizer()
    vocab = len(tokenizer)
    torch.manual_seed(0)
    built = {
        "gpt2": GPT2LMHeadModel(GPT2Config(vocab_size=vocab, n_embd=64, n_layer=2, n_head=4,
                                           n_positions=64, bos_token_id=2, eos_token_id=3)),
        "llama": LlamaForCausalLM(LlamaConfig(
            vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
            bos_token_id=2, eos_token_id=3, pad_token_id=0)),
    }
    folders = []
    for name, model in built.items():
        model.eval().save_pretrained(root / name)
        tokenizer.save_pretrained(root / name)
        folders.append(str(root / name))
    return folders


def build(name: str, tokenizer, device: torch.device, dtype: torch.dtype):
    """A randomly initialised Llama-architecture model from ``CONFIGS[name]``, on ``device``."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(**CONFIGS[name], pad_token_id=tokenizer.pad_token_id,
                         bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(0)
    with torch.device(device):  # initialised where it runs: fast on a GPU
        model = LlamaForCausalLM(config)
    return model.to(dtype).eval()


def write_prompts(path: Path, copies: int = 1) -> Path:
    """The prompts as a JSON Lines prompt file, each ``copies`` times (ids by line)."""
    path.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in PROMPTS * copies))
    return path

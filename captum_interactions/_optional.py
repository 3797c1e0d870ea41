"""Import optional dependencies on demand, with an error that names the pip extra."""

from __future__ import annotations

import importlib
from types import ModuleType

from .exceptions import MissingDependencyError

#: Which extra of ``captum-interactions`` installs a module.
_EXTRA_OF = {
    "transformers": "hf",
    "transformer_lens": "tl",
    "matplotlib": "plot",
    "pandas": "pandas",
    "shapiq": "shapiq",
    "gguf": "hf",
    "tqdm": "core",
    "ray": "ray",
}


def require(module: str, *, purpose: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` naming the extra.

    >>> require("math", purpose="doctests").sqrt(4.0)
    2.0
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        top = module.split(".")[0]
        extra = _EXTRA_OF.get(top, "all")
        raise MissingDependencyError(
            f"{purpose} needs the optional package {top!r}, which is not installed. "
            f"Install it with: pip install 'captum-interactions[{extra}]'"
        ) from error

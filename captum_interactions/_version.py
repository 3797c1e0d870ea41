"""The installed version of captum-interactions."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("captum-interactions")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

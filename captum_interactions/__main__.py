"""``python -m captum_interactions``: the same command line as ``captum-interactions``
(:mod:`captum_interactions.runs.cli`). The program's entry point: nothing imports it."""

from __future__ import annotations

import sys

from .runs.cli import main

if __name__ == "__main__":
    sys.exit(main())

"""``python -m captum_interactions``: the same command line as ``captum-interactions``."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())

"""The extraction modes: what ``mode=`` asks of :func:`~captum_interactions.extract`.

>>> list(MODES)
['and_or', 'and', 'none', 'half']
"""

from __future__ import annotations

__all__ = ["MODES"]

#: Every mode and what it gives. Only ``"and_or"`` and ``"and"`` solve an optimisation.
MODES = {
    "and_or": "sparse AND and OR interactions: the decomposition p and the noise q learned",
    "and": "sparse AND interactions only (v + q explained by AND terms; OR terms zero); with "
           "qcoef=0 the plain Harsanyi dividends",
    "none": "no extraction: the plain Harsanyi dividends of v (AND terms; OR terms zero)",
    "half": "no extraction: half of v explained by AND terms and half by OR terms (p = q = 0)",
}

"""Numbers as the report, the findings and the plots print them: `n/a` for a missing value."""

from __future__ import annotations

import math


def num(value, spec: str = ".3g") -> str:
    """`value` formatted with `spec` (3 significant digits by default); "n/a" when it is None,
    not a number, or not finite."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return "n/a"
    return format(value, spec) if math.isfinite(value) else "n/a"


def pct(value) -> str:
    """A fraction as a whole percentage (0.25 -> "25%"); "n/a" when missing or not finite."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return "n/a"
    return f"{100 * value:.0f}%" if math.isfinite(value) else "n/a"

"""How numbers are written for people: one home for the report, the verdict text and the CLI.

Two styles, each used everywhere its kind of place is:

- :func:`num`, in sentences and intervals: ``digits - 1`` decimals, or ``digits`` significant
  digits for very large or very small values; infinite ends as ``∞`` and ``−∞``; None as ``-``.
- :func:`table_num`, in metric tables: three decimals, or four significant digits from 1,000.
"""
from __future__ import annotations

import math


def num(x: float | None, digits: int = 3) -> str:
    if x is None:
        return "-"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    return f"{x:.{digits}g}" if abs(x) >= 1000 or (0 < abs(x) < 0.01) else f"{x:.{digits - 1}f}"


def table_num(x: float) -> str:
    return f"{x:.3f}" if abs(x) < 1000 else f"{x:.4g}"

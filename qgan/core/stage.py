"""How a stage script or ``qgan`` command ends: a qgan error becomes one line on stderr, exit 2."""
from __future__ import annotations

import sys
from typing import Callable

from qgan.core.errors import QganError


def run_stage(main: Callable[[], object]) -> int:
    """Exit status: ``main``'s own when it returns an int (``qgan replay``: 1 = differs), else 0;
    2 with one ``qgan: error:`` line for a :class:`QganError`."""
    try:
        status = main()
    except QganError as exc:
        print(f"qgan: error: {exc}", file=sys.stderr)
        return 2
    return status if isinstance(status, int) else 0

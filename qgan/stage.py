"""How a stage script or ``qgan`` command ends: a qgan error becomes one line on stderr, exit 2."""
from __future__ import annotations

import sys
from typing import Callable

from qgan.errors import QganError


def run_stage(main: Callable[[], object]) -> int:
    try:
        main()
    except QganError as exc:
        print(f"qgan: error: {exc}", file=sys.stderr)
        return 2
    return 0

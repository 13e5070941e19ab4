"""What every stage script shares: paths from the command line into typed objects, and how a
stage or ``qgan`` command ends (a qgan error becomes one line on stderr, exit 2).

A stage's inputs and outputs are small frozen dataclasses of ``Path`` fields (``TrainInputs``,
``TrainOutputs``, ...). :func:`add_paths` makes one required option per field, so a path is
spelled in ``dvc.yaml`` and in its dataclass, never again in the script::

    add_paths(parser, TrainInputs)           # --data --normals --manifest
    add_paths(parser, TrainOutputs, "out")   # --out-model --out-metrics --out-figures
    inputs = paths_from(args, TrainInputs)
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Callable, TypeVar

from qgan.core.errors import QganError

T = TypeVar("T")


def _option(field: str, prefix: str) -> str:
    return "--" + "-".join(filter(None, (prefix, field.replace("_", "-"))))


def add_paths(parser: argparse.ArgumentParser, paths: type, prefix: str = "") -> None:
    """One required ``--[prefix-]field`` option per field of the dataclass ``paths``."""
    for f in dataclasses.fields(paths):
        parser.add_argument(_option(f.name, prefix), dest=f"{prefix}_{f.name}", type=Path, required=True,
                            help=f.metadata.get("help"))


def paths_from(args: argparse.Namespace, paths: type[T], prefix: str = "") -> T:
    """The dataclass ``paths`` filled from options made by :func:`add_paths`."""
    return paths(**{f.name: getattr(args, f"{prefix}_{f.name}") for f in dataclasses.fields(paths)})


def run_stage(main: Callable[[], object]) -> int:
    """Exit status: ``main``'s own when it returns an int (``qgan replay``: 1 = differs), else 0;
    2 with one ``qgan: error:`` line for a :class:`QganError`."""
    try:
        status = main()
    except QganError as exc:
        print(f"qgan: error: {exc}", file=sys.stderr)
        return 2
    return status if isinstance(status, int) else 0

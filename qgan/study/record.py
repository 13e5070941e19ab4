"""A study's values file, ``studies/<name>/values.json``: everything the study knows, written
atomically after each block, committed with the code, and enough to continue on any machine.

One JSON object (its ``values`` have the shape of ``metrics/evaluate.json``'s, so ``qgan compare``
and ``qgan plan --pilot`` read it as they read that)::

    {"format": "qgan-study/1", "study": name,
     "identity": {"arms", "seeds", "design", "recipe", "extractor_sha256", "data_digest"},  # to continue
     "plan": {...} or null,            # qgan plan's prediction, made when the study started
     "values": {arm: {"<seed>": {metric: value}}},
     "runs": {"<arm>-<seed>": {"block", "generator_sha256", "pool", "code", "numerics", "mlflow_run_id", ...}},
     "blocks": [{"block", "seeds", "arms", "seconds", "host", "finished", ...}],
     "looks": [{"look", "block", "n", "hours", "verdict", "endpoints": {metric: {...}}}],
     "stopped": null or {"reason", "look", "n", "hours"}}

A block is in the file whole or not at all, so a study killed at any moment loses at most the
block it was running and never records a seed twice.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

from qgan.core.atomic import write_json_atomic
from qgan.core.errors import QganError
from qgan.decision.verdict import result_to_values

FORMAT = "qgan-study/1"


class StudyMismatch(QganError):
    """The values file belongs to another study than the spec now describes (a new instrument)."""


INSTRUMENT = ("extractor_sha256", "data_digest")  # set by the first block, checked on every later one


def new_record(name: str, identity: dict, plan: dict | None) -> dict:
    return {"format": FORMAT, "study": name, "identity": {**identity, **dict.fromkeys(INSTRUMENT)}, "plan": plan,
            "values": {}, "runs": {}, "blocks": [], "looks": [], "stopped": None}


def read_record(path: Path) -> dict | None:
    """The values file, or None if there is none yet; one line if it is not one."""
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise QganError(f"{path}: not a study's values file ({exc})") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise QganError(f"{path}: not a study's values file (format {FORMAT} expected)")
    return record


def write_record(path: Path, record: dict) -> None:
    write_json_atomic(path, record)


def open_record(path: Path, name: str, identity: dict, make_plan: Callable[[], dict | None],
                known: dict[str, str] | None = None) -> dict:
    """The study's values file, checked against its spec's ``identity`` (and the part of the instrument
    ``known`` before any training); a new one, with ``make_plan()``'s prediction, written before any block."""
    record = read_record(path)
    if record is None:
        record = new_record(name, identity, make_plan())
        write_record(path, record)
    else:
        check_identity(record, identity, path)
    check_instrument(record, known or {}, path)
    return record


def first_difference(old: Any, new: Any, at: str = "") -> tuple[str, Any, Any] | None:
    """The first key (dotted) of ``old`` whose value ``new`` does not have; None if ``new`` has them all
    (keys only ``new`` has are params added since: they must default to the old behaviour)."""
    if isinstance(old, dict) and isinstance(new, dict):
        for k in sorted(old):
            found = first_difference(old.get(k), new.get(k), f"{at}.{k}" if at else k)
            if found:
                return found
        return None
    return None if old == new else (at, old, new)


def check_identity(record: dict, identity: dict, path: Path) -> None:
    """Refuse (one line) a spec whose arms, seeds, design or recipe differ from the file's."""
    kept = {k: v for k, v in record["identity"].items() if k not in INSTRUMENT}
    found = first_difference(kept, identity)
    if found:
        where, old, new = found
        raise StudyMismatch(f"{path}: {where} was {old!r}, the study now gives {new!r}: a changed instrument is a new "
                            "study (give it a new name); nothing was trained")


def check_instrument(record: dict, found: dict[str, str], path: Path) -> None:
    """Refuse a block scored with another instrument (feature extractor, data) than the study's first."""
    for key, digest in found.items():
        kept = record["identity"].get(key)
        if kept is not None and kept != digest:
            raise StudyMismatch(f"{path}: the study's {key} is {kept[:16]}..., this block's is {digest[:16]}...: a "
                                "changed instrument is a new study; the block was not recorded")


def record_values(record: dict) -> dict[str, dict[int, dict[str, float]]]:
    """``values[arm][seed][metric]`` with int seeds: the file's values have evaluate.json's shape."""
    return result_to_values(record)


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def seeds_recorded(record: dict) -> list[int]:
    """Every seed of a recorded block, in order."""
    return [s for b in record["blocks"] for s in b["seeds"]]


def hours_spent(record: dict) -> float:
    return sum(b["seconds"] for b in record["blocks"]) / 3600

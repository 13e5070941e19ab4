"""``qgan study run``: train the next block of every arm, evaluate, look, and repeat until the verdict is in.

The loop, with the study's seeds cut into fixed blocks ``[first_seed + kB, first_seed + (k+1)B)``:

1. Stop before a block if the last look's family verdict (arm vs baseline) is not inconclusive, if
   the next block would pass ``max_seeds``, or if the blocks so far took ``budget_hours``. Stops
   happen only at block boundaries.
2. Run the first block not in the values file (``run_block``: a DVC workspace, or a stub in the
   tests), check its extractor, add its values and provenance, and *look*: the primary family's
   verdict of arm vs baseline over every seed so far (:func:`qgan.decision.verdict.holm_intervals`,
   the evaluate stage's own code). Save the file atomically, then let the runner clean up.

The default inference is anytime-valid (a confidence sequence holds at every n at once), so the
chance of a false "better" or "worse" over all the looks together stays at most alpha whatever the
data do: looking after every block and stopping at the first verdict is valid by construction. With
``inference: fixed`` every look but a pre-planned last one would inflate it, and the run says so.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Protocol

from qgan.core import stats
from qgan.core.errors import QganError
from qgan.core.formatting import num
from qgan.decision.verdict import Design, family_verdict, holm_intervals, paired_differences
from qgan.study.record import check_instrument, hours_spent, record_values, seeds_recorded, utc_now
from qgan.study.spec import Study

STOP_REASONS = {"verdict": "the verdict is in", "seed cap": "the next block would pass max_seeds",
                "budget": "the compute budget is spent"}


@dataclass(frozen=True)
class BlockRequest:
    block: str                 # "10-13" (or "10" for a block of one seed): a train.seeds entry
    seeds: tuple[int, ...]
    arms: tuple[str, ...]


@dataclass
class BlockResult:
    """What a block gave: per-seed values and per-run provenance, and the instrument that scored them."""
    values: dict[str, dict[int, dict[str, float]]]   # arm -> seed -> metric -> value
    runs: dict[str, dict]                            # "<arm>-<seed>" -> generator sha256, pool, code, ...
    instrument: dict[str, str]                       # what scored it: extractor_sha256, data_digest
    seconds: float                                   # wall time of the whole block (every attempt at it)
    host: dict                                       # {"cpu", "cores"}
    extra: dict = field(default_factory=dict)        # block-level provenance (the pool's DVC md5, the log, ...)


class BlockRunner(Protocol):
    def __call__(self, request: BlockRequest) -> BlockResult: ...
    def done(self, request: BlockRequest) -> None: ...   # after the block is saved: clean up


def block_name(seeds: tuple[int, ...]) -> str:
    return str(seeds[0]) if len(seeds) == 1 else f"{seeds[0]}-{seeds[-1]}"


def next_block(study: Study, record: dict) -> BlockRequest:
    """The first block of the study's numbering that the file does not hold."""
    s, done = study.spec, set(seeds_recorded(record))
    first = s.first_seed
    while first in done:
        first += s.block_size
    seeds = tuple(range(first, first + s.block_size))
    return BlockRequest(block_name(seeds), seeds, study.arms_of(first))


def look(record: dict, design: Design, arm: str) -> dict:
    """The primary family of ``arm`` vs the baseline over every recorded seed: n, per endpoint (quality
    first) the estimate (the estimand's: median for ``anytime``), interval, Holm level and verdict; the
    family's verdict."""
    values = record_values(record)
    diffs = {m: paired_differences(values, arm, design.baseline, m)[1] for m in design.endpoints}
    judged = holm_intervals(diffs, design)
    endpoints = [{"metric": m, "estimate": stats.estimate(diffs[m], design.inference) if len(diffs[m]) else None,
                  "interval": [x if math.isfinite(x) else None for x in judged[m][2]],
                  "level": judged[m][0], "verdict": judged[m][1]} for m in design.endpoints]
    return {"n": len(diffs[design.primary]), "verdict": family_verdict([e["verdict"] for e in endpoints]),
            "endpoints": endpoints}


def stop_reason(study: Study, record: dict) -> str | None:
    """Why the study stops before its next block (a key of :data:`STOP_REASONS`), or None."""
    if record["looks"] and record["looks"][-1]["verdict"] != "inconclusive":
        return "verdict"
    if len(seeds_recorded(record)) + study.spec.block_size > study.spec.max_seeds:
        return "seed cap"
    if hours_spent(record) >= study.spec.budget_hours:
        return "budget"
    return None


def look_line(entry: dict) -> str:
    """``look 3 (block 18-21): n=12  fid 3.20 [−45.1, 61.0] inconclusive  coverage ...  -> inconclusive``."""
    def bounds(e):
        low, high = e["interval"]  # null ends: unbounded
        return f"[{num(-math.inf if low is None else low)}, {num(math.inf if high is None else high)}]"
    ends = "  ".join(f"{e['metric']} {num(e['estimate'])} {bounds(e)} {e['verdict']}" for e in entry["endpoints"])
    return f"look {entry['look']} (block {entry['block']}): n={entry['n']}  {ends}  -> {entry['verdict']}"


def check_fresh_entropy(record: dict, request: BlockRequest, result: BlockResult) -> None:
    """No block may read pool bytes an earlier block read: the pools its runs recorded must differ
    (by sha256) from every earlier block's."""
    earlier = {run["pool"]["sha256"]: run["block"] for run in record["runs"].values() if run.get("pool")}
    for name, run in result.runs.items():
        sha = (run.get("pool") or {}).get("sha256")
        if sha in earlier:
            raise QganError(f"block {request.block}: {name} read the same pool (sha256 {sha[:16]}...) as block "
                            f"{earlier[sha]}: the source gave the same bytes again, and a "
                            "study never reuses entropy; the block was not recorded")


def add_block(record: dict, request: BlockRequest, result: BlockResult, design: Design, arm: str) -> dict:
    """The record with the block's values, runs, block entry and the new look (a copy is not made:
    callers save right after)."""
    check_fresh_entropy(record, request, result)
    missing = [f"{a}-{s}" for a in request.arms for s in request.seeds if s not in result.values.get(a, {})]
    if missing:
        raise QganError(f"block {request.block}: no values for {', '.join(missing)}; the block was not recorded")
    for a in request.arms:
        per = record["values"].setdefault(a, {})
        for s in request.seeds:
            per[str(s)] = result.values[a][s]
    record["runs"].update(result.runs)
    record["identity"].update(result.instrument)
    record["blocks"].append({"block": request.block, "seeds": list(request.seeds), "arms": list(request.arms),
                             "seconds": result.seconds, "host": result.host,
                             "finished": utc_now(), **result.extra})
    entry = {"look": len(record["looks"]) + 1, "block": request.block, "hours": hours_spent(record),
             **look(record, design, arm)}
    record["looks"].append(entry)
    return entry


def run_study(study: Study, record: dict, save: Callable[[dict], None], run_block: BlockRunner,
              max_blocks: int | None = None, say: Callable[[str], None] = print,
              saved: Callable[[dict], None] = lambda record: None) -> dict:
    """Steps 1-2 of the module's docstring until a stop (recorded in ``record["stopped"]``) or
    ``max_blocks`` blocks (a pause: the file says nothing of it). ``save`` writes the record; ``saved``
    follows once the block's workspace is gone (figures, MLflow). Returns the record."""
    design = Design.from_params(study.params.evaluate)
    if design.inference == "fixed":
        say("study: evaluate.inference is fixed: every look but a planned last one inflates the error rate; "
            "anytime is the study's default")
    ran = 0
    while True:
        reason = stop_reason(study, record)
        if reason is not None:
            last = record["looks"][-1] if record["looks"] else {"look": 0, "n": 0}
            stopped = {"reason": reason, "look": last["look"], "n": last["n"], "hours": hours_spent(record)}
            if record.get("stopped") != stopped:
                record["stopped"] = stopped
                save(record)
                saved(record)
            say(f"study {study.name} stopped: {STOP_REASONS[reason]} (look {last['look']}, n = {last['n']}, "
                f"{stopped['hours']:.2f} h of {study.spec.budget_hours:g} h; verdict "
                f"{record['looks'][-1]['verdict'] if record['looks'] else 'none yet'})")
            return record
        if max_blocks is not None and ran >= max_blocks:
            say(f"study {study.name} paused after {ran} block(s) (--max-blocks): run it again to continue")
            return record
        request = next_block(study, record)
        result = run_block(request)
        check_instrument(record, result.instrument, study.values_path)
        record["stopped"] = None
        entry = add_block(record, request, result, design, study.spec.arm)
        save(record)
        run_block.done(request)
        saved(record)
        say(look_line(entry))
        ran += 1

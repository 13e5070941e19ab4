"""A stub trainer/evaluator for study tests: per-seed values drawn from a known distribution.

For seed s the baseline's FID-LeNet is ``450 + 20 z`` and its coverage ``0.25 + 0.02 z'``; every other
arm adds its true difference (``effects[arm]``, in paired sds) plus N(0, sd) noise, drawn from a
generator seeded by (study seed, seed, arm), so a seed's values do not depend on which block or run
drew them. Run as a module it is a study process the tests SIGKILL: ``python -m tests.study.stub
ROOT NAME MARKERS [--sleep S]``.
"""
from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path

import numpy as np

from qgan.study.runner import BlockRequest, BlockResult

SD = {"fid": 28.0, "coverage": 0.02}           # sd of the paired differences (the ladder study's)
BASE = {"fid": (450.0, 20.0), "coverage": (0.25, 0.02)}
EXTRACTOR, DATA = "e" * 64, "d" * 64   # the instrument's digests


class StubBlocks:
    def __init__(self, effects: dict[str, dict[str, float]] | None = None, seed: int = 0, seconds: float = 60.0,
                 extractor: str = EXTRACTOR, markers: Path | None = None, sleep: float = 0.0):
        self.effects, self.seed, self.seconds, self.extractor = effects or {}, seed, seconds, extractor
        self.markers, self.sleep = markers, sleep
        self.calls: list[BlockRequest] = []

    def draw(self, arm: str, s: int) -> dict[str, float]:
        base = np.random.default_rng([self.seed, s, 0]).normal(size=2)
        out = {m: BASE[m][0] + BASE[m][1] * z for m, z in zip(SD, base)}
        if arm == "prng":
            return out
        noise = np.random.default_rng([self.seed, s, 1 + int(hashlib.sha256(arm.encode()).hexdigest()[:8], 16)])
        effect = self.effects.get(arm, {})
        return {m: out[m] + SD[m] * (effect.get(m, 0.0) + noise.normal()) for m in SD}

    def __call__(self, request: BlockRequest) -> BlockResult:
        self.calls.append(request)
        if self.markers:
            (self.markers / f"started-{request.block}").touch()
        time.sleep(self.sleep)
        values = {arm: {s: self.draw(arm, s) for s in request.seeds} for arm in request.arms}
        pool = hashlib.sha256(f"{self.seed}-{request.block}".encode()).hexdigest()
        runs = {f"{arm}-{s}": {"block": request.block, "generator_sha256": hashlib.sha256(
                    f"{self.seed}-{arm}-{s}".encode()).hexdigest(),
                    "pool": {"bytes": 100, "sha256": pool} if arm == "entropy" else None}
                for arm in request.arms for s in request.seeds}
        return BlockResult(values, runs, {"extractor_sha256": self.extractor, "data_digest": DATA}, self.seconds,
                           {"cpu": "stub", "cores": 1})

    def done(self, request: BlockRequest) -> None:
        if self.markers:
            (self.markers / f"saved-{request.block}").touch()
            time.sleep(self.sleep)


def main(argv: list[str]) -> int:
    """Run (or continue) study NAME under ROOT with the stub, writing MARKERS as blocks start and end."""
    from qgan.study.record import open_record, write_record
    from qgan.study.runner import run_study
    from qgan.study.spec import load_study, study_identity

    root, name, markers = Path(argv[0]), argv[1], Path(argv[2])
    sleep = float(argv[argv.index("--sleep") + 1]) if "--sleep" in argv else 0.0
    study = load_study(root, name)
    record = open_record(study.values_path, name, study_identity(study), lambda: None)
    run_study(study, record, lambda r: write_record(study.values_path, r), StubBlocks(markers=markers, sleep=sleep),
              say=lambda line: print(line, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

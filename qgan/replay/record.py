"""The replay record: what each training run stores so that ``qgan replay`` can train it again.

The train stage logs it as the artifact :data:`RECORD_PATH` of every training run
(:func:`training_record` builds it); :mod:`qgan.replay.replay` reads it back and refuses
another :data:`RECORD_FORMAT`.
"""
from __future__ import annotations

RECORD_FORMAT = 2  # version of replay/run.json (2: the training group)
RECORD_PATH = "replay/run.json"  # artifact path of the replay record on each training run


def training_record(arm: str, seed: int, params: dict, runtime: dict, group: dict, pool: dict, data_digest: str,
                    noise: dict, generator_sha256: str, code: dict) -> dict:
    """The record of run (arm, seed): ``params`` as params.yaml holds them, the runtime record, its
    group, the pool prefix it read (manifest fields), the data digest, its noise accounting, the
    generator's sha256 and the code revision (``{"revision", "dirty"}``)."""
    return {"format": RECORD_FORMAT, "arm": arm, "seed": seed, "params": params, "runtime": runtime, "group": group,
            "entropy": {"sha256": pool["sha256"], "bytes": int(pool["total_bytes"]),
                        "sources": pool.get("sources", []), "quantum": bool(pool.get("quantum"))},
            "data_digest": data_digest, "noise": noise, "generator_sha256": generator_sha256, "code": code}

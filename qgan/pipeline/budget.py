"""``qgan budget``: how much noise each run draws, what the pool holds and lacks, and what a QRNG
service would need for the deficit (requests, measured latency, time)."""
from __future__ import annotations

from pathlib import Path

from qgan.entropy.archive import read_manifest
from qgan.gan.data import expected_train_size
from qgan.noise.layout import budget_report
from qgan.params import Params


def harvest_estimate(cfg, deficit: int, manifest_path: Path) -> list[tuple[str, str]]:
    """Rows estimating the requests and time a service needs for ``deficit`` bytes, at its
    per-request cap, ``harvest.rate_limit`` and the latency measured in past chunks."""
    from qgan.entropy.http_client import WIRE_FORMATS

    if cfg.source not in WIRE_FORMATS or not deficit:
        return []
    fmt = WIRE_FORMATS[cfg.source]
    requests = len(fmt.plan(deficit, cfg.request_bytes or fmt.cap))
    per_request = min(cfg.request_bytes or fmt.cap, fmt.cap)
    rows = [("requests for the deficit", f"{requests:,} ({cfg.source}: at most {per_request:,} bytes each, "
                                         f"{cfg.concurrency} in flight)")]
    latencies = [c["latency_mean"] for c in read_manifest(manifest_path)["chunks"]
                 if c["source"] == cfg.source and "latency_mean" in c]
    seconds = []
    if latencies:
        latency = sum(latencies) / len(latencies)
        seconds.append(requests * latency / cfg.concurrency)
        rows.append(("measured latency", f"{latency * 1000:.0f} ms per request (mean of {len(latencies)} chunks)"))
    if cfg.rate_limit:
        seconds.append(requests / cfg.rate_limit)
    rows.append(("estimated time", f"{max(seconds) / 60:,.1f} min" if seconds else
                 "unknown: no latency measured yet and no harvest.rate_limit; quotas may apply"))
    return rows


def budget_rows(params: Params, pool: Path) -> list[tuple[str, str]]:
    """``(what, value)`` rows for ``qgan budget`` with the pool at ``pool`` (absent: empty)."""
    size = pool.stat().st_size if pool.exists() else 0
    r = budget_report(params.noise_plan, expected_train_size(params.data), size)
    return [
        ("training images", f"{r['n_train']:,}"),
        ("normals per run: training", f"{r['train_normals']:,}"),
        ("normals per run: sample grid", f"{r['grid_normals']:,}"),
        ("normals per run: evaluation", f"{r['eval_normals']:,}"),
        ("normals per run: total", f"{r['normals_per_run']:,}"),
        ("bytes per normal", f"{r['bytes_per_normal']} ({params.convert.bits}-bit uniforms)"),
        ("bytes per entropy run", f"{r['bytes_per_run']:,}"),
        ("entropy runs", f"{r['entropy_runs']} (arms {', '.join(params.train.arms)} x seeds "
                         f"{', '.join(map(str, params.train.seed_list))})"),
        ("bytes needed", f"{r['bytes_needed']:,}"),
        ("pool", f"{r['pool_bytes']:,} bytes ({pool})"),
        ("deficit", f"{r['deficit_bytes']:,} bytes"),
        *([("with this pool", f"training stops: {r['stops']}" if r["reuse_factor"] is None else
            f"training reads each normal {r['reuse_factor']:.3g} times (train.on_exhausted: cycle)")]
          if r["deficit_bytes"] else []),
        *harvest_estimate(params.harvest, r["deficit_bytes"], pool.with_name("manifest.json")),
    ]

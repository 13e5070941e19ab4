"""Harvest: top the entropy archive up from a source, checking every chunk's health.

The archive's rules (append-only, fsync then atomic manifest, crash tail cut, lock) live in
:mod:`qgan.entropy.archive`; the sources in :mod:`qgan.entropy.sources`; the health tests in :mod:`qgan.entropy.health`.
"""
from __future__ import annotations

import time
from pathlib import Path

from qgan.core.atomic import write_json_atomic
from qgan.core.errors import QganError
from qgan.entropy.archive import append_chunk, pool_lock, read_manifest, reconcile_pool
from qgan.entropy.health import HealthMonitor
from qgan.entropy.registry import SourceFailed
from qgan.entropy.sources import EntropySource


def _read_checked(source: EntropySource, n: int, monitor: HealthMonitor, progress) -> tuple[bytes, Exception | None]:
    """Up to ``n`` good bytes and the failure that cut them short (None if complete).

    Sources that do not check their answers themselves are checked here, chunk by chunk;
    a rejected chunk is read again (system, device) or stops the harvest (file)."""
    while True:
        try:
            data, failure = source.read(n, progress), None
        except SourceFailed as exc:
            data, failure = exc.partial, exc
        if source.checks_health or not data:
            return data, failure
        if monitor.accept(data, source.name):
            if progress:
                progress(len(data))
            return data, failure
        if not source.retry_rejected:
            return b"", QganError(f"{source.name}: a chunk failed the SP 800-90B health tests; import stopped")


def harvest_to_pool(pool: Path, manifest_path: Path, source: EntropySource, target_bytes: int,
                    chunk_bytes: int, monitor: HealthMonitor | None = None,
                    progress: bool = True) -> tuple[dict, int]:
    """Top the pool up to ``target_bytes`` (never shrinks it); returns the manifest and
    the number of bytes appended. Recorded bytes are never changed; an unrecorded crash
    leftover is cut first (:func:`reconcile_pool`). Each chunk passes the health tests of
    ``monitor`` before it is appended. If the source fails, the good bytes it delivered are
    appended and the error says how many bytes the pool keeps.
    """
    monitor = monitor or HealthMonitor()
    try:
        with pool_lock(pool):
            return _top_up(pool, manifest_path, source, target_bytes, chunk_bytes, monitor, progress)
    finally:
        source.close()


def _top_up(pool: Path, manifest_path: Path, source: EntropySource, target_bytes: int, chunk_bytes: int,
            monitor: HealthMonitor, progress: bool) -> tuple[dict, int]:
    """:func:`harvest_to_pool` under the pool's lock."""
    from tqdm import tqdm

    if not manifest_path.exists() and pool.exists() and pool.stat().st_size:
        raise QganError(f"{pool}: holds bytes but {manifest_path.name} is missing; "
                        "the archive was not touched")
    manifest = read_manifest(manifest_path)
    digest = reconcile_pool(pool, manifest, chunk_bytes)
    before = int(manifest["total_bytes"])
    pool.touch()
    if not manifest_path.exists():  # written before any byte, so no byte is ever unrecorded
        write_json_atomic(manifest_path, manifest)
    source.bind(manifest, monitor)
    deficit = max(0, target_bytes - int(manifest["total_bytes"]))
    with tqdm(total=deficit, unit="B", unit_scale=True, unit_divisor=1024, desc=f"harvest {source.name}",
              disable=not progress or deficit == 0) as bar:
        while deficit:
            n = min(chunk_bytes, deficit)
            start = time.perf_counter()
            try:
                chunk, failure = _read_checked(source, n, monitor, bar.update)
            except QganError as exc:  # the source looks stuck
                chunk, failure = b"", exc
            if len(chunk) > n:
                raise QganError(f"{source.name}: returned {len(chunk)} bytes for {n}; nothing appended")
            if chunk:
                source.appended(len(chunk))
                append_chunk(pool, manifest_path, manifest, digest, chunk, source,
                             time.perf_counter() - start, monitor.record())
                deficit -= len(chunk)
            if failure is not None:
                raise QganError(f"{failure}; pool kept at {manifest['total_bytes']:,} bytes "
                                f"({manifest['total_bytes'] - before:,} appended by this run)")
    return manifest, int(manifest["total_bytes"]) - before

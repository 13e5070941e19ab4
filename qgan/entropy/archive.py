"""The entropy archive: an append-only ``pool.bin`` and its ``manifest.json``.

Invariant: the manifest's chunk log covers exactly the first ``total_bytes`` bytes of
the pool, and ``sha256`` is the digest of those bytes. Appends go: write chunk, fsync
pool, then replace the manifest atomically. A crash between the two leaves extra bytes
beyond the last chunk, which :func:`reconcile_pool` cuts on the next start; recorded
bytes are never rewritten.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
from pathlib import Path
from typing import Iterator

from qgan.core.atomic import write_json_atomic
from qgan.core.errors import QganError

MANIFEST_FORMAT = 1
HASH_BLOCK = 1 << 22  # bytes read at a time when hashing the pool


def empty_manifest() -> dict:
    return {"format": MANIFEST_FORMAT, "total_bytes": 0, "sha256": hashlib.sha256().hexdigest(),
            "sources": [], "quantum": False, "chunks": []}


def read_manifest(path: Path) -> dict:
    if not path.exists():
        return empty_manifest()
    try:
        manifest = json.loads(path.read_text())
        int(manifest["total_bytes"]), manifest["sha256"], list(manifest["chunks"])
    except (ValueError, KeyError, TypeError) as exc:
        raise QganError(f"{path}: not a valid entropy manifest ({exc.__class__.__name__}); "
                        "fix or remove it by hand") from None
    return manifest


def hash_prefix(path: Path, length: int) -> "hashlib._Hash":
    """sha256 over the first ``length`` bytes of ``path``, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        left = length
        while left:
            block = fh.read(min(HASH_BLOCK, left))
            if not block:
                break
            digest.update(block)
            left -= len(block)
    return digest


@contextlib.contextmanager
def pool_lock(pool: Path) -> Iterator[None]:
    """Hold an exclusive lock so that two harvests never write one pool at once."""
    pool.parent.mkdir(parents=True, exist_ok=True)
    with open(pool.with_name(pool.name + ".lock"), "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise QganError(f"{pool}: another harvest is writing this pool; wait for it to finish") from None
        yield


def reconcile_pool(pool: Path, manifest: dict, chunk_bytes: int) -> "hashlib._Hash":
    """Make the pool match its manifest, or stop without touching it.

    Bytes beyond ``total_bytes`` (a crash after the append, before the manifest) are cut
    when they are no longer than one chunk; a longer tail cannot come from a crash (an
    older manifest restored over a newer pool, say) and is an error. A pool shorter than
    recorded, or whose recorded bytes hash differently, is an error.
    Returns the running sha256 of the recorded bytes, to continue appending.
    """
    recorded = int(manifest["total_bytes"])
    size = pool.stat().st_size if pool.exists() else 0
    if size < recorded:
        raise QganError(f"{pool}: holds {size} bytes but the manifest records {recorded}; "
                        "the archive lost bytes and was not touched")
    digest = hash_prefix(pool, recorded) if recorded else hashlib.sha256()
    if digest.hexdigest() != manifest["sha256"]:
        raise QganError(f"{pool}: sha256 of the recorded {recorded} bytes does not match the manifest; "
                        "the archive was changed and was not touched")
    largest = max([chunk_bytes, *(c["length"] for c in manifest["chunks"])])
    if size - recorded > largest:
        raise QganError(f"{pool}: holds {size - recorded} bytes beyond the manifest's {recorded}, more than "
                        "one chunk, so not a crash leftover; the archive was not touched")
    if size > recorded:
        with open(pool, "r+b") as fh:
            fh.truncate(recorded)
            os.fsync(fh.fileno())
    return digest


def append_chunk(pool: Path, manifest_path: Path, manifest: dict, digest, chunk: bytes,
                 source, seconds: float, health: dict) -> None:
    """Append one chunk: pool bytes first (fsynced), then the manifest atomically.

    ``source`` is the :class:`qgan.entropy.sources.EntropySource` it came from (its name, quantum and
    emulated flags, info and per-chunk record are written down); ``health`` the monitor's record.
    """
    offset = int(manifest["total_bytes"])
    with open(pool, "ab") as fh:
        fh.write(chunk)
        fh.flush()
        os.fsync(fh.fileno())
    digest.update(chunk)
    manifest["chunks"].append({
        "offset": offset, "length": len(chunk), "sha256": hashlib.sha256(chunk).hexdigest(),
        "source": source.name, "quantum": bool(source.quantum and not source.emulated),
        "utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(seconds, 6), **source.chunk_record()})
    manifest["total_bytes"] = offset + len(chunk)
    manifest["sha256"] = digest.hexdigest()
    if source.name not in manifest["sources"]:
        manifest["sources"].append(source.name)
    manifest.setdefault("source_info", {})[source.name] = source.info
    manifest["quantum"] = all(c["quantum"] for c in manifest["chunks"])
    manifest["emulated"] = any(c.get("emulated") for c in manifest["chunks"])
    manifest["health"] = health
    write_json_atomic(manifest_path, manifest)

"""Entropy sources (``harvest.source``), one small interface and a registry.

``read(n, progress)`` returns exactly ``n`` good bytes, or raises :class:`SourceFailed`
carrying the good bytes obtained before the failure (the harvest appends them, then stops).

- ``system``: ``os.urandom``, recorded as not quantum.
- ``device``: a character device read in chunks (ID Quantique Quantis ``/dev/qrandom0``,
  ``/dev/hwrng``, any path); quantum as the user declares it.
- ``file``: import a file of random bytes (a vendor's dump) with a declared quantum flag and
  label; the manifest remembers how far each file (by sha256) was imported, so a top-up
  never imports a byte twice.
- ``eaas``, ``anu``: the web services of :mod:`qgan.entropy.http_client`, each answer health-checked before
  it is kept; the token comes from the environment.
"""
from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import Callable

from qgan.core.errors import QganError
from qgan.entropy.health import HealthMonitor
from qgan.entropy.http_client import WIRE_FORMATS, HttpFetcher, Politeness, public_url, token_from_env
from qgan.entropy.registry import SOURCE_NAMES, SourceFailed

Progress = Callable[[int], object] | None


class EntropySource:
    """Where bytes come from. ``checks_health``: the source checks each answer itself
    (web services re-request a rejected answer); otherwise the harvest checks each chunk."""
    checks_health = False
    retry_rejected = True    # a rejected chunk may be replaced by reading again

    def __init__(self, name: str, quantum: bool, read: Callable[[int], bytes] | None = None,
                 info: dict | None = None):
        self.name, self.quantum, self._read, self.info = name, quantum, read, dict(info or {})
        self.emulated = False
        self.monitor: HealthMonitor | None = None

    def bind(self, manifest: dict, monitor: HealthMonitor) -> None:
        """Called by the harvest once the manifest is read and reconciled."""
        self.monitor = monitor

    def read(self, n: int, progress: Progress = None) -> bytes:
        data = self._read(n)
        if len(data) != n:
            raise SourceFailed(f"{self.name}: asked for {n} bytes, got {len(data)}")
        return data

    def chunk_record(self) -> dict:
        """Extra fields for the manifest's record of the chunk just read."""
        return {}

    def appended(self, n: int) -> None:
        """The harvest is about to record ``n`` bytes of this source in the manifest."""

    def close(self) -> None:
        """Release connections and threads; the harvest calls it when done."""


def system_source(cfg) -> EntropySource:
    return EntropySource("system", False, os.urandom, {"description": "os.urandom (the OS CSPRNG), not quantum"})


class DeviceSource(EntropySource):
    def __init__(self, cfg):
        path = Path(cfg.path or "/dev/qrandom0")
        if not path.exists():
            raise QganError(f"harvest.path: {path}: no such device")
        mode = path.stat().st_mode
        if not (stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)):
            raise QganError(f"harvest.path: {path}: not a character device (use harvest.source: file to import a file)")
        super().__init__("device", cfg.quantum, info={"path": str(path), "label": cfg.label, "quantum": cfg.quantum})
        self.path, self._fd = path, None

    def read(self, n, progress=None):
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY)  # kept open: a device or FIFO streams on
        parts, have = [], 0
        while have < n:
            block = os.read(self._fd, min(n - have, 1 << 20))
            if not block:
                raise SourceFailed(f"device: {self.path} ended after {have} of {n} bytes", b"".join(parts))
            parts.append(block)
            have += len(block)
        return b"".join(parts)

    def close(self):
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class FileSource(EntropySource):
    retry_rejected = False   # a file's bytes are what they are: a rejected chunk stops the import

    def __init__(self, cfg):
        path = Path(cfg.path or "")
        if not cfg.path or not path.is_file():
            raise QganError(f"harvest.path: {cfg.path!r}: no such file to import")
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            while block := fh.read(1 << 22):
                digest.update(block)
        self.path, self.sha256, self.size = path, digest.hexdigest(), path.stat().st_size
        super().__init__("file", cfg.quantum, info={"label": cfg.label, "quantum": cfg.quantum})
        self.record: dict = {}

    def bind(self, manifest, monitor):
        super().bind(manifest, monitor)
        imports = manifest.setdefault("imports", {})
        self.record = imports.setdefault(self.sha256, {"label": self.info["label"], "quantum": self.quantum,
                                                       "name": self.path.name, "size": self.size, "imported": 0})

    def read(self, n, progress=None):
        start = self.record["imported"]
        with open(self.path, "rb") as fh:
            fh.seek(start)
            data = fh.read(n)
        if len(data) < n:
            raise SourceFailed(f"file: {self.path.name} has {self.size - start} unimported bytes left, "
                               f"{n} more wanted", data)
        return data

    def chunk_record(self):
        return {"file_sha256": self.sha256}

    def appended(self, n):
        self.record["imported"] += n  # saved with the chunk, in the same manifest write


class HttpSource(EntropySource):
    checks_health = True

    def __init__(self, cfg):
        fmt = WIRE_FORMATS[cfg.source]
        url = cfg.url or fmt.default_url
        if not url:
            raise QganError(f"harvest.url: null is not allowed for {fmt.name} (the service's URL, e.g. from its docs)")
        token = token_from_env(fmt)
        polite = Politeness(concurrency=cfg.concurrency, timeout=cfg.timeout, retries=cfg.retries,
                            backoff=cfg.backoff, max_wait=cfg.max_wait, rate_limit=cfg.rate_limit)
        self.fetcher = HttpFetcher(fmt, url, token, cfg.request_bytes or fmt.cap, polite, self._accept)
        super().__init__(fmt.name, True, info={"api": fmt.name, "url": public_url(url),
                                               "request_bytes": min(cfg.request_bytes or fmt.cap, fmt.cap),
                                               "concurrency": cfg.concurrency})
        self._seen_latencies = 0

    def close(self):
        self.fetcher.close()

    def _accept(self, data: bytes) -> bool:
        return self.monitor.accept(data, self.name)

    def read(self, n, progress=None):
        try:
            return self.fetcher.fetch(n, progress)
        finally:
            self.emulated = self.emulated or self.fetcher.emulated
            self.quantum = not self.emulated
            self.info["emulated"] = self.emulated

    def chunk_record(self):
        new = self.fetcher.latencies[self._seen_latencies:]
        self._seen_latencies = len(self.fetcher.latencies)
        if not new:
            return {"requests": 0}
        return {"requests": len(new), "latency_mean": round(sum(new) / len(new), 6),
                "latency_max": round(max(new), 6), "emulated": self.emulated}


# Each name of :data:`qgan.entropy.registry.SOURCE_NAMES` and its factory (``cfg`` -> source).
FACTORIES: dict[str, Callable] = {"system": system_source, "device": DeviceSource, "file": FileSource,
                                  "eaas": HttpSource, "anu": HttpSource}


def make_source(cfg) -> EntropySource:
    """The source ``cfg`` (a :class:`qgan.params.HarvestConfig`) names; one-line errors for what
    is missing (token, URL, device, file), before anything is written."""
    try:
        factory = FACTORIES[cfg.source]
    except KeyError:
        raise QganError(f"harvest.source: unknown source {cfg.source!r} "
                        f"(known: {', '.join(SOURCE_NAMES)})") from None
    return factory(cfg)

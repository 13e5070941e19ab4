"""Health of an entropy source, checked on every chunk before it is appended (NIST SP 800-90B §4.4).

Samples are bytes. With ``H`` the assessed min-entropy per byte (``harvest.min_entropy``) and
a false-alarm probability ``alpha = 2^-30`` per test:

- Repetition count test: a run of ``C = 1 + ceil(-log2(alpha) / H)`` identical bytes fails
  (an ideal source gives such a run with probability at most ``2^(-H (C-1)) <= alpha``).
- Adaptive proportion test, windows of ``W = 512`` bytes: the first byte of a window occurring
  ``C`` or more times in it fails, with ``C = 1 + CRITBINOM(W, 2^-H, 1 - alpha)``, the
  smallest k with ``P(Binomial(W, 2^-H) <= k) >= 1 - alpha``, plus one.
- A chunk equal to one seen before in this harvest fails: a stuck service repeating its
  answer passes both tests above, but must never put the same bytes in the pool twice.

A failing chunk is rejected (never appended) and counted; ``stuck_after`` rejections in a
row stop the harvest with "source looks stuck".
"""
from __future__ import annotations

import hashlib
import math
import threading

import numpy as np

from qgan.core.errors import QganError

ALPHA_LOG2 = 30      # false-alarm probability 2^-30 per test
APT_WINDOW = 512     # adaptive proportion window for non-binary samples (SP 800-90B)
MIN_ENTROPY = 7.0    # default assessed min-entropy, bits per byte (harvest.min_entropy)
STUCK_AFTER = 8      # default rejected chunks in a row that stop a harvest (harvest.stuck_after)


class SourceStuck(QganError):
    """Too many rejected chunks in a row."""


def repetition_cutoff(min_entropy: float, alpha_log2: int = ALPHA_LOG2) -> int:
    return 1 + math.ceil(alpha_log2 / min_entropy)


def proportion_cutoff(min_entropy: float, window: int = APT_WINDOW, alpha_log2: int = ALPHA_LOG2) -> int:
    from scipy.stats import binom
    return 1 + int(binom.ppf(1 - 2.0 ** -alpha_log2, window, 2.0 ** -min_entropy))


def longest_repetition(data: np.ndarray) -> int:
    """Length of the longest run of identical consecutive bytes."""
    if len(data) == 0:
        return 0
    change = np.flatnonzero(np.diff(data.astype(np.int16)) != 0)
    edges = np.concatenate([[-1], change, [len(data) - 1]])
    return int(np.diff(edges).max())


def largest_proportion(data: np.ndarray, window: int = APT_WINDOW) -> int:
    """Largest count, over complete windows, of the window's first byte within the window."""
    full = len(data) // window
    if not full:
        return 0
    w = data[:full * window].reshape(full, window)
    return int((w == w[:, :1]).sum(axis=1).max())


class HealthMonitor:
    """Runs the tests on each chunk; thread-safe; counts are recorded in the manifest."""

    def __init__(self, min_entropy: float = MIN_ENTROPY, stuck_after: int = STUCK_AFTER):
        self.min_entropy, self.stuck_after = min_entropy, stuck_after
        self.rct_cutoff, self.apt_cutoff = repetition_cutoff(min_entropy), proportion_cutoff(min_entropy)
        self.checked = self.rejected = self.in_a_row = 0
        self.failures = {"repetition_count": 0, "adaptive_proportion": 0, "repeated_chunk": 0}
        self._seen: set[bytes] = set()
        self._lock = threading.Lock()

    def failure(self, chunk: bytes) -> str | None:
        """The statistical test the chunk fails, or None (no counting, no lock: runs in parallel)."""
        data = np.frombuffer(chunk, dtype=np.uint8)
        if longest_repetition(data) >= self.rct_cutoff:
            return "repetition_count"
        if largest_proportion(data) >= self.apt_cutoff:
            return "adaptive_proportion"
        return None

    def accept(self, chunk: bytes, source: str) -> bool:
        """True if the chunk may be appended; raises :class:`SourceStuck` after too many failures."""
        failed, digest = self.failure(chunk), hashlib.sha256(chunk).digest()
        with self._lock:  # only the shared record: the set of answers seen and the counts
            if failed is None and digest in self._seen:
                failed = "repeated_chunk"
            self.checked += 1
            if failed is None:
                self._seen.add(digest)
                self.in_a_row = 0
                return True
            self.rejected += 1
            self.in_a_row += 1
            self.failures[failed] += 1
            if self.in_a_row >= self.stuck_after:
                raise SourceStuck(f"{source}: source looks stuck: {self.in_a_row} chunks in a row failed the "
                                  f"health tests (last: {failed.replace('_', ' ')})")
            return False

    def record(self) -> dict:
        return {"min_entropy": self.min_entropy, "alpha": f"2^-{ALPHA_LOG2}",
                "repetition_count_cutoff": self.rct_cutoff, "adaptive_proportion_cutoff": self.apt_cutoff,
                "adaptive_proportion_window": APT_WINDOW, "chunks_checked": self.checked,
                "chunks_rejected": self.rejected, "failures": dict(self.failures)}

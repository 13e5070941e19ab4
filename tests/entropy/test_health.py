import os

import numpy as np
import pytest

from qgan.entropy.health import (
    HealthMonitor,
    SourceStuck,
    largest_proportion,
    longest_repetition,
    proportion_cutoff,
    repetition_cutoff,
)


def test_cutoffs_match_sp800_90b():
    """SP 800-90B at alpha = 2^-20: RCT C = 1 + ceil(20 / H) (H = 2 gives 11, the document's
    example); APT cutoffs for W = 512 from its table 2."""
    assert repetition_cutoff(2.0, alpha_log2=20) == 11
    assert [proportion_cutoff(h, alpha_log2=20) for h in (0.5, 1, 2, 4, 8)] == [410, 311, 177, 62, 13]
    assert repetition_cutoff(7.0) == 6 and proportion_cutoff(7.0) == 22  # the defaults at alpha = 2^-30


def test_statistics():
    assert longest_repetition(np.array([1, 2, 2, 2, 3, 3], dtype=np.uint8)) == 3
    assert longest_repetition(np.array([], dtype=np.uint8)) == 0
    window = np.arange(512, dtype=np.uint16).astype(np.uint8)  # each value twice
    window[:9] = 7
    assert largest_proportion(window) == 10  # 7 at 0..8, and once more at 263


def test_monitor_rejects_runs_biased_and_repeated_chunks_and_counts_them():
    m = HealthMonitor(min_entropy=7.0, stuck_after=5)
    good = os.urandom(4096)
    assert m.accept(good, "t")
    assert not m.accept(good, "t")  # the same bytes again
    run = bytearray(os.urandom(4096))
    run[100:106] = b"\x05" * 6
    assert not m.accept(bytes(run), "t")
    biased = np.random.default_rng(1).integers(1, 256, 4096).astype(np.uint8)
    biased[::16] = 0  # 32 zeros in each 512-byte window, none adjacent: the window's first byte is 0
    biased = biased.tobytes()
    assert not m.accept(biased, "t")
    assert m.failures == {"repetition_count": 1, "adaptive_proportion": 1, "repeated_chunk": 1}
    assert m.record()["chunks_checked"] == 4 and m.record()["chunks_rejected"] == 3
    assert m.accept(os.urandom(4096), "t") and m.in_a_row == 0


def test_monitor_stops_a_stuck_source():
    m = HealthMonitor(min_entropy=7.0, stuck_after=3)
    same = os.urandom(512)
    assert m.accept(same, "eaas")
    assert not m.accept(same, "eaas") and not m.accept(same, "eaas")
    with pytest.raises(SourceStuck, match="eaas: source looks stuck: 3 chunks in a row"):
        m.accept(same, "eaas")


def test_uniform_bytes_pass():
    m = HealthMonitor(min_entropy=7.0, stuck_after=1)
    assert all(m.accept(os.urandom(1 << 16), "t") for _ in range(50))

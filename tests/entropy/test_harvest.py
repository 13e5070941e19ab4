import hashlib
import json
import multiprocessing
import os
from types import SimpleNamespace

import pytest

from qgan.core.errors import QganError
from qgan.entropy.archive import pool_lock
from qgan.entropy.harvest import harvest_to_pool
from qgan.entropy.sources import EntropySource, make_source
from qgan.params import HarvestConfig


class Recorder:
    """A deterministic source that remembers every byte it served."""

    def __init__(self):
        self.served = bytearray()

    def read(self, n):
        chunk = bytes((len(self.served) + i) * 7 % 251 for i in range(n))
        self.served += chunk
        return chunk

    def source(self):
        return EntropySource("recorder", False, self.read, {"description": "test"})


def _paths(tmp_path):
    return tmp_path / "pool.bin", tmp_path / "manifest.json"


def test_top_up_appends_only_the_deficit(tmp_path):
    pool, man = _paths(tmp_path)
    rec = Recorder()
    m, appended = harvest_to_pool(pool, man, rec.source(), 1000, chunk_bytes=300, progress=False)
    assert appended == 1000
    assert pool.read_bytes() == bytes(rec.served) and m["total_bytes"] == 1000
    assert [c["length"] for c in m["chunks"]] == [300, 300, 300, 100]
    assert json.loads(man.read_text())["sha256"] == hashlib.sha256(pool.read_bytes()).hexdigest()
    first = pool.read_bytes()
    m, appended = harvest_to_pool(pool, man, rec.source(), 1500, chunk_bytes=300, progress=False)
    assert appended == 500
    assert pool.read_bytes()[:1000] == first and len(pool.read_bytes()) == 1500
    assert [(c["offset"], c["length"]) for c in m["chunks"][4:]] == [(1000, 300), (1300, 200)]
    # Lowering the target never deletes bytes.
    assert harvest_to_pool(pool, man, rec.source(), 10, chunk_bytes=300, progress=False)[1] == 0
    assert pool.read_bytes() == bytes(rec.served)


def test_manifest_records_source_and_quantum_flag(tmp_path):
    pool, man = _paths(tmp_path)
    m, _ = harvest_to_pool(pool, man, make_source(HarvestConfig()), 64, 64, progress=False)
    assert m["sources"] == ["system"] and m["quantum"] is False
    assert m["chunks"][0]["source"] == "system" and m["chunks"][0]["sha256"] == hashlib.sha256(
        pool.read_bytes()).hexdigest()


def test_crash_leftover_beyond_manifest_is_cut(tmp_path):
    pool, man = _paths(tmp_path)
    rec = Recorder()
    harvest_to_pool(pool, man, rec.source(), 500, 500, progress=False)
    with open(pool, "ab") as fh:  # a crash after the append, before the manifest
        fh.write(b"garbage")
    harvest_to_pool(pool, man, rec.source(), 500, 500, progress=False)
    assert pool.read_bytes() == bytes(rec.served)


@pytest.mark.parametrize("damage", ["flip", "truncate", "orphan", "long_tail"])
def test_damaged_archive_stops_untouched(tmp_path, damage):
    pool, man = _paths(tmp_path)
    harvest_to_pool(pool, man, Recorder().source(), 400, 100, progress=False)
    data = bytearray(pool.read_bytes())
    if damage == "flip":
        data[123] ^= 1
    elif damage == "truncate":
        data = data[:350]
    elif damage == "long_tail":  # an old manifest over a newer pool: not a crash leftover
        data += b"\x07" * 101
    else:
        man.unlink()
    pool.write_bytes(bytes(data))
    with pytest.raises(QganError) as info:
        harvest_to_pool(pool, man, Recorder().source(), 800, 100, progress=False)
    assert "not touched" in str(info.value) and "\n" not in str(info.value)
    assert pool.read_bytes() == bytes(data)


def test_short_read_keeps_good_bytes(tmp_path):
    pool, man = _paths(tmp_path)
    calls = []

    served = []

    def flaky(n):
        calls.append(n)
        served.append(os.urandom(n if len(calls) < 3 else n - 1))
        return served[-1]

    with pytest.raises(QganError, match="pool kept at 200 bytes"):
        harvest_to_pool(pool, man, EntropySource("flaky", False, flaky, {}), 1000, 100, progress=False)
    assert pool.read_bytes() == b"".join(served[:2])
    assert json.loads(man.read_text())["total_bytes"] == 200


def _hold_lock(path, ready, release):
    with pool_lock(path):
        ready.set()
        release.wait(10)


def test_lock_blocks_a_second_harvest(tmp_path):
    pool, man = _paths(tmp_path)
    ctx = multiprocessing.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(pool, ready, release))
    holder.start()
    try:
        assert ready.wait(10)
        with pytest.raises(QganError, match="another harvest"):
            harvest_to_pool(pool, man, make_source(HarvestConfig()), 10, 10, progress=False)
    finally:
        release.set()
        holder.join(10)
    assert harvest_to_pool(pool, man, make_source(HarvestConfig()), 10, 10, progress=False)[0]["total_bytes"] == 10


def test_unknown_source():
    with pytest.raises(QganError, match="unknown source 'nope'"):
        make_source(SimpleNamespace(source="nope"))

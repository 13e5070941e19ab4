"""The QRNG clients against the loopback emulator (a real HTTP server on 127.0.0.1): wire
formats, and a fault matrix in which no bad byte is appended, no good byte lost, none doubled."""
import base64
import datetime
import hashlib
import json
import os

import pytest
import requests

from qgan.core.errors import QganError
from qgan.entropy.emulator import MALFORMED, THROTTLE_MESSAGE, Emulator, EmulatorConfig
from qgan.entropy.harvest import harvest_to_pool
from qgan.entropy.health import HealthMonitor
from qgan.entropy.http_client import WIRE_FORMATS, HttpFetcher, Politeness, public_url, retry_after_seconds
from qgan.entropy.sources import make_source
from qgan.params import HarvestConfig

pytestmark = pytest.mark.integration  # QRNG emulators on loopback

TOKEN = "tok-5d1e-never-print-me"
APIS = ("eaas", "anu")


@pytest.fixture(autouse=True)
def token(monkeypatch):
    monkeypatch.setenv("QRNG_API_TOKEN", TOKEN)


def harvest(tmp_path, emu, target, **harvest_params):
    cfg = HarvestConfig.from_dict({"source": emu.config.api, "url": emu.url, "backoff": 0.01, "timeout": 2.0,
                                   "chunk_bytes": 2048, "request_bytes": 512, "concurrency": 2, **harvest_params})
    return harvest_to_pool(tmp_path / "pool.bin", tmp_path / "manifest.json", make_source(cfg), target,
                           cfg.chunk_bytes, HealthMonitor(cfg.min_entropy, cfg.stuck_after), progress=False)


def check_archive(tmp_path, emu) -> bytes:
    """The pool matches its manifest, and holds each good payload served at most once and
    nothing else, every good payload at all (no good byte lost)."""
    pool = (tmp_path / "pool.bin").read_bytes()
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["total_bytes"] == len(pool) and manifest["sha256"] == hashlib.sha256(pool).hexdigest()
    for c in manifest["chunks"]:
        assert hashlib.sha256(pool[c["offset"]:c["offset"] + c["length"]]).hexdigest() == c["sha256"]
    distinct = list(dict.fromkeys(emu.served))
    assert all(pool.count(p) == 1 for p in distinct), "a served payload is missing or doubled"
    assert sum(map(len, distinct)) == len(pool), "the pool holds bytes that were not a good answer"
    return pool


@pytest.mark.parametrize("api", APIS)
def test_wire_format_served_by_the_emulator(api):
    with Emulator(EmulatorConfig(api=api)) as emu:
        if api == "eaas":
            r = requests.get(emu.url, params={"size": 100}, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
            assert len(base64.b64decode(r.json()["random_number"], validate=True)) == 100
        else:
            r = requests.get(emu.url, params={"length": 10, "type": "uint8"}, headers={"x-api-key": TOKEN}, timeout=5)
            body = r.json()
            assert body["success"] is True and body["length"] == "10" and len(body["data"]) == 10
            r2 = requests.get(emu.url, params={"length": 3, "type": "hex16", "size": 10}, headers={"x-api-key": TOKEN},
                              timeout=5)
            assert [len(x) for x in r2.json()["data"]] == [40, 40, 40]
        assert r.headers["X-QRNG-Emulator"] == "qgan"
        refused = requests.get(emu.url, params={"size": 1, "length": 1}, timeout=5)
        assert refused.status_code == (401 if api == "eaas" else 403)
        too_big = {"size": 513} if api == "eaas" else {"length": 1025, "type": "uint8"}
        assert requests.get(emu.url, params=too_big, headers={"Authorization": f"Bearer {TOKEN}",
                                                               "x-api-key": TOKEN}, timeout=5).status_code == 400


def test_rate_limit_answers_429_withretry_after_seconds():
    with Emulator(EmulatorConfig(api="eaas", rate_limit=0.5)) as emu:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        assert requests.get(emu.url, params={"size": 8}, headers=headers, timeout=5).status_code == 200
        second = requests.get(emu.url, params={"size": 8}, headers=headers, timeout=5)
        assert second.status_code == 429 and int(second.headers["Retry-After"]) in (1, 2)


@pytest.mark.parametrize("api", APIS)
def test_harvest_of_a_set_size_is_exact_and_marked_emulated(tmp_path, api):
    with Emulator(EmulatorConfig(api=api, seed=3)) as emu:
        manifest, appended = harvest(tmp_path, emu, 10_000, concurrency=4,
                                     request_bytes=None if api == "eaas" else 2000)
        check_archive(tmp_path, emu)
    assert appended == 10_000 == manifest["total_bytes"]
    assert manifest["emulated"] is True and manifest["quantum"] is False
    assert all(c["emulated"] and not c["quantum"] for c in manifest["chunks"])
    assert manifest["source_info"][api]["url"] == emu.url and manifest["health"]["chunks_rejected"] == 0


# Each fault three times in a row, then good answers: the harvest must ride it out.
RECOVERABLE = ["error", "drop", "hang", "throttle_text", *MALFORMED]


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("fault", RECOVERABLE)
def test_fault_then_recovery_keeps_exact_valid_bytes(tmp_path, api, fault):
    script = ["ok", fault, fault, fault]
    with Emulator(EmulatorConfig(api=api, script=script, hang=1.5, seed=hash(fault) % 1000)) as emu:
        manifest, appended = harvest(tmp_path, emu, 4096, timeout=0.5)
        check_archive(tmp_path, emu)
        assert emu.faults[fault] == 3
    assert appended == 4096


@pytest.mark.parametrize("api", APIS)
def test_persistent_fault_stops_with_one_line_and_keeps_good_bytes(tmp_path, api):
    script = ["ok", "ok"] + ["error"] * 20
    with Emulator(EmulatorConfig(api=api, script=script)) as emu:
        with pytest.raises(QganError) as err:
            harvest(tmp_path, emu, 8192, retries=2, concurrency=1)
        pool = check_archive(tmp_path, emu)
    message = str(err.value)
    assert "\n" not in message and "failed 3 times (last: HTTP 50" in message
    assert f"pool kept at {len(pool):,} bytes" in message and len(pool) == 1024


def test_rate_limit_is_honoured_and_completes(tmp_path):
    with Emulator(EmulatorConfig(api="eaas", rate_limit=8.0)) as emu:
        manifest, _ = harvest(tmp_path, emu, 3 * 512, concurrency=3)
        check_archive(tmp_path, emu)
        assert emu.faults.get("rate_limited", 0) >= 1  # some requests were told to wait, and did
    assert manifest["total_bytes"] == 1536


def testretry_after_seconds_reads_delay_seconds_and_http_dates():
    """RFC 9110 allows ``Retry-After: 120`` and ``Retry-After: <HTTP-date>``; both become seconds to wait."""
    from email.utils import format_datetime

    now = 1_790_000_000.0  # a fixed clock, in epoch seconds
    date = format_datetime(datetime.datetime.fromtimestamp(now + 90, datetime.timezone.utc), usegmt=True)
    assert date.endswith(" GMT") and retry_after_seconds(date, now) == pytest.approx(90.0)
    assert retry_after_seconds("120", now) == 120.0 and retry_after_seconds(" 7 ", now) == 7.0
    past = format_datetime(datetime.datetime.fromtimestamp(now - 600, datetime.timezone.utc), usegmt=True)
    assert retry_after_seconds(past, now) == 0.0 and retry_after_seconds("-3", now) == 0.0  # never a negative wait
    assert retry_after_seconds("Sunday, 06-Nov-94 08:49:37 GMT", 784111777.0) == 0.0  # RFC 850, obsolete but allowed
    assert retry_after_seconds("Sun Nov  6 08:49:37 1994", 784111777.0 - 30) == pytest.approx(30.0)  # asctime, no zone
    for junk in (None, "", "soon", "Wed, 99 Foo 2026 25:61:00 GMT"):
        assert retry_after_seconds(junk, now) is None


def test_a_429_with_an_http_date_waits_that_long(tmp_path):
    """A service that throttles with ``Retry-After: <HTTP-date>`` 2 s ahead is waited for (not retried
    at once on the backoff) and the harvest completes."""
    import time as clock
    from email.utils import format_datetime
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    times = []

    class Throttling(BaseHTTPRequestHandler):
        def do_GET(self):
            times.append(clock.monotonic())
            if len(times) == 1:
                when = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=2)
                self.send_response(429)
                self.send_header("Retry-After", format_datetime(when, usegmt=True))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = json.dumps({"random_number": base64.b64encode(os.urandom(512)).decode()}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Throttling)
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        fetcher = HttpFetcher(WIRE_FORMATS["eaas"], f"http://127.0.0.1:{server.server_port}/", "t", 512,
                              Politeness(concurrency=1, timeout=5.0, retries=2, backoff=0.0, max_wait=10.0),
                              lambda data: True)
        try:
            assert len(fetcher.fetch(512)) == 512
        finally:
            fetcher.close()
    finally:
        server.shutdown()
        server.server_close()
    assert len(times) == 2 and times[1] - times[0] >= 1.0  # waited for the date (whole seconds), not backoff 0


def testretry_after_seconds_beyond_max_wait_stops(tmp_path):
    with Emulator(EmulatorConfig(api="anu", rate_limit=0.01)) as emu:
        with pytest.raises(QganError, match=r"asks to wait \d+ s, more than harvest.max_wait \(5 s\)"):
            harvest(tmp_path, emu, 2048, max_wait=5, concurrency=1)
        assert len(check_archive(tmp_path, emu)) == 512


@pytest.mark.parametrize("api", APIS)
def test_stuck_service_stops_with_source_looks_stuck(tmp_path, api):
    with Emulator(EmulatorConfig(api=api, stuck=True)) as emu:
        with pytest.raises(QganError, match=f"{api}: source looks stuck: 4 chunks in a row") as err:
            harvest(tmp_path, emu, 8192, stuck_after=4, concurrency=1)
        pool = check_archive(tmp_path, emu)
    assert len(pool) == 512 and "pool kept at 512 bytes" in str(err.value)  # the first answer, once
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["health"]["failures"]["repeated_chunk"] >= 4  # one more may have been in flight


def test_random_fault_mix_with_concurrency(tmp_path):
    config = EmulatorConfig(api="eaas", error_rate=0.1, malformed_rate=0.15, drop_rate=0.05, throttle_text_rate=0.05,
                            seed=11)
    with Emulator(config) as emu:
        manifest, _ = harvest(tmp_path, emu, 40 * 512, concurrency=4, retries=10)
        check_archive(tmp_path, emu)
        assert sum(emu.faults.values()) >= 5
    assert manifest["total_bytes"] == 40 * 512


@pytest.mark.parametrize("api", APIS)
def test_refused_token_stops_at_once_without_the_token_in_the_message(tmp_path, api):
    with Emulator(EmulatorConfig(api=api, token="the-right-one")) as emu:
        with pytest.raises(QganError) as err:
            harvest(tmp_path, emu, 1024)
        assert emu.requests == 0 or emu.faults.get("refused", 0) >= 1
    assert "refused the token (set QRNG_API_TOKEN" in str(err.value) and TOKEN not in str(err.value)


def test_request_above_the_service_cap_stops_at_once(tmp_path):
    with Emulator(EmulatorConfig(api="eaas", cap=256)) as emu:
        with pytest.raises(QganError, match="HTTP 400: the service rejected a request for 512 bytes"):
            harvest(tmp_path, emu, 1024, concurrency=1)
        assert emu.faults == {"bad_request": 1}  # not retried


def test_missing_token_is_a_one_line_error(monkeypatch):
    monkeypatch.delenv("QRNG_API_TOKEN")
    monkeypatch.delenv("ANU_QRNG_API_KEY", raising=False)
    with pytest.raises(QganError, match="needs a token in the environment: set QRNG_API_TOKEN"):
        make_source(HarvestConfig.from_dict({"source": "anu"}))
    with pytest.raises(QganError, match="harvest.url: null is not allowed for eaas"):
        make_source(HarvestConfig.from_dict({"source": "eaas"}))


def test_plan_and_public_url():
    assert WIRE_FORMATS["eaas"].plan(1300, 512) == [512, 512, 276]
    for n in (5000, 25_000, 41_000, 999):
        sizes = WIRE_FORMATS["anu"].plan(n, 20_480)
        # what the service accepts: uint8 up to 1,024 bytes, else whole 20-byte hex16 elements up to 20,480
        assert sum(sizes) == n and all((s <= 1024 or s % 20 == 0) and s <= 20_480 for s in sizes)
    assert public_url("https://user:pw@api.example.org:8443/v1/entropy?key=abc#x") == \
        "https://api.example.org:8443/v1/entropy"
    assert "limited to 1 requests" in THROTTLE_MESSAGE

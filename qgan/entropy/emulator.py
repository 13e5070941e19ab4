"""A loopback emulator of the QRNG web services, faults included (``qgan emulate``).

It speaks the exact wire format of ``eaas`` (``?size=N`` -> ``{"random_number": base64}``)
or ``anu`` (``?length=L&type=uint8|hex16[&size=S]`` -> ``{"success", "type", "length", "data"}``),
binds 127.0.0.1 only, and marks every answer with the ``X-QRNG-Emulator`` header so that a
manifest records its bytes as emulated, never quantum. Its bytes come from a seeded PCG64.

Faults, for tests and rehearsals: per-request latency; a request-size cap (400 above it);
a rate limit answering 429 with ``Retry-After``; a fraction of 500/503; malformed bodies
(``bad_json``, ``missing_field``, ``bad_base64``, ``short``, ``long``); the plain-text
throttle message (HTTP 200); a stuck mode repeating one answer; dropped connections; hangs
longer than a client's timeout. ``script`` lists faults for the first requests, in order
(``ok`` for a good answer), before the random fractions apply. ``served`` keeps every good
payload sent, so a test can compare the pool with what was served.
"""
from __future__ import annotations

import base64
import json
import math
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import numpy as np

from qgan.entropy.http_client import EMULATOR_HEADER, HEX16_BLOCKS, WIRE_FORMATS

MALFORMED = ("bad_json", "missing_field", "bad_base64", "short", "long")
FAULTS = ("ok", "error", "throttle_text", "drop", "hang", *MALFORMED)
THROTTLE_MESSAGE = ("The QRNG API is limited to 1 requests per minute. For more requests, please visit "
                    "https://quantumnumbers.anu.edu.au or contact qrng@anu.edu.au.")


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):  # a client that vanished mid-answer is no news
        import sys
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


@dataclass
class EmulatorConfig:
    api: str = "eaas"                 # wire format: eaas or anu
    latency: float = 0.0              # seconds added to every answer
    cap: int | None = None            # largest request served (default: the service's cap)
    rate_limit: float | None = None   # requests per second; faster ones get 429 + Retry-After
    error_rate: float = 0.0           # fraction answered 500 or 503
    malformed_rate: float = 0.0       # fraction answered with a malformed body (kinds below)
    malformed: tuple = MALFORMED      # which malformed kinds to draw from
    throttle_text_rate: float = 0.0   # fraction answered with the plain-text throttle message
    drop_rate: float = 0.0            # fraction of connections closed without an answer
    hang_rate: float = 0.0            # fraction answered only after ``hang`` seconds
    hang: float = 5.0                 # seconds a hung answer takes
    stuck: bool = False               # repeat the first answer's bytes forever
    token: str | None = None          # required token (None: any non-empty token)
    seed: int = 0                     # bytes and fault draws
    script: list = field(default_factory=list)  # faults for the first requests, in order


class Emulator:
    """Serves until :meth:`close`; ``url`` is where to point ``harvest.url``."""

    def __init__(self, config: EmulatorConfig, port: int = 0):
        if config.api not in WIRE_FORMATS:
            raise ValueError(f"api must be one of {', '.join(WIRE_FORMATS)}")
        unknown = [f for f in config.script if f not in FAULTS]
        if unknown:
            raise ValueError(f"unknown fault {unknown[0]!r} (known: {', '.join(FAULTS)})")
        self.config = config
        self.cap = config.cap or WIRE_FORMATS[config.api].cap
        self.served: list[bytes] = []       # good payloads, in the order they were sent
        self.requests = 0
        self.faults: dict[str, int] = {}
        self._lock = threading.Lock()
        self._rng = np.random.default_rng(config.seed)
        self._script = list(config.script)
        self._next_allowed = 0.0
        self._stuck_payload: bytes | None = None
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive
            disable_nagle_algorithm = True  # headers and body leave at once, not 40 ms apart

            def do_GET(self):  # noqa: N802 (http.server's name)
                emulator._answer(self)

            def log_message(self, *args):  # quiet
                pass

        self.server = _QuietServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- decisions ---------------------------------------------------------------------
    def _decide(self) -> str:
        c = self.config
        with self._lock:
            self.requests += 1
            if self._script:
                return self._script.pop(0)
            draw = self._rng.random()
            for fault, rate in (("error", c.error_rate), ("throttle_text", c.throttle_text_rate),
                                ("drop", c.drop_rate), ("hang", c.hang_rate)):
                if draw < rate:
                    return fault
                draw -= rate
            if draw < c.malformed_rate:
                return str(self._rng.choice(list(c.malformed)))
            return "ok"

    def _rate_limited(self) -> float | None:
        """Seconds to wait if this request comes too soon, else None (and it is counted)."""
        if not self.config.rate_limit:
            return None
        with self._lock:
            now = time.monotonic()
            if now < self._next_allowed:
                return self._next_allowed - now
            self._next_allowed = now + 1.0 / self.config.rate_limit
            return None

    def _payload(self, n: int) -> bytes:
        with self._lock:
            if self.config.stuck and self._stuck_payload is not None:
                return self._stuck_payload[:n].ljust(n, b"\0")
            data = self._rng.bytes(n)
            if self.config.stuck:
                self._stuck_payload = data
            return data

    # -- answers -----------------------------------------------------------------------
    def _send(self, h, status: int, body: bytes, content_type: str = "application/json", headers=()) -> None:
        try:
            h.send_response(status)
            h.send_header("Content-Type", content_type)
            h.send_header("Content-Length", str(len(body)))
            h.send_header(EMULATOR_HEADER, "qgan")
            for key, value in headers:
                h.send_header(key, value)
            h.end_headers()
            h.wfile.write(body)
        except OSError:  # the client gave up (timeout): nothing to do
            h.close_connection = True

    def _count(self, fault: str) -> None:
        with self._lock:
            self.faults[fault] = self.faults.get(fault, 0) + 1

    def _answer(self, h) -> None:
        c = self.config
        query = {k: v[-1] for k, v in parse_qs(urlsplit(h.path).query).items()}
        token = h.headers.get("Authorization", "").removeprefix("Bearer ") if c.api == "eaas" \
            else h.headers.get("x-api-key", "")
        if not token or (c.token is not None and token != c.token):
            self._count("refused")
            status = 401 if c.api == "eaas" else 403
            return self._send(h, status, json.dumps({"message": "Forbidden" if status == 403 else "Unauthorized"}
                                                    ).encode())
        wait = self._rate_limited()
        if wait is not None:
            self._count("rate_limited")
            return self._send(h, 429, b'{"message": "Too Many Requests"}',
                              headers=[("Retry-After", str(max(1, math.ceil(wait))))])
        n, kind, elements = self._requested(query)
        if n is None or n > self.cap:
            self._count("bad_request")
            return self._send(h, 400, json.dumps({"message": f"size must be 1..{self.cap}"}).encode())
        fault = self._decide()
        if c.latency:
            time.sleep(c.latency)
        if fault != "ok":
            self._count(fault)
        if fault == "drop":
            h.close_connection = True
            return
        if fault == "hang":
            time.sleep(c.hang)
        if fault == "error":
            with self._lock:  # the generator is shared by the handler threads
                status = int(self._rng.choice([500, 503]))
            return self._send(h, status, b'{"message": "Internal Server Error"}')
        if fault == "throttle_text":
            return self._send(h, 200, THROTTLE_MESSAGE.encode(), "text/plain")
        payload = self._payload(n)
        if fault == "short":
            payload = payload[:-1]
        elif fault == "long":
            payload = payload + b"\x00"
        body = self._body(payload, kind, elements, fault)
        if fault == "ok":  # a hung answer reaches no client that timed out: not counted as served
            with self._lock:
                self.served.append(payload)
        self._send(h, 200, body)

    def _requested(self, query: dict) -> tuple[int | None, str, int]:
        """(bytes asked for, anu type, anu length) from the query; None bytes if invalid."""
        try:
            if self.config.api == "eaas":
                n = int(query["size"])
                return (n if n >= 1 else None), "", 0
            length, kind = int(query["length"]), query.get("type", "uint8")
            if kind == "uint8" and 1 <= length <= 1024:
                return length, kind, length
            size = int(query.get("size", 1))
            if kind == "hex16" and 1 <= length <= 1024 and 1 <= size <= HEX16_BLOCKS:
                return length * 2 * size, kind, length
        except (KeyError, ValueError):
            pass
        return None, "", 0

    def _body(self, payload: bytes, kind: str, elements: int, fault: str) -> bytes:
        if fault == "bad_json":
            return b'{"random_number": "' + base64.b64encode(payload)[:10]
        if self.config.api == "eaas":
            if fault == "missing_field":
                return json.dumps({"random": base64.b64encode(payload).decode()}).encode()
            encoded = base64.b64encode(payload).decode()
            if fault == "bad_base64":
                encoded = "*" + encoded[1:]
            return json.dumps({"random_number": encoded}).encode()
        if kind == "uint8":
            data = list(payload)
        else:
            hexed = payload.hex()
            width = len(hexed) // elements if elements else 0
            data = [hexed[i:i + width] for i in range(0, len(hexed), width)] if width else []
        answer = {"success": True, "type": kind, "length": str(elements), "data": data}
        if kind == "hex16":
            answer["size"] = str(len(payload) // (2 * elements))
        if fault == "missing_field":
            del answer["data"]
        if fault == "bad_base64" and data:  # ANU has no base64: a value that is not a byte / hex
            data[0] = 256 if kind == "uint8" else "zz" + data[0][2:]
        return json.dumps(answer).encode()

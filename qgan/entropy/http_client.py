"""QRNG web services: their wire formats, and a polite, concurrent, untrusting client.

Every answer is untrusted: status, body, encoding and length are checked, and a bad answer
is never returned. Transient trouble (timeouts, dropped connections, 5xx, malformed bodies,
a health-test rejection) is retried with exponential backoff and full jitter; a 429's
``Retry-After`` (or a plain-text throttle message) is honoured; 401/403 stop at once. The
token comes from the environment and never appears in a message, a log or a record.
"""
from __future__ import annotations

import base64
import binascii
import datetime
import email.utils
import json
import os
import random
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlsplit

from qgan.core.errors import QganError
from qgan.entropy.registry import SourceFailed

EMULATOR_HEADER = "X-QRNG-Emulator"   # set by `qgan emulate`: the bytes are not quantum
THROTTLE_TEXT = re.compile(r"limited to \d+ requests?|rate limit|too many requests", re.IGNORECASE)
HEX16_BLOCKS = 10                     # ANU hex16 ``size``: 10 x 16-bit blocks = 20 bytes per element
HEX16_ELEMENT = 2 * HEX16_BLOCKS      # bytes in one hex16 element
UINT8_MAX_LENGTH = 1024               # ANU uint8 requests: at most 1,024 bytes


class Retry(Exception):
    """A transient failure: try again after ``wait`` seconds (None: use the backoff)."""

    def __init__(self, reason: str, wait: float | None = None):
        super().__init__(reason)
        self.reason, self.wait = reason, wait


@dataclass(frozen=True)
class WireFormat:
    name: str
    default_url: str | None
    cap: int                         # most bytes one request may ask for
    token_vars: tuple[str, ...]      # environment variables holding the token, first found wins

    def request(self, n: int, token: str) -> tuple[dict, dict]:
        raise NotImplementedError

    def parse(self, body: bytes, n: int) -> bytes:
        raise NotImplementedError

    def plan(self, n: int, request_bytes: int) -> list[int]:
        """``n`` bytes as request sizes of at most ``min(request_bytes, cap)``."""
        size = min(request_bytes, self.cap)
        return [size] * (n // size) + ([n % size] if n % size else [])


def is_throttle_text(body: bytes) -> bool:
    """A plain-text "slow down" message (ANU's legacy API sends it with HTTP 200 or 500)."""
    return bool(THROTTLE_TEXT.search(body[:300].decode("utf-8", "replace")))


def _json(body: bytes):
    try:
        return json.loads(body)
    except ValueError:
        if is_throttle_text(body):
            raise Retry("throttled (plain-text message)", wait=None) from None
        raise Retry("malformed answer: not JSON") from None


def _exact(data: bytes, n: int) -> bytes:
    if len(data) != n:
        raise Retry(f"malformed answer: {len(data)} bytes instead of {n}")
    return data


class Eaas(WireFormat):
    """Quantum eMotion EaaS: ``GET url?size=N``, Bearer token, ``{"random_number": base64}``."""

    def request(self, n, token):
        return {"size": n}, {"Authorization": f"Bearer {token}"}

    def parse(self, body, n):
        answer = _json(body)
        if not isinstance(answer, dict) or not isinstance(answer.get("random_number"), str):
            raise Retry("malformed answer: no random_number field")
        try:
            data = base64.b64decode(answer["random_number"], validate=True)
        except (binascii.Error, ValueError):
            raise Retry("malformed answer: bad base64") from None
        return _exact(data, n)


class Anu(WireFormat):
    """ANU Quantum Numbers: ``x-api-key``; ``type=uint8&length=L`` (L <= 1024) or
    ``type=hex16&length=L&size=10`` (20 bytes per element, up to 20,480 per request)."""

    def request(self, n, token):
        if n <= UINT8_MAX_LENGTH:
            return {"length": n, "type": "uint8"}, {"x-api-key": token}
        return {"length": n // HEX16_ELEMENT, "type": "hex16", "size": HEX16_BLOCKS}, {"x-api-key": token}

    def parse(self, body, n):
        answer = _json(body)
        kind = "uint8" if n <= UINT8_MAX_LENGTH else "hex16"
        length = n if kind == "uint8" else n // HEX16_ELEMENT
        if not isinstance(answer, dict) or answer.get("success") is not True:
            raise Retry("malformed answer: success is not true")
        if answer.get("type") != kind or str(answer.get("length")) != str(length):
            raise Retry("malformed answer: wrong type or length field")
        data = answer.get("data")
        if not isinstance(data, list) or len(data) != length:
            raise Retry("malformed answer: wrong data list")
        if kind == "uint8":
            if not all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x <= 255 for x in data):
                raise Retry("malformed answer: data not uint8")
            return _exact(bytes(data), n)
        width = 4 * HEX16_BLOCKS
        if not all(isinstance(x, str) and len(x) == width and re.fullmatch(r"[0-9a-fA-F]+", x) for x in data):
            raise Retry("malformed answer: data not hex16")
        return _exact(bytes.fromhex("".join(data)), n)

    def plan(self, n, request_bytes):
        """Above 1,024 bytes only multiples of the 20-byte hex16 element; the rest as uint8."""
        size = min(request_bytes, self.cap)
        if size > UINT8_MAX_LENGTH:
            size -= size % HEX16_ELEMENT
        sizes = [size] * (n // size)
        rest = n - size * len(sizes)
        hex_part = rest - rest % HEX16_ELEMENT
        if hex_part > UINT8_MAX_LENGTH:
            sizes.append(hex_part)
            rest -= hex_part
        return sizes + [UINT8_MAX_LENGTH] * (rest // UINT8_MAX_LENGTH) + (
            [rest % UINT8_MAX_LENGTH] if rest % UINT8_MAX_LENGTH else [])


WIRE_FORMATS: dict[str, WireFormat] = {
    "eaas": Eaas("eaas", None, 512, ("QRNG_API_TOKEN",)),
    "anu": Anu("anu", "https://api.quantumnumbers.anu.edu.au", 20 * 1024, ("QRNG_API_TOKEN", "ANU_QRNG_API_KEY")),
}


def public_url(url: str) -> str:
    """``url`` without credentials, query or fragment: safe to record."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}{parts.path}"


@dataclass
class Politeness:
    """How hard the client may push a service."""
    concurrency: int = 4         # requests in flight (one keep-alive session each)
    timeout: float = 10.0        # seconds per request
    retries: int = 6             # extra attempts per request before giving up
    backoff: float = 0.5         # first backoff in seconds, doubled per attempt, full jitter
    max_wait: float = 60.0       # longest single wait (backoff or Retry-After)
    rate_limit: float | None = None  # most requests per second, all threads together


class HttpFetcher:
    """Fetches ``n`` validated bytes from a service, ``concurrency`` requests at a time."""

    def __init__(self, fmt: WireFormat, url: str, token: str, request_bytes: int, polite: Politeness,
                 accept: Callable[[bytes], bool]):
        self.fmt, self.url, self.request_bytes, self.polite, self.accept = fmt, url, request_bytes, polite, accept
        self._token = token
        self._local = threading.local()
        self._slot_lock, self._next_slot = threading.Lock(), 0.0
        self.emulated = False
        self.requests = self.retried = 0
        self.latencies: list[float] = []
        self._pool: ThreadPoolExecutor | None = None  # kept across fetches: threads keep their sessions
        self._halt = threading.Event()  # set by the first failure: queued requests do not start

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _session(self):
        import requests
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        return self._local.session

    def _wait_for_slot(self) -> None:
        if not self.polite.rate_limit:
            return
        with self._slot_lock:
            now = time.monotonic()
            start = max(now, self._next_slot)
            self._next_slot = start + 1.0 / self.polite.rate_limit
        if start > now:
            time.sleep(start - now)

    def _attempt(self, n: int) -> bytes:
        import requests
        params, headers = self.fmt.request(n, self._token)
        self._wait_for_slot()
        start = time.perf_counter()
        try:
            r = self._session().get(self.url, params=params, headers=headers, timeout=self.polite.timeout)
            body = r.content
        except requests.Timeout:
            raise Retry("timed out") from None
        except requests.RequestException as exc:
            raise Retry(f"connection failed ({exc.__class__.__name__})") from None
        self.latencies.append(time.perf_counter() - start)
        self.requests += 1
        if r.headers.get(EMULATOR_HEADER):
            self.emulated = True
        if r.status_code in (401, 403):
            raise SourceFailed(f"{self.fmt.name}: HTTP {r.status_code}: the service refused the token "
                               f"(set {' or '.join(self.fmt.token_vars)})")
        if r.status_code == 429:
            raise Retry("HTTP 429 (quota or rate limit)", wait=retry_after_seconds(r.headers.get("Retry-After")))
        if 400 <= r.status_code < 500 and r.status_code != 408:
            raise SourceFailed(f"{self.fmt.name}: HTTP {r.status_code}: the service rejected a request for {n} "
                               "bytes (is harvest.request_bytes above its cap?)")
        if r.status_code != 200:
            if is_throttle_text(body):
                raise Retry(f"throttled (HTTP {r.status_code}, plain-text message)")
            raise Retry(f"HTTP {r.status_code}")
        return self.fmt.parse(body, n)

    def fetch_one(self, n: int) -> bytes:
        """One request's worth of good bytes, retried; raises :class:`SourceFailed`."""
        if self._halt.is_set():
            raise SourceFailed(f"{self.fmt.name}: not started: an earlier request failed")
        try:
            return self._fetch_one(n)
        except BaseException:
            self._halt.set()
            raise

    def _fetch_one(self, n: int) -> bytes:
        reason = ""
        for attempt in range(self.polite.retries + 1):
            try:
                data = self._attempt(n)
                if self.accept(data):
                    return data
                reason = "answer failed the health tests"
                wait = None
            except Retry as exc:
                reason, wait = exc.reason, exc.wait
            if wait is not None and wait > self.polite.max_wait:
                raise SourceFailed(f"{self.fmt.name}: {reason}: the service asks to wait {wait:.0f} s, more than "
                                   f"harvest.max_wait ({self.polite.max_wait:.0f} s); try again later")
            if attempt == self.polite.retries:
                break
            self.retried += 1
            backoff = min(self.polite.max_wait, self.polite.backoff * 2 ** attempt) * random.random()
            time.sleep(wait if wait is not None else backoff)
        raise SourceFailed(f"{self.fmt.name}: a request for {n} bytes failed {self.polite.retries + 1} times "
                           f"(last: {reason})")

    def fetch(self, n: int, progress: Callable[[int], object] | None = None) -> bytes:
        """``n`` good bytes, in request order. On failure, :class:`SourceFailed` carries every
        good answer obtained (in request order, failed requests left out)."""
        sizes = self.fmt.plan(n, self.request_bytes)
        failure: Exception | None = None
        self._halt.clear()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.polite.concurrency, thread_name_prefix=f"qrng-{self.fmt.name}")
        futures = [self._pool.submit(self.fetch_one, size) for size in sizes]
        for future in futures:
            try:
                data = future.result()
            except Exception as exc:  # stop scheduling; requests in flight finish
                failure = failure or exc
                for f in futures:
                    f.cancel()
            else:
                if progress and failure is None:
                    progress(len(data))
        good = [f.result() for f in futures if f.done() and not f.cancelled() and f.exception() is None]
        if failure is not None:
            message = str(failure) if isinstance(failure, QganError) else f"{self.fmt.name}: {failure}"
            raise SourceFailed(message, partial=b"".join(good)) from None
        return b"".join(good)


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delay-seconds (``"120"``) or an HTTP date
    (``"Wed, 21 Oct 2026 07:28:00 GMT"``, RFC 9110 section 10.2.3), counted from ``now`` (epoch
    seconds, default the clock); None if absent or neither form. A date in the past is 0."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; an obsolete form without a zone is read as GMT too
        when = when.replace(tzinfo=datetime.timezone.utc)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def token_from_env(fmt: WireFormat) -> str:
    for var in fmt.token_vars:
        if os.environ.get(var):
            return os.environ[var]
    raise QganError(f"harvest.source {fmt.name}: needs a token in the environment: set {fmt.token_vars[0]}")

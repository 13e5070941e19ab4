"""The MLflow tracking server a sweep's workers talk to, and the PostgreSQL database behind ``qgan server``.

SQLite takes one writer at a time and lives on one disk, so several workers never write
``mlflow.db`` themselves: one ``mlflow server`` process does, and the workers speak HTTP to it.
On one machine :func:`mlflow_server` serves the project's own store for the sweep's lifetime;
across machines ``qgan server`` serves a PostgreSQL store (:class:`Postgres`), which takes
concurrent writers. Everything listens on 127.0.0.1 unless told otherwise, and every server runs
under :mod:`qgan.sweep.lifeline`, so it stops with the process that started it, SIGKILL included.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

from qgan.core.errors import QganError

LOOPBACK = "127.0.0.1"
START_TIMEOUT = 120.0       # seconds a server may take to answer (MLflow creates its tables on first start)
DB_NAME, DB_USER = "mlflow", "qgan"


def free_port(host: str = LOOPBACK) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def tied(cmd: list[str]) -> list[str]:
    """``cmd`` run under :mod:`qgan.sweep.lifeline` (it dies with this process)."""
    return [sys.executable, "-m", "qgan.sweep.lifeline", "--", *cmd]


def stop(proc: subprocess.Popen, timeout: float = 30.0) -> None:
    """SIGTERM the lifeline (which stops its whole group), SIGKILL if it will not go."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)


def wait_until(ready, proc: subprocess.Popen, what: str, log: Path, timeout: float = START_TIMEOUT) -> None:
    """Poll ``ready()`` (bounded); one-line error with the log's last line if ``proc`` dies or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            lines = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
            raise QganError(f"{what} exited {proc.returncode}: {lines[-1] if lines else 'no output'} (log {log})")
        if ready():
            return
        time.sleep(0.3)
    stop(proc)
    raise QganError(f"{what} did not answer within {timeout:.0f} s (log {log})")


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


@contextlib.contextmanager
def mlflow_server(backend_uri: str, artifacts: Path, log: Path, host: str = LOOPBACK, port: int | None = None,
                  workers: int = 1) -> Iterator[str]:
    """An ``mlflow server`` over ``backend_uri`` (passed in the environment, so a password never
    shows in ``ps``), proxying artifacts to ``artifacts``; yields its URL and stops it on exit."""
    port = port or free_port(host)
    url = f"http://{LOOPBACK if host in ('0.0.0.0', '::') else host}:{port}"
    env = {**os.environ, "MLFLOW_BACKEND_STORE_URI": backend_uri, "MLFLOW_DISABLE_TELEMETRY": "true"}
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(tied([sys.executable, "-m", "mlflow", "server", "--artifacts-destination",
                                      str(artifacts), "--host", host, "--port", str(port), "--workers",
                                      str(workers)]), stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        wait_until(lambda: http_ok(f"{url}/health"), proc, f"mlflow server on {host}:{port}", log)
        yield url
    finally:
        stop(proc)


def postgres_bin(name: str) -> str:
    """A PostgreSQL server binary: on PATH, else Debian's newest ``/usr/lib/postgresql/<v>/bin``."""
    found = shutil.which(name)
    if found:
        return found
    for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True):
        if (folder / name).exists():
            return str(folder / name)
    raise QganError(f"PostgreSQL's {name} not found (Debian: apt-get install postgresql)")


class Postgres:
    """A PostgreSQL cluster in ``folder`` (data, socket, password file), listening on ``host:port``.

    ``initdb`` refuses to run as root, so as root the server runs as the ``postgres`` user
    (``runuser``); otherwise as the current user. Password authentication (scram-sha-256) on
    TCP; the password is generated once and kept in ``folder/password`` (mode 600)."""

    def __init__(self, folder: Path, port: int, host: str = LOOPBACK):
        self.folder, self.port, self.host = folder.resolve(), port, host
        self.data, self.socket = self.folder / "data", self.folder / "socket"
        self.proc: subprocess.Popen | None = None

    def as_owner(self, cmd: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd

    @property
    def password(self) -> str:
        return (self.folder / "password").read_text().strip()

    @property
    def uri(self) -> str:
        return f"postgresql+psycopg://{DB_USER}:{self.password}@{LOOPBACK}:{self.port}/{DB_NAME}"

    def init(self) -> None:
        """Create the cluster (once) with the ``qgan`` superuser and its password."""
        self.folder.mkdir(parents=True, exist_ok=True)
        pw = self.folder / "password"
        if not pw.exists():
            pw.write_text(secrets.token_urlsafe(24))
            pw.chmod(0o600)
        if (self.data / "PG_VERSION").exists():
            return
        self.socket.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            import pwd
            owner = pwd.getpwnam("postgres")
            for path in (self.folder, self.socket, pw):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        out = subprocess.run(self.as_owner([postgres_bin("initdb"), "-D", str(self.data), "-U", DB_USER,
                                            "--auth-host=scram-sha-256", "--auth-local=peer", f"--pwfile={pw}",
                                            "-E", "UTF8"]), capture_output=True, text=True)
        if out.returncode:
            shutil.rmtree(self.data, ignore_errors=True)
            raise QganError(f"initdb failed: {(out.stderr or out.stdout).strip().splitlines()[-1]}")

    def start(self, log: Path) -> None:
        """Run ``postgres`` in the foreground under a lifeline, wait until it accepts connections,
        and create the ``mlflow`` database if it is new."""
        self.init()
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(tied(self.as_owner([
                postgres_bin("postgres"), "-D", str(self.data), "-p", str(self.port), "-k", str(self.socket),
                "-c", f"listen_addresses={self.host}"])), stdout=out, stderr=subprocess.STDOUT)
        wait_until(self.accepts, self.proc, f"postgres on {self.host}:{self.port}", log)
        import psycopg
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            if not conn.execute("select 1 from pg_database where datname = %s", (DB_NAME,)).fetchone():
                conn.execute(f"create database {DB_NAME}")

    def dsn(self, db: str = DB_NAME) -> str:
        return f"host={LOOPBACK} port={self.port} user={DB_USER} password={self.password} dbname={db}"

    def accepts(self) -> bool:
        import psycopg
        try:
            psycopg.connect(self.dsn("postgres"), connect_timeout=2).close()
            return True
        except psycopg.OperationalError:
            return False

    def stop(self) -> None:
        """A fast shutdown (clients disconnected, a clean checkpoint)."""
        if self.proc is not None and self.proc.poll() is None:
            subprocess.run(self.as_owner([postgres_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"]),
                           capture_output=True, timeout=60)
            stop(self.proc)
        self.proc = None


@contextlib.contextmanager
def tracking_server(folder: Path, host: str = LOOPBACK, port: int | None = None, db_port: int | None = None,
                    workers: int = 1) -> Iterator[str]:
    """PostgreSQL plus an ``mlflow server`` on it (artifacts in ``folder/artifacts``); yields the URL."""
    folder.mkdir(parents=True, exist_ok=True)
    db = Postgres(folder / "postgres", db_port or free_port())
    db.start(folder / "postgres.log")
    try:
        with mlflow_server(db.uri, folder / "artifacts", folder / "mlflow-server.log", host, port, workers) as url:
            yield url
    finally:
        db.stop()

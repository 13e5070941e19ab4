"""MLflow for many writers: a real PostgreSQL server behind a real ``mlflow server`` on loopback,
four processes logging runs and per-step metrics at once, every row counted in the database;
and the same load on SQLite, where one writer's transaction holds every other writer back."""
from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, SUBPROCESS_ENV

pytestmark = pytest.mark.integration  # PostgreSQL, mlflow server, writer processes

WRITERS, RUNS, STEPS = 4, 5, 300     # per writer: runs; per run: steps of two losses (d_loss, g_loss)
KEYS = ("d_loss", "g_loss")


def writer(uri: str, name: str, ready: str) -> None:
    """One writer process: RUNS runs of STEPS steps of each key, in batches of 100 rows; prints a JSON
    summary (run ids, errors, when its first run was created)."""
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("load").experiment_id
    Path(ready).write_text(str(time.time()))
    runs, errors, first = [], [], None
    start = time.time()
    for r in range(RUNS):
        try:
            run = client.create_run(exp, run_name=f"{name}-{r}", tags={"writer": name})
            first = first or time.time()
            rows = [Metric(k, float(s), 0, s) for s in range(STEPS) for k in KEYS]
            for i in range(0, len(rows), 100):
                client.log_batch(run.info.run_id, metrics=rows[i:i + 100])
            client.set_terminated(run.info.run_id)
            runs.append(run.info.run_id)
        except Exception as exc:  # counted, not hidden: the test compares counts
            errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    print(json.dumps({"runs": runs, "errors": errors, "first": first, "start": start, "end": time.time()}))


def load(uri: str, tmp: Path, hold=None) -> list[dict]:
    """WRITERS writer processes at once against ``uri``; ``hold(ready_files)`` runs while they start."""
    ready = [tmp / f"ready-{i}" for i in range(WRITERS)]
    procs = [subprocess.Popen([sys.executable, "-c", f"from tests.sweep.test_servers import writer; "
                               f"writer({uri!r}, 'w{i}', {str(ready[i])!r})"], cwd=ROOT, env=SUBPROCESS_ENV,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) for i in range(WRITERS)]
    if hold is not None:
        hold(ready)
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    return [json.loads(o.strip().splitlines()[-1]) for o in outs]


def wait_for_files(paths: list[Path], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not all(p.exists() for p in paths):
        assert time.monotonic() < deadline, "writers did not start"
        time.sleep(0.05)


@pytest.fixture
def postgres_mlflow():
    """``qgan server``'s pair (PostgreSQL, then ``mlflow server`` on it), both on 127.0.0.1."""
    from qgan.sweep.servers import free_port, tracking_server
    folder = Path(tempfile.mkdtemp(prefix="qgan-pg-", dir="/tmp"))
    folder.chmod(0o755)  # as root the database runs as the postgres user, who must reach its folder
    port = free_port()
    try:
        with tracking_server(folder / "server", db_port=port) as url:
            yield url, folder / "server", port
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_four_writers_through_a_postgresql_backed_server_lose_nothing(postgres_mlflow, tmp_path):
    import psycopg
    from mlflow.tracking import MlflowClient

    from qgan.sweep.servers import Postgres

    url, folder, port = postgres_mlflow
    MlflowClient(url).create_experiment("load")
    results = load(url, tmp_path)
    assert [r["errors"] for r in results] == [[]] * WRITERS
    spans = sorted((r["start"], r["end"]) for r in results)
    assert spans[1][0] < spans[0][1]  # served at once: the second writer started before the first ended

    with psycopg.connect(Postgres(folder / "postgres", port).dsn()) as conn:
        exp = conn.execute("select experiment_id from experiments where name = 'load'").fetchone()[0]
        runs = conn.execute("select count(*) from runs where experiment_id = %s and status = 'FINISHED'",
                            (exp,)).fetchone()[0]
        rows = conn.execute("select count(*) from metrics m join runs r on m.run_uuid = r.run_uuid "
                            "where r.experiment_id = %s", (exp,)).fetchone()[0]
    assert runs == WRITERS * RUNS == sum(len(r["runs"]) for r in results)
    assert rows == WRITERS * RUNS * STEPS * len(KEYS)
    client = MlflowClient(url)
    some = results[0]["runs"][0]
    assert len(client.get_metric_history(some, "g_loss")) == STEPS


def test_the_same_load_on_sqlite_is_serialised_behind_one_writer(tmp_path):
    from mlflow.tracking import MlflowClient

    db = tmp_path / "mlflow.db"
    uri = f"sqlite:///{db}"
    MlflowClient(uri).create_experiment("load")
    held = {}

    def one_writer_holds_the_database(ready: list[Path]) -> None:
        lock = sqlite3.connect(db, isolation_level=None)
        lock.execute("begin immediate")            # what any writer's transaction takes: the write lock
        wait_for_files(ready)
        time.sleep(3.0)                            # the writers are at their first create_run meanwhile
        reader = sqlite3.connect(db)
        held["runs_during"] = reader.execute("select count(*) from runs").fetchone()[0]
        reader.close()
        held["released"] = time.time()
        lock.execute("rollback")
        lock.close()

    results = load(uri, tmp_path, one_writer_holds_the_database)
    assert held["runs_during"] == 0                                   # nobody wrote while one writer held it
    assert all(r["first"] is not None and r["first"] >= held["released"] for r in results)  # each waited
    assert [r["errors"] for r in results] == [[]] * WRITERS           # within MLflow's 20 s busy timeout
    con = sqlite3.connect(db)
    assert con.execute("select count(*) from metrics").fetchone()[0] == WRITERS * RUNS * STEPS * len(KEYS)
    con.close()

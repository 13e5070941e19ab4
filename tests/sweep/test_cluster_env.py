"""The embedded LocalCluster's workers never hold a QRNG token, restarted workers included, and
the head gets its environment back afterwards."""
from __future__ import annotations

import os

import pytest

from qgan.sweep.sweep import SECRET_VARS, SweepOptions, dask_client, item_task_env

pytestmark = pytest.mark.integration  # a real Dask LocalCluster

TOKEN = "qrng-secret-77d2"


def token_in_process() -> bool:
    """On a worker: is the token in its environment, now or as it was started (/proc)?"""
    with open("/proc/self/environ", "rb") as fh:
        return TOKEN in os.environ.values() or TOKEN.encode() in fh.read()


def test_workers_never_see_a_token_even_after_a_restart(monkeypatch):
    assert "QRNG_API_TOKEN" in SECRET_VARS and "ANU_QRNG_API_KEY" in SECRET_VARS
    monkeypatch.setenv("QRNG_API_TOKEN", TOKEN)
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    with dask_client(SweepOptions(workers=1), SECRET_VARS) as client:
        assert os.environ.get("QRNG_API_TOKEN") is None        # out of the head while the cluster lives
        assert client.submit(token_in_process, pure=False).result(timeout=60) is False
        client.restart()                                      # the nanny starts a new worker process
        assert client.submit(token_in_process, pure=False).result(timeout=60) is False
    assert os.environ["QRNG_API_TOKEN"] == TOKEN              # and back afterwards


def test_an_item_s_environment_unsets_every_token(monkeypatch):
    monkeypatch.setenv("ANU_QRNG_API_KEY", TOKEN)
    env = item_task_env("http://127.0.0.1:1")
    assert all(env[var] is None for var in SECRET_VARS)
    assert env["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:1"

"""``qgan replay`` against runs trained in a tiny workspace with a real MLflow store.

The DVC path (no local pool: fetch it from the DVC cache at a recorded revision) is tested in
tests/test_pipeline.py, which has a real DVC repo.
"""
import json
import shutil

import pytest

from qgan.cli import main
from tests.conftest import checkpoint_in, run_of, short_pool_workspace, train_in

pytestmark = pytest.mark.integration  # trains and replays through a real MLflow store


def _run_id(ws, name, root=None):
    return run_of(ws, name, root).info.run_id


def _replay(capsys, run_id, *args):
    capsys.readouterr()  # drop what training printed
    code = main(["replay", run_id, "--quiet", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_replay_is_bit_identical_also_after_the_pool_grew(workspace, tiny_params, capsys):
    train_in(workspace, tiny_params, "entropy", 1)
    run_id = _run_id(workspace, "entropy-1")
    code, out, err = _replay(capsys, run_id, "--pool", str(workspace / "pool.bin"), "--data", str(workspace / "data"))
    assert code == 0, out + err
    assert "bit-identical: generator sha256" in out and "NOT" not in out
    assert "the first 30,720 bytes hash to the recorded sha256" in out
    with open(workspace / "pool.bin", "ab") as fh:  # a later harvest appends: the run's prefix is unchanged
        fh.write(b"\x00" * 3000)
    shutil.rmtree(workspace / "data")  # and the data folder is gone: rebuilt from the recorded params
    code, out, err = _replay(capsys, run_id, "--pool", str(workspace / "pool.bin"), "--data", str(workspace / "data"))
    assert code == 0, out + err
    assert "rebuilt from bundled" in out and "bit-identical" in out


def test_replay_refuses_a_pool_with_one_byte_flipped(workspace, tiny_params, capsys):
    train_in(workspace, tiny_params, "entropy", 0)
    pool = workspace / "pool.bin"
    raw = bytearray(pool.read_bytes())
    raw[12_345] ^= 0x01
    pool.write_bytes(bytes(raw))
    code, out, err = _replay(capsys, _run_id(workspace, "entropy-0"), "--pool", str(pool))
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("qgan: error: replay refused: ")
    prefix = json.loads((workspace / "blocks" / "0" / "block.json").read_text())["pool"]["total_bytes"]
    assert prefix == pool.stat().st_size // 2  # seed 0's slot: the first half of a pool sized for two seeds
    assert f"the first {prefix:,} bytes hash to" in lines[0] and "the run recorded" in lines[0]
    assert "bit-identical" not in out and "training" not in out.split("noise:")[-1]


def test_replay_without_a_pool_needs_dvc_except_for_prng(workspace, tiny_params, capsys):
    train_in(workspace, tiny_params, "entropy", 0)
    train_in(workspace, tiny_params, "prng", 0)
    (workspace / "pool.bin").unlink()
    code, out, err = _replay(capsys, _run_id(workspace, "prng-0"))
    assert code == 0 and "arm prng does not read the pool" in out and "bit-identical" in out
    code, out, err = _replay(capsys, _run_id(workspace, "entropy-0"))
    assert code == 2 and "replay refused: no DVC revision holds the recorded pool (15,360 bytes" in err


def test_replay_says_what_differs_with_exit_1(workspace, tiny_params, capsys):
    train_in(workspace, tiny_params, "prng", 1)
    run_id = _run_id(workspace, "prng-1")
    record_file = workspace / "mlruns" / run_id / "artifacts" / "replay" / "run.json"
    record = json.loads(record_file.read_text())
    record["generator_sha256"] = "0" * 64  # as if the recorded run had produced another generator
    record_file.write_text(json.dumps(record))
    code, out, err = _replay(capsys, run_id)
    assert code == 1
    assert "NOT bit-identical: generator sha256" in out and "(recorded 0000000000000000...)" in out
    assert "losses first differ" not in out  # every loss still matched: the report says exactly what differed


def test_replay_of_an_unknown_run(workspace, tiny_params, capsys):
    code, out, err = _replay(capsys, "0123456789abcdef0123456789abcdef")
    assert code == 2 and err.count("\n") == 1 and "no MLflow store at sqlite:///" in err
    assert not (workspace / "mlflow.db").exists()  # replay never creates a store
    train_in(workspace, tiny_params, "prng", 0)
    code, out, err = _replay(capsys, "0123456789abcdef0123456789abcdef")
    assert code == 2 and err.count("\n") == 1 and "MLflow run '0123456789abcdef0123456789abcdef' not found" in err


def test_replay_of_a_cycled_run_on_a_short_pool(workspace, tiny_params, capsys):
    from dataclasses import replace
    short = short_pool_workspace(workspace, tiny_params, 0.75)
    cycle = replace(tiny_params, train=replace(tiny_params.train, on_exhausted="cycle"))
    train_in(short, cycle, "entropy", 1)
    code, out, err = _replay(capsys, _run_id(short, "entropy-1", workspace), "--pool", str(short / "pool.bin"),
                             "--data", str(workspace / "data"))
    assert code == 0, out + err
    reuse = checkpoint_in(short, "entropy-1")["noise"]["reuse_factor"]
    assert reuse > 1 and f"(reuse factor {reuse})" in out and "bit-identical" in out


def test_replay_applies_the_recorded_numerics_of_a_native_run(workspace, tiny_params):
    """A run trained with native CPU numerics (QGAN_CPU_NUMERICS=native) replays with them: `qgan
    replay` (pinned by default) restarts itself with the record's settings before torch loads."""
    import os
    import subprocess
    import sys

    import yaml

    from qgan.core.numerics import PINNED, SWITCH
    from tests.conftest import ROOT, slice_in

    (workspace / "params.yaml").write_text(yaml.safe_dump(tiny_params.to_dict()))
    env = {**{k: v for k, v in os.environ.items() if k not in PINNED}, SWITCH: "native", "DVC_ROOT": str(workspace)}
    ws = workspace
    slice_in(ws, tiny_params, "0")
    train = subprocess.run([sys.executable, "-m", "stages.train", "--params", str(ws / "params.yaml"), "--arm", "prng",
                            "--block", "0", "--data", str(ws / "data"), "--noise", str(ws / "blocks" / "0"),
                            "--manifest", str(ws / "manifest.json"), "--out-model", str(ws / "models/prng-0"),
                            "--out-metrics", str(ws / "metrics/prng-0.json"), "--out-figures", str(ws / "figs")],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert train.returncode == 0, train.stderr[-3000:]
    assert json.loads((ws / "metrics/prng-0.json").read_text())["prng-0"]["numerics"]["numerics"] == "native"
    env.pop(SWITCH)
    out = subprocess.run([sys.executable, "-m", "qgan.cli", "replay", _run_id(ws, "prng-0"), "--quiet", "--data",
                          str(ws / "data")], cwd=ws, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "restarting with the run's recorded CPU numerics" in out.stdout
    assert "numerics: native CPU numerics, as recorded" in out.stdout and "bit-identical" in out.stdout

"""``qgan study run`` with real DVC pipelines: two blocks in one clone, the values file committed, then the
study continued in a fresh clone with an empty DVC cache through ``qgan sweep`` on a LocalCluster, which
trains only the new seeds (the blocks' derived outs leave the DVC cache, their pools stay and replay from
it); ``qgan study show``, ``qgan compare`` on the values file, ``qgan replay`` of a
study's entropy seed, and the refusals at the command line.

Tiny config (:data:`tests.conftest.TINY`): arms prng and entropy, blocks of 2 seeds.
"""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import sh, tiny_repo

pytestmark = pytest.mark.integration  # real DVC repos, pipelines, a Dask LocalCluster

QGAN = [sys.executable, "-m", "qgan.cli"]
SPEC = {"arm": "entropy", "aa": None, "ladder": [], "block_size": 2, "max_seeds": 6, "budget_hours": 1.0}


def qgan(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return sh(repo, *QGAN, *args, check=check, timeout=900)


def trained_seeds(repo: Path) -> list[tuple[str, str]]:
    """(arm, seed) of every training run in the repo's own MLflow store."""
    with sqlite3.connect(repo / "mlflow.db") as db:
        rows = db.execute("select r.run_uuid, t.key, t.value from runs r join tags t on t.run_uuid = r.run_uuid "
                          "where t.key in ('arm', 'seed', 'qgan_role')").fetchall()
    runs: dict[str, dict] = {}
    for run, k, v in rows:
        runs.setdefault(run, {})[k] = v
    return sorted((r["arm"], r["seed"]) for r in runs.values() if r.get("qgan_role") == "training")


@pytest.fixture(scope="module")
def first_clone(tmp_path_factory) -> Path:
    """A tiny repo with studies/tiny.yaml, two blocks run by `qgan study run --max-blocks 2`, values committed."""
    repo = tiny_repo(tmp_path_factory.mktemp("study") / "a", [0, 1])
    (repo / "studies").mkdir()
    (repo / "studies" / "tiny.yaml").write_text(yaml.safe_dump(SPEC))
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "study tiny")
    out = qgan(repo, "study", "run", "tiny", "--max-blocks", "2", "--quiet")
    assert "paused after 2 block(s)" in out.stdout, out.stdout
    sh(repo, "git", "add", "studies")
    sh(repo, "git", "commit", "-qm", "study tiny: blocks 0-1, 2-3")
    return repo


def test_two_blocks_then_a_fresh_clone_trains_only_the_new_seeds(first_clone, tmp_path):
    values = json.loads((first_clone / "studies" / "tiny" / "values.json").read_text())
    assert [b["block"] for b in values["blocks"]] == ["0-1", "2-3"] and len(values["looks"]) == 2
    assert trained_seeds(first_clone) == sorted((a, str(s)) for a in ("entropy", "prng") for s in range(4))
    pools = {b["pool"]["sha256"] for b in values["blocks"]}
    assert len(pools) == 2                                   # each block harvested its own entropy
    assert not any((first_clone / ".qgan" / "studies" / "tiny").glob("0-1*"))   # workspaces removed
    cached = lambda md5: (first_clone / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]).exists()  # noqa: E731
    for block in values["blocks"]:     # the pool re-derives its normals and slice: they left the cache
        assert sorted(block["derived"]) == ["data/noise/blocks/" + block["block"], "data/noise/normals.npy"]
        assert not any(map(cached, block["derived"].values()))
        assert cached(block["pool"]["dvc_md5"]) and all(map(cached, block["outs"].values()))

    fresh = tmp_path / "b"
    sh(tmp_path, "git", "clone", "-q", str(first_clone), str(fresh))
    assert not (fresh / ".dvc" / "cache").exists()           # an empty DVC cache
    out = qgan(fresh, "study", "run", "tiny", "--workers", "2", "--quiet")
    assert "look 3 (block 4-5): n=6" in out.stdout and "stopped: the next block would pass max_seeds" in out.stdout
    continued = json.loads((fresh / "studies" / "tiny" / "values.json").read_text())
    assert continued["blocks"][:2] == values["blocks"] and continued["looks"][:2] == values["looks"]
    assert continued["blocks"][2]["block"] == "4-5" and continued["blocks"][2]["runner"] == "qgan sweep"
    for arm in ("prng", "entropy"):                           # the committed seeds kept, bit for bit
        assert {s: continued["values"][arm][s] for s in ("0", "1", "2", "3")} == values["values"][arm]
    assert trained_seeds(fresh) == [("entropy", "4"), ("entropy", "5"), ("prng", "4"), ("prng", "5")]
    with sqlite3.connect(fresh / "mlflow.db") as db:   # one study run in the new store, with every look
        tags = dict(db.execute("select t.key, t.value from tags t join tags r on r.run_uuid = t.run_uuid "
                               "where r.key = 'qgan_role' and r.value = 'study'").fetchall())
    assert tags["qgan_study"] == "tiny" and tags["looks_logged"] == "3" and tags["stopped"] == "seed cap"
    log = (fresh / continued["blocks"][2]["log"]).read_text()
    assert "train@entropy-4-5" in log and "train@entropy-0-1" not in log

    # qgan compare on the committed values reproduces the last look; show reads the file alone
    verdicts = json.loads(qgan(fresh, "compare", "studies/tiny/values.json", "--json").stdout)
    family = verdicts["comparisons"]["entropy_vs_prng"]
    last = continued["looks"][-1]
    assert family["verdict"] == last["verdict"] and family["primary"]["n_seeds"] == last["n"] == 6
    assert family["primary"]["estimate"] == last["endpoints"][0]["estimate"]
    shown = qgan(fresh, "study", "show", "tiny").stdout
    assert "stopped after look 3 at n = 6" in shown and "cost: 3 blocks, 12 training runs" in shown
    assert all((fresh / "studies" / "tiny" / f).stat().st_size > 10_000 for f in ("verdicts.png", "looks.png"))


def test_a_study_seed_replays_bit_identically_from_its_blocks_pool(first_clone):
    values = json.loads((first_clone / "studies" / "tiny" / "values.json").read_text())
    out = qgan(first_clone, "replay", values["runs"]["entropy-3"]["mlflow_run_id"], "--quiet")
    assert "entropy: study tiny, block 2-3: its pool" in out.stdout
    assert "bit-identical: generator sha256 " + values["runs"]["entropy-3"]["generator_sha256"] in out.stdout


def test_a_changed_instrument_is_refused_in_one_line(first_clone, tmp_path):
    repo = tmp_path / "c"
    sh(tmp_path, "git", "clone", "-q", str(first_clone), str(repo))
    before = (repo / "studies" / "tiny" / "values.json").read_bytes()
    (repo / "studies" / "tiny.yaml").write_text(yaml.safe_dump({**SPEC, "design": {"margin": 5.0}}))
    out = qgan(repo, "study", "run", "tiny", check=False)
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert "design.margin was 10.0, the study now gives 5.0: a changed instrument is a new study" in out.stderr
    assert (repo / "studies" / "tiny" / "values.json").read_bytes() == before
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["train"]["epochs"] = 2                                # the recipe changed under the study
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    (repo / "studies" / "tiny.yaml").write_text(yaml.safe_dump(SPEC))
    out = qgan(repo, "study", "run", "tiny", check=False)
    assert out.returncode == 2 and "recipe.train.epochs was 1, the study now gives 2" in out.stderr
    out = qgan(repo, "study", "run", "nope", check=False)
    assert out.returncode == 2 and "studies/nope.yaml: no such study (studies here: tiny)" in out.stderr

"""A block's workspace: a killed attempt's entropy is put back in the next attempt's fresh clone (even after
a commit), its time counted; workspaces of recorded blocks go, with the cache objects of their derived outs
(not those the repo's dvc.lock names); URLs lose their credentials in the log."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from qgan.study.runner import BlockRequest
from qgan.study.spec import load_study
from qgan.study.workspace import DvcBlocks, derived_outs, redact
from qgan.sweep.dvc_ops import cache_root
from tests.conftest import sh, tiny_repo

pytestmark = pytest.mark.integration  # git clones of a real repo


def test_a_killed_blocks_pool_survives_a_new_clone_and_its_workspace_goes_once_recorded(tmp_path):
    repo = tiny_repo(tmp_path / "repo", [0, 1])
    (repo / "studies").mkdir()
    (repo / "studies" / "s.yaml").write_text(yaml.safe_dump({"arm": "entropy", "aa": None, "block_size": 2}))
    blocks = DvcBlocks(repo, load_study(repo, "s"), progress=False)
    request = BlockRequest("4-5", (4, 5), ("prng", "entropy"))
    ws, before = blocks.prepare(request)
    assert before == 0.0
    train = yaml.safe_load((ws / "params.yaml").read_text())["train"]
    assert train["arms"] == ["prng", "entropy"] and train["seeds"] == ["4-5"]
    (ws / "data" / "entropy").mkdir(parents=True, exist_ok=True)
    (ws / "data" / "entropy" / "pool.bin").write_bytes(b"harvested once" * 100)   # what the killed attempt drew
    (ws / "data" / "entropy" / "manifest.json").write_text('{"total_bytes": 1400}')
    blocks.log(request).parent.mkdir(parents=True, exist_ok=True)
    blocks.log(request).write_text("the killed attempt's output\n")

    (repo / "README.md").write_text("changed\n")                                  # a commit meanwhile
    sh(repo, "git", "commit", "-qam", "meanwhile")
    again = DvcBlocks(repo, load_study(repo, "s"), progress=False)
    ws, before = again.prepare(request)
    assert (ws / "README.md").read_text() == "changed\n"                           # a fresh clone of the new commit
    assert (ws / "data" / "entropy" / "pool.bin").read_bytes() == b"harvested once" * 100
    assert json.loads((ws / "data" / "entropy" / "manifest.json").read_text()) == {"total_bytes": 1400}
    marker = json.loads((again.home / "4-5.json").read_text())
    assert len(marker["attempts"]) == 2 and before >= 0.0

    again.forget_recorded({"blocks": [{"block": "4-5", "seeds": [4, 5], "arms": ["prng", "entropy"]}]})
    assert not ws.exists() and not (again.home / "4-5.json").exists() and not (again.home / "4-5.entropy").exists()


def test_a_recorded_blocks_derived_outs_leave_the_cache_but_not_what_the_repo_names(tmp_path):
    repo = tiny_repo(tmp_path / "repo", [0, 1])
    (repo / "studies").mkdir()
    (repo / "studies" / "s.yaml").write_text(yaml.safe_dump({"arm": "entropy", "aa": None, "block_size": 2}))
    blocks = DvcBlocks(repo, load_study(repo, "s"), progress=False)
    request = BlockRequest("4-5", (4, 5), ("prng", "entropy"))
    ws, _ = blocks.prepare(request)
    cache = Path(cache_root(repo)) / "files" / "md5"

    def put(md5: str, body: bytes) -> Path:
        path = cache / md5[:2] / md5[2:]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        return path
    md5 = {name: f"{i:02d}" + "ab" * 15 for i, name in enumerate(("normals", "slice", "shared", "pool", "gen", "x"))}
    normals, piece, shared = put(md5["normals"], b"n" * 1000), put(md5["slice"], b"s" * 10), put(md5["shared"], b"k")
    listing = put(md5["slice"] + ".dir", json.dumps([{"md5": md5["slice"], "relpath": "a.npy"},
                                                     {"md5": md5["shared"], "relpath": "b.json"}]).encode())
    pool, generator = put(md5["pool"], b"p" * 100), put(md5["gen"], b"g")
    out = lambda path, m: {"path": path, "md5": m, "size": 1}  # noqa: E731
    stages = {"harvest": {"outs": [out("data/entropy/pool.bin", md5["pool"])]},
              "convert": {"outs": [out("data/noise/normals.npy", md5["normals"]),
                                   out("metrics/noise.json", md5["shared"])]},   # not cached, never dropped
              "slice@4-5": {"outs": [out("data/noise/blocks/4-5", md5["slice"] + ".dir")]},
              "slice@0-1": {"outs": [out("data/noise/blocks/0-1", md5["x"])]},
              "train@entropy-4-5": {"outs": [out("models/generators/entropy-4.pt", md5["gen"])]}}
    (ws / "dvc.lock").write_text(yaml.safe_dump({"schema": "2.0", "stages": stages}))
    (repo / "dvc.lock").write_text(yaml.safe_dump({"schema": "2.0", "stages": {   # the repo's own run names one
        "report": {"outs": [out("reports/x.json", md5["shared"])]}}}))
    assert sorted(derived_outs(ws, "4-5")) == ["data/noise/blocks/4-5",
                                                "data/noise/normals.npy"]

    blocks.forget_recorded({"blocks": [{"block": "4-5", "seeds": [4, 5], "arms": ["prng", "entropy"]}]})
    assert not ws.exists()
    assert not normals.exists() and not piece.exists() and not listing.exists()     # re-derived from the pool
    assert pool.exists() and generator.exists() and shared.exists()
    assert "dropped from the DVC cache once recorded: data/noise/blocks/4-5, data/noise/normals.npy (0.00 GB" \
        in blocks.log(request).read_text()
    blocks.forget_recorded({"blocks": [{"block": "4-5", "seeds": [4, 5], "arms": ["prng", "entropy"]}]})  # again: no-op
    assert pool.exists() and shared.exists()


def test_urls_lose_their_credentials_in_the_log():
    assert redact("https://user:s3cret@github.com/you/study.git") == "https://github.com/you/study.git"
    assert redact("tcp://head:8786") == "tcp://head:8786" and redact("--repo") == "--repo"

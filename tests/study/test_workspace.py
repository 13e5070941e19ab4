"""A block's workspace: a killed attempt's entropy is put back in the next attempt's fresh clone (even after
a commit), its time counted; workspaces of recorded blocks go; URLs lose their credentials in the log."""
from __future__ import annotations

import json

import pytest
import yaml

from qgan.study.runner import BlockRequest
from qgan.study.spec import load_study
from qgan.study.workspace import DvcBlocks, redact
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


def test_urls_lose_their_credentials_in_the_log():
    assert redact("https://user:s3cret@github.com/you/study.git") == "https://github.com/you/study.git"
    assert redact("tcp://head:8786") == "tcp://head:8786" and redact("--repo") == "--repo"

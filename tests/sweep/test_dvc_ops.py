"""The sweep's git and DVC helpers on real repositories."""
from __future__ import annotations

import subprocess

import pytest

from qgan.core.errors import QganError
from qgan.sweep.dvc_ops import remote_url, worktree_patch
from tests.conftest import sh

pytestmark = pytest.mark.integration  # subprocesses, real git/DVC repos or a real MLflow store


@pytest.fixture
def git_dvc(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    sh(repo, "git", "init", "-q", "-b", "main")
    sh(repo, "dvc", "init", "-q")
    (repo / "a.txt").write_text("one\n")
    (repo / "bin.dat").write_bytes(bytes(range(256)))
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "init")
    return repo


def test_the_patch_carries_edits_and_untracked_files_and_leaves_the_index_alone(git_dvc, tmp_path):
    (git_dvc / "a.txt").write_text("two\n")
    (git_dvc / "bin.dat").write_bytes(bytes(range(255, -1, -1)))
    (git_dvc / "new.txt").write_text("new\n")
    (git_dvc / ".gitignore").write_text("ignored.txt\n")
    (git_dvc / "ignored.txt").write_text("not sent\n")
    sh(git_dvc, "git", "add", "a.txt")            # the user staged one change: it must stay staged, alone
    staged = sh(git_dvc, "git", "diff", "--cached", "--name-only").stdout
    patch = worktree_patch(git_dvc)
    assert sh(git_dvc, "git", "diff", "--cached", "--name-only").stdout == staged == "a.txt\n"

    clone = tmp_path / "clone"
    sh(tmp_path, "git", "clone", "-q", str(git_dvc), str(clone))
    subprocess.run(["git", "apply", "--binary", "-"], cwd=clone, input=patch, check=True)
    for name in ("a.txt", "bin.dat", "new.txt", ".gitignore"):
        assert (clone / name).read_bytes() == (git_dvc / name).read_bytes(), name
    assert not (clone / "ignored.txt").exists()


def test_a_clean_workspace_gives_an_empty_patch(git_dvc):
    assert worktree_patch(git_dvc) == b""


def test_remotes_default_named_and_unknown(git_dvc, tmp_path):
    assert remote_url(git_dvc, None) is None
    sh(git_dvc, "dvc", "remote", "add", "-d", "store", str(tmp_path / "remote"))
    assert remote_url(git_dvc, None) == str(tmp_path / "remote")
    assert remote_url(git_dvc, "store") == str(tmp_path / "remote")
    with pytest.raises(QganError, match="--remote nope: no such DVC remote"):
        remote_url(git_dvc, "nope")

"""Versions of the entropy pool recorded in DVC, found through git and fetched with ``dvc.api``.

The pool is append-only, so any recorded version at least as long as the one a run saw holds
that one as a prefix: :func:`fetch_pool` looks for the first version whose first ``n_bytes``
hash to the recorded sha256, in the working tree's ``dvc.lock``, then the hinted revisions (the
run's DVC experiment and commit), then every revision touching ``dvc.lock``.
"""
from __future__ import annotations

import json
from pathlib import Path

import yaml

from qgan.core.errors import QganError
from qgan.core.git import run_git
from qgan.entropy.archive import hash_prefix

STUDY_VALUES = "studies/*/values.json"  # a study's values file records each block's pool (qgan.study.record)
MAX_REVISIONS = 200                 # git revisions searched for a dvc.lock that records the pool
COPY_BLOCK = 1 << 22                # bytes per read when streaming a pool out of DVC


class ReplayRefused(QganError):
    """An input of the run cannot be reproduced exactly, so replay does not train."""


def check_pool(path: Path, n_bytes: int, sha256: str) -> str | None:
    """None if the first ``n_bytes`` of ``path`` hash to ``sha256``, else what is wrong."""
    size = path.stat().st_size
    if size < n_bytes:
        return f"holds only {size:,} of the {n_bytes:,} bytes the run saw"
    got = hash_prefix(path, n_bytes).hexdigest()
    if got == sha256:
        return None
    return f"the first {n_bytes:,} bytes hash to {got[:16]}..., the run recorded {sha256[:16]}..."


def pool_revisions(root: Path, rel: str, n_bytes: int, hints: list[str]) -> list[tuple[str | None, str]]:
    """``(revision, md5)`` of the revisions whose ``dvc.lock`` records a pool of at least
    ``n_bytes`` at ``rel``: the working tree (revision None) first, then the hinted revisions,
    then every revision touching dvc.lock (experiments included), one per distinct pool version."""
    listed = run_git(root, "rev-list", "--all", f"--max-count={MAX_REVISIONS}", "--", "dvc.lock") or ""
    found, seen = [], set()
    for rev in dict.fromkeys([None, *hints, *listed.split()]):
        if rev is None:
            lock = root / "dvc.lock"
            text = lock.read_text() if lock.exists() else None
        else:
            text = run_git(root, "show", f"{rev}:dvc.lock")
        try:
            outs = yaml.safe_load(text)["stages"]["harvest"]["outs"] if text else []
        except (yaml.YAMLError, KeyError, TypeError):
            continue
        for out in outs:
            if out.get("path") == rel and out.get("size", 0) >= n_bytes and out.get("md5") not in seen:
                seen.add(out.get("md5"))
                found.append((rev, out.get("md5")))
    return found


def fetch_pool(root: Path, rel: str, n_bytes: int, sha256: str, hints: list[str], tmp: Path) -> tuple[Path, str]:
    """Stream the first version of the pool that DVC holds and that hashes right into ``tmp``."""
    import dvc.api

    candidates = pool_revisions(root, rel, n_bytes, hints)
    tried = []
    for rev, md5 in candidates:
        name = rev[:12] if rev else "the working tree's dvc.lock"
        out = tmp / "pool.bin"
        try:  # the run's prefix only: a later pool may be far larger
            with dvc.api.open(rel, repo=str(root), rev=rev, mode="rb") as src, open(out, "wb") as dst:
                left = n_bytes
                while left and (block := src.read(min(COPY_BLOCK, left))):
                    dst.write(block)
                    left -= len(block)
        except Exception as exc:  # not in the cache nor on a remote: try the next version
            tried.append(f"{name} ({exc.__class__.__name__})")
            continue
        problem = check_pool(out, n_bytes, sha256)
        if problem is None:
            return out, (f"entropy: fetched {rel} with DVC from {'revision ' if rev else ''}{name} (md5 {md5}); "
                         f"its first {n_bytes:,} bytes hash to the recorded sha256 {sha256[:16]}...")
        tried.append(f"{name} ({problem})")
    raise ReplayRefused(f"replay refused: no DVC revision holds the recorded pool ({n_bytes:,} bytes, sha256 "
                        f"{sha256[:16]}...); versions tried: {', '.join(tried) or 'none recorded in dvc.lock'}")


def cache_object(root: Path, md5: str) -> Path | None:
    """DVC's object ``md5``: from the local cache, pulled from the default remote if it is not there."""
    from dvc.repo import Repo
    from dvc_data.hashfile.hash_info import HashInfo

    with Repo(str(root)) as repo:
        local = Path(repo.cache.local.oid_to_path(md5))
        if not local.exists():
            try:
                repo.cloud.pull([HashInfo("md5", md5)])
            except Exception:  # no remote, or not on it: the caller says what it tried
                return None
    return local if local.exists() else None


def study_pool(root: Path, n_bytes: int, sha256: str) -> tuple[Path, str] | None:
    """A study block's own pool whose first ``n_bytes`` hash to ``sha256`` (each block of a study harvests
    a pool of its own, recorded by its DVC md5 in the study's values file), or None."""
    for values in sorted(root.glob(STUDY_VALUES)):
        try:
            blocks = json.loads(values.read_text()).get("blocks", [])
        except (OSError, ValueError):
            continue
        for block in blocks:
            pool = block.get("pool") or {}
            if pool.get("sha256") != sha256 or not pool.get("dvc_md5"):
                continue
            found = cache_object(root, pool["dvc_md5"])
            if found is not None and check_pool(found, n_bytes, sha256) is None:
                return found, (f"entropy: study {values.parent.name}, block {block['block']}: its pool (DVC md5 "
                               f"{pool['dvc_md5']}) hashes to the recorded sha256 {sha256[:16]}...")
    return None


def exp_revision(root: Path, name: str | None) -> str | None:
    """The commit of DVC experiment ``name`` (its ref under ``refs/exps``), if present."""
    if not name:
        return None
    refs = run_git(root, "for-each-ref", "--format=%(objectname) %(refname)", "refs/exps") or ""
    return next((sha for sha, ref in (line.split() for line in refs.splitlines()) if ref.endswith(f"/{name}")), None)

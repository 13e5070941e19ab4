"""What the sweep asks of DVC and git, on the head and on the workers (all through their CLIs,
except reading the stage graph and the remote's URL, which ``dvc.repo.Repo`` gives).

An *item* is one ``train@<arm>-<block>`` stage. DVC stays the record: an item is pending when
``dvc status`` says so, a worker computes it with ``dvc repro --pull -s <item>`` in its own clone
and sends it back with ``dvc push --run-cache <item>``, and the head's final ``dvc repro [--pull]``
restores it from the run-cache, as DVC does for any stage computed elsewhere.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

from qgan.core.errors import QganError

ITEM_STAGE = "train"                  # the matrix stage whose items fan out
CACHED_LINE = "is cached - skipping run"   # DVC's log line when it restores a stage from the run-cache


def tool_env() -> dict[str, str]:
    """This process's environment with this interpreter's folder first on PATH, so that the
    stages' ``python -m stages.<name>`` run in the same environment as the sweep."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.setdefault("DVC_NO_ANALYTICS", "1")
    env.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    return env


def run_tool(cwd: Path, args: list[str], env: dict[str, str], log: Path | None = None,
             stdin: bytes | None = None) -> subprocess.CompletedProcess:
    """Run ``args`` in ``cwd`` (``stdin``: bytes to feed it); its output (text) appended to ``log``
    (when given) and returned."""
    out = subprocess.run(args, cwd=cwd, env=env, input=stdin, capture_output=True)
    out.stdout, out.stderr = out.stdout.decode(errors="replace"), out.stderr.decode(errors="replace")
    if log is not None:
        with open(log, "a") as fh:
            fh.write(f"$ {' '.join(args)}\n{out.stdout}{out.stderr}[exit {out.returncode}]\n")
    return out


def clone_at(source: str, revision: str, patch: bytes, dest: Path, step: Callable[..., object]) -> None:
    """A clone of ``source`` at ``revision`` in ``dest`` (a new folder) with ``patch`` (the uncommitted
    changes, :func:`worktree_patch`) applied; ``step(args, what, cwd, stdin)`` runs each command."""
    step(["git", "clone", "--quiet", "--no-checkout", source, str(dest)], "git clone", dest.parent, None)
    step(["git", "checkout", "--quiet", "--detach", revision], "git checkout", dest, None)
    if patch:
        step(["git", "apply", "--binary", "--whitespace=nowarn", "-"], "git apply (uncommitted changes)", dest, patch)


def dvc_args(*args: str) -> list[str]:
    return [sys.executable, "-m", "dvc", *args]


def checked(out: subprocess.CompletedProcess, what: str) -> subprocess.CompletedProcess:
    if out.returncode:
        tail = (out.stderr or out.stdout).strip().splitlines()[-1:] or ["no output"]
        raise QganError(f"{what} failed (exit {out.returncode}): {tail[0]}")
    return out


def pending_items(root: Path, env: dict[str, str]) -> list[str]:
    """The ``train@…`` items ``dvc status`` reports changed, in ``dvc.yaml``'s order."""
    out = checked(run_tool(root, dvc_args("status", "--json", ITEM_STAGE), env), "dvc status")
    changed = json.loads(out.stdout or "{}")
    return [name for name in stage_names(root) if name in changed]


def stage_names(root: Path) -> list[str]:
    """Every ``train@…`` item of the pipeline, in ``dvc.yaml``'s order."""
    from dvc.repo import Repo
    with Repo(str(root)) as repo:
        return [s.addressing for s in repo.index.stages if s.addressing.startswith(f"{ITEM_STAGE}@")]


def item_inputs(root: Path, items: list[str]) -> list[str]:
    """The items' dependencies that are other stages' outputs (what a worker must pull)."""
    from dvc.repo import Repo
    with Repo(str(root)) as repo:
        stages = {s.addressing: s for s in repo.index.stages}
        produced = {str(o.def_path) for s in stages.values() for o in s.outs}
        return sorted({str(d.def_path) for item in items for d in stages[item].deps if str(d.def_path) in produced})


def remote_url(root: Path, name: str | None) -> str | None:
    """URL of the DVC remote ``name`` (default: the repo's default remote); None when there is none."""
    from dvc.repo import Repo
    with Repo(str(root)) as repo:
        remotes, default = repo.config["remote"], repo.config["core"].get("remote")
    name = name or default
    if name is None:
        return None
    if name not in remotes:
        raise QganError(f"--remote {name}: no such DVC remote (known: {', '.join(remotes) or 'none'})")
    return str(remotes[name]["url"])


def lock_entry(root: Path, item: str) -> dict | None:
    """The item's entry in ``dvc.lock`` (cmd, deps, params, outs with their md5), or None."""
    import yaml
    path = root / "dvc.lock"
    if not path.exists():
        return None
    return (yaml.safe_load(path.read_text()) or {}).get("stages", {}).get(item)


def lock_outs(lock: Path, stages: Callable[[str], bool] = lambda name: True) -> dict[str, str]:
    """``{out path: md5}`` of the outs of the ``dvc.lock`` stages that ``stages`` picks ({} if no lock)."""
    import yaml
    if not lock.exists():
        return {}
    entries = (yaml.safe_load(lock.read_text()) or {}).get("stages", {})
    return {o["path"]: o["md5"] for name, entry in entries.items() if stages(name)
            for o in entry.get("outs", []) if o.get("md5")}


def drop_cache_objects(root: Path, md5s: set[str], keep: set[str]) -> int:
    """Delete the DVC cache objects ``md5s`` of ``root``'s cache (a ``.dir`` object with the files it
    lists) except those ``keep`` names (a ``.dir`` there keeps its files); returns the bytes freed."""
    from dvc.repo import Repo
    with Repo(str(root)) as repo:
        odb = repo.cache.local

        def with_files(oids: set[str]) -> set[str]:
            found = set(oids)
            for oid in oids:
                path = Path(odb.oid_to_path(oid))
                if oid.endswith(".dir") and path.exists():
                    found |= {e["md5"] for e in json.loads(path.read_text()) if e.get("md5")}
            return found
        freed = 0
        for oid in with_files(md5s) - with_files(keep):
            path = Path(odb.oid_to_path(oid))
            if path.exists():
                freed += path.stat().st_size
                path.unlink()
    return freed


def worktree_patch(root: Path, exclude: tuple[str, ...] = ()) -> bytes:
    """The workspace's difference from ``HEAD`` as a binary patch: modified and untracked (not
    ignored) files, ``dvc.lock`` included, but for the paths under ``exclude``. Built on a copy of
    git's index, so the user's staging area is untouched."""
    with tempfile.TemporaryDirectory() as tmp:
        index = Path(tmp) / "index"
        git_index = Path(checked(run_tool(root, ["git", "rev-parse", "--git-path", "index"], os.environ.copy()),
                                 "git rev-parse").stdout.strip())
        if not git_index.is_absolute():
            git_index = root / git_index
        if git_index.exists():
            shutil.copy2(git_index, index)
        env = {**os.environ, "GIT_INDEX_FILE": str(index)}
        checked(run_tool(root, ["git", "add", "-A"], env), "git add (temporary index)")
        spec = ["--", ".", *(f":(exclude){path}" for path in exclude)] if exclude else []
        diff = subprocess.run(["git", "diff", "--cached", "--binary", "HEAD", *spec], cwd=root, env=env,
                              capture_output=True)
        if diff.returncode:
            raise QganError(f"git diff failed: {diff.stderr.decode(errors='replace').strip()}")
        return diff.stdout


def head_revision(root: Path) -> str:
    out = run_tool(root, ["git", "rev-parse", "HEAD"], os.environ.copy())
    if out.returncode:
        raise QganError(f"{root}: qgan sweep needs a git repository with at least one commit")
    return out.stdout.strip()


def cache_root(root: Path) -> str:
    """The head's DVC cache folder: laid out as a DVC remote (``files/md5``, ``runs``), so workers on
    this machine can pull from and push to it when no remote is configured."""
    from dvc.repo import Repo
    with Repo(str(root)) as repo:
        return str(repo.cache.legacy.path)


def upstream_stages(root: Path) -> list[str]:
    """The stages producing the items' inputs (``data``, ``slice@…``): brought up to date on the head
    before any fan-out (``harvest`` tops the pool up there, upstream of them)."""
    from dvc.repo import Repo
    with Repo(str(root)) as repo:
        stages = list(repo.index.stages)
        producer = {str(o.def_path): s.addressing for s in stages for o in s.outs}
        items = [s for s in stages if s.addressing.startswith(f"{ITEM_STAGE}@")]
        return sorted({producer[str(d.def_path)] for s in items for d in s.deps if str(d.def_path) in producer})

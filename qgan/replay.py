"""``qgan replay RUN_ID``: re-train a recorded run from the archived entropy and prove it bit-identical.

1. Read the run's record from MLflow (``replay/run.json``: params, runtime, input digests,
   noise accounting) and its per-step losses.
2. Code: compare this checkout with the recorded revision (``git diff REV -- qgan stages
   dvc.yaml``); a difference is reported, since it may change the result, not refused.
3. Data: ``data/mnist`` if its digest is the recorded one, else rebuilt from the recorded data
   params; refused if the digest still differs.
4. Entropy (arms that read the pool): the first ``bytes`` bytes of the local pool must hash to
   the recorded sha256, else replay refuses. With no local pool (or ``--fetch``) it looks for a
   DVC revision that records a pool at least that long (the pool is append-only, so any later
   version holds it as a prefix) and streams it from DVC's cache or remote.
5. Convert exactly that prefix with the convert stage's function, train with the recorded
   params, thread count and device, and compare the generator's sha256 and every loss.
"""
from __future__ import annotations

import json
import platform
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import yaml

from qgan import tracking
from qgan.archive import hash_prefix
from qgan.convert import load_normals, pool_to_normals_file
from qgan.data import load_source, load_split, save_splits, subsample
from qgan.errors import QganError
from qgan.models import state_dict_sha256
from qgan.params import POOL_ARMS, dict_to_params
from qgan.runs import RECORD_FORMAT, RECORD_PATH, open_session, train_run
from qgan.runtime import make_deterministic, select_device
from qgan.train import LOSS_COLUMNS

POOL_PATH = "data/entropy/pool.bin"  # the harvest stage's pool, relative to the repo root
MAX_REVISIONS = 200                 # git revisions searched for a dvc.lock that records the pool
COPY_BLOCK = 1 << 22                # bytes per read when streaming a pool out of DVC


class ReplayRefused(QganError):
    """An input of the run cannot be reproduced exactly, so replay does not train."""


@dataclass
class ReplayResult:
    identical: bool
    notes: list[str] = field(default_factory=list)       # what was checked, in order
    differences: list[str] = field(default_factory=list)  # what differs from the record


def _safe_uri(uri: str) -> str:
    """A tracking URI without credentials, for messages."""
    parts = urlsplit(uri)
    return parts._replace(netloc=parts.hostname or "").geturl() if parts.username else uri


def load_record(client, run_id: str, tmp: Path) -> tuple[dict, object]:
    """The run's replay record and the MLflow run."""
    import os

    from mlflow.exceptions import MlflowException
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    try:
        run = client.get_run(run_id)
    except MlflowException:
        raise QganError(f"MLflow run {run_id!r} not found in {_safe_uri(client.tracking_uri)}") from None
    try:
        path = client.download_artifacts(run_id, RECORD_PATH, str(tmp))
    except (MlflowException, OSError):
        raise QganError(f"MLflow run {run_id} has no {RECORD_PATH}: not a qgan training run, or trained "
                        "before runs recorded what replay needs") from None
    record = json.loads(Path(path).read_text())
    if record.get("format") != RECORD_FORMAT:
        raise QganError(f"{RECORD_PATH} of run {run_id}: format {record.get('format')!r} is not {RECORD_FORMAT}")
    return record, run


def check_code(revision: str | None, root: Path) -> str:
    """One line saying whether this checkout's code is the recorded revision's."""
    if not revision:
        return "code: no revision recorded; replaying with this checkout's code"
    if tracking._git(root, "cat-file", "-e", f"{revision}^{{commit}}") is None:
        return f"code: recorded revision {revision[:12]} is not in this repository; replaying with this checkout"
    changed = tracking._git(root, "diff", "--name-only", revision, "--", *tracking.CODE_PATHS)
    if not changed:
        return f"code: this checkout matches the recorded revision {revision[:12]}"
    files = changed.splitlines()
    return (f"code: {len(files)} file(s) differ from the recorded revision {revision[:12]} ({', '.join(files[:4])}"
            f"{', ...' if len(files) > 4 else ''}); for the recorded code: git checkout {revision[:12]}")


def resolve_data(record: dict, data_dir: Path, tmp: Path) -> tuple[Path, str]:
    """A data folder with the recorded digest: ``data_dir`` or one rebuilt from the data params."""
    want = record["data_digest"]
    meta = data_dir / "meta.json"
    if meta.exists() and json.loads(meta.read_text()).get("digest") == want:
        return data_dir, f"data: {data_dir} matches the recorded digest {want[:12]}"
    cfg = dict_to_params(record["params"]).data
    train, test = load_source(cfg)
    rebuilt = save_splits(tmp / "data", subsample(train, cfg.n_train, cfg.split_seed, "n_train"),
                          subsample(test, cfg.n_test, cfg.split_seed, "n_test"), cfg)
    if rebuilt["digest"] != want:
        raise ReplayRefused(f"replay refused: the {cfg.source} data rebuilt from the recorded params has digest "
                            f"{rebuilt['digest'][:12]}, the run recorded {want[:12]}")
    return tmp / "data", f"data: {data_dir} differs or is missing; rebuilt from {cfg.source} (digest {want[:12]})"


def check_pool(path: Path, n_bytes: int, sha256: str) -> str | None:
    """None if the first ``n_bytes`` of ``path`` hash to ``sha256``, else what is wrong."""
    size = path.stat().st_size
    if size < n_bytes:
        return f"holds only {size:,} of the {n_bytes:,} bytes the run saw"
    got = hash_prefix(path, n_bytes).hexdigest()
    if got == sha256:
        return None
    return f"the first {n_bytes:,} bytes hash to {got[:16]}..., the run recorded {sha256[:16]}..."


def pool_revisions(root: Path, rel: str, n_bytes: int, hints: list[str]) -> list[tuple[str, str]]:
    """``(revision, md5)`` of git revisions whose ``dvc.lock`` records a pool of at least
    ``n_bytes`` at ``rel``: the hinted revisions first, then every revision touching dvc.lock
    (experiments included), one per distinct pool version."""
    listed = tracking._git(root, "rev-list", "--all", f"--max-count={MAX_REVISIONS}", "--", "dvc.lock") or ""
    found, seen = [], set()
    for rev in dict.fromkeys([*hints, *listed.split()]):
        text = tracking._git(root, "show", f"{rev}:dvc.lock")
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
        out = tmp / "pool.bin"
        try:
            with dvc.api.open(rel, repo=str(root), rev=rev, mode="rb") as src, open(out, "wb") as dst:
                while block := src.read(COPY_BLOCK):
                    dst.write(block)
        except Exception as exc:  # not in the cache nor on a remote: try the next version
            tried.append(f"{rev[:8]} ({exc.__class__.__name__})")
            continue
        problem = check_pool(out, n_bytes, sha256)
        if problem is None:
            return out, (f"entropy: fetched {rel} with DVC from revision {rev[:12]} (md5 {md5}); its first "
                         f"{n_bytes:,} bytes hash to the recorded sha256 {sha256[:16]}...")
        tried.append(f"{rev[:8]} ({problem})")
    raise ReplayRefused(f"replay refused: no DVC revision holds the recorded pool ({n_bytes:,} bytes, sha256 "
                        f"{sha256[:16]}...); versions tried: {', '.join(tried) or 'none recorded in dvc.lock'}")


def resolve_pool(record: dict, run, pool: Path, root: Path, fetch: bool, tmp: Path) -> tuple[Path, str]:
    """A file whose first ``entropy.bytes`` bytes are the run's pool, refusing on any mismatch."""
    n_bytes, sha = record["entropy"]["bytes"], record["entropy"]["sha256"]
    if pool.exists() and not fetch:
        problem = check_pool(pool, n_bytes, sha)
        if problem:
            raise ReplayRefused(f"replay refused: {pool}: {problem}; the archive changed since the run "
                                f"(restore it with `dvc checkout`, or replay with --fetch to take it from DVC)")
        return pool, f"entropy: {pool}: the first {n_bytes:,} bytes hash to the recorded sha256 {sha[:16]}..."
    tags = run.data.tags
    hints = [r for r in (exp_revision(root, tags.get(tracking.TAG_DVC_EXP_NAME)), tags.get(tracking.TAG_GIT_COMMIT))
             if r]
    try:
        rel = str(pool.resolve().relative_to(root.resolve()))
    except ValueError:
        rel = POOL_PATH
    return fetch_pool(root, rel, n_bytes, sha, hints, tmp)


def exp_revision(root: Path, name: str | None) -> str | None:
    """The commit of DVC experiment ``name`` (its ref under ``refs/exps``), if present."""
    if not name:
        return None
    refs = tracking._git(root, "for-each-ref", "--format=%(objectname) %(refname)", "refs/exps") or ""
    return next((sha for sha, ref in (line.split() for line in refs.splitlines()) if ref.endswith(f"/{name}")), None)


def recorded_losses(client, run_id: str, steps: int) -> np.ndarray | None:
    """The run's per-step losses ``(steps, 3)`` from its metric history (None if incomplete)."""
    out = np.full((steps, len(LOSS_COLUMNS)), np.nan, dtype=np.float64)
    for j, key in enumerate(LOSS_COLUMNS):
        for m in client.get_metric_history(run_id, key):
            if 0 <= m.step < steps:
                out[m.step, j] = m.value
    return None if np.isnan(out).any() else out


def compare_losses(replayed: np.ndarray, recorded: np.ndarray | None) -> str | None:
    """None if every loss matches to the bit (as float32), else where they first differ."""
    if recorded is None:
        return "the record's per-step losses are incomplete"
    if recorded.shape != replayed.shape:
        return f"{len(replayed):,} steps replayed, {len(recorded):,} recorded"
    differ = np.argwhere(recorded.astype(np.float32) != replayed)
    if not len(differ):
        return None
    step, col = differ[0]
    return (f"losses first differ at step {step:,} ({LOSS_COLUMNS[col]} {replayed[step, col]:.9g} vs recorded "
            f"{recorded[step, col]:.9g}; {len(differ):,} values differ)")


def replay_run(run_id: str, root: Path, pool: Path, data_dir: Path, fetch: bool = False,
               progress: bool = True, say=print) -> ReplayResult:
    """Replay the MLflow run ``run_id``; ``say`` prints each check as it passes."""
    uri = tracking.tracking_uri(root)
    if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///"):]).exists():
        raise QganError(f"no MLflow store at {uri}: nothing was trained here (or set MLFLOW_TRACKING_URI)")
    client = tracking._client(root)
    with tempfile.TemporaryDirectory(prefix="qgan-replay-") as tmp_name:
        tmp = Path(tmp_name)
        record, run = load_record(client, run_id, tmp)
        result = ReplayResult(identical=False)

        def note(line: str) -> None:
            result.notes.append(line)
            say(f"  {line}")

        params, arm, seed = dict_to_params(record["params"]), record["arm"], record["seed"]
        say(f"replay {arm}-{seed} (MLflow run {run_id}; recorded generator sha256 "
            f"{record['generator_sha256'][:16]}...)")
        note(check_code(record["code"]["revision"], root))
        if record["code"].get("dirty"):
            note("code: the run's checkout had uncommitted changes in qgan/, stages/ or dvc.yaml")
        data_path, line = resolve_data(record, data_dir, tmp)
        note(line)
        normals = None
        if arm in POOL_ARMS:
            pool_file, line = resolve_pool(record, run, pool, root, fetch, tmp)
            note(line)
            pool_to_normals_file(pool_file, tmp / "normals.npy", params.convert.bits, params.convert.method,
                                 n_bytes=record["entropy"]["bytes"])
            normals = load_normals(tmp / "normals.npy")
        else:
            note(f"entropy: arm {arm} does not read the pool (its layout uses the recorded pool size "
                 f"{record['entropy']['bytes']:,} bytes)")

        recorded_rt = record["runtime"]
        device = select_device(recorded_rt["device"].split(":")[0])
        runtime = make_deterministic(recorded_rt["threads"])
        here = {"torch": runtime["torch"], "numpy": np.__version__, "python": platform.python_version()}
        drift = [f"{k} {here[k]} (recorded {recorded_rt.get(k)})" for k in here if here[k] != recorded_rt.get(k)]
        if drift:
            note("environment differs: " + ", ".join(drift))
        train = load_split(data_path, "train")
        session = open_session(params, arm, seed, len(train.labels), record["entropy"]["bytes"], normals)
        planned = session.noise.info
        if planned != {k: record["noise"]["train"].get(k) for k in planned}:
            result.differences.append(f"training noise range {planned} differs from the record's "
                                      f"{record['noise']['train']}")
        note(f"noise: training reads {planned.get('source')} normals {planned['normals']} "
             f"(reuse factor {record['noise']['reuse_factor']}); training on {device} with {recorded_rt['threads']} "
             "thread(s)")
        trained = train_run(params, session, train, device, progress)
        sha = state_dict_sha256(trained.generator)
        if sha != record["generator_sha256"]:
            result.differences.append(f"generator sha256 {sha[:16]}... (recorded {record['generator_sha256'][:16]}...)")
        problem = compare_losses(trained.losses, recorded_losses(client, run_id, len(trained.losses)))
        if problem:
            result.differences.append(problem)
        if session.noise.record()["drawn"] != record["noise"]["train"]["drawn"]:
            result.differences.append(f"{session.noise.drawn:,} training normals drawn "
                                      f"(recorded {record['noise']['train']['drawn']:,})")
        result.identical = not result.differences
        if result.identical:
            say(f"bit-identical: generator sha256 {sha} and all {trained.losses.size:,} per-step losses match "
                "the record")
        else:
            say("NOT bit-identical: " + "; ".join(result.differences) + (f"; {', '.join(drift)}" if drift else ""))
    return result

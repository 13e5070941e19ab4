"""``qgan replay RUN_ID``: re-train a recorded run from the archived entropy and prove it bit-identical.

1. Read the run's record from MLflow (``replay/run.json``: params, runtime, input digests,
   noise accounting) and its per-step losses.
2. Code: compare this checkout with the recorded revision (``git diff REV -- qgan stages
   dvc.yaml``); a difference is reported, since it may change the result, not refused.
3. Data: ``data/mnist`` if its digest is the recorded one, else rebuilt from the recorded data
   params; refused if the digest still differs.
4. Entropy (arms that read the pool): the first ``bytes`` bytes of the local pool must hash to
   the recorded sha256; else a study block's own pool that does (recorded in the study's values
   file: :func:`qgan.replay.pool_history.study_pool`); else replay refuses. With no local pool (or
   ``--fetch``) it looks for a DVC revision that records a pool at least that long (the pool is
   append-only, so any later version holds it as a prefix) and streams it from DVC's cache or remote.
5. Convert exactly that prefix with the convert stage's function, train with the recorded
   params, thread count and device, and compare the generator's sha256 and every loss.
"""
from __future__ import annotations

import json
import os
import platform
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import torch

from qgan.core import tracking
from qgan.core.errors import QganError
from qgan.core.git import CODE_PATHS, run_git
from qgan.core.numerics import differs_from, env_of_record
from qgan.core.runtime import make_deterministic, select_device
from qgan.gan.data import load_split, source_to_data_dir
from qgan.gan.models import state_dict_sha256
from qgan.gan.session import open_session, train_runs
from qgan.gan.training import LOSS_COLUMNS
from qgan.noise.arms import POOL_ARMS
from qgan.noise.convert import load_normals, pool_to_normals_file
from qgan.params import dict_to_params
from qgan.replay.pool_history import ReplayRefused, check_pool, exp_revision, fetch_pool, study_pool
from qgan.replay.record import RECORD_FORMAT, RECORD_PATH

POOL_PATH = "data/entropy/pool.bin"  # the harvest stage's pool, relative to the repo root


class NumericsDiffer(Exception):
    """The run was recorded with other CPU numerics than this process runs: replay must restart
    with ``env`` (values None: unset) before torch loads; ``qgan replay`` does so itself."""

    def __init__(self, env: dict[str, str | None]):
        super().__init__("CPU numerics differ from the record")
        self.env = env


@dataclass
class ReplayResult:
    identical: bool
    notes: list[str] = field(default_factory=list)       # what was checked, in order
    differences: list[str] = field(default_factory=list)  # what differs from the record


def safe_uri(uri: str) -> str:
    """A tracking URI without user info, query or fragment (where tokens hide), for messages."""
    parts = urlsplit(uri)
    if not parts.netloc:
        return parts._replace(query="", fragment="").geturl()
    host = parts.hostname or ""
    return parts._replace(netloc=f"{host}:{parts.port}" if parts.port else host, query="", fragment="").geturl()


def load_record(client, run_id: str, tmp: Path) -> tuple[dict, object]:
    """The run's replay record and the MLflow run."""
    from mlflow.exceptions import MlflowException
    try:
        run = client.get_run(run_id)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        raise QganError(f"MLflow run {run_id!r} not found in {safe_uri(client.tracking_uri)}") from None
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
    if run_git(root, "cat-file", "-e", f"{revision}^{{commit}}") is None:
        return f"code: recorded revision {revision[:12]} is not in this repository; replaying with this checkout"
    changed = run_git(root, "diff", "--name-only", revision, "--", *CODE_PATHS)
    if changed is None:
        return f"code: could not compare this checkout with the recorded revision {revision[:12]} (git failed)"
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
    rebuilt = source_to_data_dir(cfg, tmp / "data")
    if rebuilt["digest"] != want:
        raise ReplayRefused(f"replay refused: the {cfg.source} data rebuilt from the recorded params has digest "
                            f"{rebuilt['digest'][:12]}, the run recorded {want[:12]}")
    return tmp / "data", f"data: {data_dir} differs or is missing; rebuilt from {cfg.source} (digest {want[:12]})"


def resolve_pool(record: dict, run, pool: Path, root: Path, fetch: bool, tmp: Path) -> tuple[Path, str]:
    """A file whose first ``entropy.bytes`` bytes are the run's pool, refusing on any mismatch."""
    n_bytes, sha = record["entropy"]["bytes"], record["entropy"]["sha256"]
    problem = check_pool(pool, n_bytes, sha) if pool.exists() and not fetch else "not used"
    if problem is None:
        return pool, f"entropy: {pool}: the first {n_bytes:,} bytes hash to the recorded sha256 {sha[:16]}..."
    found = study_pool(root, n_bytes, sha)   # a study's block ran on a pool of its own
    if found:
        return found
    if pool.exists() and not fetch:
        raise ReplayRefused(f"replay refused: {pool}: {problem}; the archive changed since the run "
                            f"(restore it with `dvc checkout`, or replay with --fetch to take it from DVC)")
    tags = run.data.tags
    hints = [r for r in (exp_revision(root, tags.get(tracking.TAG_DVC_EXP_NAME)), tags.get(tracking.TAG_GIT_COMMIT))
             if r]
    rel = os.path.relpath(os.path.abspath(pool), os.path.abspath(root))  # not resolve(): DVC links into its cache
    if rel.startswith(".."):
        rel = POOL_PATH
    return fetch_pool(root, rel, n_bytes, sha, hints, tmp)


def recorded_losses(client, run_id: str) -> np.ndarray | None:
    """The run's per-step losses ``(steps, 3)`` from its metric history (None if a step is missing)."""
    history = {key: {m.step: m.value for m in client.get_metric_history(run_id, key)} for key in LOSS_COLUMNS}
    steps = max((max(h, default=-1) for h in history.values()), default=-1) + 1
    if any(len(h) != steps for h in history.values()):
        return None
    return np.array([[history[key][step] for key in LOSS_COLUMNS] for step in range(steps)], dtype=np.float64)


def compare_losses(replayed: np.ndarray, recorded: np.ndarray | None) -> str | None:
    """None if every loss matches to the bit (as float32; NaN matches NaN), else where they first differ."""
    if recorded is None:
        return "the record's per-step losses are incomplete"
    if recorded.shape != replayed.shape:
        return f"{len(replayed):,} steps replayed, {len(recorded):,} recorded"
    recorded = recorded.astype(np.float32)
    differ = np.argwhere((recorded != replayed) & ~(np.isnan(recorded) & np.isnan(replayed)))
    if not len(differ):
        return None
    step, col = differ[0]
    return (f"losses first differ at step {step:,} ({LOSS_COLUMNS[col]} {replayed[step, col]:.9g} vs recorded "
            f"{recorded[step, col]:.9g}; {len(differ):,} values differ)")


def replay_run(run_id: str, root: Path, pool: Path, data_dir: Path, fetch: bool = False,
               progress: bool = True, say=print) -> ReplayResult:
    """Replay the MLflow run ``run_id``; ``say`` prints each check as it passes. An MLflow error
    (a store that does not answer, say) becomes one :class:`QganError` line without credentials."""
    from mlflow.exceptions import MlflowException

    uri = tracking.tracking_uri(root)
    if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///"):]).exists():
        raise QganError(f"no MLflow store at {uri}: nothing was trained here (or set MLFLOW_TRACKING_URI)")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    try:
        return _replay(run_id, root, pool, data_dir, fetch, progress, say, tracking.client(root))
    except MlflowException as exc:
        raise QganError(f"MLflow store {safe_uri(uri)} failed ({exc.error_code}); nothing was replayed") from None


def prepare_inputs(record: dict, run, root: Path, pool: Path, data_dir: Path, fetch: bool, tmp: Path,
                   note) -> tuple[Path, np.ndarray | None]:
    """Check the code, resolve the data folder and (for arms that read it) the pool prefix, converted;
    ``note`` says each check. Returns the data folder and the normals (None: the arm reads no pool)."""
    params, arm = dict_to_params(record["params"]), record["arm"]
    note(check_code(record["code"]["revision"], root))
    if record["code"].get("dirty"):
        note("code: the run's checkout had uncommitted changes in qgan/, stages/ or dvc.yaml")
    data_path, line = resolve_data(record, data_dir, tmp)
    note(line)
    if arm not in POOL_ARMS:
        note(f"entropy: arm {arm} does not read the pool (its layout uses the recorded training span of "
             f"{record['noise']['train_span']:,} normals)")
        return data_path, None
    pool_file, line = resolve_pool(record, run, pool, root, fetch, tmp)
    note(line)
    pool_to_normals_file(pool_file, tmp / "normals.npy", params.convert.bits, params.convert.method,
                         n_bytes=record["entropy"]["bytes"])
    return data_path, load_normals(tmp / "normals.npy")


def differences_from_record(record: dict, sha: str, losses: np.ndarray, recorded: np.ndarray | None,
                            drawn: int) -> list[str]:
    """What the replay produced that the record does not say: sha256, losses, normals drawn."""
    out = []
    if sha != record["generator_sha256"]:
        out.append(f"generator sha256 {sha[:16]}... (recorded {record['generator_sha256'][:16]}...)")
    problem = compare_losses(losses, recorded)
    if problem:
        out.append(problem)
    if drawn != record["noise"]["train"]["drawn"]:
        out.append(f"{drawn:,} training normals drawn (recorded {record['noise']['train']['drawn']:,})")
    return out


def replay_group(record: dict, device_kind: str, note) -> tuple[list[int], int]:
    """The seeds to train again and the run's position among them. On the CPU a model's weights
    do not depend on its group (tests/gan/test_training.py), so the run trains alone; on CUDA
    batched kernels may round with the group's size, so the whole recorded group trains again."""
    group = record["group"]  # every format-2 record has it
    if group["size"] == 1:
        return [record["seed"]], 0
    if device_kind == "cpu":
        note(f"group: trained in block {group['block']} ({group['size']} models, position {group['position']}); "
             "replayed alone (on the CPU a model does not depend on its group)")
        return [record["seed"]], 0
    note(f"group: re-training the whole block {group['block']} ({group['size']} models) as recorded")
    return list(group["seeds"]), group["position"]


def _replay(run_id: str, root: Path, pool: Path, data_dir: Path, fetch: bool, progress: bool, say,
            client) -> ReplayResult:
    """:func:`replay_run` with a client."""
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
        recorded_rt = record["runtime"]
        want = env_of_record(recorded_rt)
        if differs_from(want):
            raise NumericsDiffer(want)
        note(f"numerics: {recorded_rt.get('numerics', 'native (recorded before qgan pinned numerics)')} CPU "
             f"numerics, as recorded (ATen {recorded_rt.get('aten_cpu_capability', 'not recorded')})")
        kind = recorded_rt["device"].split(":")[0]
        if kind == "cuda" and not torch.cuda.is_available():  # before any input is prepared
            raise ReplayRefused("replay refused: the run trained on CUDA and this machine has none; bit-identity "
                                "holds only on the device type it was recorded on")
        data_path, normals = prepare_inputs(record, run, root, pool, data_dir, fetch, tmp, note)
        device = select_device(kind)
        runtime = make_deterministic(recorded_rt["threads"])
        here = {"torch": runtime["torch"], "numpy": np.__version__, "python": platform.python_version()}
        if "cpu" in recorded_rt:  # another CPU vendor gives other bits even with pinned numerics
            here["cpu"] = runtime["cpu"]
        drift = [f"{k} {here[k]} (recorded {recorded_rt.get(k)})" for k in here if here[k] != recorded_rt.get(k)]
        if drift:
            note("environment differs: " + ", ".join(drift))
        train = load_split(data_path, "train")
        seeds, position = replay_group(record, kind, note)
        sessions = [open_session(params, arm, s, len(train.labels), record["noise"]["train_span"], normals)
                    for s in seeds]
        session = sessions[position]
        planned = session.noise.info
        if planned != {k: record["noise"]["train"].get(k) for k in planned}:
            result.differences.append(f"training noise range {planned} differs from the record's "
                                      f"{record['noise']['train']}")
        note(f"noise: training reads {planned.get('source')} normals {planned['normals']} "
             f"(reuse factor {record['noise']['reuse_factor']}); training on {device} with {recorded_rt['threads']} "
             "thread(s)")
        trained = train_runs(params, sessions, train, device, progress)[position]
        sha = state_dict_sha256(trained.generator)
        result.differences += differences_from_record(record, sha, trained.losses, recorded_losses(client, run_id),
                                                      session.noise.drawn)
        result.identical = not result.differences
        if result.identical:
            say(f"bit-identical: generator sha256 {sha} and all {trained.losses.size:,} per-step losses match "
                "the record")
        else:
            say("NOT bit-identical: " + "; ".join(result.differences) + (f"; {', '.join(drift)}" if drift else ""))
    return result

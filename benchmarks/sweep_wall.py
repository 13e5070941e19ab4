"""Wall time of ``qgan sweep --workers W`` against a sequential ``dvc repro`` of the same items, side by side.

Both start from copies of one repo whose upstream stages ran (the same pool, data and slices):
the full MNIST, ``train.seeds`` as ``--seeds`` blocks of ``--block`` (2 arms, so 2 x seeds/block
items), ``--epochs`` epochs, ``train.threads`` = ``--threads`` (W workers x T threads should fit the
cores: results depend on T, so both sides use the same). Sequential: ``dvc repro train`` (the
items), then ``dvc repro`` (classifier, evaluate, report). Sweep: :func:`qgan.sweep.sweep.run_sweep`
with a LocalCluster of W workers and the repo's cache as the remote; its parts are its own timers.
Both must end with the same ``dvc.lock`` (checked). From the measured per-item worker time and
the rest, it prints the seeds per hour the design reaches on N workers of this machine's kind,
and last ``ratio <sweep wall / sequential wall>`` (below 1: the sweep is faster).
Run: ``.venv/bin/python benchmarks/sweep_wall.py [--workers 2 --threads 1 --epochs 1 --seeds 4 --block 1]``
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
       "MLFLOW_DISABLE_TELEMETRY": "true", "DVC_NO_ANALYTICS": "1"}
for var in ("MLFLOW_TRACKING_URI", "DVC_ROOT", "DASK_SCHEDULER_ADDRESS"):
    ENV.pop(var, None)


def sh(cwd: Path, *cmd: str) -> float:
    """Run ``cmd``; its wall seconds (fails loudly)."""
    start = time.perf_counter()
    out = subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{' '.join(cmd)} exited {out.returncode}: {out.stderr[-2000:]}")
    return time.perf_counter() - start


def make_repo(repo: Path, args) -> None:
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split()
    for name in files:
        if (ROOT / name).is_file() and not name.startswith(("dvc.lock", "metrics/", "reports/", "docs/")):
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, repo / name)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    blocks = [f"{s}-{s + args.block - 1}" if args.block > 1 else s for s in range(0, args.seeds, args.block)]
    params["train"].update(seeds=blocks, epochs=args.epochs, threads=args.threads)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    sh(repo, "git", "init", "-q", "-b", "main")
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "-c", "user.name=b", "-c", "user.email=b@b.invalid", "commit", "-qm", "bench")
    sh(repo, "dvc", "repro", "data", "slice")     # upstream, once: both sides start from here


def stage_seconds(log: str) -> float:
    """The train stage's own time in an item's log: its printed loop and around-the-loop seconds."""
    line = next(x for x in log.splitlines() if ": training loop " in x)
    loop = float(line.split(": training loop ")[1].split(" s")[0])
    around = float(line.split("; ")[-1].split(" s around")[0])
    return loop + around


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="train.threads on both sides")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--block", type=int, default=1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="qgan-sweep-bench-") as tmp:
        base = Path(tmp) / "base"
        make_repo(base, args)
        seq, swp = Path(tmp) / "seq", Path(tmp) / "sweep"
        shutil.copytree(base, seq, symlinks=True)
        shutil.copytree(base, swp, symlinks=True)
        items = 2 * len(range(0, args.seeds, args.block))

        seq_items = sh(seq, "dvc", "repro", "train")
        seq_rest = sh(seq, "dvc", "repro")
        start = time.perf_counter()
        code = ("import json, sys; from pathlib import Path; from qgan.sweep.sweep import SweepOptions, run_sweep; "
                f"r = run_sweep(Path('.'), SweepOptions(workers={args.workers}, progress=False)); "
                "print(json.dumps({'seconds': r.seconds, 'items': [[i.item, i.seconds, i.trained, i.log] "
                "for i in r.done]}))")
        out = subprocess.run([sys.executable, "-c", code], cwd=swp, env=ENV, capture_output=True, text=True)
        sweep_wall = time.perf_counter() - start
        if out.returncode:
            raise SystemExit(f"sweep failed: {out.stderr[-2000:]}")
        result = json.loads(out.stdout.strip().splitlines()[-1])
        logs = {log: Path(log.split(":", 1)[1]).read_text() for _, _, _, log in result["items"]}
        same = (yaml.safe_load((seq / "dvc.lock").read_text()) == yaml.safe_load((swp / "dvc.lock").read_text()))

    seq_wall = seq_items + seq_rest
    per_item = sum(s for _, s, _, _ in result["items"]) / len(result["items"])
    stage = [stage_seconds(text) for text in logs.values()]
    outside = per_item - sum(stage) / len(stage)     # clone, git apply, dvc pull, DVC and python start-up, push
    print(f"config: {items} items (2 arms x {args.seeds} seeds in blocks of {args.block}), {args.epochs} epoch(s) "
          f"of the full MNIST, train.threads {args.threads}, {os.cpu_count()} CPUs")
    print(f"sequential dvc repro: items {seq_items:.1f} s ({seq_items / items:.1f} s an item), "
          f"the rest {seq_rest:.1f} s, total {seq_wall:.1f} s")
    print(f"qgan sweep --workers {args.workers}: upstream check {result['seconds']['upstream']:.1f} s, fan-out "
          f"{result['seconds']['fan_out']:.1f} s ({per_item:.1f} s an item on a worker: clone, pull, train, push), "
          f"final dvc repro {result['seconds']['final']:.1f} s, total {sweep_wall:.1f} s")
    print(f"an item on a worker: {per_item:.1f} s, of which the train stage {per_item - outside:.1f} s and "
          f"{outside:.1f} s around it (clone, dvc pull, DVC and Python start-up, dvc push)")
    print(f"same dvc.lock on both sides: {same}")
    train_per_seed = 2 * per_item / args.block            # worker-seconds of both arms' items for a paired seed
    head_per_seed = result["seconds"]["final"] / args.seeds   # restore, evaluate, report: on the head, serial
    for n in (1, 2, 8, 32):
        print(f"projected on {n:>2} workers like these: {3600 / (train_per_seed / n + head_per_seed):,.0f} paired "
              f"seeds per hour (training {train_per_seed:.0f} worker-s a paired seed, spread; the head's "
              f"{head_per_seed:.0f} s a paired seed, not spread)")
    print(f"ratio {sweep_wall / seq_wall:.3f}")


if __name__ == "__main__":
    main()

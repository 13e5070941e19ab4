"""The ``qgan`` command. The one module of the package that parses arguments."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from qgan.core.metric_registry import INFERENCES
from qgan.core.numerics import pin_cpu_numerics
from qgan.core.stage import run_stage
from qgan.noise.arms import BASELINE_ARM


def cmd_budget(args: argparse.Namespace) -> None:
    """Print how much noise each run draws, and what the pool holds and lacks."""
    from qgan.params import load_params
    from qgan.pipeline.budget import budget_rows

    rows = budget_rows(load_params(args.params), Path(args.pool))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")


def cmd_emulate(args: argparse.Namespace) -> None:
    """Serve a QRNG web API on 127.0.0.1 until interrupted."""
    import os
    import signal
    import threading

    from qgan.core.errors import QganError
    from qgan.entropy.emulator import MALFORMED, Emulator, EmulatorConfig

    kinds = tuple(k for k in args.malformed.split(",") if k)
    bad = [k for k in kinds if k not in MALFORMED]
    if bad:
        raise QganError(f"--malformed: {bad[0]!r} is not a kind (known: {', '.join(MALFORMED)})")
    token = os.environ.get(args.token_env) if args.token_env else None
    if args.token_env and not token:
        raise QganError(f"--token-env: {args.token_env} is not set")
    config = EmulatorConfig(api=args.api, latency=args.latency, cap=args.cap, rate_limit=args.rate_limit,
                            error_rate=args.error_rate, malformed_rate=args.malformed_rate, malformed=kinds,
                            throttle_text_rate=args.throttle_text_rate, drop_rate=args.drop_rate,
                            hang_rate=args.hang_rate, hang=args.hang, stuck=args.stuck, token=token, seed=args.seed)
    try:
        emulator = Emulator(config, args.port)
    except OSError as exc:
        raise QganError(f"--port {args.port}: cannot listen on 127.0.0.1 ({exc.strerror})") from None
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(f"qgan emulate: {args.api} at {emulator.url} (127.0.0.1 only; answers marked emulated, never quantum); "
          f"point harvest.url there. Ctrl-C stops.", flush=True)
    stop.wait()
    emulator.close()
    print(f"qgan emulate: served {len(emulator.served)} good answers to {emulator.requests} requests; "
          f"faults {emulator.faults}")


def cmd_replay(args: argparse.Namespace) -> int:
    """Re-train a recorded run and say whether it is bit-identical (0), differs (1) or was refused (2)."""
    import os

    from qgan.core.errors import QganError
    from qgan.core.tracking import project_root
    from qgan.replay.replay import POOL_PATH, NumericsDiffer, replay_run

    root = project_root()
    pool = Path(args.pool) if args.pool else root / POOL_PATH
    data = Path(args.data) if args.data else root / "data" / "mnist"
    try:
        result = replay_run(args.run_id, root, pool, data, fetch=args.fetch, progress=not args.quiet)
    except NumericsDiffer as differ:  # restart with the recorded numerics: they apply only before torch loads
        if os.environ.get(REEXEC) or not args.own_process:
            raise QganError("replay: the run's recorded CPU numerics differ from this process's and cannot be "
                            "applied here; run `qgan replay` as a command") from None
        env = {k: v for k, v in os.environ.items() if k not in differ.env}
        env.update({k: v for k, v in differ.env.items() if v is not None}, **{REEXEC: "1"})
        print("replay: restarting with the run's recorded CPU numerics", flush=True)
        os.execve(sys.executable, [sys.executable, "-m", "qgan.cli", *args.argv], env)
    return 0 if result.identical else 1


REEXEC = "QGAN_REPLAY_REEXEC"  # set in a replay restarted with the recorded numerics (never restarts twice)


def file_design(path: Path) -> dict | None:
    """The design a study's values file was judged under (its ``identity.design``), else None."""
    import json
    if path.suffix != ".json":
        return None
    try:
        return json.loads(path.read_text()).get("identity", {}).get("design")
    except (OSError, ValueError, AttributeError):
        return None   # not a study's file: pilot_to_values says what is wrong with it


def design_from(args: argparse.Namespace, base_design: dict | None = None):
    """The verdict's design: ``base_design`` (a study's) or ``params.yaml``'s ``evaluate.*`` (its defaults
    if there is no file), each option overriding; checked as params are (one line naming the key)."""
    from qgan.decision.verdict import Design
    from qgan.params import EvaluateConfig, load_params

    if base_design is not None:
        base = EvaluateConfig.from_dict(base_design, where=f"{args.values}: identity.design")
    else:
        base = load_params(args.params).evaluate if Path(args.params).exists() else EvaluateConfig()
    options = {"primary": args.primary, "margin": args.margin, "alpha": args.alpha, "inference": args.inference,
               "diversity_margin": args.diversity_margin}
    merged = {**base.to_dict(), **{k: v for k, v in options.items() if v is not None}}
    if args.diversity is not None or args.primary is not None:  # --primary alone judges that one metric alone
        merged["diversity"] = None if args.diversity in (None, "none") else args.diversity
    return Design.from_params(EvaluateConfig.from_dict(merged, where=f"qgan {args.command} options"), args.baseline)


def cmd_compare(args: argparse.Namespace) -> None:
    """Judge a CSV of per-seed results exactly as the evaluate stage does."""
    import json

    from qgan.decision.plan import pilot_to_values
    from qgan.decision.verdict import values_to_verdicts
    from qgan.decision.verdict_text import endpoints_of, interval_text

    verdicts = values_to_verdicts(pilot_to_values(Path(args.values)), design_from(args, file_design(Path(args.values))))
    if args.json:
        print(json.dumps(verdicts, indent=2, allow_nan=False, default=str))
        return
    d = verdicts["design"]
    family = f"primary {d['primary']} (margin ±{d['margin']:g})" + (
        f" and diversity {d['diversity']} (margin ±{d['diversity_margin']:g}), Holm" if d["diversity"] else "")
    print(f"{family}, alpha {d['alpha']:g}, {d['inference']} inference; differences are arm - {d['baseline']}")
    for name, c in verdicts["comparisons"].items():
        ends = "; ".join(f"{e['metric']} {interval_text(e)} {e['verdict']}" for e in endpoints_of(c))
        print(f"{name:<28} {c['verdict']:<13} n={c['primary']['n_seeds']:<4} {ends}")


def cmd_plan(args: argparse.Namespace) -> None:
    """Seeds, runs and hours a verdict needs, from a pilot."""
    from qgan.decision.plan import pilot_to_values, plan_design
    from qgan.decision.verdict_text import need_text
    from qgan.pipeline.runs import mlflow_values, seconds_per_run

    design = design_from(args)
    values = mlflow_values(tuple(design.endpoints)) if args.mlflow else pilot_to_values(Path(args.pilot))
    seconds = args.seconds_per_run or seconds_per_run()
    plan = plan_design(values, design, args.power, args.arms or len(values), seconds)
    print(f"design: {' and '.join(design.endpoints)}, alpha {design.alpha:g}, {design.inference} "
          f"inference, power {args.power:g}; {plan['arms']} arms trained per seed; "
          + (f"{seconds:.1f} s per training run ({'given' if args.seconds_per_run else 'median recorded here'})"
             if seconds else
             "no per-run time recorded (pass --seconds-per-run)"))
    for name, c in plan["comparisons"].items():
        need, lo, hi = c["seeds_needed"]["sd"], c["seeds_needed"]["sd_low"], c["seeds_needed"]["sd_high"]
        for metric, e in c["endpoints"].items():
            print(f"{name} {metric}: pilot {e['pilot_seeds']} seeds, sd of differences {e['sd']:.3g} "
                  f"(95%: {e['sd_interval'][0]:.3g}-{e['sd_interval'][1]:.3g}), margin ±{e['margin']:g}")
        for goal, words in (("detect", "detect a difference of one margin"),
                            ("equivalent", "show equivalence within the margins")):
            cost = c["cost"][goal]
            spent = "" if cost is None else f" = {cost['runs']} training runs" + (
                f", {cost['hours']:.1f} h here" if cost["hours"] is not None else "")
            print(f"  to {words}: {need_text(need[goal])} seeds{spent} (sd range: {need_text(lo[goal])}-"
                  f"{need_text(hi[goal])})")


def cmd_score(args: argparse.Namespace) -> None:
    """Score a set of images on the project's instrument against the test split."""
    import json

    from qgan.params import dict_to_params, load_params
    from qgan.pipeline.score import run_score, score_to_lines

    params = load_params(args.params) if Path(args.params).exists() else dict_to_params({})
    result = run_score(params, Path(args.images), Path(args.classifier), Path(args.data),
                       Path(args.classifier_metrics))
    print(json.dumps(result, indent=2) if args.json else "\n".join(score_to_lines(result)))


def runs_table_url(root: Path, port: int) -> str:
    """The experiment's runs table in MLflow's "Model training" view (MLflow 3 opens experiments in
    its GenAI traces view otherwise)."""
    from qgan.core.tracking import experiment_id

    return (f"http://127.0.0.1:{port}/#/experiments/{experiment_id(root)}"
            "?workflowType=machine_learning")


def cmd_ui(args: argparse.Namespace) -> None:
    """Start ``mlflow ui`` on 127.0.0.1 against the project's store (replaces this process)."""
    import os

    from qgan.core.errors import QganError
    from qgan.core.tracking import project_root, tracking_uri

    root = project_root()
    uri = tracking_uri(root)
    if not uri.startswith("sqlite:"):
        raise QganError("MLFLOW_TRACKING_URI names a tracking server; open that server's UI instead")
    print(f"qgan ui: MLflow UI at http://127.0.0.1:{args.port} (store {uri}); Ctrl-C stops\n"
          f"qgan ui: the runs table: {runs_table_url(root, args.port)}", flush=True)
    os.execv(sys.executable, [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri,
                              "--default-artifact-root", (root / "mlruns").as_uri(), "--host", "127.0.0.1",
                              "--port", str(args.port)])


def cmd_sweep(args: argparse.Namespace) -> None:
    """Run the pending training items on Dask, then the rest of the pipeline once."""
    from qgan.core.tracking import project_root
    from qgan.sweep.sweep import SweepOptions, run_sweep, summary_lines

    options = SweepOptions(args.workers, args.threads_per_worker, args.scheduler, args.remote, args.repo,
                           args.retries, not args.quiet)
    print("\n".join(summary_lines(run_sweep(project_root(), options))))


def study_cluster(args: argparse.Namespace):
    """Sweep options when a cluster is configured (``--workers``, ``--scheduler`` or
    ``$DASK_SCHEDULER_ADDRESS``), else None: blocks run with ``dvc repro`` here."""
    import os

    from qgan.sweep.sweep import SCHEDULER_ENV, SweepOptions

    if args.workers is None and not args.scheduler and not os.environ.get(SCHEDULER_ENV):
        return None
    return SweepOptions(args.workers or 2, args.threads_per_worker, args.scheduler, args.remote, args.repo,
                        args.retries, False)


def cmd_study_run(args: argparse.Namespace) -> None:
    """Run a study's blocks until its verdict is in, its seed cap or its budget is reached."""
    from qgan.core.tracking import project_root
    from qgan.pipeline.runs import seconds_per_run
    from qgan.study.mlflow_log import log_study
    from qgan.study.record import open_record, write_record
    from qgan.study.runner import run_study
    from qgan.study.spec import load_study, study_identity
    from qgan.study.summary import save_study_figures, start_plan
    from qgan.study.workspace import DvcBlocks, describe_cluster, lock_study

    root = project_root()
    study = load_study(root, args.name)
    cluster = study_cluster(args)
    with lock_study(root, study.name):
        known = {}
        if study.params.classifier.source == "versioned":   # the extractor is known before training: refuse early
            from qgan.scoring.classifier import SHIPPED_PROVENANCE
            known["extractor_sha256"] = SHIPPED_PROVENANCE["extractor_sha256"]
        record = open_record(study.values_path, study.name, study_identity(study), lambda: start_plan(
            study, root, args.seconds_per_run or (seconds_per_run(root) if study.spec.pilot else None)), known)
        s, design = study.spec, study.params.evaluate
        print(f"study {study.name}: {s.arm} vs prng on {' and '.join(design.family)} ({design.inference}, alpha "
              f"{design.alpha:g}); {len(record['blocks'])} block(s) on file; blocks of {s.block_size} seeds, at most "
              f"{s.max_seeds} seeds and {s.budget_hours:g} h; {describe_cluster(cluster)}", flush=True)
        blocks = DvcBlocks(root, study, cluster, progress=not args.quiet)
        blocks.forget_recorded(record)
        run_study(study, record, lambda r: write_record(study.values_path, r), blocks, args.max_blocks,
                  say=lambda line: print(line, flush=True),
                  saved=lambda r: log_study(root, r, save_study_figures(r, study.folder), study.values_path))


def cmd_study_show(args: argparse.Namespace) -> None:
    """A study's verdicts, looks, controls and cost, from its values file alone."""
    import json

    from qgan.core.errors import QganError
    from qgan.core.tracking import project_root
    from qgan.study.record import read_record
    from qgan.study.spec import NAME, STUDIES, load_study
    from qgan.study.summary import save_study_figures, show_lines

    root = project_root()
    if not NAME.fullmatch(args.name):
        raise QganError(f"study name {args.name!r} is not allowed (lowercase letters, digits, '.', '_', '-')")
    path = root / STUDIES / args.name / "values.json"
    record = read_record(path)
    if record is None:
        raise QganError(f"{path.relative_to(root)}: no values file (run `qgan study run {args.name}` first)")
    if args.json:
        print(json.dumps(record, indent=2))
        return
    try:   # the spec only adds the cap and the budget: the file alone is enough
        spec = load_study(root, args.name).spec
    except QganError:
        spec = None
    print("\n".join(show_lines(args.name, record, spec)))
    for figure in save_study_figures(record, path.parent):
        print(f"figure: {figure.relative_to(root)}")


def cmd_server(args: argparse.Namespace) -> None:
    """PostgreSQL and an MLflow server on it, until interrupted."""
    import signal
    import threading

    from qgan.sweep.servers import tracking_server

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with tracking_server(Path(args.dir), args.host, args.port, args.db_port, args.workers) as url:
        print(f"qgan server: MLflow on PostgreSQL at {url} (store and artifacts in {args.dir}); Ctrl-C stops\n"
              f"export MLFLOW_TRACKING_URI={url}", flush=True)
        stop.wait()
    print("qgan server: stopped (MLflow server and PostgreSQL)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qgan", description="qgan: QRNG vs PRNG latent noise for GANs, run by DVC and tracked by MLflow. "
                                 "The pipeline itself runs with `dvc repro`.")
    parser.add_argument("--version", action="version", version=f"qgan {__import__('qgan').__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    budget = sub.add_parser("budget", help="normals and bytes each run draws; pool size and deficit")
    budget.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    budget.add_argument("--pool", default="data/entropy/pool.bin", help="entropy pool (default: %(default)s)")
    budget.set_defaults(func=cmd_budget)

    emu = sub.add_parser("emulate", help="serve a QRNG web API (eaas or anu) on 127.0.0.1, with optional faults")
    emu.add_argument("--api", choices=["eaas", "anu"], required=True, help="wire format to speak")
    emu.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (0: any free port)")
    emu.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    emu.add_argument("--cap", type=int, default=None, help="largest request served, else HTTP 400 (default: the API's)")
    emu.add_argument("--rate-limit", type=float, default=None, help="requests per second; faster ones get 429")
    emu.add_argument("--error-rate", type=float, default=0.0, help="fraction answered 500 or 503")
    emu.add_argument("--malformed-rate", type=float, default=0.0, help="fraction answered with a malformed body")
    emu.add_argument("--malformed", default="bad_json,missing_field,bad_base64,short,long",
                     help="malformed kinds to draw from (comma-separated)")
    emu.add_argument("--throttle-text-rate", type=float, default=0.0, help="fraction answered with a text throttle")
    emu.add_argument("--drop-rate", type=float, default=0.0, help="fraction of connections dropped")
    emu.add_argument("--hang-rate", type=float, default=0.0, help="fraction answered only after --hang seconds")
    emu.add_argument("--hang", type=float, default=30.0, help="seconds a hung answer takes")
    emu.add_argument("--stuck", action="store_true", help="repeat the first answer's bytes forever")
    emu.add_argument("--token-env", default=None,
                     help="environment variable holding the token to require (default: any token)")
    emu.add_argument("--seed", type=int, default=0, help="seed of the bytes and of the fault draws")
    emu.set_defaults(func=cmd_emulate)

    rep = sub.add_parser("replay", help="re-train a recorded MLflow run from the archived entropy; exit 0 if the "
                                        "generator is bit-identical, 1 if not, 2 if an input differs (refused)")
    rep.add_argument("run_id", help="the MLflow run id of a training run (an arm-seed child run)")
    rep.add_argument("--pool", default=None, help="entropy pool (default: <repo>/data/entropy/pool.bin)")
    rep.add_argument("--data", default=None, help="data stage folder (default: <repo>/data/mnist; rebuilt if its "
                                                  "digest differs)")
    rep.add_argument("--fetch", action="store_true", help="take the pool from DVC (cache or remote) at a revision "
                                                          "that recorded it, even if a local pool exists")
    rep.add_argument("--quiet", action="store_true", help="no progress bar")
    rep.set_defaults(func=cmd_replay)

    def design_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--params", default="params.yaml", help="defaults from evaluate.* (default: %(default)s)")
        p.add_argument("--baseline", default=BASELINE_ARM, help="arm the others are compared with (default: "
                                                                "%(default)s)")
        p.add_argument("--primary", default=None, help="quality endpoint (default: evaluate.primary); given alone, "
                                                       "it is judged alone")
        p.add_argument("--margin", type=float, default=None, help="its equivalence margin in the metric's units")
        p.add_argument("--diversity", default=None, help="diversity endpoint judged with it (Holm), or none "
                                                         "(default: evaluate.diversity)")
        p.add_argument("--diversity-margin", type=float, default=None, help="its equivalence margin")
        p.add_argument("--alpha", type=float, default=None, help="level (default: evaluate.alpha)")
        p.add_argument("--inference", choices=INFERENCES, default=None,
                       help="anytime: any distribution, median, any number of looks; anytime_gaussian: the same "
                            "for the mean of Gaussian differences; fixed: n set in advance")

    cmp = sub.add_parser("compare", help="judge per-seed results (a CSV, an evaluate.json or a study's values.json) "
                                         "as evaluate does")
    cmp.add_argument("values", help="CSV with columns arm,seed,metric,value, or a JSON file with per-seed values "
                                    "(metrics/evaluate.json, studies/<name>/values.json: judged by default under "
                                    "the study's design)")
    design_options(cmp)
    cmp.add_argument("--json", action="store_true", help="print the verdicts as JSON")
    cmp.set_defaults(func=cmd_compare)

    plan = sub.add_parser("plan", help="seeds, training runs and hours a verdict needs, from a pilot")
    plan.add_argument("--pilot", default="metrics/evaluate.json", help="evaluate.json or values CSV (default: "
                                                                        "%(default)s)")
    plan.add_argument("--mlflow", action="store_true", help="take the pilot from the MLflow store's runs instead")
    plan.add_argument("--power", type=float, default=0.8, help="power wanted (default: %(default)s)")
    plan.add_argument("--arms", type=int, default=None, help="arms trained per seed (default: the pilot's)")
    plan.add_argument("--seconds-per-run", type=float, default=None,
                      help="training seconds per run (default: the median recorded in the MLflow store)")
    design_options(plan)
    plan.set_defaults(func=cmd_plan)

    sc = sub.add_parser("score", help="score images made anywhere (.npy, .npz or a folder of PNGs) with the "
                                      "versioned extractor against the test split")
    sc.add_argument("images", help="(N, 28, 28), (N, 1, 28, 28) or (N, 784) as uint8, or floats in [0, 1] or "
                                   "[-1, 1]; or a folder of 28x28 grayscale PNGs")
    sc.add_argument("--params", default="params.yaml", help="evaluate.* settings (default: %(default)s)")
    sc.add_argument("--classifier", default="models/classifier.pt", help="extractor (default: %(default)s)")
    sc.add_argument("--classifier-metrics", default="metrics/classifier.json", help="its recorded digest")
    sc.add_argument("--data", default="data/mnist", help="the data stage's folder (default: %(default)s)")
    sc.add_argument("--json", action="store_true", help="print the scores as JSON")
    sc.set_defaults(func=cmd_score)

    def positive(text: str) -> int:
        if not text.isdigit() or int(text) < 1:
            raise argparse.ArgumentTypeError(f"{text!r} is not allowed (an integer >= 1)")
        return int(text)

    def cluster_options(p: argparse.ArgumentParser, workers: int | None, workers_help: str) -> None:
        """qgan sweep's options (also a study's, whose blocks go through qgan sweep when a cluster is set)."""
        p.add_argument("--workers", type=positive, default=workers, help=workers_help)
        p.add_argument("--threads-per-worker", type=int, default=1,
                       help="items at once per worker (default: %(default)s; each uses train.threads torch threads)")
        p.add_argument("--scheduler", help="address of a running Dask scheduler (else $DASK_SCHEDULER_ADDRESS)")
        p.add_argument("--remote", help="DVC remote for inputs, outputs and run-cache (default: the repo's default; "
                                        "none: this machine's cache)")
        p.add_argument("--repo", help="git URL the workers clone (default: this repo's path)")
        p.add_argument("--retries", type=int, default=2, help="extra attempts of a failing item (default: %(default)s)")
        p.add_argument("--quiet", action="store_true", help="no progress bar")

    sw = sub.add_parser("sweep", help="train the pending train@ items on Dask (LocalCluster or --scheduler), "
                                      "then dvc repro the rest: the workspace a sequential dvc repro leaves")
    cluster_options(sw, 2, "LocalCluster worker processes (default: %(default)s)")
    sw.set_defaults(func=cmd_sweep)

    study = sub.add_parser("study", help="a study run to its verdict, block by block, resumable anywhere "
                                         "(studies/<name>.yaml; values in studies/<name>/values.json)")
    study_sub = study.add_subparsers(dest="study_command", required=True)
    srun = study_sub.add_parser("run", help="train and evaluate the next blocks until the verdict is in, the seed cap "
                                            "or the budget is reached (then stop at the block boundary)")
    srun.add_argument("name", help="the study: studies/<name>.yaml")
    srun.add_argument("--max-blocks", type=int, default=None, help="pause after this many blocks (default: run on)")
    srun.add_argument("--seconds-per-run", type=float, default=None,
                      help="training seconds per run for the plan made when the study starts (default: the median "
                           "the MLflow store recorded)")
    cluster_options(srun, None, "train each block on a LocalCluster of this many workers through qgan sweep "
                                "(default: no cluster, dvc repro here)")
    srun.set_defaults(func=cmd_study_run)
    sshow = study_sub.add_parser("show", help="verdicts, looks, A/A check, ladder, cost and the plan, from the values "
                                              "file alone (writes studies/<name>/verdicts.png, looks.png)")
    sshow.add_argument("name", help="the study")
    sshow.add_argument("--json", action="store_true", help="print the values file")
    sshow.set_defaults(func=cmd_study_show)

    srv = sub.add_parser("server", help="MLflow tracking server on PostgreSQL (many writers, many hosts)")
    srv.add_argument("--dir", default=".qgan/server", help="database, artifacts and logs (default: %(default)s)")
    srv.add_argument("--host", default="127.0.0.1", help="MLflow's interface (default: %(default)s; "
                                                          "secure it before opening it: README)")
    srv.add_argument("--port", type=int, default=5000, help="MLflow's port (default: %(default)s)")
    srv.add_argument("--db-port", type=int, help="PostgreSQL's port on 127.0.0.1 (default: a free one)")
    srv.add_argument("--workers", type=int, default=2, help="MLflow server worker processes (default: %(default)s)")
    srv.set_defaults(func=cmd_server)

    ui = sub.add_parser("ui", help="start the MLflow UI on 127.0.0.1 against the project's store")
    ui.add_argument("--port", type=int, default=5000, help="port on 127.0.0.1 (default: %(default)s)")
    ui.set_defaults(func=cmd_ui)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # for a replay that restarts itself ...
    args.own_process = argv is None  # ... only when it is the command, never inside a caller's process

    def command():
        pin_cpu_numerics()  # before any command imports torch
        return args.func(args)

    return run_stage(command)


if __name__ == "__main__":
    sys.exit(main())

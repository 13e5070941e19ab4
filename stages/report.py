"""DVC stage `report`: reports/report.md from the metrics files, led by the verdict."""
import argparse
import sys

from qgan.core.stage import add_paths, paths_from, run_stage
from qgan.params import load_params
from qgan.pipeline.report import ReportInputs, ReportOutputs, run_report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    add_paths(ap, ReportInputs)
    add_paths(ap, ReportOutputs, "out")
    args = ap.parse_args()
    run_report(load_params(args.params), paths_from(args, ReportInputs), paths_from(args, ReportOutputs, "out"))
    print(f"report: {args.out_report}")


if __name__ == "__main__":
    sys.exit(run_stage(main))

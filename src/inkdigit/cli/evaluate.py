"""`inkdigit evaluate`: metrics, plots and report.md for a finished run."""

from __future__ import annotations

import argparse

from inkdigit.cli.common import add_data_dir

HELP = "metrics, plots and report.md for a run"
HEAVY = "inkdigit.training.evaluate"


def add_arguments(e: argparse.ArgumentParser) -> None:
    e.add_argument("run_dir", help="a finished run directory")
    e.add_argument("--out", default=None, help="report folder (default: RUN_DIR/report)")
    add_data_dir(e)


def run(args: argparse.Namespace) -> int:
    from inkdigit.training.evaluate import evaluate_run

    report = evaluate_run(args.run_dir, data_dir=args.data_dir, out=args.out)
    print(report.summary())
    return 0

"""`inkdigit bench`: run one of the benchmark scripts in the checkout's benchmarks/ folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from inkdigit.errors import CliError

HELP = "run a benchmark script from benchmarks/"
HEAVY = None
BENCHES = {
    "train": "train_speed.py", "predict": "predict_speed.py", "canvas": "canvas_mnist.py",
    "numbers": "written_numbers.py", "fonts": "font_digits.py", "serve": "serve_load.py", "accuracy": "accuracy.py",
}


def add_arguments(b: argparse.ArgumentParser) -> None:
    b.add_argument("which", choices=sorted(BENCHES), help="which benchmark")
    b.add_argument("rest", nargs=argparse.REMAINDER, help="arguments for the benchmark (see its --help)")


def run(args: argparse.Namespace) -> int:
    import runpy

    root = Path(__file__).resolve().parents[3] / "benchmarks"
    script = root / BENCHES[args.which]
    if not script.is_file():
        raise CliError(f"benchmark scripts live in the source checkout ({root} not found); run from a clone")
    sys.argv = [str(script), *args.rest]
    runpy.run_path(str(script), run_name="__main__")
    return 0

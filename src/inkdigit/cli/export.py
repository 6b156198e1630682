"""`inkdigit export`: one run, or several averaged as an ensemble, to an ONNX file."""

from __future__ import annotations

import argparse

from inkdigit.cli.common import add_data_dir

HELP = "export run(s) to ONNX (several run dirs = averaged ensemble)"
HEAVY = "inkdigit.training.export"


def add_arguments(x: argparse.ArgumentParser) -> None:
    x.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="finished run directories")
    x.add_argument("--out", required=True, help="output .onnx file")
    x.add_argument("--name", default=None, help="model name in the metadata (default: the run's model)")
    x.add_argument("--no-check", action="store_true", help="skip the torch vs ONNX Runtime parity check")
    x.add_argument("--no-calibrate", action="store_true",
                   help="keep the probabilities as trained (default: temperature fitted on the validation split)")
    x.add_argument("--tta", action="store_true",
                   help="test-time augmentation: read each image rotated by -6 and by +6 degrees and average "
                        "the two answers (twice the compute per image)")
    x.add_argument("--half", action="store_true",
                   help="store the weights in 16-bit floats (half the file; computed in 32-bit floats)")
    add_data_dir(x)


def run(args: argparse.Namespace) -> int:
    from inkdigit.training.export import export_runs

    path = export_runs(args.run_dirs, args.out, name=args.name, check=not args.no_check,
                       data_dir=args.data_dir, calibrate=not args.no_calibrate, tta=args.tta,
                       half=args.half)
    print(f"wrote {path}")
    return 0

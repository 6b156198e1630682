"""`inkdigit` command line: fetch | train | evaluate | export | predict | serve | gui | bench.

One module per command, each with `HELP`, `HEAVY` (the module its work imports), `add_arguments(parser)`
and `run(args)`. Heavy imports (torch, onnxruntime, FastAPI) happen inside `run`, so that `inkdigit --help`
and `inkdigit predict` start fast. Every error a user can cause ends as one line on stderr and exit code 1
(2 for bad flags, as argparse does), never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

import inkdigit
from inkdigit.cli import bench, evaluate, export, fetch, gui, predict, serve, train
from inkdigit.cli.common import DefaultsFormatter, Parser
from inkdigit.errors import CliError, InkdigitError
from inkdigit.signals import held_interrupt

PROG = "inkdigit"
COMMANDS = {"fetch": fetch, "train": train, "evaluate": evaluate, "export": export, "predict": predict,
            "serve": serve, "gui": gui, "bench": bench}
# The errors a user can fix: ours, and those Python raises for a path or a name they gave.
USER_ERRORS = (InkdigitError, FileNotFoundError, PermissionError, KeyError)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `inkdigit` console script; returns the exit code."""
    try:
        args = build_parser().parse_args(argv)  # inside: a Ctrl+C this early is "interrupted" too
        command = COMMANDS[args.command]
        if command.HEAVY:
            import_held(command.HEAVY)
        return int(command.run(args) or 0)
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


def build_parser() -> argparse.ArgumentParser:
    """The argparse tree for every subcommand (defaults shown in --help)."""
    p = Parser(prog=PROG, description="Read handwritten digits: train, evaluate, export, "
               "predict, serve a web app, or open the desktop app.", formatter_class=DefaultsFormatter)
    p.add_argument("--version", action="version", version=f"{PROG} {inkdigit.__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=Parser)
    for name, command in COMMANDS.items():
        command.add_arguments(sub.add_parser(name, help=command.HELP, formatter_class=DefaultsFormatter))
    return p


def import_held(module: str) -> None:
    """Import a command's heavy module with Ctrl+C held back: one that lands mid-import (torch, FastAPI,
    tkinter behind them) is then "interrupted", not a library's odd error."""
    with held_interrupt():
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name not in ("tkinter", "_tkinter"):
                raise
            raise CliError("the desktop app needs Tk for Python (Debian: apt install python3-tk)") from None


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


if __name__ == "__main__":
    raise SystemExit(main())

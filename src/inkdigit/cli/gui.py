"""`inkdigit gui`: the tkinter desktop app."""

from __future__ import annotations

import argparse

HELP = "desktop app (tkinter)"
HEAVY = "inkdigit.gui.app"


def add_arguments(g: argparse.ArgumentParser) -> None:
    g.add_argument("--model", default=None, help="bundled model name or .onnx path")


def run(args: argparse.Namespace) -> int:
    from inkdigit.gui.app import run_gui

    return run_gui(args.model)

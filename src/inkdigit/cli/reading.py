"""Read image files, folders or stdin for `inkdigit predict`, in batches over worker processes.

A table by default, JSON lines with --json. A digit model answers as it always has; a model of another
character set (`--charset`, or a model whose labels are not the digits) answers with each label's text, its
kind and its confusable readings; `--text` reads lines, and a math model's lines are evaluated (a line that
does not evaluate is an error for that input).
Unreadable inputs are reported one line each on stderr while the rest are still read; the exit code is
1 if any input failed, else 0.
"""

from __future__ import annotations

import argparse
import functools
import json
import multiprocessing as mp
import os
import signal
import stat
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

import numpy as np

from inkdigit.errors import CliError
from inkdigit.inference import DEFAULT_MIN_CONFIDENCE, DIGITS, Predictor, charset_model, read_math, usable_cores
from inkdigit.vision.preprocess import MAX_FILE_BYTES, ImageError, ImageTooLargeError, preprocess, read_file

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".pgm", ".ppm", ".pbm"}
CHUNK = 1024  # images per model call in this process: large batches amortise ONNX Runtime's per-call cost
BATCH = 256  # images per task sent to a worker process (and per model call there)
PARALLEL_FROM = 256  # fewer images are read in this process: workers would cost more than they save


def expand_inputs(inputs: list[str]) -> Iterator[tuple[str, str | None]]:
    """(name, error or None) per input: folders expand to their image files, sorted; '-' is stdin.

    A folder entry that cannot be looked at (a symlink loop) or a folder that cannot be listed is one error
    for that name; the other inputs are still read.
    """
    for item in inputs:
        if item == "-":
            yield "-", None
            continue
        try:
            is_dir = stat.S_ISDIR(os.stat(item).st_mode)
        except (FileNotFoundError, NotADirectoryError, ValueError):  # ValueError: a NUL in the name
            yield item, "no such file"
            continue
        except OSError as e:  # a symlink loop, a folder on the way that cannot be searched
            yield item, e.strerror or str(e)
            continue
        if not is_dir:
            yield item, None
            continue
        try:
            # scandir: the file type comes with the listing (no stat per file: 10,000 files in ~10 ms).
            with os.scandir(item) as entries:
                found = [_entry(e) for e in entries if os.path.splitext(e.name)[1].lower() in IMAGE_SUFFIXES]
        except OSError as e:
            yield item, e.strerror or str(e)
            continue
        files = sorted((path, err) for path, err in found if path is not None)
        if not files:
            yield item, "folder has no image files"
        yield from files


def _entry(e: os.DirEntry) -> tuple[str | None, str | None]:
    """(path, error or None) for an image-named folder entry; (None, None) if it is no file (a subfolder)."""
    try:
        # is_file follows symlinks, and a loop (a.png -> b.png -> a.png) raises instead of saying False.
        return (e.path, None) if e.is_file() else (None, None)
    except OSError as exc:
        return e.path, exc.strerror or str(exc)


def _read_source(name: str) -> bytes:
    return _read_stdin() if name == "-" else read_file(name)


def _read_stdin(limit: int = MAX_FILE_BYTES) -> bytes:
    """stdin's bytes, chunked: an endless stream (cat /dev/zero |) stops being read at limit + 1 bytes."""
    parts, got = [], 0
    while got <= limit and (part := sys.stdin.buffer.read(min(1 << 20, limit + 1 - got))):
        parts.append(part)
        got += len(part)
    if got > limit:
        raise ImageTooLargeError(f"stdin is over {limit >> 20} MiB")
    return b"".join(parts)


def _prepare(name: str) -> tuple[str, np.ndarray | str]:
    """Read and preprocess one digit; returns (name, 28x28 array | error string)."""
    return name, _attempt(name, preprocess)


def _attempt(name: str, read: Callable[[bytes], Any]) -> Any:
    """`read` of one input's bytes, or the one line saying why that input could not be read (a str)."""
    try:
        return read(_read_source(name))
    except ImageError as e:
        return str(e)
    except OSError as e:
        return e.strerror or str(e)


@dataclass(frozen=True)
class _Job:
    """What every batch of inputs needs to be read and reported the same way (sent to worker processes)."""

    model: str
    min_confidence: float
    top_k: int
    number: bool
    json: bool
    width: int  # of the file column in the table
    text: bool = False  # read lines of characters
    chars: bool = False  # answer with label texts, kinds and confusables (not a digit model's fields)
    evaluate: bool = False  # evaluate each line read (a math model)


_worker_predictor = None  # the model of a worker process, loaded once by _start_worker


def _start_worker(job: _Job) -> None:
    global _worker_predictor
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C: this process's parent stops the pool
    _worker_predictor = Predictor(job.model, min_confidence=job.min_confidence, threads=1)


def _read_batch(names: list[str], job: _Job, predictor=None) -> tuple[list[str], list[tuple[str, str]]]:
    """Read, preprocess and classify `names` → (output lines in input order, (name, error) per failure)."""
    predictor = predictor or _worker_predictor
    if job.number:
        return _number_lines(predictor, names, job)
    if job.text:
        return _text_lines(predictor, names, job)
    prepared = [_prepare(n) for n in names]
    good = [(n, v) for n, v in prepared if not isinstance(v, str)]
    errors = [(n, v) for n, v in prepared if isinstance(v, str)]
    if not good:
        return [], errors
    return (_char_lines if job.chars else _digit_lines)(predictor, good, job), errors


def _worker_count(names: list[str]) -> int:
    """Worker processes worth starting for `names` (0: this process alone is faster).

    Reading one small image is ~150 µs of mostly Python-level work that holds the GIL, so threads cannot
    use a second core; forked workers can (they start in milliseconds with everything already imported).
    """
    cores = usable_cores()
    if len(names) < PARALLEL_FROM or cores < 2 or "-" in names or "fork" not in mp.get_all_start_methods():
        return 0
    return min(cores, 8)


def _results(names: list[str], job: _Job, predictor, workers: int
             ) -> Iterator[tuple[list[str], list[tuple[str, str]]]]:
    """(lines, errors) for `names`, batch by batch in input order, in `workers` processes (0: here)."""
    if not workers:
        for start in range(0, len(names), CHUNK):
            yield _read_batch(names[start : start + CHUNK], job, predictor)
        return
    batches = [names[s : s + BATCH] for s in range(0, len(names), BATCH)]
    pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("fork"), initializer=_start_worker,
                               initargs=(job,))
    try:
        yield from pool.map(functools.partial(_read_batch, job=job), batches)
    except BrokenProcessPool:
        # A worker died (a decoder crash, the out-of-memory killer): say so once instead of hanging.
        raise CliError("a worker process stopped unexpectedly; "
                       "run again with fewer files to find the one that crashes it") from None
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # Ctrl+C or a closed pipe: do not finish the queue


def run_predict(args: argparse.Namespace) -> int:
    """Run the predict command for parsed CLI args; returns the exit code."""

    if args.top_k < 1:
        raise CliError("--top-k must be at least 1")
    if args.min_confidence is not None and not 0 <= args.min_confidence <= 1:
        raise CliError("--min-confidence must be between 0 and 1")
    min_conf = args.min_confidence if args.min_confidence is not None else DEFAULT_MIN_CONFIDENCE
    charset = getattr(args, "charset", None)
    text = getattr(args, "text", False)
    if charset is not None and args.model is not None:
        raise CliError("give --model or --charset, not both")
    if text and args.number:
        raise CliError("give --number or --text, not both")
    model = charset_model(charset) if charset is not None else args.model  # one line for an unknown set
    items = list(expand_inputs(args.inputs))
    if sum(1 for n, _ in items if n == "-") > 1:
        raise CliError("'-' (stdin) can be given only once")
    pending = [n for n, err in items if err is None]
    # One ORT thread when workers will be forked: no thread of ONNX Runtime may exist at fork time. This
    # session also checks the model before any input is read (a bad --model is one error, not one per file).
    workers = _worker_count(pending)
    predictor = Predictor.load(model, min_confidence=min_conf, threads=1 if workers else None)
    chars = charset is not None or predictor.labels != DIGITS
    job = _Job(model=str(predictor.path), min_confidence=min_conf, top_k=args.top_k, number=args.number,
               json=args.json, width=max([len(n) for n, _ in items] + [4]), text=text, chars=chars,
               evaluate=text and predictor.charset.name == "math")
    out = sys.stdout
    if not args.json:
        head = "number" if args.number else "text" if text else "char" if chars else "digit"
        last = "value" if job.evaluate else "chars" if text else f"top-{args.top_k}"
        out.write(f"{'file':<{job.width}}  {head:>6}  {'conf':>6}  {'':9}  {last}\n")
    failures = 0
    for n, err in items:
        if err is not None:
            failures += 1
            print(f"inkdigit: error: {n}: {err}", file=sys.stderr)
    for lines, errors in _results(pending, job, predictor, workers):
        for n, msg in errors:
            failures += 1
            print(f"inkdigit: error: {n}: {msg}", file=sys.stderr)
        if lines:
            out.write("\n".join(lines) + "\n")
    out.flush()
    return 1 if failures else 0


def _fmt_conf(c: float) -> str:
    return f"{100 * c:5.1f}%"


def _digit_lines(predictor, good: list[tuple[str, np.ndarray]], job: _Job) -> list[str]:
    xs = np.stack([v for _, v in good])
    probs = predictor.predict_arrays(xs)
    lines = []
    for (name, _), pred in zip(good, predictor.predictions(probs, xs, job.top_k)):
        if job.json:
            lines.append(json.dumps({"file": name, **pred.to_dict()}))
        else:
            top = "  ".join(f"{k}:{100 * q:.1f}%" for k, q in pred.top_k)
            flag = "not sure" if pred.unsure else ""
            lines.append(f"{name:<{job.width}}  {pred.label:>6}  {_fmt_conf(pred.confidence)}  {flag:<9}  {top}")
    return lines


def _char_lines(predictor, good: list[tuple[str, np.ndarray]], job: _Job) -> list[str]:
    """Single characters of any set: the label's text, its kind, and the confusable readings of another kind."""
    xs = np.stack([v for _, v in good])
    probs = predictor.predict_arrays(xs)
    lines = []
    for (name, _), pred in zip(good, predictor.predictions(probs, xs, job.top_k)):
        answer = predictor.char_answer(pred)
        if job.json:
            lines.append(json.dumps({"file": name, **answer, "charset": predictor.charset.name}, ensure_ascii=False))
            continue
        top = "  ".join(f"{t['text']}:{100 * t['probability']:.1f}%" for t in answer["top_k"])
        also = "".join(f"  (or {c['text']}: {100 * c['probability']:.1f}%)" for c in answer["confusable"])
        flag = "not sure" if pred.unsure else ""
        lines.append(f"{name:<{job.width}}  {pred.text:>6}  {_fmt_conf(pred.confidence)}  {flag:<9}  {top}{also}")
    return lines


def _text_lines(predictor, names: list[str], job: _Job) -> tuple[list[str], list[tuple[str, str]]]:
    """Read each input as a line of characters; with a math model, evaluate it (a line that does not evaluate
    is that input's error, after its JSON line)."""
    lines, errors = [], []
    def read(data: bytes) -> tuple[Any, Any]:
        math = read_math(predictor, data, top_k=job.top_k) if job.evaluate else None
        return (math.line if math is not None else predictor.read_line(data, job.top_k)), math

    for name in names:
        got = _attempt(name, read)
        if isinstance(got, str):
            errors.append((name, got))
            continue
        line, math = got
        if job.json:
            answer = {"file": name, **predictor.line_answer(line), "charset": predictor.charset.name}
            lines.append(json.dumps({**answer, **math.to_dict()} if math is not None else answer, ensure_ascii=False))
        if math is not None and not math.ok:
            errors.append((name, f"read {math.expression!r}: {math.message}"))
            continue
        if not job.json:
            per = " ".join(f"{p.text}({100 * p.confidence:.0f}%)" for p in line.digits)
            flag = "not sure" if line.unsure else ""
            last = math.message if math is not None else per
            lines.append(f"{name:<{job.width}}  {line.text:>6}  {_fmt_conf(line.confidence)}  {flag:<9}  {last}")
    return lines, errors


def _number_lines(predictor, names: list[str], job: _Job) -> tuple[list[str], list[tuple[str, str]]]:
    """Read each input as a number (its digits scored by the model as it is cut, so one file at a time)."""
    lines, errors = [], []
    for name in names:
        num = _attempt(name, lambda data: predictor.predict_number(data, job.top_k))
        if isinstance(num, str):
            errors.append((name, num))
            continue
        if job.json:
            lines.append(json.dumps({"file": name, **num.to_dict()}))
        else:
            per = " ".join(f"{p.label}({100 * p.confidence:.0f}%)" for p in num.digits)
            flag = "not sure" if num.unsure else ""
            lines.append(f"{name:<{job.width}}  {num.text:>6}  {_fmt_conf(num.confidence)}  {flag:<9}  {per}")
    return lines, errors

"""Written numbers: digits side by side read back as a string, in categories of how people write numbers.

Categories, each deterministic in (seed, index); the MNIST digits come from the test split only:
  mnist       3-6 MNIST digits, varied gaps, some touching: the original benchmark, unchanged
  strokes     the same, with one digit written in several strokes or pieces, one kind per case: a 5 with a
              detached top bar, a 4 split in two, a 7 with a crossbar, a 1 with a base, an 8 with an open
              top loop, a 9 and a 6 with an open loop (cut across a stroke of the MNIST digit, or drawn on it)
  short-ones  4-8 digits with two or three 1s at 40-60% of the other digits' height, on the baseline
  touching    3-6 digits with one or more neighbours touching (placed at contact) or overlapping a little
  slanted     3-6 digits on a line sheared 10-25 degrees either way, on a 5-15 degree slope, or both
  fonts       1-20 digits in the 12 benchmark handwriting fonts (`inkdigit fetch --dataset fonts`), with
              font_digits.py's variation of size, spacing, slant, stroke width and paper

MNIST digits are drawn like the canvas benchmark's (random size, slight rotation, stroke thickness,
polarity). Each picture is saved as a PNG, with a labels.csv per category, and `Predictor.predict_number`
reads it back. Reported: exact-string (and digit-count) accuracy per category, per kind within it, and
overall; the mnist category also gets its original table, split by touching digits and next to the
"perfect segmentation" bound (every digit of the number right on plain MNIST).

    python benchmarks/written_numbers.py --model paper --n 1000          # the mnist category
    python benchmarks/written_numbers.py --categories all --n 300
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from canvas_mnist import THICKNESS, render_digit  # sibling scripts: their folder is first on sys.path
from PIL import Image, ImageDraw

from inkdigit.data.handwriting import draw_text, shear
from inkdigit.data.lines import contact_gap

if TYPE_CHECKING:
    from inkdigit.inference import Predictor

CATEGORIES = ("mnist", "strokes", "short-ones", "touching", "slanted", "fonts")
# Each kind of digit in several strokes, and the digit it is drawn on.
STROKE_KINDS = {"5-bar": 5, "4-split": 4, "7-crossbar": 7, "1-base": 1, "8-open": 8, "9-open": 9, "6-open": 6}
SLANT_KINDS = ("shear", "slope", "shear+slope")
TOUCH_KINDS = ("touch", "overlap")
# Each new category draws from its own random stream, default_rng([seed, STREAM[category], index]).
STREAM = {"strokes": 1, "short-ones": 2, "touching": 3, "slanted": 4, "fonts": 5}
# Where a loop is opened, as a range of directions from the hole's centre (degrees, 0 = right, 90 = up):
# where the pen that draws it comes back to close it.
LOOP_CUTS = {"8-open": (20.0, 120.0), "9-open": (-10.0, 70.0), "6-open": (80.0, 170.0)}
INK = 100  # grey level above which a pixel counts when digits are placed at contact


@dataclass
class Pool:
    """What the cases draw from: the MNIST test split (by digit too) and the fonts' files."""

    images: np.ndarray
    labels: np.ndarray
    fonts: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_digit = [np.flatnonzero(self.labels == d) for d in range(10)]


# --- mnist: the original benchmark ---------------------------------------------------------------------

def make_number(digits: np.ndarray, seed: int, index: int, touch: float) -> tuple[Image.Image, dict]:
    """One number picture and its parameters; deterministic in (seed, index)."""
    rng = np.random.default_rng([seed, index])
    height = float(rng.uniform(60, 140))
    thickness = THICKNESS[int(rng.integers(0, 3))]
    inks = [render_digit(d, rng, height * float(rng.uniform(0.9, 1.1)), thickness) for d in digits]
    gaps, touching = [], 0
    for _ in range(len(digits) - 1):
        if rng.random() < touch:
            gaps.append(-int(rng.integers(1, 4)))  # overlapping by a few pixels: the strokes touch
            touching += 1
        else:
            gaps.append(int(rng.uniform(0.1, 0.5) * height))
    margin = int(0.3 * height)
    top = max(i.shape[0] for i in inks)
    jitter = [int(rng.uniform(-0.08, 0.08) * height) for _ in inks]
    h = top + 2 * margin + 2 * int(0.08 * height) + 2
    w = sum(i.shape[1] for i in inks) + sum(gaps) + 2 * margin
    canvas = np.zeros((h, w), np.uint8)
    x = margin
    for k, ink in enumerate(inks):
        y = margin + int(0.08 * height) + 1 + top - ink.shape[0] + jitter[k]  # bottom on the baseline
        region = canvas[y : y + ink.shape[0], x : x + ink.shape[1]]
        np.maximum(region, ink, out=region)
        x += ink.shape[1] + (gaps[k] if k < len(gaps) else 0)
    white_on_black = bool(rng.integers(0, 2))
    if not white_on_black:
        canvas = 255 - canvas
    params = {"digits": len(digits), "touching": touching, "thickness": thickness,
              "polarity": "white_on_black" if white_on_black else "black_on_white"}
    return Image.fromarray(canvas), params


def _generate_chunk(args: tuple[np.ndarray, list[np.ndarray], list[np.ndarray], np.ndarray, int, float, str]
                    ) -> list[dict]:
    images, index_lists, label_lists, positions, seed, touch, out = args
    rows = []
    for idx, labels, pos in zip(index_lists, label_lists, positions, strict=True):
        im, params = make_number(images[idx], seed, int(pos), touch)
        name = f"{int(pos):05d}.png"
        im.save(Path(out) / name, compress_level=1)
        rows.append({"file": name, "text": "".join(str(int(v)) for v in labels),
                     "mnist_indices": " ".join(str(int(v)) for v in idx), **params})
    return rows


def generate(images: np.ndarray, labels: np.ndarray, n: int, seed: int, touch: float, out: Path,
             workers: int) -> list[dict]:
    """Write n mnist-category number pictures and labels.csv."""
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    index_lists = [rng.integers(0, len(images), int(rng.integers(3, 7))) for _ in range(n)]
    label_lists = [labels[i] for i in index_lists]
    chunks = np.array_split(np.arange(n), max(1, workers * 4))
    jobs = [(images, [index_lists[i] for i in c], [label_lists[i] for i in c], c, seed, touch, str(out))
            for c in chunks if len(c)]
    return _write_labels(out, _run(_generate_chunk, jobs, workers))


# --- the other categories: one case per (seed, index) -------------------------------------------------

def strokes_case(pool: Pool, seed: int, index: int) -> tuple[Image.Image, dict]:
    """3-6 MNIST digits, one of them (the kind's digit) written in several strokes or pieces."""
    rng = np.random.default_rng([seed, STREAM["strokes"], index])
    kind = list(STROKE_KINDS)[index % len(STROKE_KINDS)]
    height, thickness = _pen(rng)
    # A pen lift of 2-4 px at MNIST's 28x28 (one more for a thick pen, whose filter narrows gaps).
    gap = int(rng.integers(2, 5)) + (thickness == "thick")
    special = modified_digit(pool, kind, rng, gap)
    n = int(rng.integers(3, 7))
    at = int(rng.integers(0, n))
    others = rng.integers(0, len(pool.images), n)
    digits = [special if k == at else pool.images[others[k]] for k in range(n)]
    text = "".join(str(STROKE_KINDS[kind] if k == at else int(pool.labels[others[k]])) for k in range(n))
    inks = [render_digit(d, rng, height * float(rng.uniform(0.9, 1.1)), thickness) for d in digits]
    canvas = _plain_line(inks, rng, height)
    im, polarity = _polarity(canvas, rng)
    return im, {"text": text, "kind": kind, "gap": gap, "thickness": thickness, "polarity": polarity}


def short_ones_case(pool: Pool, seed: int, index: int) -> tuple[Image.Image, dict]:
    """4-8 MNIST digits, two or three of them 1s at 40-60% of the others' height, all on one baseline."""
    rng = np.random.default_rng([seed, STREAM["short-ones"], index])
    height, thickness = _pen(rng)
    n = int(rng.integers(4, 9))
    ones = set(rng.choice(n, size=int(rng.integers(2, 4)), replace=False).tolist())
    labels = [1 if k in ones else int(rng.choice([0, 2, 3, 4, 5, 6, 7, 8, 9])) for k in range(n)]
    digits = [pool.images[rng.choice(pool.by_digit[d])] for d in labels]
    sizes = [float(rng.uniform(0.4, 0.6) if d == 1 else rng.uniform(0.9, 1.1)) for d in labels]
    inks = [render_digit(d, rng, height * s, thickness) for d, s in zip(digits, sizes, strict=True)]
    canvas = _plain_line(inks, rng, height, jitter=0.04)
    im, polarity = _polarity(canvas, rng)
    return im, {"text": "".join(map(str, labels)), "kind": f"{len(ones)} short 1s", "thickness": thickness,
                "polarity": polarity}


def touching_case(pool: Pool, seed: int, index: int) -> tuple[Image.Image, dict]:
    """3-6 MNIST digits; each neighbour pair touches with probability 0.6 (at least one pair does): placed
    where their strokes just meet (kind "touch"), or overlapping by 4-12% of the narrower one ("overlap")."""
    rng = np.random.default_rng([seed, STREAM["touching"], index])
    kind = TOUCH_KINDS[index % len(TOUCH_KINDS)]
    height, thickness = _pen(rng)
    n = int(rng.integers(3, 7))
    picks = rng.integers(0, len(pool.images), n)
    inks = [render_digit(pool.images[i], rng, height * float(rng.uniform(0.9, 1.1)), thickness) for i in picks]
    bottoms = [int(rng.uniform(-0.08, 0.08) * height) for _ in inks]
    touch = rng.random(n - 1) < 0.6
    touch[int(rng.integers(0, n - 1))] = True
    gaps = []
    for k in range(n - 1):
        if not touch[k]:
            gaps.append(int(rng.uniform(0.15, 0.5) * height))
            continue
        a, b = inks[k], inks[k + 1]
        dy = (bottoms[k + 1] - b.shape[0]) - (bottoms[k] - a.shape[0])
        overlap = int(rng.uniform(0.04, 0.12) * min(a.shape[1], b.shape[1])) + 1 if kind == "overlap" else 0
        gaps.append(contact_gap(a, b, dy, INK) - overlap)
    canvas = lay_out(inks, _lefts(inks, gaps), bottoms)
    im, polarity = _polarity(canvas, rng)
    return im, {"text": "".join(str(int(pool.labels[i])) for i in picks), "kind": kind, "pairs": int(touch.sum()),
                "thickness": thickness, "polarity": polarity}


def slanted_case(pool: Pool, seed: int, index: int) -> tuple[Image.Image, dict]:
    """3-6 MNIST digits on a line sheared 10-25 degrees either way, rising or falling 5-15 degrees, or both."""
    rng = np.random.default_rng([seed, STREAM["slanted"], index])
    kind = SLANT_KINDS[index % len(SLANT_KINDS)]
    height, thickness = _pen(rng)
    n = int(rng.integers(3, 7))
    picks = rng.integers(0, len(pool.images), n)
    inks = [render_digit(pool.images[i], rng, height * float(rng.uniform(0.9, 1.1)), thickness) for i in picks]
    gaps = [int(rng.uniform(0.15, 0.5) * height) for _ in range(n - 1)]
    slant = float(rng.choice([-1, 1]) * rng.uniform(10, 25)) if "shear" in kind else 0.0
    slope = float(rng.choice([-1, 1]) * rng.uniform(5, 15)) if "slope" in kind else 0.0
    lefts = _lefts(inks, gaps)
    rise = np.tan(np.radians(slope))
    bottoms = [int(rng.uniform(-0.05, 0.05) * height - rise * (x + ink.shape[1] / 2))
               for x, ink in zip(lefts, inks, strict=True)]
    canvas = shear(lay_out(inks, lefts, bottoms), slant)
    im, polarity = _polarity(canvas, rng)
    return im, {"text": "".join(str(int(pool.labels[i])) for i in picks), "kind": kind, "slant": round(slant, 1),
                "slope": round(slope, 1), "thickness": thickness, "polarity": polarity}


def fonts_case(pool: Pool, seed: int, index: int) -> tuple[Image.Image, dict]:
    """1-20 digits in one of the fonts (in turn), black on white, varied as in font_digits.draw_text."""
    rng = np.random.default_rng([seed, STREAM["fonts"], index])
    family = list(pool.fonts)[index % len(pool.fonts)]
    text = "".join(str(int(d)) for d in rng.integers(0, 10, int(rng.integers(1, 21))))
    im, params = draw_text(pool.fonts[family], text, rng)
    return im, {"text": text, "kind": family, **params}


CASES = {"strokes": strokes_case, "short-ones": short_ones_case, "touching": touching_case,
         "slanted": slanted_case, "fonts": fonts_case}


def generate_category(category: str, pool: Pool, n: int, seed: int, out: Path, workers: int) -> list[dict]:
    """Write cases 0..n-1 of a category and its labels.csv."""
    out.mkdir(parents=True, exist_ok=True)
    chunks = np.array_split(np.arange(n), max(1, workers * 4))
    jobs = [(category, pool, c, seed, str(out)) for c in chunks if len(c)]
    return _write_labels(out, _run(_case_chunk, jobs, workers))


def _case_chunk(args: tuple[str, Pool, np.ndarray, int, str]) -> list[dict]:
    category, pool, positions, seed, out = args
    rows = []
    for pos in positions:
        im, params = CASES[category](pool, seed, int(pos))
        name = f"{int(pos):05d}.png"
        im.save(Path(out) / name, compress_level=1)
        rows.append({"file": name, **params})
    return rows


def _run(chunk_fn: Callable[[tuple], list[dict]], jobs: list[tuple], workers: int) -> list[dict]:
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            return [r for part in pool.map(chunk_fn, jobs) for r in part]
    return [r for job in jobs for r in chunk_fn(job)]


def _write_labels(out: Path, rows: list[dict]) -> list[dict]:
    with open(out / "labels.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return rows


# --- drawing a line of digits ---------------------------------------------------------------------------

def _pen(rng: np.random.Generator) -> tuple[float, str]:
    """The line's digit height (px) and pen, as the mnist category draws them."""
    return float(rng.uniform(60, 140)), THICKNESS[int(rng.integers(0, 3))]


def _plain_line(inks: list[np.ndarray], rng: np.random.Generator, height: float, jitter: float = 0.08
                ) -> np.ndarray:
    """Inks on one baseline (each bottom moved up to `jitter` x height), gaps of 15-50% of the height."""
    gaps = [int(rng.uniform(0.15, 0.5) * height) for _ in range(len(inks) - 1)]
    bottoms = [int(rng.uniform(-jitter, jitter) * height) for _ in inks]
    return lay_out(inks, _lefts(inks, gaps), bottoms)


def _lefts(inks: list[np.ndarray], gaps: list[int]) -> list[int]:
    lefts = [0]
    for ink, gap in zip(inks[:-1], gaps, strict=True):
        lefts.append(lefts[-1] + ink.shape[1] + gap)
    return lefts


def lay_out(inks: list[np.ndarray], lefts: list[int], bottoms: list[int]) -> np.ndarray:
    """White-on-black canvas with each ink's left edge at lefts[k] and its bottom row at bottoms[k] (any
    origin: the canvas is the union of the boxes plus a margin of 30% of the tallest ink)."""
    tops = [b - ink.shape[0] for b, ink in zip(bottoms, inks, strict=True)]
    x0, y0 = min(lefts), min(tops)
    x1 = max(x + ink.shape[1] for x, ink in zip(lefts, inks, strict=True))
    margin = int(0.3 * max(ink.shape[0] for ink in inks))
    canvas = np.zeros((max(bottoms) - y0 + 2 * margin, x1 - x0 + 2 * margin), np.uint8)
    for ink, x, y in zip(inks, lefts, tops, strict=True):
        top, left = y - y0 + margin, x - x0 + margin
        region = canvas[top : top + ink.shape[0], left : left + ink.shape[1]]
        np.maximum(region, ink, out=region)
    return canvas


def _polarity(canvas: np.ndarray, rng: np.random.Generator) -> tuple[Image.Image, str]:
    if rng.integers(0, 2):
        return Image.fromarray(canvas), "white_on_black"
    return Image.fromarray(255 - canvas), "black_on_white"


# --- digits in several strokes: an MNIST digit cut or drawn on, at 28x28 ------------------------------

def modified_digit(pool: Pool, kind: str, rng: np.random.Generator, gap: int) -> np.ndarray:
    """An MNIST test digit of the kind's class changed into the kind (a pen lift is `gap` px at 28x28).

    Digits the change does not fit (a 4 whose halves stay joined, an 8 without two loops) are passed over
    for the next one the stream draws.
    """
    change = {"5-bar": _detach_bar, "4-split": _split_four, "7-crossbar": _crossbar, "1-base": _base}.get(kind)
    for _ in range(60):
        digit = pool.images[rng.choice(pool.by_digit[STROKE_KINDS[kind]])]
        out = change(digit, rng, gap) if change else _open_loop(digit, rng, gap, kind)
        if out is not None:
            return out
    raise RuntimeError(f"no MNIST test digit could be made into {kind}")


def _detach_bar(d: np.ndarray, rng: np.random.Generator, gap: int) -> np.ndarray | None:
    """A 5 whose top bar is a separate stroke: a vertical cut between the bar and the stem below it."""
    y0, y1, x0, x1 = _box(d)
    h, w = y1 - y0, x1 - x0
    for _ in range(12):
        xc = x0 + int(rng.uniform(0.15, 0.6) * w)
        cut = d.copy()
        cut[: y0 + int(rng.uniform(0.3, 0.45) * h), xc : xc + gap] = 0
        parts = _parts(cut)
        if len(parts) != 2:
            continue
        bar = min(parts, key=lambda m: int(m.sum()))
        ys, xs = np.nonzero(bar)
        share = bar.sum() / sum(int(m.sum()) for m in parts)
        if ys.max() < y0 + 0.5 * h and xs.min() >= xc and xs.max() - xs.min() >= 0.3 * w and share >= 0.07:
            return _only(cut, parts)
    return None


def _split_four(d: np.ndarray, rng: np.random.Generator, gap: int) -> np.ndarray | None:
    """A 4 in two strokes that do not meet: the left stroke with the crossbar, apart from the stem."""
    y0, y1, x0, x1 = _box(d)
    h, w = y1 - y0, x1 - x0
    for _ in range(12):
        xc = x0 + int(rng.uniform(0.3, 0.75) * w)
        cut = d.copy()
        cut[:, xc : xc + gap] = 0
        parts = _parts(cut)
        area = sum(int(m.sum()) for m in parts)
        if len(parts) != 2 or min(int(m.sum()) for m in parts) < 0.12 * area:
            continue
        left, right = sorted(parts, key=lambda m: np.nonzero(m)[1].mean())
        if np.nonzero(right)[0].max() >= np.nonzero(left)[0].max() + 0.15 * h:  # the stem reaches lower
            return _only(cut, parts)
    return None


def _crossbar(d: np.ndarray, rng: np.random.Generator, gap: int) -> np.ndarray | None:
    """A 7 with a short bar across its stem, a little below the middle."""
    y0, y1, x0, x1 = _box(d)
    h, w = y1 - y0, x1 - x0
    for _ in range(12):
        row = y0 + int(rng.uniform(0.4, 0.62) * h)
        runs = _runs(d[row] > 60)
        if len(runs) != 1 or runs[0][1] - runs[0][0] > 0.35 * w:
            continue
        cx = (runs[0][0] + runs[0][1] - 1) / 2 + float(rng.uniform(-0.05, 0.15)) * w
        half, tilt = float(rng.uniform(0.25, 0.4)) * w, float(rng.uniform(-0.06, 0.06)) * w
        return _draw_line(d, (cx - half, row + tilt), (cx + half, row - tilt), float(rng.uniform(1.8, 2.6)))
    return None


def _base(d: np.ndarray, rng: np.random.Generator, gap: int) -> np.ndarray | None:
    """A 1 standing on a short horizontal base."""
    y0, y1, x0, x1 = _box(d)
    h, w = y1 - y0, x1 - x0
    if w > 0.6 * h:  # not an upright stroke
        return None
    cols = np.flatnonzero(d[y1 - 2 : y1].max(axis=0) > 60)
    if not len(cols):
        return None
    cx, half = float(cols.mean()), float(rng.uniform(0.2, 0.32)) * h
    return _draw_line(d, (cx - half, y1 - 1.0), (cx + half, y1 - 1.0), float(rng.uniform(1.8, 2.6)))


def _open_loop(d: np.ndarray, rng: np.random.Generator, gap: int, kind: str) -> np.ndarray | None:
    """An 8 with its top loop open, or a 9 or 6 with its loop open: a cut across the loop's wall in the
    direction where the pen closes it; the loop must really open and the digit stay in one piece."""
    holes = _holes(d > 0)
    if len(holes) < (2 if kind == "8-open" else 1):
        return None
    if kind == "8-open":
        target = min(holes, key=lambda m: np.nonzero(m)[0].mean())
    else:
        target = max(holes, key=lambda m: int(m.sum()))
    ys, xs = np.nonzero(target)
    lo, hi = LOOP_CUTS[kind]
    for _ in range(12):
        cut = _cut_ray(d, float(ys.mean()), float(xs.mean()), np.radians(rng.uniform(lo, hi)), gap)
        if cut is None:
            continue
        parts = _parts(cut)
        if len(parts) == 1 and len(_holes(cut > 0)) == len(holes) - 1:
            return _only(cut, parts)
    return None


def _cut_ray(d: np.ndarray, cy: float, cx: float, angle: float, gap: int) -> np.ndarray | None:
    """Erase a `gap`-wide band across the first stroke met going out from (cy, cx) in direction `angle`."""
    dx, dy = float(np.cos(angle)), -float(np.sin(angle))
    t_in = t_out = None
    for t in np.arange(0.0, 40.0, 0.25):
        y, x = int(round(cy + t * dy)), int(round(cx + t * dx))
        if not (0 <= y < d.shape[0] and 0 <= x < d.shape[1]):
            return None
        if t_in is None and d[y, x] > 0:
            t_in = t
        elif t_in is not None and d[y, x] == 0:
            t_out = t
            break
    if t_in is None or t_out is None:
        return None
    yy, xx = np.mgrid[0 : d.shape[0], 0 : d.shape[1]]
    along = (xx - cx) * dx + (yy - cy) * dy
    across = np.abs(-(xx - cx) * dy + (yy - cy) * dx)
    cut = d.copy()
    cut[(along >= t_in - 1) & (along <= t_out + 1) & (across <= gap / 2)] = 0
    return cut


def _draw_line(d: np.ndarray, p0: tuple[float, float], p1: tuple[float, float], width: float) -> np.ndarray:
    """d with a round-capped pen line from p0 to p1 ((x, y) in pixels), drawn at 4x and box-averaged down."""
    s = 4
    im = Image.new("L", (d.shape[1] * s, d.shape[0] * s), 0)
    draw = ImageDraw.Draw(im)
    ends = [((x + 0.5) * s, (y + 0.5) * s) for x, y in (p0, p1)]
    draw.line(ends, fill=255, width=round(width * s))
    r = width * s / 2
    for x, y in ends:
        draw.ellipse([x - r, y - r, x + r, y + r], fill=255)
    return np.maximum(d, np.asarray(im.resize((d.shape[1], d.shape[0]), Image.Resampling.BOX)))


def _box(d: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(d)
    return int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1


def _runs(row: np.ndarray) -> list[tuple[int, int]]:
    edges = np.flatnonzero(np.diff(np.concatenate([[0], row.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def _parts(d: np.ndarray, min_share: float = 0.03) -> list[np.ndarray]:
    """The ink's 8-connected pieces holding at least `min_share` of it (specks a cut leaves are not pieces)."""
    labels, k = _label(d > 0, eight=True)
    sizes = np.bincount(labels[labels >= 0], minlength=k)
    return [labels == c for c in range(k) if sizes[c] >= min_share * sizes.sum()]


def _only(d: np.ndarray, parts: list[np.ndarray]) -> np.ndarray:
    keep = np.logical_or.reduce(parts)
    return np.where(keep, d, 0).astype(np.uint8)


def _holes(ink: np.ndarray) -> list[np.ndarray]:
    """The background's 4-connected pieces that do not reach the border (of at least 2 px): the loops."""
    labels, k = _label(~ink, eight=False)
    border = set(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]).tolist())
    holes = [labels == c for c in range(k) if c not in border]
    return [h for h in holes if h.sum() >= 2]


def _label(mask: np.ndarray, eight: bool) -> tuple[np.ndarray, int]:
    """Connected components of a small mask by flood fill: labels (-1 off the mask) and their count."""
    h, w = mask.shape
    on = mask.tolist()
    labels = [[-1] * w for _ in range(h)]
    steps = [(-1, 0), (1, 0), (0, -1), (0, 1)] + ([(-1, -1), (-1, 1), (1, -1), (1, 1)] if eight else [])
    k = 0
    for y0 in range(h):
        for x0 in range(w):
            if not on[y0][x0] or labels[y0][x0] >= 0:
                continue
            labels[y0][x0] = k
            stack = [(y0, x0)]
            while stack:
                y, x = stack.pop()
                for dy, dx in steps:
                    ny, nx = y + dy, x + dx
                    if 0 <= ny < h and 0 <= nx < w and on[ny][nx] and labels[ny][nx] < 0:
                        labels[ny][nx] = k
                        stack.append((ny, nx))
            k += 1
    return np.array(labels, np.int64), k


# --- reading them back ----------------------------------------------------------------------------------

def read_texts(predictor: Predictor, rows: list[dict], folder: Path) -> tuple[list[str], float]:
    """What the predictor reads in each row's picture ("" when it cannot read one), and the seconds it took."""
    from inkdigit.errors import ImageError

    texts, t0 = [], time.perf_counter()
    for r in rows:
        try:
            texts.append(predictor.predict_number(folder / r["file"]).text)
        except ImageError:
            texts.append("")
    return texts, time.perf_counter() - t0


def evaluate(predictor: Predictor, rows: list[dict], out: Path, images: np.ndarray, labels: np.ndarray) -> dict:
    """The mnist category: exact-string and digit-count accuracy, overall and with/without touching digits."""
    plain_right = predictor.predict_arrays(images.astype(np.float32) / 255).argmax(1) == labels
    texts, seconds = read_texts(predictor, rows, out)
    truth = [r["text"] for r in rows]
    exact = np.array([a == b for a, b in zip(texts, truth, strict=True)])
    count = np.array([len(a) == len(b) for a, b in zip(texts, truth, strict=True)])
    bound = np.array([all(plain_right[int(i)] for i in r["mnist_indices"].split()) for r in rows])
    touching = np.array([int(r["touching"]) > 0 for r in rows])

    def part(sel: np.ndarray) -> dict:
        n = int(sel.sum())
        return {"n": n, "exact": float(exact[sel].mean()) if n else float("nan"),
                "count": float(count[sel].mean()) if n else float("nan"),
                "plain_bound": float(bound[sel].mean()) if n else float("nan")}

    return {"model": predictor.name, "n": len(rows), "exact": float(exact.mean()),
            "count": float(count.mean()), "plain_bound": float(bound.mean()),
            "no_touching": part(~touching), "touching": part(touching),
            "ms_per_number": 1000 * seconds / max(1, len(rows)),
            "examples_wrong": _wrong(rows, texts, exact)}


def evaluate_category(predictor: Predictor, rows: list[dict], folder: Path) -> dict:
    """Exact-string and digit-count accuracy of one category, overall and per kind."""
    texts, seconds = read_texts(predictor, rows, folder)
    exact = np.array([a == r["text"] for a, r in zip(texts, rows, strict=True)])
    count = np.array([len(a) == len(r["text"]) for a, r in zip(texts, rows, strict=True)])
    kinds = np.array([r["kind"] for r in rows])
    by_kind = {}
    for kind in sorted(set(kinds.tolist()), key=_kind_order):
        sel = kinds == kind
        by_kind[kind] = {"n": int(sel.sum()), "exact": float(exact[sel].mean()), "count": float(count[sel].mean())}
    return {"n": len(rows), "exact": float(exact.mean()), "count": float(count.mean()), "by_kind": by_kind,
            "ms_per_number": 1000 * seconds / max(1, len(rows)), "examples_wrong": _wrong(rows, texts, exact)}


def _kind_order(kind: str) -> tuple[int, str]:
    order = [*STROKE_KINDS, *SLANT_KINDS, *TOUCH_KINDS]
    return (order.index(kind) if kind in order else len(order), kind)


def _wrong(rows: list[dict], texts: list[str], exact: np.ndarray) -> list[dict]:
    return [{"file": r["file"], "truth": r["text"], "read": t, **({"kind": r["kind"]} if "kind" in r else {})}
            for r, t, e in zip(rows, texts, exact, strict=True) if not e][:10]


def print_table(result: dict) -> None:
    print(f"written numbers (3-6 digits), model {result['model']}, n={result['n']}")
    print(f"{'numbers':<22}{'n':>7}{'exact':>9}{'count':>9}{'plain bound':>13}")
    rows = [("all", {"n": result["n"], "exact": result["exact"], "count": result["count"],
                     "plain_bound": result["plain_bound"]}),
            ("no touching digits", result["no_touching"]), ("some touching", result["touching"])]
    for name, r in rows:
        print(f"{name:<22}{r['n']:>7}{100 * r['exact']:>8.2f}%{100 * r['count']:>8.2f}%"
              f"{100 * r['plain_bound']:>12.2f}%")
    print(f"{result['ms_per_number']:.2f} ms per number (decode + segment + model); "
          "plain bound = every digit of the number right on plain MNIST")


def print_categories(result: dict) -> None:
    print(f"written numbers by category, model {result['model']}, seed {result['seed']}")
    print(f"{'category / kind':<26}{'n':>6}{'exact':>9}{'count':>9}{'ms/number':>11}")
    for name, r in result["categories"].items():
        print(f"{name:<26}{r['n']:>6}{100 * r['exact']:>8.1f}%{100 * r['count']:>8.1f}%{r['ms_per_number']:>11.1f}")
        for kind, k in r.get("by_kind", {}).items():
            print(f"  {kind:<24}{k['n']:>6}{100 * k['exact']:>8.1f}%{100 * k['count']:>8.1f}%")
    o = result["overall"]
    print(f"{'all':<26}{o['n']:>6}{100 * o['exact']:>8.1f}%{100 * o['count']:>8.1f}%")
    print("exact = the whole string right; count = the right number of digits")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--model", default="paper", help="bundled model name or .onnx path")
    parser.add_argument("--n", type=int, default=1000, help="number of written numbers per category")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--categories", default="mnist",
                        help=f"comma-separated categories, or 'all' ({', '.join(CATEGORIES)})")
    parser.add_argument("--touch", type=float, default=0.2,
                        help="mnist category: probability that two neighbouring digits touch")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "inkdigit-numbers",
                        help="directory for one folder of PNGs and labels.csv per category")
    parser.add_argument("--data-dir", default=None, help="MNIST and fonts cache directory (None: inkdigit's cache)")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                        help="processes generating pictures")
    parser.add_argument("--reuse", action="store_true", help="read existing PNGs in --out, do not regenerate")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("--n must be at least 1")
    categories = list(CATEGORIES) if args.categories == "all" else [
        c.strip() for c in args.categories.split(",") if c.strip()]
    unknown = [c for c in categories if c not in CATEGORIES]
    if unknown or not categories:
        parser.error(f"unknown categories {', '.join(unknown) or '(none given)'}; known: {', '.join(CATEGORIES)}")

    from inkdigit.data import load
    from inkdigit.data.fonts import BENCHMARK_FAMILIES, font_paths
    from inkdigit.errors import InkdigitError
    from inkdigit.inference import Predictor

    try:
        if categories == ["fonts"]:  # the one category that needs no MNIST
            images, labels = np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.int64)
        else:
            images, labels = load("mnist", "test", args.data_dir)
        fonts = font_paths(BENCHMARK_FAMILIES, args.data_dir) if "fonts" in categories else {}
    except InkdigitError as e:
        print(f"{Path(__file__).name}: error: {e}", file=sys.stderr)
        return 1
    pool = Pool(images, labels, {name: str(path) for name, path in fonts.items()})
    predictor = Predictor.load(args.model)
    results, lines = {}, []
    for category in categories:
        folder = args.out / category
        t0 = time.perf_counter()
        if args.reuse:
            with open(folder / "labels.csv", newline="") as f:
                rows = list(csv.DictReader(f))[: args.n]
        elif category == "mnist":
            rows = generate(images, labels, args.n, args.seed, args.touch, folder, args.workers)
        else:
            rows = generate_category(category, pool, args.n, args.seed, folder, args.workers)
        gen_seconds = time.perf_counter() - t0
        lines.append(f"reused {len(rows)} numbers in {folder}" if args.reuse
                     else f"generated {len(rows)} numbers in {gen_seconds:.1f} s into {folder}")
        if category == "mnist":
            results[category] = evaluate(predictor, rows, folder, images, labels)
        else:
            results[category] = evaluate_category(predictor, rows, folder)
        results[category].update(out=str(folder), generate_seconds=round(gen_seconds, 2))
    total = sum(r["n"] for r in results.values())
    result = {"model": predictor.name, "seed": args.seed, "categories": results,
              "overall": {"n": total, "exact": sum(r["exact"] * r["n"] for r in results.values()) / total,
                          "count": sum(r["count"] * r["n"] for r in results.values()) / total}}
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        print()
        return 0
    print("\n".join(lines))
    if "mnist" in results:
        print_table(results["mnist"])
    if categories != ["mnist"]:
        print_categories(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())

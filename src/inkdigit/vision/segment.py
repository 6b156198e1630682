"""Split a written number ("2026") into its digits, left to right, each preprocessed like a single digit.

Connected components of the ink (see :mod:`inkdigit.vision.ink`) are merged when they belong to one digit
(a "5" with a lifted top bar, a "4" in two strokes: their horizontal extents overlap), specks are dropped,
and a box much wider than a digit (touching digits) is cut at the column-projection minima.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from inkdigit.vision.components import paint_runs
from inkdigit.vision.decode import to_picture
from inkdigit.vision.ink import WORK_SIDE, Ink, analyse_ink, ink_crop
from inkdigit.vision.normalise import model_input
from inkdigit.vision.ops import dilate_square

__all__ = ["DigitPiece", "segment"]

# Two pieces are one digit when their horizontal overlap covers this much of the narrower one.
MERGE_OVERLAP = 0.5
# A piece shorter than this fraction of the line's tallest may be part of the digit next to it when the gap
# between them is under FRAGMENT_GAP of the line height (2.5x that for a piece under 0.4 of it) and
# together they are no wider than MAX_ASPECT.
FRAGMENT_HEIGHT = 0.75
FRAGMENT_GAP = 0.12
MAX_ASPECT = 1.1
# Touching digits are cut when a box is at least this many expected digit widths wide
SPLIT_WIDTHS = 1.5
# ... and wider than this times the line height; with no other digit to compare, LONE_SPLIT_ASPECT.
SPLIT_ASPECT = 1.15
LONE_SPLIT_ASPECT = 1.4
# A group whose longer side is under this fraction of the tallest digit is a dot, not a digit.
DOT_FRACTION = 0.3
# Width of a digit relative to its height when the number gives nothing better (MNIST median ~0.8).
DEFAULT_ASPECT = 0.8


@dataclass
class DigitPiece:
    """One digit of a number: its box in the source image's pixels and the 28x28 model input."""

    box: tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive end), source pixels
    image: np.ndarray  # float32 [28,28] in [0,1], white on black


def segment(source: Any, *, max_side: int = 4096) -> list[DigitPiece]:
    """A written number -> its digits, left to right, each preprocessed like a single digit.

    Raises NoInkError when the image is blank and ImageError when it is unusable.
    """
    # Digits of a number are smaller than a lone digit in the same picture: analysed at up to 512 px a side.
    found = analyse_ink(*to_picture(source, max_side), WORK_SIDE)
    comps = found.comps
    groups = _group(comps)
    boxes = [_extent(comps, g) for g in groups]
    tallest = max(b[3] - b[1] for b in boxes)
    # Dots: groups much smaller than the tallest digit.
    kept = [(g, b) for g, b in zip(groups, boxes, strict=True)
            if max(b[2] - b[0], b[3] - b[1]) >= DOT_FRACTION * tallest]
    # The width of one digit in this number, from the digits that look like one (not a "1", not a run of
    # touching digits), kept within a plausible range of the line height.
    heights = [b[3] - b[1] for _, b in kept]
    line = float(np.median([h for h in heights if h >= 0.5 * tallest]))
    widths = [b[2] - b[0] for _, b in kept if 0.45 <= (b[2] - b[0]) / max(b[3] - b[1], 1) <= 1.1]
    lone = len(kept) < 2 or not widths
    ref = DEFAULT_ASPECT * line if lone else min(max(float(np.median(widths)), 0.6 * line), 0.9 * line)

    pieces: list[tuple[float, DigitPiece]] = []
    for g, (x0, y0, x1, y1) in kept:
        sel = np.isin(found.run_label, g)
        runs = found.runs[sel] - np.array([y0, x0, x0])
        mask = paint_runs((y1 - y0, x1 - x0), runs)
        # Only this group's ink (a neighbour's stroke may reach into the box), with its soft edges.
        grown = dilate_square(mask)
        # Touching digits are one connected piece: a group wide only because it gathered fragments is not.
        main = int((comps[g, 2] - comps[g, 0]).max())
        cuts = _split(mask.sum(axis=0).astype(np.float32), main, line, ref, lone)
        for a, b in zip(cuts[:-1], cuts[1:], strict=True):
            rows = np.flatnonzero(mask[:, a:b].any(axis=1))
            if rows.size == 0:
                continue
            r0, r1 = int(rows[0]), int(rows[-1]) + 1
            box = (x0 + a, y0 + r0, x0 + b, y0 + r1)
            part, step = ink_crop(found, box, keep=grown[r0:r1, a:b])
            if float(part.max()) <= 0.02:
                continue
            piece = DigitPiece(box=_to_source(found, box), image=model_input(part, reduced=step > 1))
            pieces.append((x0 + (a + b) / 2, piece))
    pieces.sort(key=lambda p: p[0])
    return [p for _, p in pieces]


def _group(comps: np.ndarray) -> list[list[int]]:
    """Components -> digits: merge pieces whose horizontal extents overlap substantially, then attach
    fragments (much shorter than the line, e.g. a lifted bar or a broken loop) to the digit next to them."""
    groups = [[i] for i in np.argsort(comps[:, 0], kind="stable").tolist()]
    line = float(np.max(comps[:, 3] - comps[:, 1]))
    changed = True
    while changed and len(groups) > 1:
        changed = False
        boxes = [_extent(comps, g) for g in groups]
        best: tuple[float, int, int] | None = None
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                a, b = boxes[i], boxes[j]
                overlap = min(a[2], b[2]) - max(a[0], b[0])
                narrower = min(a[2] - a[0], b[2] - b[0])
                if overlap >= MERGE_OVERLAP * narrower:
                    best = (-1.0, i, j)
                    break
                shorter = min(a[3] - a[1], b[3] - b[1]) / line
                union = max(a[2], b[2]) - min(a[0], b[0])
                gap = max(0, -overlap)
                # A bar or stroke end (very short) may sit further off than a broken loop, and stick out.
                flat = shorter < 0.4
                reach = FRAGMENT_GAP * line * (2.5 if flat else 1.0)
                widest = MAX_ASPECT * line * (1.4 if flat else 1.0)
                fits = shorter < FRAGMENT_HEIGHT and gap <= reach and union <= widest
                if fits and (best is None or gap < best[0]):
                    best = (float(gap), i, j)
            if best is not None and best[0] < 0:
                break
        if best is not None:
            _, i, j = best
            groups[i] += groups.pop(j)
            changed = True
    return groups


def _extent(comps: np.ndarray, g: list[int]) -> tuple[int, int, int, int]:
    return (int(comps[g, 0].min()), int(comps[g, 1].min()), int(comps[g, 2].max()), int(comps[g, 3].max()))


def _split(profile: np.ndarray, main: int, line: float, ref: float, lone: bool) -> list[int]:
    """Cut columns for one group: [0, w] for a single digit, more when it is touching digits.

    A group is cut only when its widest connected component (`main`) is much wider than a digit of this
    number (with no other digit to compare, much wider than tall: MNIST has flat digits 1.4x as wide as
    tall). The number of pieces is the one of floor/ceil(width/ref) whose cuts go through the least ink,
    preferring even widths and fewer pieces.
    """
    w = len(profile)
    threshold = LONE_SPLIT_ASPECT * line if lone else max(SPLIT_WIDTHS * ref, SPLIT_ASPECT * line)
    if main < threshold:
        return [0, w]
    smooth = np.convolve(profile, np.ones(3) / 3, mode="same")
    typical = float(np.median(smooth[smooth > 0])) or 1.0
    ratio = w / ref
    best: tuple[float, list[int]] | None = None
    for n in sorted({max(2, math.floor(ratio)), max(2, math.ceil(ratio))}):
        cuts = _cuts(smooth, n)
        depth = float(np.mean([smooth[c] for c in cuts[1:-1]])) / typical
        score = depth + 0.5 * abs(ratio / n - 1) + 0.3 * (n - 2)  # two touching is by far the most common
        if best is None or score < best[0]:
            best = (score, cuts)
    assert best is not None
    return best[1]


def _cuts(smooth: np.ndarray, n: int) -> list[int]:
    """Columns cutting a run of n touching digits: projection minima near the evenly spaced positions."""
    w = len(smooth)
    cuts = [0]
    for k in range(1, n):
        ideal = k * w / n
        half = 0.3 * w / n
        lo, hi = max(cuts[-1] + 1, int(ideal - half)), min(w - 1, int(math.ceil(ideal + half)))
        if hi <= lo:
            cuts.append(min(w - 1, max(cuts[-1] + 1, round(ideal))))
            continue
        cols = np.arange(lo, hi + 1)
        # Prefer the emptiest column; among near-equal ones, the one nearest the even split.
        cost = smooth[lo : hi + 1] + 0.02 * float(smooth.max()) * np.abs(cols - ideal) / max(half, 1)
        cuts.append(int(cols[np.argmin(cost)]))
    cuts.append(w)
    return cuts


def _to_source(found: Ink, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    sx, sy = found.scale
    w, h = found.source_size
    x0, y0, x1, y1 = box
    return (
        max(0, math.floor(x0 * sx)),
        max(0, math.floor(y0 * sy)),
        min(w, math.ceil(x1 * sx)),
        min(h, math.ceil(y1 * sy)),
    )

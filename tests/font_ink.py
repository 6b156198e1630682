"""Pen strokes that write a line of text in a benchmark handwriting font, for the page's and the desktop app's
mode tests (tests/test_web_modes.py, tests/test_gui_modes.py).

The letters, alnum and math models learn from font glyphs, and the benchmark families are never trained on
(`inkdigit.data.fonts.BENCHMARK_FAMILIES`), so a glyph of one of them is fair ink to read. A pen writes a
glyph along its middle: the glyph is thinned to its centre line (Zhang and Suen's thinning), and each line of
it is one stroke, one character after the other, as a hand would write them. Painted with the round pen of the
page and the app, the strokes give the glyph back as drawn with that pen.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from inkdigit.data.fonts import BENCHMARK_FAMILIES, font_paths
from inkdigit.data.handwriting import draw_text
from inkdigit.vision.strokes import group, parse

Stroke = list[tuple[float, float]]
Pixel = tuple[int, int]
TRIES = 40  # seeds tried for a drawing whose characters stand apart
EVERY = 3  # a stroke keeps every EVERY-th pixel of its centre line (and its last)


def pen_strokes(
    text: str,
    *,
    family: str,
    canvas: tuple[int, int],
    brush: float,
    box: tuple[float, float, float, float],
    seed: int = 0,
) -> list[Stroke]:
    """Strokes in page units ([0,1] of the canvas's width and height) that write `text` (no spaces) in a
    benchmark `family`, drawn by `draw_text` with the first seed from `seed` whose characters stand apart,
    fitted into `box` (u0, v0, u1, v1) of a `canvas` (width, height in pixels). Each character's strokes form
    one stroke group for a pen `brush` pixels wide (what the page and the API take for one character)."""
    assert family in BENCHMARK_FAMILIES, f"{family} is trained on: use a benchmark family"
    ink = _apart(text, str(font_paths([family])[family]), seed)
    width, height = canvas
    u0, v0, u1, v1 = box
    scale = min((u1 - u0) * width / ink.shape[1], (v1 - v0) * height / ink.shape[0])
    size = (max(1, round(ink.shape[1] * scale)), max(1, round(ink.shape[0] * scale)))
    mask = np.asarray(Image.fromarray(ink.astype(np.uint8) * 255).resize(size, Image.Resampling.BILINEAR)) >= 128
    left = u0 * width + ((u1 - u0) * width - size[0]) / 2
    top = v0 * height + ((v1 - v0) * height - size[1]) / 2
    strokes: list[Stroke] = []
    for x0, x1 in _runs(mask.any(axis=0)):
        lines = _uncovered(_centre_lines(_thin(mask[:, x0:x1])), brush / 2)
        for line in _in_one_group(lines):
            strokes.append([((left + x0 + x + 0.5) / width, (top + y + 0.5) / height) for y, x in line])
    doc = {"strokes": [[[u * width, v * height] for u, v in s] for s in strokes], "width": width,
           "height": height, "brush": brush}
    groups = group(parse(doc))
    assert len(groups) == len(text), f"{text!r} in {family} makes {len(groups)} stroke groups"
    return strokes


def _thin(mask: np.ndarray) -> np.ndarray:
    """Zhang and Suen's thinning (1984): ink peeled off a pixel at a time, down to 8-connected centre lines."""
    img = np.pad(mask, 1)
    while True:
        changed = False
        for second in (False, True):
            p = [np.roll(img, shift, axis=(0, 1)) for shift in
                 ((1, 0), (1, -1), (0, -1), (-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1))]  # N NE E SE S SW W NW
            neighbours = sum(q.astype(np.int8) for q in p)
            turns = sum(((~p[i]) & p[(i + 1) % 8]).astype(np.int8) for i in range(8))
            n, e, s, w = p[0], p[2], p[4], p[6]
            side = (n & e & w) | (n & s & w) if second else (n & e & s) | (e & s & w)
            peel = img & (neighbours >= 2) & (neighbours <= 6) & (turns == 1) & ~side
            if peel.any():
                img = img & ~peel
                changed = True
        if not changed:
            return img[1:-1, 1:-1]


def _centre_lines(skeleton: np.ndarray) -> list[list[Pixel]]:
    """A thinned glyph as pen lines: from each end (then around any loop left), on along the straightest way,
    until no unwritten step is left; a lone pixel is a dot."""
    pixels = {(int(y), int(x)) for y, x in zip(*np.nonzero(skeleton), strict=True)}

    def around(p: Pixel) -> list[Pixel]:
        return [(p[0] + dy, p[1] + dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
                if (dy or dx) and (p[0] + dy, p[1] + dx) in pixels]

    done: set[frozenset[Pixel]] = set()
    lines: list[list[Pixel]] = []
    starts = sorted(pixels, key=lambda p: (len(around(p)) != 1, p))  # ends first, top-left first
    for start in starts:
        if not around(start) and not any(start in step for step in done):
            lines.append([start])
        while any(frozenset((start, q)) not in done for q in around(start)):
            line, here, heading = [start], start, (0, 0)
            while True:
                free = [q for q in around(here) if frozenset((here, q)) not in done]
                if not free:
                    break
                nxt = max(free, key=lambda q: (q[0] - here[0]) * heading[0] + (q[1] - here[1]) * heading[1])
                done.add(frozenset((here, nxt)))
                heading, here = (nxt[0] - here[0], nxt[1] - here[1]), nxt
                line.append(here)
            lines.append(line[::EVERY] + ([line[-1]] if (len(line) - 1) % EVERY else []))
    return lines


def _uncovered(lines: list[list[Pixel]], radius: float) -> list[list[Pixel]]:
    """The lines whose ink the longer ones do not already lay down: thinning leaves short spurs and corners
    that a pen of this `radius` covers anyway (and every stroke is one more reading on the page). The order of
    the rest is kept."""
    kept: list[int] = []
    for i in sorted(range(len(lines)), key=lambda i: -len(lines[i])):
        here = np.array(lines[i], float)
        others = [np.array(lines[k], float) for k in kept]
        if not others or np.sqrt(((here[:, None] - np.concatenate(others)[None]) ** 2).sum(-1)).min(1).max() > radius:
            kept.append(i)
    return [lines[i] for i in sorted(kept)]


def _in_one_group(lines: list[list[Pixel]]) -> list[list[Pixel]]:
    """A character's lines in an order where each overlaps, left to right, the ones before it, so that together
    they make one stroke group (`inkdigit.vision.strokes.group`): the first line first, then the next one that
    reaches what is written. A line that reaches nothing written yet (it was joined by a spur that `_uncovered`
    left out) starts from the written point nearest to it, as a pen carrying on from there would."""
    todo, done = list(lines), [lines[0]]
    todo.remove(lines[0])
    lo, hi = min(x for _, x in lines[0]), max(x for _, x in lines[0])
    while todo:
        nxt = next((line for line in todo if min(x for _, x in line) <= hi and max(x for _, x in line) >= lo), None)
        if nxt is None:
            nxt = min(todo, key=lambda line: min(abs(x - lo) + abs(x - hi) for _, x in line))
            todo.remove(nxt)
            written = np.concatenate([np.array(line, float) for line in done])
            ends = np.array([nxt[0], nxt[-1]], float)
            gaps = np.sqrt(((ends[:, None] - written[None]) ** 2).sum(-1))
            end, at = np.unravel_index(gaps.argmin(), gaps.shape)
            start = (int(written[at][0]), int(written[at][1]))
            nxt = [start, *(nxt if end == 0 else nxt[::-1])]
        else:
            todo.remove(nxt)
        done.append(nxt)
        lo, hi = min(lo, *(x for _, x in nxt)), max(hi, *(x for _, x in nxt))
    return done


def _apart(text: str, font: str, seed: int) -> np.ndarray:
    """The ink (bool, True = ink) of `text` drawn by `draw_text`, from the first seed whose characters do not
    share a column (each can then be written on its own)."""
    for s in range(seed, seed + TRIES):
        picture, _ = draw_text(font, text, np.random.default_rng(s))
        ink = np.asarray(picture) < 128
        if len(_runs(ink.any(axis=0))) == len(text):
            return ink
    raise AssertionError(f"no seed in {seed}..{seed + TRIES - 1} draws {text!r} with its characters apart")


def _runs(line: np.ndarray) -> list[tuple[int, int]]:
    """The [start, end) of each run of True in a 1-D bool array."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], line.astype(np.int8), [0]))))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))

"""A drawing sent as strokes (digital ink) → the picture the model reads, and which ink is one character.

A drawing is what digital-ink APIs (Google's ML Kit, Cloud ink) take, plus the canvas and the pen::

    {"strokes": [[[x, y], [x, y], ...], ...], "width": 280, "height": 280, "brush": 20}

``x, y`` are pixels of a ``width`` x ``height`` canvas (y down); a point may carry a third number, its time,
which is checked and otherwise ignored. ``brush`` is the pen's width in the same pixels: one number, or one
per stroke; left out, it is the pen of the page and the desktop app (7% of the canvas's shorter side).

`parse` checks a decoded JSON document (every mistake is a one-line `StrokesError`, every limit a
`StrokesTooLargeError`). `render` paints it the way the page's canvas and the desktop app's sheet show it:
each stroke smoothed through the midpoints of its points (the canvas's quadratic curves, Tk's smooth lines),
round caps and joins, black ink on white, anti-aliased. It also groups the strokes into characters (`group`):
what the writer's pen says about where one character ends, which a picture no longer says.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from inkdigit.errors import StrokesError, StrokesTooLargeError
from inkdigit.vision.decode import MIN_SIDE

MAX_STROKES = 1_000
MAX_POINTS = 100_000  # over all strokes
MAX_SIDE = 4096  # canvas pixels a side, like a picture's (at least MIN_SIDE, as a picture's)
DEFAULT_BRUSH = 0.07  # of the canvas's shorter side: the desktop app's pen, and the page's (20 px of 280)
MIN_BRUSH = 0.5  # pixels
MAX_BRUSH = 0.5  # of the canvas's shorter side
MARGIN = 1.0  # a point may lie this many canvas widths (heights) beyond the canvas: a pen that left it
FIELDS = ("strokes", "width", "height", "brush")

# Rendering. Strokes are drawn at up to SUPERSAMPLE times the canvas's resolution and box-filtered down,
# which anti-aliases them like a browser canvas. The render scale drops below that for a wide pen, a huge
# canvas or a flood of ink, so no drawing within the limits costs more than about INK_BUDGET pixel fills.
SUPERSAMPLE = 3
MAX_RENDER_BRUSH = 96  # render pixels
MAX_RENDER_PIXELS = 8_000_000  # of one group's box
INK_BUDGET = 30_000_000  # render pixels painted, roughly
TOLERANCE = 0.25  # render pixels: how far a flattened curve or a dropped point may stray
MAX_PIECES = 16  # straight pieces per curve
MIN_ROUND = 0.75  # render pixels: a pen thinner than twice this draws no round joins (they would not show)
MAX_ATOM_BYTES = 256 << 20  # all groups' full-picture masks together


@dataclass(frozen=True, eq=False)
class Drawing:
    """A checked drawing: strokes in writing order, each an (n, 2) float array of canvas pixels."""

    width: int
    height: int
    strokes: tuple[np.ndarray, ...]
    brushes: tuple[float, ...]  # the pen's width for each stroke, in canvas pixels

    @property
    def points(self) -> int:
        """How many points the strokes have together."""
        return sum(len(s) for s in self.strokes)


@dataclass(frozen=True, eq=False)
class StrokeGroup:
    """Strokes that make one character: which ones, and where their ink lies in the rendered picture."""

    strokes: tuple[int, ...]  # indices into Drawing.strokes
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 (end exclusive) of the ink, in picture pixels
    mask: np.ndarray  # bool, the box's size: where this group's ink is

    def full_mask(self, width: int, height: int) -> np.ndarray:
        """This group's ink as a bool mask over the whole width x height picture."""
        out = np.zeros((height, width), bool)
        x0, y0, x1, y1 = self.box
        out[y0:y1, x0:x1] = self.mask
        return out


@dataclass(frozen=True, eq=False)
class Rendered:
    """A drawing painted: the grey picture (255 paper, 0 ink) and its stroke groups, left to right in time."""

    image: np.ndarray  # uint8, height x width
    groups: tuple[StrokeGroup, ...]

    @property
    def picture(self) -> Image.Image:
        """The picture as a grey PIL image: what a PNG upload of the same drawing decodes to."""
        return Image.fromarray(self.image, mode="L")

    def atoms(self) -> list[np.ndarray]:
        """One bool mask over the picture per stroke group: ink the segmentation must keep in one piece."""
        height, width = self.image.shape
        if len(self.groups) * width * height > MAX_ATOM_BYTES:
            raise StrokesTooLargeError(
                f"too many separate characters ({len(self.groups)}) to read on a {width}x{height} canvas"
            )
        return [g.full_mask(width, height) for g in self.groups]


# ---------------------------------------------------------------- checking


def parse(doc: Any) -> Drawing:
    """A decoded JSON document → a checked Drawing; raises StrokesError (or StrokesTooLargeError) saying why."""
    if not isinstance(doc, Mapping):
        raise StrokesError('a drawing is a JSON object {"strokes": [...], "width": W, "height": H}')
    unknown = [k for k in doc if k not in FIELDS]
    if unknown:
        raise StrokesError(f"unknown field {str(unknown[0])[:40]!r}: a drawing has {', '.join(FIELDS)}")
    listed = _stroke_lists(doc.get("strokes"))
    width, height = _side(doc, "width"), _side(doc, "height")
    strokes = tuple(_points(stroke, i, width, height) for i, stroke in enumerate(listed))
    brushes = _brushes(doc.get("brush"), len(strokes), min(width, height))
    return Drawing(width, height, strokes, brushes)


def _side(doc: Mapping, name: str) -> int:
    if name not in doc:
        raise StrokesError(f"missing field {name!r}: the canvas's {name} in pixels")
    value = doc[name]
    if not _is_number(value) or (isinstance(value, float) and not value.is_integer()):
        raise StrokesError(f"{name} must be a whole number of pixels, not {_shown(value)}")
    if value > MAX_SIDE:
        raise StrokesTooLargeError(f"{name} {_shown(value)} is over the limit of {MAX_SIDE} pixels")
    if value < MIN_SIDE:
        raise StrokesError(f"{name} {int(value)} is too small: a canvas is at least {MIN_SIDE} pixels a side")
    return int(value)


def _stroke_lists(value: Any) -> list[list]:
    """The strokes as lists, their number and their points' counted before a single point is looked at."""
    if value is None:
        raise StrokesError("missing field 'strokes': a list of strokes, each a list of [x, y] points")
    if not isinstance(value, list):
        raise StrokesError("strokes must be a list of strokes, each a list of [x, y] points")
    if not value:
        raise StrokesError("no strokes: the drawing is empty")
    if len(value) > MAX_STROKES:
        raise StrokesTooLargeError(f"too many strokes: {len(value)} (the limit is {MAX_STROKES})")
    total = 0
    for i, stroke in enumerate(value):
        if not isinstance(stroke, list):
            raise StrokesError(f"strokes[{i}] must be a list of [x, y] points, not {_shown(stroke)}")
        if not stroke:
            raise StrokesError(f"strokes[{i}] has no points")
        total += len(stroke)
    if total > MAX_POINTS:
        raise StrokesTooLargeError(f"too many points: {total} (the limit is {MAX_POINTS})")
    return value


def _points(stroke: list, i: int, width: int, height: int) -> np.ndarray:
    """One stroke's points as an (n, 2) float array, each checked: [x, y] or [x, y, t], finite, near the canvas."""
    timed = False
    for j, p in enumerate(stroke):
        if not isinstance(p, list) or not 2 <= len(p) <= 3:
            raise StrokesError(f"strokes[{i}][{j}] must be a point [x, y] or [x, y, t], not {_shown(p)}")
        for v in p:
            if not _is_number(v):
                raise StrokesError(f"strokes[{i}][{j}] holds {_shown(v)}, not a number")
        timed = timed or len(p) == 3
    try:
        values = np.array([p + [0] * (3 - len(p)) for p in stroke] if timed else stroke, dtype=np.float64)
    except OverflowError:  # an integer too large for a float
        values = np.array([[_finite(v) for v in p] for p in stroke], dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(values).all(axis=1))
    if len(bad):
        raise StrokesError(f"strokes[{i}][{int(bad[0])}] holds a number that is not finite (NaN, infinite or huge)")
    xy = values[:, :2]
    lo = np.array([-MARGIN * width, -MARGIN * height])
    hi = np.array([(1 + MARGIN) * width, (1 + MARGIN) * height])
    outside = np.flatnonzero(((xy < lo) | (xy > hi)).any(axis=1))
    if len(outside):
        j = int(outside[0])
        x, y = xy[j]
        raise StrokesError(
            f"strokes[{i}][{j}] = [{x:g}, {y:g}] is far outside the {width}x{height} canvas"
        )
    return xy


def _brushes(value: Any, count: int, side: int) -> tuple[float, ...]:
    """One pen width per stroke: the default, one number for all, or a list with one number per stroke."""
    if value is None:
        return (DEFAULT_BRUSH * side,) * count
    values = value if isinstance(value, list) else [value]
    if isinstance(value, list) and len(value) != count:
        raise StrokesError(
            f"brush has {len(value)} widths for {count} stroke{'s' if count != 1 else ''}: give one, or one per stroke"
        )
    top = MAX_BRUSH * side
    for v in values:
        if not _is_number(v) or not MIN_BRUSH <= v <= top:
            raise StrokesError(f"brush must be a width in pixels from {MIN_BRUSH:g} to {top:g}, not {_shown(v)}")
    return tuple(float(v) for v in values) if isinstance(value, list) else (float(value),) * count


def _finite(v: float) -> float:
    try:
        return float(v)
    except OverflowError:
        return math.inf


def _is_number(v: Any) -> bool:
    # JSON numbers only: bool is an int to Python, and a string of digits is not a number to JSON.
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _shown(v: Any) -> str:
    """A value as a client would recognise it in an error message, kept short."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, str):
        return f"the string {v[:20]!r}"
    if isinstance(v, list):
        return "a list" if v else "an empty list"
    if isinstance(v, Mapping):
        return "an object"
    if isinstance(v, float) and not math.isfinite(v):
        return "NaN" if v != v else "an infinite number"
    return repr(v)[:24]


# ---------------------------------------------------------------- grouping


def group(drawing: Drawing) -> list[tuple[int, ...]]:
    """The strokes of each character, in writing order.

    A stroke starts a new character unless it overlaps, left to right, the character written just before it:
    the bar of a 4 or of a 7 is written right after the rest and over it, the next digit beside it. The
    extents are those of the pen's centre line, so two digits written close together stay apart.
    """
    groups: list[list[int]] = []
    lo = hi = 0.0
    for i, pts in enumerate(drawing.strokes):
        x0, x1 = float(pts[:, 0].min()), float(pts[:, 0].max())
        if groups and x0 <= hi and x1 >= lo:
            groups[-1].append(i)
            lo, hi = min(lo, x0), max(hi, x1)
        else:
            groups.append([i])
            lo, hi = x0, x1
    return [tuple(g) for g in groups]


# ---------------------------------------------------------------- painting


def render(drawing: Drawing) -> Rendered:
    """Paint the drawing into a grey picture of its canvas and find its stroke groups' ink."""
    image = np.full((drawing.height, drawing.width), 255, np.uint8)
    groups = []
    for members in group(drawing):
        painted = _paint_group(drawing, members)
        if painted is None:  # every stroke of it lies beyond the canvas
            continue
        box, coverage = painted
        x0, y0, x1, y1 = box
        region = image[y0:y1, x0:x1]
        np.minimum(region, 255 - coverage, out=region)
        groups.append(StrokeGroup(members, box, coverage > 0))
    return Rendered(image, tuple(groups))


def _paint_group(drawing: Drawing, members: tuple[int, ...]) -> tuple[tuple[int, int, int, int], np.ndarray] | None:
    """The ink of some strokes inside their box on the canvas: (box, coverage 0-255 uint8), or None if off it."""
    strokes = [drawing.strokes[i] for i in members]
    brushes = [drawing.brushes[i] for i in members]
    reach = max(brushes) / 2 + 1
    lo = np.min([s.min(axis=0) for s in strokes], axis=0) - reach
    hi = np.max([s.max(axis=0) for s in strokes], axis=0) + reach
    x0, y0 = max(0, math.floor(lo[0])), max(0, math.floor(lo[1]))
    x1, y1 = min(drawing.width, math.ceil(hi[0])), min(drawing.height, math.ceil(hi[1]))
    if x1 <= x0 or y1 <= y0:
        return None
    scale = _render_scale(strokes, brushes, (x1 - x0) * (y1 - y0))
    size = (max(1, math.ceil((x1 - x0) * scale)), max(1, math.ceil((y1 - y0) * scale)))
    canvas = Image.new("L", size, 0)
    pen = ImageDraw.Draw(canvas)
    origin = np.array([x0, y0], np.float64)
    for pts, brush in zip(strokes, brushes):
        # PIL puts pixel centres at whole coordinates, a canvas at half ones: hence the half-pixel shift.
        _paint_stroke(pen, (pts - origin) * scale - 0.5, brush * scale)
    region = (0.0, 0.0, (x1 - x0) * scale, (y1 - y0) * scale)
    method = Image.Resampling.BOX if scale >= 1 else Image.Resampling.BILINEAR
    coverage = np.asarray(canvas.resize((x1 - x0, y1 - y0), method, box=region))
    return (x0, y0, x1, y1), coverage


def _render_scale(strokes: list[np.ndarray], brushes: list[float], box_area: int) -> float:
    """Render pixels per canvas pixel for some strokes: SUPERSAMPLE unless their cost says less."""
    widest = max(brushes)
    # Pixels painted per canvas pixel²: each straight piece's rectangle, and a round join at each point.
    cost = 0.0
    for pts, brush in zip(strokes, brushes):
        length = float(np.hypot(*np.diff(pts, axis=0).T).sum()) if len(pts) > 1 else 0.0
        cost += length * brush + 2 * len(pts) * brush * brush  # curves add at most as many points again
    scale = min(SUPERSAMPLE, MAX_RENDER_BRUSH / widest, math.sqrt(MAX_RENDER_PIXELS / box_area))
    return min(scale, math.sqrt(INK_BUDGET / cost)) if cost > 0 else scale


def _paint_stroke(pen: ImageDraw.ImageDraw, pts: np.ndarray, width: float) -> None:
    """One stroke in render pixels: its smoothed centre line with a round pen (a disc at each point)."""
    line = centre_line(pts)
    r = width / 2
    if len(line) > 1:
        pen.line(line.ravel().tolist(), fill=255, width=max(1, round(width)))
        if r < MIN_ROUND:
            return
    for x, y in line.tolist():
        pen.ellipse((x - r, y - r, x + r, y + r), fill=255)


def centre_line(pts: np.ndarray) -> np.ndarray:
    """The polyline a canvas draws for a stroke's points: quadratic curves through the midpoints, flattened.

    The page draws ``moveTo(p0)``, then ``quadraticCurveTo(p[i], midpoint(p[i], p[i+1]))`` for each inner
    point, then ``lineTo(p[n-1])``; Tk's smooth lines are the same curve. Points closer together than
    TOLERANCE (in the units of ``pts``, render pixels) add nothing and are dropped first.
    """
    pts = _thinned(pts)
    if len(pts) <= 2:
        return pts
    ctrl = pts[1:-1]
    ends = (ctrl + pts[2:]) / 2
    starts = np.vstack([pts[:1], ends[:-1]])
    bend = np.hypot(*(starts - 2 * ctrl + ends).T) / 4  # how far each curve strays from its chord
    pieces = np.clip(np.ceil(np.sqrt(bend / TOLERANCE)), 1, MAX_PIECES)
    budget = 2 * len(ctrl) + 4 * MAX_PIECES  # a few sharp turns are curved in full, a zigzag of them is not
    if pieces.sum() > budget:
        pieces = np.maximum(1, np.floor(pieces * (budget / pieces.sum())))
    pieces = pieces.astype(np.int64)
    curve = np.repeat(np.arange(len(ctrl)), pieces)
    first = np.repeat(np.cumsum(pieces) - pieces, pieces)
    t = ((np.arange(len(curve)) - first + 1) / pieces[curve])[:, None]
    flat = (1 - t) ** 2 * starts[curve] + 2 * (1 - t) * t * ctrl[curve] + t * t * ends[curve]
    return np.vstack([pts[:1], flat, pts[-1:]])


def _thinned(pts: np.ndarray) -> np.ndarray:
    """The points with runs inside one TOLERANCE-sized cell cut to their first (the last point is kept)."""
    if len(pts) <= 2:
        return pts
    cells = np.floor(pts / TOLERANCE)
    keep = np.empty(len(pts), bool)
    keep[0] = keep[-1] = True
    keep[1:-1] = (cells[1:-1] != cells[:-2]).any(axis=1)
    return pts[keep]

"""Drawings sent as strokes (vision/strokes.py): what is accepted, what is refused and why, how they are painted
(the page's and the desktop app's pen), and which strokes make one character.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw

from inkdigit.errors import ImageError, ImageTooLargeError, StrokesError, StrokesTooLargeError
from inkdigit.inference import Predictor
from inkdigit.vision import strokes
from inkdigit.vision.strokes import Drawing, parse, render

Points = list[tuple[float, float]]


def doc(stroke_list: list[Any], side: int = 280, **extra: Any) -> dict:
    """A drawing document on a side x side canvas."""
    return {"strokes": stroke_list, "width": side, "height": side, **extra}


def dense(points: Points, step: float = 2.0) -> Points:
    """The polyline through ``points`` with a point every ``step`` pixels: what pointer events give."""
    out = [points[0]]
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        n = max(1, math.ceil(math.hypot(x1 - x0, y1 - y0) / step))
        out += [(x0 + (x1 - x0) * k / n, y0 + (y1 - y0) * k / n) for k in range(1, n + 1)]
    return out


def pil_pen(drawing: Drawing) -> np.ndarray:
    """The same strokes painted the way the desktop app painted its sheet: a PIL line with a disc at each point."""
    img = Image.new("L", (drawing.width, drawing.height), 255)
    pen = ImageDraw.Draw(img)
    for pts, brush in zip(drawing.strokes, drawing.brushes):
        xy = [(x - 0.5, y - 0.5) for x, y in pts.tolist()]  # PIL's pixel centres are at whole coordinates
        if len(xy) > 1:
            pen.line(xy, fill=0, width=round(brush))
        r = brush / 2
        for x, y in xy:
            pen.ellipse((x - r, y - r, x + r, y + r), fill=0)
    return np.asarray(img)


def distance(point: tuple[float, float], line: np.ndarray) -> float:
    """How far a point is from a polyline."""
    a, b = line[:-1], line[1:]
    t = np.clip(((point - a) * (b - a)).sum(axis=1) / np.maximum(((b - a) ** 2).sum(axis=1), 1e-12), 0, 1)
    return float(np.hypot(*(a + t[:, None] * (b - a) - point).T).min())


def unit(shape: Points, side: int) -> list[list[float]]:
    return [[x * side, y * side] for x, y in shape]


# Digits as a person writes them, in canvas units [0,1]; dense, like pointer events.
SEVEN = [[(0.28, 0.22), (0.72, 0.22), (0.6, 0.45), (0.45, 0.8)]]
FOUR = [[(0.36, 0.2), (0.29, 0.58), (0.72, 0.58)], [(0.62, 0.24), (0.62, 0.82)]]
ONE = [[(0.55, 0.2), (0.51, 0.5), (0.47, 0.8)]]
ZERO = [[(0.5 + 0.19 * math.sin(a), 0.5 - 0.3 * math.cos(a)) for a in np.linspace(0, 2.05 * math.pi, 40)]]


def drawn(shapes: list[Points], side: int = 280, brush: float = 20) -> dict:
    return doc([unit(dense([(x * side, y * side) for x, y in s]), 1) for s in shapes], side, brush=brush)


# ---------------------------------------------------------------- what is accepted


def test_a_drawing_is_read_in_canvas_pixels_with_its_pen() -> None:
    d = parse({"strokes": [[[10, 20], [30.5, 40]], [[50, 60, 1234.5]]], "width": 100, "height": 80, "brush": 6})
    assert (d.width, d.height, d.points) == (100, 80, 3)
    assert d.strokes[0].tolist() == [[10, 20], [30.5, 40]]
    assert d.strokes[1].tolist() == [[50, 60]]  # a point's time is allowed and not used
    assert d.brushes == (6.0, 6.0)


def test_the_pen_defaults_to_the_apps_and_may_change_per_stroke() -> None:
    assert parse(doc([[[1, 1]]], 200)).brushes == (pytest.approx(14),)  # 7% of the shorter side
    assert parse({"strokes": [[[1, 1]]], "width": 640, "height": 480}).brushes == (pytest.approx(33.6),)
    assert parse(doc([[[1, 1]], [[2, 2]]], brush=[4, 9.5])).brushes == (4.0, 9.5)
    assert parse(doc([[[1, 1]]], width=280.0)).width == 280  # a whole number written as a float is fine


def test_points_a_little_outside_the_canvas_are_kept_and_clipped() -> None:
    """A pen that leaves the canvas while drawing: the part on the canvas is drawn, nothing else."""
    d = parse(doc([[[140, 140], [-200, 140]]], brush=10))
    image = render(d).image
    assert image[140, 0] == 0 and image[140, 143] < 128 and image[140, 146] == 255 and image[150, 70] == 255


# ---------------------------------------------------------------- what is refused, and why

BAD = [
    (["strokes"], "JSON object"),
    ({"strokes": [[[1, 1]]], "width": 10, "height": 10, "colour": "red"}, "unknown field 'colour'"),
    ({"width": 10, "height": 10}, "missing field 'strokes'"),
    ({"strokes": [[[1, 1]]], "height": 10}, "missing field 'width'"),
    (doc("abc"), "must be a list of strokes"),
    (doc([]), "no strokes"),
    (doc([[[1, 1]], []]), "strokes[1] has no points"),
    (doc([[1, 2]]), "strokes[0][0] must be a point [x, y] or [x, y, t], not 1"),
    (doc([[[1, 1], [1]]]), "strokes[0][1] must be a point"),
    (doc([[[1, 1, 2, 3]]]), "strokes[0][0] must be a point"),
    (doc([[[[1, 1]]]]), "strokes[0][0] must be a point [x, y] or [x, y, t], not a list"),
    (doc([5]), "strokes[0] must be a list of [x, y] points, not 5"),
    (doc([[[1, "2"]]]), "the string '2', not a number"),
    (doc([[[1, True]]]), "true, not a number"),
    (doc([[[None, 1]]]), "null, not a number"),
    (doc([[[1, 1], [math.nan, 1]]]), "strokes[0][1] holds a number that is not finite"),
    (doc([[[1, math.inf]]]), "not finite"),
    (doc([[[1, 1, -math.inf]]]), "not finite"),  # a time is checked too
    (doc([[[10**400, 1]]]), "not finite"),
    (doc([[[1, 1], [2000, 5]]]), "strokes[0][1] = [2000, 5] is far outside the 280x280 canvas"),
    (doc([[[1, -300]]]), "far outside"),
    (doc([[[1, 1]]], width=12.5), "whole number of pixels"),
    (doc([[[1, 1]]], width="280"), "whole number of pixels"),
    (doc([[[1, 1]]], width=4), "at least 8 pixels"),
    (doc([[[1, 1]]], brush=0), "brush must be a width"),
    (doc([[[1, 1]]], brush=200), "brush must be a width in pixels from 0.5 to 140"),
    (doc([[[1, 1]]], brush=[3, 4]), "2 widths for 1 stroke"),
    (doc([[[1, 1]]], brush="thick"), "brush must be a width"),
]


@pytest.mark.parametrize(("document", "words"), BAD, ids=[w for _, w in BAD])
def test_a_malformed_drawing_is_refused_in_one_line(document: Any, words: str) -> None:
    with pytest.raises(StrokesError) as caught:
        parse(document)
    assert words in str(caught.value)
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 160
    assert not isinstance(caught.value, StrokesTooLargeError)
    assert isinstance(caught.value, ImageError)  # the API answers 422, the CLI and the GUI show one line


TOO_LARGE = [
    (doc([[[1, 1]]] * 1001), "too many strokes: 1001 (the limit is 1000)"),
    (doc([[[1, 1]] * 50_000, [[2, 2]] * 50_001]), "too many points: 100001 (the limit is 100000)"),
    (doc([[[1, 1]]], width=4097), "width 4097 is over the limit of 4096 pixels"),
]


@pytest.mark.parametrize(("document", "words"), TOO_LARGE, ids=[w for _, w in TOO_LARGE])
def test_a_drawing_over_a_limit_is_refused_as_too_large(document: dict, words: str) -> None:
    with pytest.raises(StrokesTooLargeError, match=words.replace("(", r"\(").replace(")", r"\)")):
        parse(document)
    assert issubclass(StrokesTooLargeError, ImageTooLargeError)  # the API answers 413


def test_points_are_counted_before_they_are_looked_at() -> None:
    """A flood of points is refused at once, not after checking each one."""
    flood = doc([[["junk"]] * 60_000, [["junk"]] * 60_000])
    with pytest.raises(StrokesTooLargeError, match="too many points"):
        parse(flood)


# ---------------------------------------------------------------- painting


def test_the_pen_is_round_black_on_white_and_anti_aliased() -> None:
    image = render(parse(doc([[[50, 100], [150, 100]]], 200, brush=20))).image
    assert image.shape == (200, 200) and image.dtype == np.uint8
    assert image[100, 50:151].max() == 0 and image[0].min() == 255  # black ink, white paper
    ys, xs = np.nonzero(image < 128)
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (40, 159, 90, 109)  # 20 px wide, capped 10 px each end
    assert image[91, 41] == 255 and image[100, 41] < 128  # the caps are round, not square
    caps = image[85:116, 35:50]
    assert ((caps > 0) & (caps < 255)).sum() >= 10  # anti-aliased, like a browser canvas


def test_a_single_point_is_a_dot_the_pens_width() -> None:
    image = render(parse(doc([[[100, 100]]], 200, brush=30))).image
    ys, xs = np.nonzero(image < 128)
    assert xs.max() - xs.min() + 1 == 30 and ys.max() - ys.min() + 1 == 30
    assert image[86, 86] == 255  # round


def test_strokes_are_smoothed_through_the_midpoints_like_the_page() -> None:
    """Three points make the canvas's quadratic curve: from the first point, bending towards the middle one."""
    line = strokes.centre_line(np.array([[0.0, 0.0], [100.0, 0.0], [100.0, 100.0]]))
    assert line[0].tolist() == [0, 0] and line[-1].tolist() == [100, 100]
    # quadraticCurveTo((100, 0), (100, 50)) then lineTo(100, 100): its middle is (75, 12.5)
    assert distance((75, 12.5), line) < strokes.TOLERANCE
    assert distance((100, 0), line) > 20  # the corner is cut, as on screen


def test_painting_matches_the_desktop_apps_former_pen() -> None:
    """Dense strokes (as pointer events give them) come out as the desktop app painted them before."""
    for shapes in (SEVEN, FOUR, ZERO):
        d = parse(drawn(shapes))
        ours, theirs = render(d).image < 128, pil_pen(d) < 128
        iou = (ours & theirs).sum() / (ours | theirs).sum()
        assert iou > 0.93, iou


@pytest.mark.parametrize("shapes", [SEVEN, FOUR, ONE, ZERO], ids=["7", "4", "1", "0"])
def test_the_model_reads_the_painted_strokes_like_the_same_drawing_as_a_picture(shapes: list[Points]) -> None:
    d = parse(drawn(shapes))
    model = Predictor.load()
    from_strokes, from_picture = model.predict(render(d).picture), model.predict(Image.fromarray(pil_pen(d)))
    assert from_strokes.label == from_picture.label
    assert abs(from_strokes.confidence - from_picture.confidence) < 0.05


def test_a_huge_drawing_within_the_limits_is_painted_in_bounded_time() -> None:
    """100,000 points zigzagging over a 4096 px canvas with the widest pen: slower, never stuck."""
    rng = np.random.default_rng(0)
    pts = rng.uniform(0, 4096, (strokes.MAX_POINTS, 2)).tolist()
    d = parse({"strokes": [pts[i : i + 100] for i in range(0, len(pts), 100)], "width": 4096, "height": 4096,
               "brush": 2048})
    start = time.perf_counter()
    image = render(d).image
    assert time.perf_counter() - start < 5
    assert image.shape == (4096, 4096) and image.min() == 0


# ---------------------------------------------------------------- which strokes make one character


def test_a_stroke_written_over_the_one_before_belongs_to_its_character() -> None:
    # "4" (two strokes, the second over the first) then "1" beside it, then a bar back over the 4
    four = [unit(s, 280) for s in FOUR]
    one = unit([(x + 0.5, y) for x, y in ONE[0]], 280)
    bar = unit([(0.3, 0.4), (0.5, 0.4)], 280)
    d = parse(doc([*four, one, bar], side=560))
    assert strokes.group(d) == [(0, 1), (2,), (3,)]  # the late bar is written right after the 1, not the 4


def test_digits_written_close_together_stay_apart() -> None:
    # "11": two upright strokes 12 px apart (their ink almost touches with a 10 px pen)
    d = parse(doc([[[100, 50], [100, 200]], [[112, 50], [112, 200]]], brush=10))
    assert strokes.group(d) == [(0,), (1,)]


def test_each_group_has_a_mask_of_its_own_ink() -> None:
    rendered = render(parse(drawn([*FOUR, [(0.9, 0.2), (0.89, 0.8)]])))
    assert [g.strokes for g in rendered.groups] == [(0, 1), (2,)]
    atoms = rendered.atoms()
    assert len(atoms) == 2 and all(a.shape == (280, 280) and a.dtype == bool for a in atoms)
    ink = rendered.image < 255
    assert np.array_equal(atoms[0] | atoms[1], ink)  # together they are all the ink
    assert not (atoms[0] & atoms[1]).any()  # apart, they do not touch
    for g, atom in zip(rendered.groups, atoms):
        x0, y0, x1, y1 = g.box
        assert atom[y0:y1, x0:x1].any() and atom.sum() == atom[y0:y1, x0:x1].sum()


def test_strokes_entirely_outside_the_canvas_are_no_group() -> None:
    rendered = render(parse(doc([[[-100, 10], [-50, 10]], [[100, 100]]])))
    assert [g.strokes for g in rendered.groups] == [(1,)]

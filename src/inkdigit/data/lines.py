"""Written lines of digits for training, with the truth of every pixel: which digit's ink it is.

A line is 1-8 digit pictures (MNIST's, or fonts' in MNIST form) redrawn at a hand's size and stroke width and
laid side by side the ways people write numbers: apart, touching, overlapping a little, short 1s on the
baseline, a digit broken into pieces (a gap cut across a stroke), a 7 with a crossbar or a 1 with a base,
the whole line slanted. Besides the picture, an owner map says for every pixel which digit put its ink there
(-1: paper), so a candidate cut out of the line can be judged: is it exactly one whole digit, a piece of
one, or parts of two? (`inkdigit.training.verifier` learns that judgement from these lines.)

Torch-free and deterministic in (digits, seed, index). The benchmark's lines (benchmarks/written_numbers.py)
are drawn by their own code from MNIST's *test* digits; these are for training, from the training digits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

__all__ = ["Line", "contact_gap", "make_line"]

INK = 96  # a pixel of a redrawn digit (0..255) counts as its ink from this level
STYLES = ("apart", "touch", "overlap", "short-ones", "pieces", "bars")


@dataclass
class Line:
    """A written line: the picture (uint8, ink dark on light paper or the reverse), the owner of each pixel
    (int16, -1 paper, k the k-th digit), the text, and how it was written."""

    picture: np.ndarray
    owner: np.ndarray
    text: str
    style: str


def make_line(images: np.ndarray, labels: np.ndarray, seed: int, index: int) -> Line:
    """Line `index` of the set drawn with `seed` from digit pictures `images` (uint8 [N,28,28], white on black)
    with `labels`."""
    rng = np.random.default_rng([seed, index])
    style = STYLES[index % len(STYLES)]
    n = int(rng.integers(1, 9)) if style == "apart" else int(rng.integers(2, 7))
    picks = rng.integers(0, len(images), n)
    height = float(rng.uniform(28, 72))
    thick = int(rng.choice([-1, 0, 0, 1, 2]))
    inks = []
    for k, i in enumerate(picks.tolist()):
        h = height * float(rng.uniform(0.88, 1.12))
        if style == "short-ones" and labels[i] == 1 and rng.random() < 0.8:
            h *= float(rng.uniform(0.4, 0.6))
        ink = _redraw(images[i], rng, h, thick)
        if style == "pieces" and k == int(rng.integers(0, n)):
            ink = _break(ink, rng)
        if style == "bars" and labels[i] in (1, 7):
            ink = _bar(ink, rng, int(labels[i]))
        inks.append(ink)
    bottoms = [int(rng.uniform(-0.06, 0.06) * height) for _ in inks]
    gaps = []
    for k in range(n - 1):
        if style in ("touch", "overlap") and rng.random() < 0.7:
            dy = (bottoms[k + 1] - inks[k + 1].shape[0]) - (bottoms[k] - inks[k].shape[0])
            narrow = min(inks[k].shape[1], inks[k + 1].shape[1])
            over = int(rng.uniform(0.03, 0.14) * narrow) + 1 if style == "overlap" else 0
            gaps.append(contact_gap(inks[k], inks[k + 1], dy) - over)
        else:
            gaps.append(int(rng.uniform(0.12, 0.6) * height))
    picture, owner = _lay_out(inks, gaps, bottoms, pad=int(height * 0.3) + 2)
    if rng.random() < 0.3:
        picture, owner = _shear(picture, owner, float(rng.uniform(-20, 20)))
    if rng.random() < 0.5:
        picture = 255 - picture
    return Line(picture, owner, "".join(str(int(labels[i])) for i in picks), style)


def _redraw(digit: np.ndarray, rng: np.random.Generator, height: float, thick: int) -> np.ndarray:
    """A digit cropped to its ink, upscaled 4x, its stroke thinned (-1) or thickened (1, 2) there, turned a
    little, and scaled so its height is `height` px (uint8, white on black)."""
    rows, cols = np.flatnonzero(digit.max(axis=1) > 0), np.flatnonzero(digit.max(axis=0) > 0)
    crop = Image.fromarray(digit[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1])
    big = Image.new("L", (crop.width * 4 + 24, crop.height * 4 + 24), 0)
    big.paste(crop.resize((crop.width * 4, crop.height * 4), Image.Resampling.BICUBIC), (12, 12))
    if thick < 0:
        big = big.filter(ImageFilter.MinFilter(3))
    elif thick > 0:
        big = big.filter(ImageFilter.MaxFilter(2 * thick + 3))
    big = big.rotate(float(rng.uniform(-12, 12)), resample=Image.Resampling.BILINEAR, expand=True)
    box = big.getbbox() or (0, 0, big.width, big.height)
    big = big.crop(box)
    scale = height / big.height
    return np.asarray(big.resize((max(2, round(big.width * scale)), max(2, round(height))),
                                 Image.Resampling.BILINEAR))


def _break(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The digit with a gap cut across it (a pen lifted mid-digit): a band 1-3 px wide through a random
    point of its ink, at a random angle."""
    ys, xs = np.nonzero(ink > INK)
    if ys.size == 0:
        return ink
    k = int(rng.integers(0, ys.size))
    angle = float(rng.uniform(0, np.pi))
    width = float(rng.uniform(1.0, 3.0)) * max(1.0, ink.shape[0] / 28)
    yy, xx = np.mgrid[0 : ink.shape[0], 0 : ink.shape[1]]
    distance = np.abs((yy - ys[k]) * np.cos(angle) - (xx - xs[k]) * np.sin(angle))
    out = ink.copy()
    out[distance < width] = 0
    return out


def _bar(ink: np.ndarray, rng: np.random.Generator, label: int) -> np.ndarray:
    """A 7 with a crossbar across the middle of its stem, or a 1 with a base, drawn with the digit's pen."""
    h, w = ink.shape
    pen = max(1, round(h / 14))
    pad = round(h * 0.25) if label == 1 else 0
    out = Image.new("L", (w + 2 * pad, h), 0)
    out.paste(Image.fromarray(ink), (pad, 0))
    draw = ImageDraw.Draw(out)
    if label == 7:
        y = h * float(rng.uniform(0.45, 0.6))
        draw.line([(w * 0.15, y), (w * 0.85, y + float(rng.uniform(-2, 2)))], fill=255, width=pen)
    else:
        y = h - pen
        draw.line([(pad + w / 2 - h * 0.22, y), (pad + w / 2 + h * 0.22, y)], fill=255, width=pen)
    return np.asarray(out)


def contact_gap(a: np.ndarray, b: np.ndarray, dy: int, ink: int = INK) -> int:
    """The gap after ink a's box (negative: the boxes overlap) at which ink b, its top dy rows below a's,
    just touches a: no row has b's ink (pixels over ``ink``) left of a's, and some row has them side by side."""
    rows = np.arange(a.shape[0])
    inside = (rows - dy >= 0) & (rows - dy < b.shape[0])
    ma, mb = a[rows[inside]] > ink, b[rows[inside] - dy] > ink
    both = ma.any(axis=1) & mb.any(axis=1)
    if not both.any():
        return 0
    right = a.shape[1] - 1 - np.argmax(ma[both][:, ::-1], axis=1)
    left = np.argmax(mb[both], axis=1)
    return int((right - left).max()) + 1 - a.shape[1]


def _lay_out(inks: list[np.ndarray], gaps: list[int], bottoms: list[int], pad: int
             ) -> tuple[np.ndarray, np.ndarray]:
    """Black-on-white picture of the inks side by side (a pixel takes the darkest ink) and its owner map."""
    lefts = [0]
    for ink, gap in zip(inks[:-1], gaps, strict=True):
        lefts.append(lefts[-1] + ink.shape[1] + gap)
    shift = -min(lefts)
    tops = [b - ink.shape[0] for ink, b in zip(inks, bottoms, strict=True)]
    top = min(tops)
    width = max(x + shift + ink.shape[1] for x, ink in zip(lefts, inks, strict=True)) + 2 * pad
    height = max(b for b in bottoms) - top + 2 * pad
    value = np.zeros((height, width), np.uint8)
    owner = np.full((height, width), -1, np.int16)
    for k, (ink, x, t) in enumerate(zip(inks, lefts, tops, strict=True)):
        y0, x0 = t - top + pad, x + shift + pad
        view = value[y0 : y0 + ink.shape[0], x0 : x0 + ink.shape[1]]
        mine = (ink > view) & (ink > INK)
        owner[y0 : y0 + ink.shape[0], x0 : x0 + ink.shape[1]][mine] = k
        np.maximum(view, ink, out=view)
    return 255 - value, owner


def _shear(picture: np.ndarray, owner: np.ndarray, degrees: float) -> tuple[np.ndarray, np.ndarray]:
    """The line sheared like italics, picture and owner map alike."""
    h, w = picture.shape
    k = float(np.tan(np.radians(degrees)))
    extra = int(abs(k) * h) + 1
    matrix = (1, k, -extra if k > 0 else 0, 0, 1, 0)
    size = (w + extra, h)
    pic = Image.fromarray(picture).transform(size, Image.Transform.AFFINE, matrix, Image.Resampling.BILINEAR,
                                             fillcolor=255)
    own = Image.fromarray((owner + 1).astype(np.uint8)).transform(size, Image.Transform.AFFINE, matrix,
                                                                   Image.Resampling.NEAREST, fillcolor=0)
    return np.asarray(pic), np.asarray(own).astype(np.int16) - 1

"""An ink crop -> MNIST's form: stroke width brought into MNIST's range, the digit scaled into a 20x20 box
with anti-aliasing and placed in 28x28 with its centre of mass at the centre, white ink on black.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from PIL import Image

from inkdigit.errors import NoInkError
from inkdigit.vision.ops import (
    bilinear_weights,
    dilate,
    erode,
    float_picture,
    pad_zeros,
    picture_pixels,
    quantile,
    resample,
)

__all__ = ["BOX", "COM_TARGET", "CROP_SIDE", "SIZE", "mnist_form", "model_input", "normalise"]

# The digit's box is read from the picture so its longer side is CROP_SIDE..2*CROP_SIDE px: enough for
# anti-aliasing and stroke-width changes at 20x20, and cheap.
CROP_SIDE = 80
# MNIST (measured on the test set): centre of mass at (14.0, 14.0) in pixel-index coordinates and a median
# stroke width of ~2.5 px at 28x28 (estimated as 2*area/perimeter of the >0.5 mask).
COM_TARGET = 14.0
BOX = 20
SIZE = 28
# Stroke width is kept within MNIST's range (widths in output pixels of the 20x20 box, measured as
# 2*area/perimeter; MNIST's 10th-90th percentile is ~1.8-3.6, tuned on benchmarks/canvas_mnist.py).
STROKE_MIN = 2.3
STROKE_MAX = 3.3
_GRID = np.arange(SIZE, dtype=np.int64)


def normalise(c: np.ndarray, fit: bool = True, reduced: bool = False, wide: int = 1
              ) -> tuple[np.ndarray | None, np.ndarray]:
    """Ink crop (float32, 0..1) -> (20x20 box picture, or None unless `fit`; 28x28 MNIST-style input).

    `reduced`: the crop was already read at the working resolution (it is not enlarged again). `wide`: a frame
    `wide` times as wide (28 x 28*wide), whose box is as much wider (20 x 20*wide + 8*(wide-1)): room for that
    many characters side by side at one character's scale (the pair reader's input; `fit` must be False).
    """
    c = _trim(c)
    # Judge the crop on its own contrast: a faint digit (next to bold ones in a number) becomes solid too.
    strong = c[c > 0.1 * float(c.max())]
    c = np.minimum(c * np.float32(1 / max(quantile(strong, 0.9), 1e-3)), 1)
    sw = _stroke_width(c > 0.5)
    # Work at 80..160 px on the longer side: enough for anti-aliasing and stroke-width changes, and cheap.
    factor = max(1, max(c.shape) // CROP_SIDE)
    if factor > 1:
        c = picture_pixels(float_picture(c).reduce(factor))
        sw /= factor
        if sw < 1:
            c = np.clip(c / max(sw, 0.2), 0, 1)  # strokes thinner than a working pixel came out faint
            sw = 1.0
    elif max(c.shape) < CROP_SIDE and not reduced:
        # Small crops (an MNIST digit, a small photo) are enlarged so stroke-width changes are not coarse.
        up = math.ceil(CROP_SIDE / max(c.shape))
        h, w = c.shape
        c = resample(c, _enlarge(h, up), _enlarge(w, up))
        sw *= up
    # Stroke width into MNIST's range: the network never saw hairlines or felt-tip blobs. Clamping (rather
    # than snapping to one width) keeps the result continuous in the input's scale and stroke width.
    box_w = BOX * wide + (SIZE - BOX) * (wide - 1)
    side = max(c.shape[0], c.shape[1] * BOX / box_w)
    thinnest, thickest = STROKE_MIN * side / BOX, STROKE_MAX * side / BOX  # in working pixels
    if sw < thinnest:
        # Thickening grows the box by 2r, which shrinks the scale: solve sw + 2r = w * (side + 2r) / side.
        radius = (thinnest - sw) / (2 * max(1 - thinnest / side, 0.5))
        pad = int(math.ceil(radius)) + 1
        c = _trim(dilate(pad_zeros(c, pad, pad, pad, pad), radius))
    elif sw > thickest:
        c = _trim(erode(pad_zeros(c, 1, 1, 1, 1), (sw - thickest) / 2))
    h, w = c.shape
    s = min(BOX / h, box_w / w)  # output pixels per working pixel
    fit20 = None
    if fit:
        nh, nw = max(1, round(h * s)), max(1, round(w * s))
        small = resample(c, bilinear_weights(h, nh), bilinear_weights(w, nw))
        top = float(small.max())
        if top <= 0:
            raise NoInkError("no ink left after scaling")
        fit20 = np.zeros((BOX, BOX), np.float32)
        fy, fx = (BOX - nh) // 2, (BOX - nw) // 2
        fit20[fy : fy + nh, fx : fx + nw] = np.clip(small, 0, None) * np.float32(1 / top)
    # Resample the 28x28 frame straight from the working crop, placed so the centre of mass lands on
    # MNIST's (14, 14) to a fraction of a pixel: the result then moves continuously with the drawing.
    rows, cols = c.sum(axis=1), c.sum(axis=0)
    total = float(rows.sum())
    cy = float(rows @ np.arange(h, dtype=np.float32)) / total
    cx = float(cols @ np.arange(w, dtype=np.float32)) / total
    span, span_x = SIZE / s, SIZE * wide / s  # working pixels covered by the frame
    # Frame's left/top edge in working coordinates (pixel i spans [i, i+1)); kept so the digit stays whole.
    bx = min(max(cx + 0.5 - (COM_TARGET * wide + 0.5) / s, w - span_x), 0.0)
    by = min(max(cy + 0.5 - (COM_TARGET + 0.5) / s, h - span), 0.0)
    # Weights over the crop padded with zeros two pixels beyond the frame (the picture Pillow would resample,
    # dropping weights past its edges), keeping the columns of the crop itself.
    px0, py0 = math.ceil(-bx) + 2, math.ceil(-by) + 2
    pw = px0 + w + max(math.ceil(bx + span_x - w) + 2, 0)
    ph = py0 + h + max(math.ceil(by + span - h) + 2, 0)
    wy = bilinear_weights(ph, SIZE, by + py0, by + py0 + span)[:, py0 : py0 + h]
    wx = bilinear_weights(pw, SIZE * wide, bx + px0, bx + px0 + span_x)[:, px0 : px0 + w]
    final = resample(c, wy, wx)
    top = float(final.max())
    if top <= 0:
        raise NoInkError("no ink left after scaling")
    np.maximum(final, 0, out=final)
    final *= np.float32(1 / top)
    return fit20, final


def model_input(crop: np.ndarray, reduced: bool = False, wide: int = 1) -> np.ndarray:
    return normalise(crop, fit=False, reduced=reduced, wide=wide)[1]


def mnist_form(picture: Image.Image) -> np.ndarray | None:
    """The model input for a picture that already is an MNIST digit, else None.

    MNIST's own form: 28x28 8-bit grey, white ink on pure black, the ink's box 19-20 px on its longer side and
    its centre of mass within half a pixel of the centre (every MNIST image is). Such a picture is used as
    it is (scaled so its brightest pixel is 1): normalising it again could only resample it, and skipping
    that makes reading a folder of MNIST-style files several times faster.
    """
    if picture.mode != "L" or picture.size != (SIZE, SIZE):
        return None
    # This check runs on every small image, so it is a few calls into C: Pillow's bounding box and extrema,
    # then two NumPy sums for the centre of mass.
    box = picture.getbbox()
    if box is None or max(box[2] - box[0], box[3] - box[1]) not in (BOX - 1, BOX):
        return None
    top = picture.getextrema()[1]
    if top < 128:
        return None
    a = np.frombuffer(picture.tobytes(), np.uint8).reshape(SIZE, SIZE)
    rs, cs = a.sum(axis=1, dtype=np.int64), a.sum(axis=0, dtype=np.int64)
    total = int(rs.sum())
    cy, cx = int(rs @ _GRID) / total, int(cs @ _GRID) / total
    if not (abs(cy - COM_TARGET) <= 0.51 and abs(cx - COM_TARGET) <= 0.51):
        return None
    return np.multiply(a, np.float32(1 / top), dtype=np.float32)


def _trim(a: np.ndarray, level: float = 0.02) -> np.ndarray:
    m = a > level
    rows = np.flatnonzero(m.any(axis=1))
    if rows.size == 0:
        raise NoInkError("no ink in the crop")
    cols = np.flatnonzero(m.any(axis=0))
    return a[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _stroke_width(m: np.ndarray) -> float:
    """Mean stroke width of a binary drawing: 2*area/perimeter, perimeter corrected for the pixel grid."""
    area = int(np.count_nonzero(m))
    if area == 0:
        return 0.0
    p = pad_zeros(m, 1, 1, 1, 1)
    perimeter = int(np.count_nonzero(p[1:] != p[:-1]) + np.count_nonzero(p[:, 1:] != p[:, :-1]))
    return 2 * area / (perimeter * math.pi / 4)


@functools.lru_cache(maxsize=512)
def _enlarge(n: int, up: int) -> np.ndarray:
    """Weights enlarging n pixels up times (cached: crops are small and their sizes repeat)."""
    w = bilinear_weights(n, n * up)
    w.flags.writeable = False
    return w

"""Turn any picture of a handwritten digit into the model's 28x28 input, the way MNIST was made.

Every path (CLI, HTTP API, web page, GUI, benchmarks) goes through :func:`preprocess`, so a digit drawn on a
280x280 canvas, a photo of a page or an MNIST array all reach the network looking like MNIST digits:
ink found whichever way round, cropped, scaled into a 20x20 box with anti-aliasing, stroke width brought into
MNIST's range and placed in 28x28 with its centre of mass at the centre.

It is on every recognition path, so it is built for speed: the decisions (paper, polarity, noise, which ink
is the digit) are taken on a small analysis image (at most 256 px a side for one digit), and only the digit's
box is then read from the picture, at the 80-160 px the normalisation works at. Pixel work is done by
Pillow's C code (decoding, reduce, resize) or in a few whole-array NumPy operations.

This module strings the steps together and is where callers import from: :mod:`.decode` (any source -> a
grey picture), :mod:`.ink` (the ink and where it is), :mod:`.normalise` (MNIST's form), on top of
:mod:`.ops` and :mod:`.components`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from inkdigit.errors import ImageError, ImageTooLargeError, NoInkError
from inkdigit.vision.decode import MAX_FILE_BYTES, PNG_SIGNATURE, array_to_float, read_file, to_picture
from inkdigit.vision.ink import MASK_LEVEL, analyse_ink, ink_crop, ink_map, kept_box, pixels_under
from inkdigit.vision.normalise import BOX, mnist_form, model_input, normalise

__all__ = [
    "MAX_FILE_BYTES",
    "PNG_SIGNATURE",
    "PREPROCESS_VERSION",
    "ImageError",
    "ImageTooLargeError",
    "NoInkError",
    "Stages",
    "load_image",
    "preprocess",
    "read_file",
    "to_model_input",
]

PREPROCESS_VERSION = "1"


def preprocess(source: Any, *, max_side: int = 4096, return_stages: bool = False) -> np.ndarray | Stages:
    """Any image of one digit -> float32 [28,28] in [0,1], white ink on black, the way MNIST was made.

    Accepts encoded bytes, a file path, a data URL, a PIL image or a NumPy array. Raises ImageError (one-line
    message) for unusable input, ImageTooLargeError over max_side, NoInkError when there is nothing drawn.
    """
    picture, size = to_picture(source, max_side)
    as_is = mnist_form(picture)
    if as_is is not None:
        return _mnist_stages(as_is) if return_stages else as_is
    found = analyse_ink(picture, size)
    box = kept_box(found)
    crop, step = ink_crop(found, box)
    fit20, final = normalise(crop, fit=return_stages, reduced=step > 1)
    if not return_stages:
        return final
    assert fit20 is not None
    ink, step = ink_map(found)
    f = found.factor
    ih, iw = ink.shape
    x0, y0 = box[0] * f // step, box[1] * f // step
    x1, y1 = min(iw, -(-box[2] * f // step)), min(ih, -(-box[3] * f // step))
    mask = pixels_under(found.mask, f, step, ih, iw)  # the kept ink at the ink map's resolution
    return Stages(ink=ink, mask=mask, box=(x0, y0, x1, y1), crop=ink[y0:y1, x0:x1], fit20=fit20, final=final)


@dataclass
class Stages:
    """Every intermediate step of :func:`preprocess`, for UIs that show how a drawing was read."""

    ink: np.ndarray  # HxW float32 ink map in [0,1] (1 = ink), noise removed, longer side at most 512 px
    mask: np.ndarray  # HxW bool: the ink that was kept
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive end) of the ink, in ink-map pixels
    crop: np.ndarray  # float32 ink map inside box
    fit20: np.ndarray  # 20x20 float32: the digit scaled to fit the 20x20 box (stroke width adjusted)
    final: np.ndarray  # 28x28 float32 model input, white ink on black


def load_image(source: Any, *, max_side: int = 4096) -> np.ndarray:
    """Decode anything preprocess accepts into a float32 ink map in [0,1] (1 = ink), noise removed.

    Large inputs are reduced so the longer side is at most 512 px. Raises NoInkError for a blank image.
    """
    return ink_map(analyse_ink(*to_picture(source, max_side)))[0]


def to_model_input(ink_crop: np.ndarray) -> np.ndarray:
    """Crop of an ink map (1 = ink) -> float32 [28,28] in [0,1]: 20x20 box, centre of mass at the centre."""
    c = np.asarray(ink_crop)
    if c.ndim != 2:
        raise ImageError(f"ink crop must be 2-D (got shape {tuple(c.shape)})")
    if np.issubdtype(c.dtype, np.floating):
        if not np.isfinite(c).all():
            raise ImageError("ink crop contains NaN or infinity")
        c = np.clip(c, 0, 1).astype(np.float32)
    else:
        c = np.minimum(array_to_float(c), 1)
    return model_input(c)


def _mnist_stages(final: np.ndarray) -> Stages:
    """Stages of a picture already in MNIST form: its ink is the input itself."""
    m = final > 0
    rows, cols = np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))
    x0, y0, x1, y1 = int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1
    crop = final[y0:y1, x0:x1]
    fit20 = np.zeros((BOX, BOX), np.float32)
    fy, fx = (BOX - crop.shape[0]) // 2, (BOX - crop.shape[1]) // 2
    fit20[fy : fy + crop.shape[0], fx : fx + crop.shape[1]] = crop
    return Stages(ink=final, mask=final > MASK_LEVEL, box=(x0, y0, x1, y1), crop=crop, fit20=fit20, final=final)

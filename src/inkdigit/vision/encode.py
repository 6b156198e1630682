"""Pictures out: a 2-D grey array as PNG bytes or a data URL, for the previews of what the model sees.

The encoder is written here rather than taken from Pillow because Pillow's PNG writer spends ~100 µs in Python per
image and the page asks for four small previews with every answer (docs/speed.md has the measurement).
"""

from __future__ import annotations

import base64
import struct
import zlib

import numpy as np

from inkdigit.vision.decode import PNG_SIGNATURE

__all__ = ["grey_png", "png_data_url"]


def png_data_url(image: np.ndarray, max_side: int | None = None) -> str:
    """A float [0,1] or uint8 2-D array → 'data:image/png;base64,...' (for previews), shrunk with a box
    filter to at most `max_side` pixels a side when given."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        arr = (np.clip(arr, 0, 1) * 255 + 0.5).astype(np.uint8)
    if arr.ndim != 2 or arr.size == 0:
        arr = np.zeros((1, 1), np.uint8)
    if max_side is not None and max(arr.shape) > max_side:
        from PIL import Image

        scale = max_side / max(arr.shape)
        size = (max(1, round(arr.shape[1] * scale)), max(1, round(arr.shape[0] * scale)))
        arr = np.asarray(Image.fromarray(arr, mode="L").resize(size, Image.Resampling.BOX))
    return "data:image/png;base64," + base64.b64encode(grey_png(arr)).decode("ascii")


def grey_png(pixels: np.ndarray) -> bytes:
    """An 8-bit grey 2-D uint8 array as PNG bytes (unfiltered rows, fast zlib)."""
    h, w = pixels.shape
    rows = np.zeros((h, w + 1), np.uint8)  # each row starts with its filter type: 0, none
    rows[:, 1:] = pixels
    return (PNG_SIGNATURE + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + _chunk(b"IDAT", zlib.compress(rows.tobytes(), 1)) + _chunk(b"IEND", b""))


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

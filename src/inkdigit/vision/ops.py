"""Small image operations on NumPy arrays and grey Pillow pictures (no SciPy).

The images here are small (a digit's crop is 80-160 px a side), so each operation is a few whole-array NumPy
calls or Pillow's C code, written so that fixed costs (Pillow's conversions, np.pad's generality, BLAS
threads) do not outweigh the arithmetic.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

__all__ = [
    "bilinear_weights",
    "blocked_matmul",
    "dilate",
    "dilate_square",
    "erode",
    "float_picture",
    "mean3x3",
    "pad_zeros",
    "picture_pixels",
    "quantile",
    "resample",
]

_BLAS_BLOCK = 1 << 17  # multiply-adds per matrix product: below OpenBLAS's threading threshold (see blocked_matmul)


def picture_pixels(picture: Image.Image) -> np.ndarray:
    """A grey picture as a float32 array in [0,1] (a fresh, writable array)."""
    width, height = picture.size
    if picture.mode == "L":
        a = np.frombuffer(picture.tobytes(), np.uint8).reshape(height, width)
        return np.multiply(a, np.float32(1 / 255), dtype=np.float32)
    return np.frombuffer(picture.tobytes(), np.float32).reshape(height, width).copy()  # "F": already 0..1


def float_picture(a: np.ndarray) -> Image.Image:
    """float32 array -> Pillow "F" image (cheaper than Image.fromarray's generality)."""
    return Image.frombytes("F", (a.shape[1], a.shape[0]), np.ascontiguousarray(a, np.float32).tobytes())


def mean3x3(a: np.ndarray) -> np.ndarray:
    """3x3 mean filter with edge replication."""
    v = a.copy()
    v[1:] += a[:-1]
    v[:-1] += a[1:]
    v[0] += a[0]
    v[-1] += a[-1]
    o = v.copy()
    o[:, 1:] += v[:, :-1]
    o[:, :-1] += v[:, 1:]
    o[:, 0] += v[:, 0]
    o[:, -1] += v[:, -1]
    o *= np.float32(1 / 9)
    return o


def quantile(a: np.ndarray, q: float) -> float:
    """q-quantile by partition (np.percentile's overhead dominates for our small arrays)."""
    k = min(a.size - 1, max(0, int(q * (a.size - 1) + 0.5)))
    return float(np.partition(a.ravel(), k)[k])


def dilate_square(a: np.ndarray) -> np.ndarray:
    """3x3 grey (or binary) dilation."""
    o = a.copy()
    np.maximum(o[1:], a[:-1], out=o[1:])
    np.maximum(o[:-1], a[1:], out=o[:-1])
    p = o.copy()
    np.maximum(p[:, 1:], o[:, :-1], out=p[:, 1:])
    np.maximum(p[:, :-1], o[:, 1:], out=p[:, :-1])
    return p


def dilate(a: np.ndarray, radius: float) -> np.ndarray:
    """Grey dilation by a disk of (fractional) radius; the fraction blends in one more step."""
    whole = int(radius)
    for i in range(whole):
        a = dilate_square(a) if i % 2 == 0 else _dilate_cross(a)
    frac = radius - whole
    if frac > 0.05:
        grown = dilate_square(a) if whole % 2 == 0 else _dilate_cross(a)
        a = a + np.float32(frac) * (grown - a)
    return a


def erode(a: np.ndarray, radius: float) -> np.ndarray:
    return 1 - dilate(1 - a, radius)


def _dilate_cross(a: np.ndarray) -> np.ndarray:
    """Dilation by a plus-shaped 3x3 element; alternated with the square it approximates a disk."""
    o = a.copy()
    np.maximum(o[1:], a[:-1], out=o[1:])
    np.maximum(o[:-1], a[1:], out=o[:-1])
    np.maximum(o[:, 1:], a[:, :-1], out=o[:, 1:])
    np.maximum(o[:, :-1], a[:, 1:], out=o[:, :-1])
    return o


def pad_zeros(a: np.ndarray, top: int, bottom: int, left: int, right: int) -> np.ndarray:
    """Zero padding (np.pad's generality costs more than the copy for our small arrays)."""
    h, w = a.shape
    out = np.zeros((h + top + bottom, w + left + right), a.dtype)
    out[top : top + h, left : left + w] = a
    return out


def bilinear_weights(n_in: int, n_out: int, start: float = 0.0, end: float | None = None) -> np.ndarray:
    """Pillow's BILINEAR resampling along one axis as a matrix: out = W @ in, W is (n_out, n_in).

    Output pixel i samples [start, end) of the input; shrinking widens the triangle (anti-aliasing), and
    weights falling outside the input are dropped and the rest renormalised, as Pillow does at edges. Done
    as a matrix because our images are small: Pillow's conversions would cost more than the arithmetic.
    """
    scale = ((n_in if end is None else end) - start) / n_out
    k = 1 / max(scale, 1.0)
    # Distance of each input pixel centre from each output pixel centre, in triangle half-widths.
    centres = np.arange(n_out) * (scale * k) + (start + 0.5 * scale) * k
    w = np.subtract.outer(centres, np.arange(n_in) * k + 0.5 * k)
    np.abs(w, out=w)
    np.subtract(1, w, out=w)
    np.maximum(w, 0, out=w)
    total = w.sum(axis=1, keepdims=True)
    w /= np.maximum(total, 1e-300, out=total)  # an output pixel with no input left stays 0
    return w.astype(np.float32)


def blocked_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b in column blocks of at most _BLAS_BLOCK multiply-adds each.

    OpenBLAS runs a larger product on several threads; for images this small the threads' start-up and
    busy-waiting cost more CPU than they save (twice the whole preprocessing time on a loaded 2-core
    machine) and take cores from the caller's own threads (the server's and predict's pools).
    """
    m, k = a.shape
    n = b.shape[1]
    cols = max(1, _BLAS_BLOCK // max(m * k, 1))
    if cols >= n:
        return a @ b
    out = np.empty((m, n), np.result_type(a, b))
    for s in range(0, n, cols):
        np.matmul(a, b[:, s : s + cols], out=out[:, s : s + cols])
    return out


def resample(c: np.ndarray, wy: np.ndarray, wx: np.ndarray) -> np.ndarray:
    """Separable resampling wy @ c @ wx.T, the cheaper product first."""
    if wy.shape[0] * c.shape[1] <= c.shape[0] * wx.shape[0]:
        return blocked_matmul(blocked_matmul(wy, c), np.ascontiguousarray(wx.T))
    return blocked_matmul(wy, blocked_matmul(c, np.ascontiguousarray(wx.T)))

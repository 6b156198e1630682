"""Turn any picture of a handwritten digit into the model's 28x28 input, the way MNIST was made.

Every path (CLI, HTTP API, web page, GUI, benchmarks) goes through :func:`preprocess`, so a digit drawn on a
280x280 canvas, a photo of a page or an MNIST array all reach the network looking like MNIST digits:
ink found whichever way round, cropped, scaled into a 20x20 box with anti-aliasing, stroke width brought into
MNIST's range and placed in 28x28 with its centre of mass at the centre.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

__all__ = [
    "PREPROCESS_VERSION",
    "ImageError",
    "ImageTooLargeError",
    "NoInkError",
    "Stages",
    "load_image",
    "preprocess",
    "to_model_input",
]

PREPROCESS_VERSION = "1"

MIN_SIDE = 8
MAX_FILE_BYTES = 256 << 20  # encoded bytes; no sane picture of a digit comes near this
# Inputs are reduced so the longer side is at most this before any pixel work: a digit needs far fewer
# pixels than a phone photo has, and it keeps a 4096x4096 image well under a second.
WORK_SIDE = 512
# MNIST (measured on the test set): centre of mass at (14.0, 14.0) in pixel-index coordinates and a median
# stroke width of ~2.5 px at 28x28 (estimated as 2*area/perimeter of the >0.5 mask).
COM_TARGET = 14.0
BOX = 20
SIZE = 28
# Stroke width is kept within MNIST's range (widths in output pixels of the 20x20 box, measured as
# 2*area/perimeter; MNIST's 10th-90th percentile is ~1.8-3.6, tuned on benchmarks/canvas_mnist.py).
STROKE_MIN = 2.3
STROKE_MAX = 3.3
RESAMPLE = Image.Resampling.BILINEAR  # anti-aliased when shrinking
MIN_CONTRAST = 0.12  # weakest ink (fraction of the paper/ink luminance range) that counts as ink
# Ink mask level relative to the strong ink's contrast: low enough that a faint digit written next to
# bold ones (a pencil stroke beside a marker) is still found.
MASK_LEVEL = 0.25


class ImageError(ValueError):
    """The input cannot be used as a picture of a digit (undecodable, bad shape or mode, too small)."""


class ImageTooLargeError(ImageError):
    """The picture is over the size limit, or is a decompression bomb."""


class NoInkError(ImageError):
    """The picture is blank or uniform: there is nothing to read."""


@dataclass
class Stages:
    """Every intermediate step of :func:`preprocess`, for UIs that show how a drawing was read."""

    ink: np.ndarray  # HxW float32 ink map in [0,1] (1 = ink), noise removed, working resolution
    mask: np.ndarray  # HxW bool: the ink that was kept
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive end) of the ink, in ink-map pixels
    crop: np.ndarray  # float32 ink map inside box
    fit20: np.ndarray  # 20x20 float32: the digit scaled to fit the 20x20 box (stroke width adjusted)
    final: np.ndarray  # 28x28 float32 model input, white ink on black


@dataclass
class _Ink:
    """Result of ink analysis shared by preprocess and segment."""

    ink: np.ndarray  # float32 HxW soft ink map, noise components removed
    mask: np.ndarray  # bool HxW, kept components only
    scale: tuple[float, float]  # source pixels per ink-map pixel (x, y)
    source_size: tuple[int, int]  # (width, height) of the source image
    runs: np.ndarray  # int [n,3]: row, start, end (exclusive) of every kept run of the mask
    run_label: np.ndarray  # int [n]: component of each run (0..k-1)
    comps: np.ndarray  # int [k,5]: x0, y0, x1, y1, area of each kept component


# ----------------------------------------------------------------------------------------------------------
# decoding


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _check_size(width: int, height: int, max_side: int) -> None:
    if width > max_side or height > max_side:
        raise ImageTooLargeError(f"image is {width}x{height}; the limit is {max_side} pixels a side")
    if Image.MAX_IMAGE_PIXELS and width * height > Image.MAX_IMAGE_PIXELS:
        raise ImageTooLargeError(f"image is {width}x{height}: too many pixels")
    if width < MIN_SIDE or height < MIN_SIDE:
        raise ImageError(f"image is {width}x{height}; it must be at least {MIN_SIDE}x{MIN_SIDE} pixels")


def _open_encoded(data: bytes, max_side: int) -> tuple[Image.Image, tuple[int, int]]:
    """Decode PNG/JPEG/WebP/BMP/GIF/... bytes, refusing bombs before the pixels are decompressed.

    Returns the image and its size as shown (EXIF orientation applied), which a large JPEG decoded at
    reduced scale no longer has.
    """
    if not data:
        raise ImageError("empty image data")
    if len(data) > MAX_FILE_BYTES:
        raise ImageTooLargeError(f"image data is over {MAX_FILE_BYTES >> 20} MiB")
    try:
        # Image.open only reads the header; the size check below runs before any pixel is decoded.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(f"image refused as a decompression bomb: {_one_line(exc)}") from None
    except Exception as exc:  # PIL raises many types for garbage input
        raise ImageError(f"could not decode image: {_one_line(exc)}") from None
    _check_size(img.width, img.height, max_side)
    # The picture's own size, in the orientation it is shown in: boxes are reported in these pixels even
    # when a JPEG is decoded at reduced scale.
    shown = img.size
    try:
        if img.format == "JPEG" and max(img.size) > 2 * WORK_SIDE:
            # Decode a large JPEG straight at reduced scale: much faster, and we reduce anyway.
            img.draft("L", (img.width * WORK_SIDE // max(img.size), img.height * WORK_SIDE // max(img.size)))
        img.load()
        orientation = img.getexif().get(0x0112, 1)
        if orientation in (2, 3, 4, 5, 6, 7, 8):
            img = ImageOps.exif_transpose(img)
            if orientation >= 5:
                shown = (shown[1], shown[0])
    except Exception as exc:
        kind = img.format or "unknown format"
        raise ImageError(f"could not decode image ({kind}): {_one_line(exc)}") from None
    return img, shown


def _source_to_image(source: Any, max_side: int) -> tuple[Image.Image | np.ndarray, tuple[int, int] | None]:
    """Any accepted source -> a PIL image or NumPy array, and the source size when decoding changed it."""
    if isinstance(source, np.ndarray):
        return source, None
    if isinstance(source, Image.Image):
        _check_size(source.width, source.height, max_side)
        try:
            source.load()  # a lazily opened file may turn out truncated only now
        except Exception as exc:
            raise ImageError(f"could not decode image: {_one_line(exc)}") from None
        return source, None
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _open_encoded(bytes(source), max_side)
    if isinstance(source, str) and source.startswith("data:image/"):
        # A data URL as sent by an HTML canvas (toDataURL).
        try:
            payload = base64.b64decode(source.partition(",")[2], validate=True)
        except (binascii.Error, ValueError):
            raise ImageError("data URL is not valid base64") from None
        return _open_encoded(payload, max_side)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                raise ImageTooLargeError(f"{path} is over {MAX_FILE_BYTES >> 20} MiB")
            data = path.read_bytes()
        except OSError as exc:
            raise ImageError(f"cannot read {path}: {exc.strerror or _one_line(exc)}") from None
        return _open_encoded(data, max_side)
    if isinstance(source, (list, tuple)):
        try:
            return np.asarray(source), None
        except ValueError as exc:
            raise ImageError(f"not an image array: {_one_line(exc)}") from None
    raise ImageError(f"unsupported image type {type(source).__name__}")


def _array_to_float(a: np.ndarray) -> np.ndarray:
    """Any numeric array -> float32 in [0,1] (uint8 /255, uint16 /65535, bool, float in [0,1])."""
    if a.dtype == bool:
        return a.astype(np.float32)
    if a.dtype == np.uint8:
        return a.astype(np.float32) * np.float32(1 / 255)
    if a.dtype == np.uint16:
        return a.astype(np.float32) * np.float32(1 / 65535)
    if np.issubdtype(a.dtype, np.integer):
        if a.size and a.min() < 0:
            raise ImageError("integer image arrays must not be negative")
        top = int(a.max()) if a.size else 0
        if top <= 255:
            return a.astype(np.float32) / 255
        if top <= 65535:
            return a.astype(np.float32) / 65535
        return (a / top).astype(np.float32)
    if np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise ImageError("image array contains NaN or infinity")
        lo, hi = float(a.min()), float(a.max())
        if lo >= 0 and hi <= 1:
            return a.astype(np.float32)
        if lo >= 0 and hi <= 255:  # a float copy of 8-bit data
            return a.astype(np.float32) / 255
        raise ImageError(f"float image arrays must be in [0, 1] (got {lo:.3g}..{hi:.3g})")
    raise ImageError(f"unsupported image array dtype {a.dtype}")


def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., 0] * np.float32(0.299) + rgb[..., 1] * np.float32(0.587) + rgb[..., 2] * np.float32(0.114)


def _split_array(a: np.ndarray, max_side: int) -> tuple[np.ndarray, np.ndarray | None]:
    """NumPy image -> (gray float32 HxW, alpha float32 HxW or None)."""
    if a.dtype == object or np.issubdtype(a.dtype, np.complexfloating) or a.dtype.kind in "SUVM":
        raise ImageError(f"unsupported image array dtype {a.dtype}")
    while a.ndim > 2 and a.shape[0] == 1 and not (a.ndim == 3 and a.shape[-1] <= 4):
        a = a[0]  # a batch or channel axis of one, e.g. [1,28,28]
    if a.ndim == 3 and a.shape[-1] > 4 and a.shape[0] in (1, 3, 4):
        a = np.moveaxis(a, 0, -1)  # channels first
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[-1] not in (2, 3, 4)):
        raise ImageError(f"image array must be HxW, HxWx3 or HxWx4 (got shape {tuple(a.shape)})")
    _check_size(a.shape[1], a.shape[0], max_side)
    f = _array_to_float(a)
    if f.ndim == 2:
        return f, None
    if f.shape[-1] == 2:
        return np.ascontiguousarray(f[..., 0]), np.ascontiguousarray(f[..., 1])
    gray = _luma(f)
    return gray, (np.ascontiguousarray(f[..., 3]) if f.shape[-1] == 4 else None)


def _split_pil(img: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """PIL image of any mode -> (gray float32, alpha float32 or None), reduced to the working size."""
    factor = math.ceil(max(img.size) / WORK_SIDE)
    mode = img.mode
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "L")
    elif mode == "PA":
        img = img.convert("RGBA")
    elif mode in ("RGBa", "RGBX"):
        img = img.convert("RGBA" if mode == "RGBa" else "RGB")
    elif mode == "La":
        img = img.convert("LA")
    elif mode == "1":
        img = img.convert("L")
    elif mode not in ("L", "LA", "RGB", "RGBA", "I", "F") and not mode.startswith("I;16"):
        try:
            img = img.convert("RGB")  # CMYK, YCbCr, LAB, HSV, ...
        except Exception as exc:
            raise ImageError(f"unsupported image mode {mode}: {_one_line(exc)}") from None
    if img.mode == "RGB":
        img = img.convert("L")  # ITU-R 601 luma, in C
    if img.mode in ("L", "LA", "RGBA"):
        if factor > 1:
            img = img.reduce(factor)
        if img.mode == "L":
            return _array_to_float(np.asarray(img)), None
        alpha = img.getchannel("A")
        gray = _array_to_float(np.asarray(img.convert("L")))  # luma in C; colour channels only
        if alpha.getextrema()[0] == 255:
            return gray, None  # opaque: the common case for photos and most canvases
        return gray, _array_to_float(np.asarray(alpha))
    # 16/32-bit integer and float modes: go through NumPy and reduce there.
    a = np.asarray(img)
    if img.mode.startswith("I;16"):
        a = a.astype(np.uint16)
    elif img.mode == "F":
        a = a.astype(np.float32)
        if np.isfinite(a).all() and (a.min() < 0 or a.max() > 1):
            lo, hi = float(a.min()), float(a.max())
            a = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    return _split_array(a, 1 << 30)


def _block_mean(a: np.ndarray, factor: int) -> np.ndarray:
    h, w = a.shape[0] // factor * factor, a.shape[1] // factor * factor
    if h == 0 or w == 0:
        return a
    return a[:h, :w].reshape(h // factor, factor, w // factor, factor).mean(axis=(1, 3), dtype=np.float32)


def _composite(gray: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """Put transparent pixels onto paper: the colour that contrasts with what was drawn.

    A canvas exported with a transparent background holds only the strokes; whether they are black or white,
    the empty part is paper. When the opaque part is most of the picture (a scan with transparent margins),
    its own dominant colour is the paper.
    """
    if alpha is None or float(alpha.min()) >= 0.999:
        return gray
    opaque = alpha > 0.5
    n_opaque = int(opaque.sum())
    if n_opaque == 0:
        return np.ones_like(gray)  # nothing drawn at all
    values = gray[opaque]
    if n_opaque < 0.5 * gray.size or float(values.std()) < 0.12:
        paper = 1.0 if float(values.mean()) < 0.5 else 0.0
    else:
        paper = float(np.median(values))
    return gray * alpha + np.float32(paper) * (1 - alpha)


def _to_gray(source: Any, max_side: int) -> tuple[np.ndarray, tuple[float, float], tuple[int, int]]:
    """Decode anything to a float32 luminance image at working size, plus its scale and source size."""
    if not isinstance(max_side, int) or max_side < MIN_SIDE:
        raise ValueError(f"max_side must be an int >= {MIN_SIDE}")
    img, shown = _source_to_image(source, max_side)
    if isinstance(img, Image.Image):
        size = shown or img.size
        gray, alpha = _split_pil(img)
    else:
        gray, alpha = _split_array(img, max_side)
        size = (gray.shape[1], gray.shape[0])
        factor = math.ceil(max(gray.shape) / WORK_SIDE)
        if factor > 1:
            gray = _block_mean(gray, factor)
            alpha = None if alpha is None else _block_mean(alpha, factor)
    gray = _composite(gray, alpha)
    scale = (size[0] / gray.shape[1], size[1] / gray.shape[0])
    return np.ascontiguousarray(gray, dtype=np.float32), scale, size


# ----------------------------------------------------------------------------------------------------------
# small NumPy image operations (no SciPy)


def _box3(a: np.ndarray) -> np.ndarray:
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


def _quantile(a: np.ndarray, q: float) -> float:
    """q-quantile by partition (np.percentile's overhead dominates for our small arrays)."""
    k = min(a.size - 1, max(0, int(q * (a.size - 1) + 0.5)))
    return float(np.partition(a.ravel(), k)[k])


def _dilate_square(a: np.ndarray) -> np.ndarray:
    """3x3 grey (or binary) dilation."""
    o = a.copy()
    np.maximum(o[1:], a[:-1], out=o[1:])
    np.maximum(o[:-1], a[1:], out=o[:-1])
    p = o.copy()
    np.maximum(p[:, 1:], o[:, :-1], out=p[:, 1:])
    np.maximum(p[:, :-1], o[:, 1:], out=p[:, :-1])
    return p


def _dilate_cross(a: np.ndarray) -> np.ndarray:
    """Dilation by a plus-shaped 3x3 element; alternated with the square it approximates a disk."""
    o = a.copy()
    np.maximum(o[1:], a[:-1], out=o[1:])
    np.maximum(o[:-1], a[1:], out=o[:-1])
    np.maximum(o[:, 1:], a[:, :-1], out=o[:, 1:])
    np.maximum(o[:, :-1], a[:, 1:], out=o[:, :-1])
    return o


def _dilate(a: np.ndarray, radius: float) -> np.ndarray:
    """Grey dilation by a disk of (fractional) radius; the fraction blends in one more step."""
    whole = int(radius)
    for i in range(whole):
        a = _dilate_square(a) if i % 2 == 0 else _dilate_cross(a)
    frac = radius - whole
    if frac > 0.05:
        grown = _dilate_square(a) if whole % 2 == 0 else _dilate_cross(a)
        a = a + np.float32(frac) * (grown - a)
    return a


def _erode(a: np.ndarray, radius: float) -> np.ndarray:
    return 1 - _dilate(1 - a, radius)


def _border(a: np.ndarray) -> np.ndarray:
    b = max(1, min(a.shape) // 50)
    return np.concatenate([a[:b].ravel(), a[-b:].ravel(), a[b:-b, :b].ravel(), a[b:-b, -b:].ravel()])


def _mad_sigma(values: np.ndarray) -> float:
    med = _quantile(values, 0.5)
    return 1.4826 * _quantile(np.abs(values - np.float32(med)), 0.5)


def _background(gray: np.ndarray, paper_is_light: bool) -> np.ndarray:
    """Smooth paper brightness under uneven lighting: a robust cubic surface fit to block medians.

    Ink is rejected as outliers, so thick strokes do not pull the estimate (a blur would).
    """
    h, w = gray.shape
    n = 24
    by, bx = max(1, h // n), max(1, w // n)
    ny, nx = h // by, w // bx
    blocks = gray[: ny * by, : nx * bx].reshape(ny, by, nx, bx).transpose(0, 2, 1, 3).reshape(ny, nx, -1)
    z = np.median(blocks, axis=2).ravel()
    v = ((np.arange(ny) + 0.5) * by / h * 2 - 1).astype(np.float32)
    u = ((np.arange(nx) + 0.5) * bx / w * 2 - 1).astype(np.float32)
    vv, uu = np.meshgrid(v, u, indexing="ij")
    terms = [(i, j) for i in range(4) for j in range(4) if i + j <= 3]
    design = np.stack([(vv.ravel() ** i) * (uu.ravel() ** j) for i, j in terms], axis=1)
    # Start from the paper side (brightest blocks for dark ink), then refine with symmetric rejection.
    keep = z >= np.percentile(z, 40) if paper_is_light else z <= np.percentile(z, 60)
    coef = np.zeros(len(terms), np.float32)
    for _ in range(6):
        if keep.sum() < len(terms) + 2:
            break
        coef, *_ = np.linalg.lstsq(design[keep], z[keep], rcond=None)
        resid = z - design @ coef
        s = 1.4826 * float(np.median(np.abs(resid[keep]))) + 0.01
        new_keep = np.abs(resid) < 2.5 * s
        if np.array_equal(new_keep, keep):
            break
        keep = new_keep
    vy = (np.arange(h, dtype=np.float32) + 0.5) / h * 2 - 1
    ux = (np.arange(w, dtype=np.float32) + 0.5) / w * 2 - 1
    cmat = np.zeros((4, 4), np.float32)
    for (i, j), c in zip(terms, coef, strict=True):
        cmat[i, j] = c
    vpow = np.stack([vy**i for i in range(4)], axis=1)
    upow = np.stack([ux**j for j in range(4)], axis=1)
    return np.clip(vpow @ cmat @ upow.T, 0.0, 1.0).astype(np.float32)


# ----------------------------------------------------------------------------------------------------------
# connected components: union-find over run-lengths


def _runs(mask: np.ndarray) -> np.ndarray:
    """Horizontal runs of True as int [n,3] (row, start, end exclusive), row-major order."""
    h, w = mask.shape
    padded = np.zeros((h, w + 2), np.int8)
    padded[:, 1:-1] = mask
    d = padded[:, 1:] - padded[:, :-1]  # +1 where a run starts, -1 one past where it ends
    flat = np.flatnonzero(d)
    rows, cols = np.divmod(flat, w + 1)
    is_start = d.ravel()[flat] > 0
    return np.stack([rows[is_start], cols[is_start], cols[~is_start]], axis=1)


def _label_runs(runs: np.ndarray, width: int) -> tuple[np.ndarray, int]:
    """8-connected component label (0..k-1) of each run, ordered by first appearance."""
    n = len(runs)
    if n == 0:
        return np.zeros(0, np.intp), 0
    rows, starts, ends = runs[:, 0], runs[:, 1], runs[:, 2]
    key = width + 2
    start_key = rows * key + starts
    end_key = rows * key + ends
    # Runs a (row y-1) touching run b (row y), diagonals included: a.start <= b.end and b.start <= a.end.
    lo = np.searchsorted(end_key, (rows - 1) * key + starts, side="left")
    hi = np.searchsorted(start_key, (rows - 1) * key + ends, side="right")
    count = np.maximum(hi - lo, 0)
    total = int(count.sum())
    lab = np.arange(n)
    if total:
        b = np.repeat(np.arange(n), count)
        a = np.arange(total) - np.repeat(np.cumsum(count) - count, count) + np.repeat(lo, count)
        while True:
            la, lb = lab[a], lab[b]
            if np.array_equal(la, lb):
                break
            m = np.minimum(la, lb)
            np.minimum.at(lab, la, m)
            np.minimum.at(lab, lb, m)
            while True:  # pointer jumping; lab[i] <= i always holds, so this ends
                nxt = lab[lab]
                if np.array_equal(nxt, lab):
                    break
                lab = nxt
    roots, compact = np.unique(lab, return_inverse=True)
    return compact.ravel(), len(roots)


def _component_stats(runs: np.ndarray, label: np.ndarray, k: int) -> np.ndarray:
    """int [k,5]: x0, y0, x1, y1 (exclusive), area."""
    stats = np.empty((k, 5), np.int64)
    stats[:, 0] = np.iinfo(np.int64).max
    stats[:, 1] = np.iinfo(np.int64).max
    stats[:, 2] = -1
    stats[:, 3] = -1
    np.minimum.at(stats[:, 0], label, runs[:, 1])
    np.minimum.at(stats[:, 1], label, runs[:, 0])
    np.maximum.at(stats[:, 2], label, runs[:, 2])
    np.maximum.at(stats[:, 3], label, runs[:, 0] + 1)
    stats[:, 4] = np.bincount(label, weights=runs[:, 2] - runs[:, 1], minlength=k).astype(np.int64)
    return stats


def _paint(shape: tuple[int, int], runs: np.ndarray) -> np.ndarray:
    """Boolean mask from runs (runs in one row never share a start or end column)."""
    h, w = shape
    d = np.zeros((h, w + 1), np.int8)
    d[runs[:, 0], runs[:, 1]] = 1
    d[runs[:, 0], runs[:, 2]] = -1
    return np.cumsum(d, axis=1, dtype=np.int8)[:, :w] > 0


# ----------------------------------------------------------------------------------------------------------
# ink analysis


def _analyse(source: Any, max_side: int) -> _Ink:
    """Find the ink: polarity, background, noise, and the kept connected components."""
    gray, scale, size = _to_gray(source, max_side)
    h, w = gray.shape
    border = _border(gray)
    border.sort()
    p10, paper, p90 = (border[int(q * (border.size - 1))] for q in (0.1, 0.5, 0.9))
    paper_is_light = bool(paper >= 0.5)
    if p90 - p10 > 0.08 and min(h, w) >= 48:
        bg: np.ndarray | np.float32 = _background(gray, paper_is_light)  # uneven lighting / ink on the border
    else:
        bg = paper
    diff = gray - bg
    smooth = _box3(diff)  # a 3x3 mean: isolated speckle drops to 1/9, a 2-px stroke keeps 2/3
    dark_score, light_score = float(-smooth.min()), float(smooth.max())
    # The border says which way round; a clearly stronger opposite deviation (mid-grey paper) overrides.
    dark = paper_is_light
    if dark and light_score > 2 * dark_score:
        dark = False
    elif not dark and dark_score > 2 * light_score:
        dark = True
    # Contrast relative to the local paper brightness, so dim and bright parts of a photo read alike.
    if dark:
        norm = np.maximum(bg, np.float32(0.2))
        raw = np.maximum(-diff, 0) / norm
        sraw = np.maximum(-smooth, 0) / norm
    else:
        norm = np.maximum(1 - bg, np.float32(0.2))
        raw = np.maximum(diff, 0) / norm
        sraw = np.maximum(smooth, 0) / norm
    sigma = _mad_sigma(_border(sraw))
    floor = max(0.08, 5 * sigma)
    candidates = sraw[sraw > floor]
    if candidates.size < 4:
        raise NoInkError("no ink found: the image is blank or uniform")
    peak = _quantile(candidates, 0.9)
    if peak < max(MIN_CONTRAST, 6 * sigma):
        raise NoInkError("no ink found: only faint marks or noise")
    mask = sraw > max(MASK_LEVEL * peak, 3.5 * sigma, 0.05)

    runs = _runs(mask)
    label, k = _label_runs(runs, w)
    comps = _component_stats(runs, label, k)
    # Drop specks: components far smaller than the largest one (noise, JPEG speckle, stray dots).
    areas = comps[:, 4]
    keep = areas >= max(3, 0.05 * float(areas.max()))
    if not keep.all():
        new_index = np.cumsum(keep) - 1
        run_keep = keep[label]
        runs, label = runs[run_keep], new_index[label[run_keep]]
        comps = comps[keep]
        mask = _paint(mask.shape, runs)
    longest = int(max(comps[:, 2].max() - comps[:, 0].min(), comps[:, 3].max() - comps[:, 1].min()))
    if longest < max(4, 0.02 * min(h, w)):
        raise NoInkError("no ink found: only a dot or speck")

    # Full ink = the level of the strong strokes (not of the faint ones the low mask level also admits).
    ink_pixels = raw[mask & (sraw > 0.45 * peak)]
    hi = _quantile(ink_pixels, 0.9) if ink_pixels.size else peak
    lo = min(max(0.15 * hi, 3 * sigma), 0.5 * hi)
    ink = (raw - np.float32(lo)) * np.float32(1 / max(hi - lo, 1e-3))
    np.clip(ink, 0, 1, out=ink)
    ink *= _dilate_square(mask)  # soft edges next to kept ink only
    return _Ink(
        ink=ink.astype(np.float32, copy=False),
        mask=mask,
        scale=scale,
        source_size=size,
        runs=runs,
        run_label=label,
        comps=comps,
    )


# ----------------------------------------------------------------------------------------------------------
# MNIST normalisation


def _stroke_width(m: np.ndarray) -> float:
    """Mean stroke width of a binary drawing: 2*area/perimeter, perimeter corrected for the pixel grid."""
    area = int(m.sum())
    if area == 0:
        return 0.0
    p = np.pad(m, 1)
    perimeter = int((p[1:] != p[:-1]).sum() + (p[:, 1:] != p[:, :-1]).sum())
    return 2 * area / (perimeter * math.pi / 4)


def _trim(a: np.ndarray, level: float = 0.02) -> np.ndarray:
    rows = np.flatnonzero((a > level).any(axis=1))
    cols = np.flatnonzero((a > level).any(axis=0))
    if rows.size == 0:
        raise NoInkError("no ink in the crop")
    return a[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _normalise(crop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ink crop -> (20x20 box picture, 28x28 MNIST-style input)."""
    c = np.asarray(crop)
    if c.ndim != 2:
        raise ImageError(f"ink crop must be 2-D (got shape {tuple(c.shape)})")
    if np.issubdtype(c.dtype, np.floating):
        if not np.isfinite(c).all():
            raise ImageError("ink crop contains NaN or infinity")
        c = np.clip(c, 0, 1).astype(np.float32)
    else:
        c = _array_to_float(c)
    c = _trim(np.clip(c, 0, 1))
    # Judge the crop on its own contrast: a faint digit (next to bold ones in a number) becomes solid too.
    strong = c[c > 0.1 * float(c.max())]
    c = np.minimum(c * np.float32(1 / max(_quantile(strong, 0.9), 1e-3)), 1)
    m = c > 0.5
    sw = _stroke_width(m)
    # Work at 80..160 px on the longer side: enough for anti-aliasing and stroke-width changes, and cheap.
    factor = max(1, max(c.shape) // 80)
    if factor > 1:
        c = np.asarray(Image.fromarray(c).reduce(factor))
        sw /= factor
        if sw < 1:
            c = np.clip(c / max(sw, 0.2), 0, 1)  # strokes thinner than a working pixel came out faint
            sw = 1.0
    elif max(c.shape) < 80:
        # Small crops (an MNIST digit, a small photo) are enlarged so stroke-width changes are not coarse.
        up = math.ceil(80 / max(c.shape))
        size = (c.shape[1] * up, c.shape[0] * up)
        c = np.asarray(Image.fromarray(c).resize(size, Image.Resampling.BILINEAR))
        sw *= up
    # Stroke width into MNIST's range: the network never saw hairlines or felt-tip blobs. Clamping (rather
    # than snapping to one width) keeps the result continuous in the input's scale and stroke width.
    side = max(c.shape)
    thinnest, thickest = STROKE_MIN * side / BOX, STROKE_MAX * side / BOX  # in working pixels
    if sw < thinnest:
        # Thickening grows the box by 2r, which shrinks the scale: solve sw + 2r = w * (side + 2r) / side.
        radius = (thinnest - sw) / (2 * max(1 - thinnest / side, 0.5))
        pad = int(math.ceil(radius)) + 1
        c = _trim(_dilate(np.pad(c, pad), radius))
    elif sw > thickest:
        c = _trim(_erode(np.pad(c, 1), (sw - thickest) / 2))
    h, w = c.shape
    s = BOX / max(h, w)  # output pixels per working pixel
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    c = c.astype(np.float32, copy=False)
    small = np.clip(np.asarray(Image.fromarray(c).resize((nw, nh), RESAMPLE)), 0, None)
    top = float(small.max())
    if top <= 0:
        raise NoInkError("no ink left after scaling")
    fit20 = np.zeros((BOX, BOX), np.float32)
    fy, fx = (BOX - nh) // 2, (BOX - nw) // 2
    fit20[fy : fy + nh, fx : fx + nw] = small / top
    # Resample the 28x28 frame straight from the working crop, placed so the centre of mass lands on
    # MNIST's (14, 14) to a fraction of a pixel: the result then moves continuously with the drawing.
    total = float(c.sum())
    cy = float(c.sum(axis=1) @ np.arange(h, dtype=np.float32)) / total
    cx = float(c.sum(axis=0) @ np.arange(w, dtype=np.float32)) / total
    span = SIZE / s  # working pixels covered by the frame
    # Frame's left/top edge in working coordinates (pixel i spans [i, i+1)); kept so the digit stays whole.
    bx = min(max(cx + 0.5 - (COM_TARGET + 0.5) / s, w - span), 0.0)
    by = min(max(cy + 0.5 - (COM_TARGET + 0.5) / s, h - span), 0.0)
    px0, py0 = math.ceil(-bx) + 2, math.ceil(-by) + 2
    px1, py1 = math.ceil(bx + span - w) + 2, math.ceil(by + span - h) + 2
    padded = Image.fromarray(np.pad(c, ((py0, max(py1, 0)), (px0, max(px1, 0)))))
    region = (bx + px0, by + py0, bx + px0 + span, by + py0 + span)
    final = np.clip(np.asarray(padded.resize((SIZE, SIZE), RESAMPLE, box=region)), 0, None)
    final = final * np.float32(1 / float(final.max()))
    return fit20, final


def to_model_input(ink_crop: np.ndarray) -> np.ndarray:
    """Crop of an ink map (1 = ink) -> float32 [28,28] in [0,1]: 20x20 box, centre of mass at the centre."""
    return _normalise(ink_crop)[1]


def load_image(source: Any, *, max_side: int = 4096) -> np.ndarray:
    """Decode anything preprocess accepts into a float32 ink map in [0,1] (1 = ink), noise removed.

    Large inputs are reduced so the longer side is at most 512 px. Raises NoInkError for a blank image.
    """
    return _analyse(source, max_side).ink


def preprocess(source: Any, *, max_side: int = 4096, return_stages: bool = False) -> np.ndarray | Stages:
    """Any image of one digit -> float32 [28,28] in [0,1], white ink on black, the way MNIST was made.

    Accepts encoded bytes, a file path, a data URL, a PIL image or a NumPy array. Raises ImageError (one-line
    message) for unusable input, ImageTooLargeError over max_side, NoInkError when there is nothing drawn.
    """
    found = _analyse(source, max_side)
    comps = found.comps
    x0, y0 = int(comps[:, 0].min()), int(comps[:, 1].min())
    x1, y1 = int(comps[:, 2].max()), int(comps[:, 3].max())
    crop = found.ink[y0:y1, x0:x1]
    fit20, final = _normalise(crop)
    if not return_stages:
        return final
    return Stages(ink=found.ink, mask=found.mask, box=(x0, y0, x1, y1), crop=crop, fit20=fit20, final=final)

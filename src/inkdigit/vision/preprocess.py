"""Turn any picture of a handwritten digit into the model's 28x28 input, the way MNIST was made.

Every path (CLI, HTTP API, web page, GUI, benchmarks) goes through :func:`preprocess`, so a digit drawn on a
280x280 canvas, a photo of a page or an MNIST array all reach the network looking like MNIST digits:
ink found whichever way round, cropped, scaled into a 20x20 box with anti-aliasing, stroke width brought into
MNIST's range and placed in 28x28 with its centre of mass at the centre.

It is on every recognition path, so it is built for speed: the decisions (paper, polarity, noise, which ink
is the digit) are taken on a small analysis image (at most 256 px a side for one digit), and only the digit's
box is then read from the picture, at the 80-160 px the normalisation works at. Pixel work is done by
Pillow's C code (decoding, reduce, resize) or in a few whole-array NumPy operations.
"""

from __future__ import annotations

import base64
import binascii
import functools
import io
import math
import os
import struct
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from inkdigit.errors import ImageError, ImageTooLargeError, NoInkError

__all__ = [
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

MIN_SIDE = 8
MAX_FILE_BYTES = 256 << 20  # encoded bytes; no sane picture of a digit comes near this
# Where the ink is and which ink is the digit is decided on a reduced analysis image: a digit needs far fewer
# pixels than a canvas or a photo has. A single digit is analysed at most ANALYSIS_SIDE a side (a 280x280
# canvas at 140x140); a number, whose digits are smaller, and the ink map of load_image/Stages at WORK_SIDE.
ANALYSIS_SIDE = 256
WORK_SIDE = 512
# The digit's box is read from the picture so its longer side is CROP_SIDE..2*CROP_SIDE px: enough for
# anti-aliasing and stroke-width changes at 20x20, and cheap.
CROP_SIDE = 80
_BLAS_BLOCK = 1 << 17  # multiply-adds per matrix product: below OpenBLAS's threading threshold (see _matmul)
# MNIST (measured on the test set): centre of mass at (14.0, 14.0) in pixel-index coordinates and a median
# stroke width of ~2.5 px at 28x28 (estimated as 2*area/perimeter of the >0.5 mask).
COM_TARGET = 14.0
BOX = 20
SIZE = 28
# Stroke width is kept within MNIST's range (widths in output pixels of the 20x20 box, measured as
# 2*area/perimeter; MNIST's 10th-90th percentile is ~1.8-3.6, tuned on benchmarks/canvas_mnist.py).
STROKE_MIN = 2.3
STROKE_MAX = 3.3
MIN_CONTRAST = 0.12  # weakest ink (fraction of the paper/ink luminance range) that counts as ink
# Ink mask level relative to the strong ink's contrast: low enough that a faint digit written next to
# bold ones (a pencil stroke beside a marker) is still found.
MASK_LEVEL = 0.25
# Orientation may come from EXIF or XMP; only pictures carrying one of these are asked for it.
_ORIENTATION_KEYS = ("exif", "Raw profile type exif", "xmp", "XML:com.adobe.xmp")





@dataclass
class Stages:
    """Every intermediate step of :func:`preprocess`, for UIs that show how a drawing was read."""

    ink: np.ndarray  # HxW float32 ink map in [0,1] (1 = ink), noise removed, longer side at most 512 px
    mask: np.ndarray  # HxW bool: the ink that was kept
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive end) of the ink, in ink-map pixels
    crop: np.ndarray  # float32 ink map inside box
    fit20: np.ndarray  # 20x20 float32: the digit scaled to fit the 20x20 box (stroke width adjusted)
    final: np.ndarray  # 28x28 float32 model input, white ink on black


@dataclass
class _Ink:
    """Result of ink analysis shared by preprocess and segment (boxes and masks in analysis pixels)."""

    picture: Image.Image  # the decoded picture, grey: mode "L" (0..255) or "F" (0..1), paper under alpha
    factor: int  # picture pixels per analysis pixel
    pixels: np.ndarray  # float32 (h, w) in [0,1]: the analysis image (the picture reduced by factor)
    shape: tuple[int, int]  # (h, w) of the analysis image
    dark: bool  # ink darker than the paper
    paper: float  # paper brightness (0..1) where it is uniform
    background: np.ndarray | None  # 4x4 polynomial coefficients of the paper brightness, or None: uniform
    lo: float  # ink = clip((contrast - lo) * gain, 0, 1)
    gain: float
    mask: np.ndarray  # bool (h, w): kept components only
    scale: tuple[float, float]  # source pixels per analysis pixel (x, y)
    source_size: tuple[int, int]  # (width, height) of the source image as shown
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


def _identify(data: bytes) -> Image.Image:
    """Open encoded bytes (header only) with the first Pillow plugin that accepts them.

    This is Image.open without its decompression-bomb check: that check warns through the process-wide
    warnings machinery, which cannot be silenced per call without racing other threads (the server decodes
    in a thread pool). The caller checks the size itself before any pixel is decoded.
    """
    fp = io.BytesIO(data)
    prefix = data[:16]
    tried: set[str] = set()
    for loader in (Image.preinit, Image.init):  # the common formats first, every plugin only if needed
        loader()
        for fmt in list(Image.ID):
            if fmt in tried:
                continue
            tried.add(fmt)
            if fmt not in Image.OPEN:
                continue
            factory, accept = Image.OPEN[fmt]
            try:
                accepted = accept is None or accept(prefix)
                if accepted and not isinstance(accepted, str):  # a string says why it was refused
                    fp.seek(0)
                    return factory(fp, "")
            except (SyntaxError, IndexError, TypeError, struct.error):
                continue  # not this format (what Image.open does too)
    raise ImageError("not an image (cannot identify the format)")


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_MODES = {0: "L", 2: "RGB", 4: "LA", 6: "RGBA"}  # colour type -> mode, at 8 bits per sample
# Chunks that change nothing in the pixels Pillow would return (no transparency, palette or orientation).
_PNG_INERT = {b"pHYs", b"tEXt", b"zTXt", b"iTXt", b"tIME", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT", b"bKGD"}


def _plain_png(data: bytes, max_side: int) -> Image.Image | None:
    """A plain PNG (8-bit grey/RGB/+alpha, not interlaced, no transparency chunk) decoded by Pillow's C
    decoder directly, else None (the caller then goes the general way, which also words any error).

    Pillow's PNG plugin reads chunks in Python: for the small PNGs of a canvas or a folder of digits that
    costs 3-4x the decoding itself, and every path (CLI, API) reads such files.
    """
    if not data.startswith(PNG_SIGNATURE):
        return None
    pos, idat, header = 8, [], None
    try:
        while True:
            length, kind = struct.unpack_from(">I4s", data, pos)
            end = pos + 12 + length
            if end > len(data):
                return None  # truncated
            body = data[pos + 8 : pos + 8 + length]
            if zlib.crc32(body, zlib.crc32(kind)) != struct.unpack_from(">I", data, end - 4)[0]:
                return None  # corrupt
            if kind == b"IHDR" and header is None and pos == 8:
                header = struct.unpack(">IIBBBBB", body)
            elif kind == b"IDAT" and header is not None:
                idat.append(body)
            elif kind == b"IEND":
                break
            elif kind not in _PNG_INERT:
                return None
            pos = end
    except struct.error:
        return None
    if header is None or not idat:
        return None
    width, height, depth, colour, compression, filtering, interlace = header
    mode = _PNG_MODES.get(colour)
    if depth != 8 or mode is None or compression or filtering or interlace:
        return None
    _check_size(width, height, max_side)  # before a byte is decompressed
    try:
        return Image.frombytes(mode, (width, height), b"".join(idat), "zip", mode, 0)
    except (ValueError, OSError):
        return None


def _open_encoded(data: bytes, max_side: int) -> tuple[Image.Image, tuple[int, int]]:
    """Decode PNG/JPEG/WebP/BMP/GIF/... bytes, refusing bombs before the pixels are decompressed.

    Returns the image and its size as shown (EXIF orientation applied), which a large JPEG decoded at
    reduced scale no longer has.
    """
    if not data:
        raise ImageError("empty image data")
    if len(data) > MAX_FILE_BYTES:
        raise ImageTooLargeError(f"image data is over {MAX_FILE_BYTES >> 20} MiB")
    plain = _plain_png(data, max_side)
    if plain is not None:
        return plain, plain.size
    try:
        img = _identify(data)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:  # a plugin's own check
        raise ImageTooLargeError(f"image refused as a decompression bomb: {_one_line(exc)}") from None
    except Exception as exc:  # PIL raises many types for garbage input
        raise ImageError(f"not an image ({_one_line(exc)})") from None
    _check_size(img.width, img.height, max_side)
    # The picture's own size, in the orientation it is shown in: boxes are reported in these pixels even
    # when a JPEG is decoded at reduced scale.
    shown = img.size
    kind = img.format or "unknown format"
    try:
        if img.format == "JPEG":
            # Decode straight to grey (the luma channel), and a large JPEG at reduced scale: much faster.
            side = max(img.size)
            target = None if side <= 2 * WORK_SIDE else (img.width * WORK_SIDE // side,
                                                          img.height * WORK_SIDE // side)
            img.draft("L", target)
        img.load()
        if img.format == "TIFF" or any(k in img.info for k in _ORIENTATION_KEYS):
            orientation = img.getexif().get(0x0112, 1)
            if orientation in (2, 3, 4, 5, 6, 7, 8):
                img = ImageOps.exif_transpose(img)
                if orientation >= 5:
                    shown = (shown[1], shown[0])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLargeError(f"image refused as a decompression bomb: {_one_line(exc)}") from None
    except Exception as exc:
        raise ImageError(f"could not decode image ({kind}): {_one_line(exc)}") from None
    return img, shown


def read_file(path: str | os.PathLike) -> bytes:
    """A file's bytes; raises OSError, or ImageTooLargeError over MAX_FILE_BYTES.

    os.open/os.read: half the cost of open() for the small files a folder of digits holds.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        if size > MAX_FILE_BYTES:
            raise ImageTooLargeError(f"{os.fspath(path)} is over {MAX_FILE_BYTES >> 20} MiB")
        parts = []
        while part := os.read(fd, size + 1 if not parts else 1 << 20):  # read to the end, even if it grew
            parts.append(part)
        return b"".join(parts)
    finally:
        os.close(fd)


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
        try:
            data = read_file(source)
        except OSError as exc:
            raise ImageError(f"cannot read {source}: {exc.strerror or _one_line(exc)}") from None
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


def _paper_under(gray: np.ndarray, alpha: np.ndarray) -> float | None:
    """The paper to put under transparent pixels: the colour that contrasts with what was drawn.

    A canvas exported with a transparent background holds only the strokes; whether they are black or white,
    the empty part is paper. When the opaque part is most of the picture (a scan with transparent margins),
    its own dominant colour is the paper. None when nothing is opaque at all (a blank picture).
    Takes grey and alpha in the same units (0..1 or 0..255) and returns paper in [0, 1].
    """
    top = 255.0 if gray.dtype == np.uint8 else 1.0
    opaque = alpha > 0.5 * top
    n_opaque = int(np.count_nonzero(opaque))
    if n_opaque == 0:
        return None
    values = gray[opaque].astype(np.float32) * np.float32(1 / top)
    if n_opaque < 0.5 * gray.size or float(values.std()) < 0.12:
        return 1.0 if float(values.mean()) < 0.5 else 0.0
    return _quantile(values, 0.5)


def _array_picture(a: np.ndarray, max_side: int) -> Image.Image:
    """NumPy image -> grey PIL picture ("L" for 8-bit grey, else "F" in [0,1]), transparency composited."""
    if a.ndim == 2 and a.dtype == np.uint8:  # the common case (an MNIST array): no float copy
        _check_size(a.shape[1], a.shape[0], max_side)
        return Image.fromarray(np.ascontiguousarray(a))
    gray, alpha = _split_array(a, max_side)
    if alpha is not None and float(alpha.min()) < 0.999:
        paper = _paper_under(gray, alpha)
        gray = np.ones_like(gray) if paper is None else gray * alpha + np.float32(paper) * (1 - alpha)
    return _to_image(gray)


def _pil_picture(img: Image.Image) -> Image.Image:
    """PIL image of any mode -> grey picture ("L", or "F" in [0,1] for deeper modes), alpha composited."""
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
    if img.mode == "L":
        return img
    if img.mode == "RGB":
        return img.convert("L")  # ITU-R 601 luma, in C
    if img.mode in ("LA", "RGBA"):
        alpha = img.getchannel("A")
        gray = img.convert("L")  # luma of the colour channels only, in C
        if alpha.getextrema()[0] == 255:
            return gray  # opaque: the common case for photos and canvases (checked in C, no copy)
        paper = _paper_under(np.asarray(gray), np.asarray(alpha))
        if paper is None:
            return Image.new("L", gray.size, 255)  # nothing drawn at all
        return Image.composite(gray, Image.new("L", gray.size, round(paper * 255)), alpha)
    # 16/32-bit integer and float modes: go through NumPy.
    a = np.asarray(img)
    if img.mode.startswith("I;16"):
        a = a.astype(np.uint16)
    elif img.mode == "F":
        a = a.astype(np.float32)
        if np.isfinite(a).all() and (a.min() < 0 or a.max() > 1):
            lo, hi = float(a.min()), float(a.max())
            a = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    return _array_picture(a, 1 << 30)


def _to_picture(source: Any, max_side: int) -> tuple[Image.Image, tuple[int, int]]:
    """Decode anything to a grey PIL picture ("L" or "F") and the source's size as shown."""
    if not isinstance(max_side, int) or max_side < MIN_SIDE:
        raise ValueError(f"max_side must be an int >= {MIN_SIDE}")
    img, shown = _source_to_image(source, max_side)
    if isinstance(img, Image.Image):
        picture = _pil_picture(img)
        return picture, shown or img.size
    picture = _array_picture(img, max_side)
    return picture, picture.size


def _pixels(picture: Image.Image) -> np.ndarray:
    """A grey picture as a float32 array in [0,1] (a fresh, writable array)."""
    width, height = picture.size
    if picture.mode == "L":
        a = np.frombuffer(picture.tobytes(), np.uint8).reshape(height, width)
        return np.multiply(a, np.float32(1 / 255), dtype=np.float32)
    return np.frombuffer(picture.tobytes(), np.float32).reshape(height, width).copy()  # "F": already 0..1


def _read(picture: Image.Image, box: tuple[int, int, int, int], step: int) -> np.ndarray:
    """The picture inside box, reduced by step (a box mean, in C), as float32 in [0,1]."""
    if step > 1:
        return _pixels(picture.reduce(step, box=box))
    if box == (0, 0) + picture.size:
        return _pixels(picture)
    return _pixels(picture.crop(box))


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
    if b == 1:
        return np.concatenate((a[0], a[-1], a[1:-1, 0], a[1:-1, -1]))
    return np.concatenate([a[:b].ravel(), a[-b:].ravel(), a[b:-b, :b].ravel(), a[b:-b, -b:].ravel()])


def _mad_sigma(values: np.ndarray) -> float:
    med = _quantile(values, 0.5)
    return 1.4826 * _quantile(np.abs(values - np.float32(med)), 0.5)


def _background(gray: np.ndarray, paper_is_light: bool) -> np.ndarray:
    """Smooth paper brightness under uneven lighting: a robust cubic surface fit to block medians.

    Ink is rejected as outliers, so thick strokes do not pull the estimate (a blur would). Returns the 4x4
    coefficients of the surface in coordinates running from -1 to 1 across the image (see _surface).
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
    cmat = np.zeros((4, 4), np.float32)
    for (i, j), c in zip(terms, coef, strict=True):
        cmat[i, j] = c
    return cmat


def _surface(cmat: np.ndarray, v: np.ndarray, u: np.ndarray) -> np.ndarray:
    """The background polynomial at rows v and columns u (coordinates -1..1 across the analysis image)."""
    vpow = np.stack([v**i for i in range(4)], axis=1)
    upow = np.stack([u**j for j in range(4)], axis=1)
    return np.clip(_matmul(vpow @ cmat, np.ascontiguousarray(upow.T)), 0.0, 1.0).astype(np.float32)


# ----------------------------------------------------------------------------------------------------------
# connected components: union-find over run-lengths


def _runs(mask: np.ndarray) -> np.ndarray:
    """Horizontal runs of True as int [n,3] (row, start, end exclusive), row-major order."""
    h, w = mask.shape
    padded = np.zeros((h, w + 2), np.int8)
    padded[:, 1:-1] = mask
    flat = padded.ravel()
    d = flat[1:] - flat[:-1]  # +1 before a run's first pixel, -1 at its last; rows end in padding
    starts = (d == 1).nonzero()[0]
    runs = np.empty((len(starts), 3), np.intp)
    np.floor_divide(starts, w + 2, out=runs[:, 0])
    offset = runs[:, 0] * (w + 2)
    np.subtract(starts, offset, out=runs[:, 1])
    np.subtract((d == -1).nonzero()[0], offset, out=runs[:, 2])
    return runs


def _label_runs(runs: np.ndarray, width: int) -> tuple[np.ndarray, int]:
    """8-connected component label (0..k-1) of each run, ordered by first appearance."""
    n = len(runs)
    if n == 0:
        return np.zeros(0, np.intp), 0
    rows, starts, ends = runs[:, 0], runs[:, 1], runs[:, 2]
    key = width + 2
    base = rows * key
    prev = base - key
    # Runs a (row y-1) touching run b (row y), diagonals included: a.start <= b.end and b.start <= a.end.
    # They are lo[b]..hi[b]-1, as runs are in row-major order.
    lo = np.searchsorted(base + ends, prev + starts, side="left")
    hi = np.searchsorted(base + starts, prev + ends, side="right")
    count = hi - lo
    if np.count_nonzero(count) == n - 1 and np.count_nonzero(count > 1) == 0:
        return np.zeros(n, np.intp), 1  # one run starts it, each other one hangs from one above: one stroke
    # Each run joins the first run it touches in the row above: a forest whose parents come before their
    # children, flattened by pointer jumping (a tree is at most as deep as the rows it spans).
    parent = np.where(count > 0, lo, np.arange(n))
    for _ in range(int(rows[-1] - rows[0] + 1).bit_length()):
        parent = parent[parent]
    # A run touching two or more runs above joins their trees (the bottom of a loop, a V): few, so a
    # union-find in Python over the tree roots; the smaller root wins, keeping first-appearance order.
    joined: dict[int, int] = {}

    def root(x: int) -> int:
        while x in joined:
            x = joined[x]
        return x

    forks = np.flatnonzero(count > 1)
    if forks.size:
        for b, first, last in zip(forks.tolist(), lo[forks].tolist(), hi[forks].tolist(), strict=True):
            rb = root(int(parent[b]))
            for a in range(first + 1, last):
                ra = root(int(parent[a]))
                if ra < rb:
                    joined[rb] = ra
                    rb = ra
                elif ra > rb:
                    joined[ra] = rb
        if joined:
            remap = np.arange(n)
            remap[list(joined)] = [root(r) for r in joined]
            parent = remap[parent]
    is_root = parent == np.arange(n)
    compact = np.cumsum(is_root) - 1
    return compact[parent], int(compact[-1]) + 1


def _component_stats(runs: np.ndarray, label: np.ndarray, k: int) -> np.ndarray:
    """int [k,5]: x0, y0, x1, y1 (exclusive), area."""
    if k == 1:  # the common case: one stroke
        return np.array([[runs[:, 1].min(), runs[0, 0], runs[:, 2].max(), runs[-1, 0] + 1,
                          (runs[:, 2] - runs[:, 1]).sum()]], np.int64)
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


def _reduction(width: int, height: int, side: int) -> int:
    """The smallest whole reduction that brings a width x height picture to at most `side` a side."""
    return max(1, -(-max(width, height) // side))


def _analyse(picture: Image.Image, size: tuple[int, int], side: int = ANALYSIS_SIDE) -> _Ink:
    """Find the ink in a picture from `_to_picture` (of a source `size` pixels): polarity, background, noise,
    and the kept connected components.

    The picture is reduced (a box mean) so its longer side is at most `side`; a reduction of 2 or more
    already averages out speckle, so only an unreduced picture is smoothed with a 3x3 mean.
    """
    width, height = picture.size
    factor = _reduction(width, height, side)
    gray = _pixels(picture.reduce(factor) if factor > 1 else picture)
    h, w = gray.shape
    border = _border(gray)
    border.sort()
    p10, paper, p90 = (float(border[int(q * (border.size - 1))]) for q in (0.1, 0.5, 0.9))
    paper_is_light = paper >= 0.5
    background = None
    if p90 - p10 > 0.08 and min(h, w) * factor >= 48 and min(h, w) >= 24:
        # Uneven lighting, or ink on the border: a fitted paper surface instead of one brightness.
        background = _background(gray, paper_is_light)
        bg: np.ndarray | np.float32 = _surface(background, (np.arange(h, dtype=np.float32) + 0.5) * (2 / h) - 1,
                                          (np.arange(w, dtype=np.float32) + 0.5) * (2 / w) - 1)
    else:
        bg = np.float32(paper)
    diff = gray - bg
    # Speckle must not count as ink: a 3x3 mean drops an isolated pixel to 1/9, a 2-px stroke keeps 2/3.
    smooth = _box3(diff) if factor == 1 else diff
    dark_score, light_score = float(-smooth.min()), float(smooth.max())
    # The border says which way round; a clearly stronger opposite deviation (mid-grey paper) overrides.
    dark = paper_is_light
    if dark and light_score > 2 * dark_score:
        dark = False
    elif not dark and dark_score > 2 * light_score:
        dark = True
    # Contrast relative to the local paper brightness, so dim and bright parts of a photo read alike.
    if background is None:
        inv = np.float32(1 / max(paper if dark else 1 - paper, 0.2))
    else:
        inv = 1 / np.maximum(bg if dark else 1 - bg, np.float32(0.2))
    sign = -inv if dark else inv
    raw = np.maximum(diff * sign, 0)
    sraw = raw if smooth is diff else np.maximum(smooth * sign, 0)
    edge = _border(sraw)
    sigma = _mad_sigma(edge) if edge.any() else 0.0  # a clean border (canvas, MNIST) has no noise to measure
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
    keep = areas >= max(3 if factor == 1 else 1, 0.05 * float(areas.max()))
    if not keep.all():
        new_index = np.cumsum(keep) - 1
        run_keep = keep[label]
        runs, label = runs[run_keep], new_index[label[run_keep]]
        comps = comps[keep]
        mask = _paint(mask.shape, runs)
    # A dot is not a digit. In picture pixels (an analysis pixel may be only partly covered), judged at the
    # scale of an ink map of at most WORK_SIDE a side.
    longest = int(max(comps[:, 2].max() - comps[:, 0].min(), comps[:, 3].max() - comps[:, 1].min()))
    work = _reduction(width, height, WORK_SIDE)
    if (longest - 1) * factor + 1 < max(4 * work, 0.02 * min(width, height)):
        raise NoInkError("no ink found: only a dot or speck")

    # Full ink = the level of the strong strokes (not of the faint ones the low mask level also admits).
    ink_pixels = raw[mask & (sraw > 0.45 * peak)]
    hi = _quantile(ink_pixels, 0.9) if ink_pixels.size else peak
    lo = min(max(0.15 * hi, 3 * sigma), 0.5 * hi)
    return _Ink(
        picture=picture,
        factor=factor,
        pixels=gray,
        shape=(h, w),
        dark=dark,
        paper=paper,
        background=background,
        lo=lo,
        gain=1 / max(hi - lo, 1e-3),
        mask=mask,
        scale=(size[0] * factor / width, size[1] * factor / height),
        source_size=size,
        runs=runs,
        run_label=label,
        comps=comps,
    )


def _ink_crop(found: _Ink, box: tuple[int, int, int, int], keep: np.ndarray | None = None,
              step: int | None = None) -> tuple[np.ndarray, int]:
    """The ink (float32 0..1) inside an analysis-pixel box, read from the picture, and the picture pixels
    per pixel it was read at.

    `keep` (bool, the box's shape) says which analysis pixels may hold ink, by default the kept components
    grown by a pixel (`_grown`). The picture is read at `step` picture pixels per pixel, by default so that the box's
    longer side is CROP_SIDE..2*CROP_SIDE px (or the picture's own resolution when it is smaller).
    """
    x0, y0, x1, y1 = box
    f = found.factor
    width, height = found.picture.size
    region = (x0 * f, y0 * f, min(x1 * f, width), min(y1 * f, height))
    if step is None:
        step = max(1, max(region[2] - region[0], region[3] - region[1]) // CROP_SIDE)
    # At the analysis step the analysis image is the picture read already.
    gray = found.pixels[y0:y1, x0:x1] if step == f else _read(found.picture, region, step)
    h, w = gray.shape
    if found.background is None:
        # Uniform paper: the ink is one linear function of the brightness, clipped.
        paper = found.paper
        a = (-1 if found.dark else 1) * found.gain / max(paper if found.dark else 1 - paper, 0.2)
        ink = gray * np.float32(a)
        ink += np.float32(-a * paper - found.lo * found.gain)
    else:
        ah, aw = found.shape
        # Pixel centres in analysis coordinates, then -1..1 across the analysis image as in _analyse.
        v = (region[1] + (np.arange(h, dtype=np.float32) + 0.5) * step) * np.float32(2 / (f * ah)) - 1
        u = (region[0] + (np.arange(w, dtype=np.float32) + 0.5) * step) * np.float32(2 / (f * aw)) - 1
        bg = _surface(found.background, v, u)
        if found.dark:
            ink = (bg - gray) / np.maximum(bg, np.float32(0.2))
        else:
            ink = (gray - bg) / np.maximum(1 - bg, np.float32(0.2))
        ink -= np.float32(found.lo)
        ink *= np.float32(found.gain)
    np.clip(ink, 0, 1, out=ink)
    if keep is None:
        keep = _grown(found.mask, box)
    ink *= _under(keep, f, step, h, w)
    return ink, step


def _grown(mask: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The mask grown by a pixel (3x3 dilation: soft ink edges next to kept ink), inside box only.

    Dilating just the box and a one-pixel margin gives the same pixels as dilating the whole analysis image.
    """
    x0, y0, x1, y1 = box
    h, w = mask.shape
    top, left = max(y0 - 1, 0), max(x0 - 1, 0)
    grown = _dilate_square(mask[top : min(y1 + 1, h), left : min(x1 + 1, w)])
    return grown[y0 - top : y1 - top, x0 - left : x1 - left]


def _under(a: np.ndarray, f: int, step: int, h: int, w: int) -> np.ndarray:
    """Analysis pixels (f picture pixels each) under an h x w grid of `step`-pixel cells from the origin."""
    if step == f:
        return a[:h, :w]
    if f % step == 0:  # each analysis pixel covers r x r cells
        r = f // step
        rows, cols = min(a.shape[0], -(-h // r)), min(a.shape[1], -(-w // r))
        # Columns by r strided copies (np.repeat copies element by element), then rows by whole-row repeats.
        wide = np.empty((rows, cols, r), a.dtype)
        for k in range(r):
            wide[:, :, k] = a[:rows, :cols]
        return np.repeat(wide.reshape(rows, cols * r), r, axis=0)[:h, :w]
    # Otherwise the analysis pixel under each cell's centre.
    rows = np.minimum((np.arange(h) * step + step // 2) // f, a.shape[0] - 1)
    cols = np.minimum((np.arange(w) * step + step // 2) // f, a.shape[1] - 1)
    return a[rows[:, None], cols]


def _kept_box(found: _Ink) -> tuple[int, int, int, int]:
    comps = found.comps
    return int(comps[:, 0].min()), int(comps[:, 1].min()), int(comps[:, 2].max()), int(comps[:, 3].max())


# ----------------------------------------------------------------------------------------------------------
# MNIST normalisation


def _pad(a: np.ndarray, top: int, bottom: int, left: int, right: int) -> np.ndarray:
    """Zero padding (np.pad's generality costs more than the copy for our small arrays)."""
    h, w = a.shape
    out = np.zeros((h + top + bottom, w + left + right), a.dtype)
    out[top : top + h, left : left + w] = a
    return out


def _stroke_width(m: np.ndarray) -> float:
    """Mean stroke width of a binary drawing: 2*area/perimeter, perimeter corrected for the pixel grid."""
    area = int(np.count_nonzero(m))
    if area == 0:
        return 0.0
    p = _pad(m, 1, 1, 1, 1)
    perimeter = int(np.count_nonzero(p[1:] != p[:-1]) + np.count_nonzero(p[:, 1:] != p[:, :-1]))
    return 2 * area / (perimeter * math.pi / 4)


def _trim(a: np.ndarray, level: float = 0.02) -> np.ndarray:
    m = a > level
    rows = np.flatnonzero(m.any(axis=1))
    if rows.size == 0:
        raise NoInkError("no ink in the crop")
    cols = np.flatnonzero(m.any(axis=0))
    return a[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _bilinear(n_in: int, n_out: int, start: float = 0.0, end: float | None = None) -> np.ndarray:
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


@functools.lru_cache(maxsize=512)
def _enlarge(n: int, up: int) -> np.ndarray:
    """Weights enlarging n pixels up times (cached: crops are small and their sizes repeat)."""
    w = _bilinear(n, n * up)
    w.flags.writeable = False
    return w


def _to_image(a: np.ndarray) -> Image.Image:
    """float32 array -> Pillow "F" image (cheaper than Image.fromarray's generality)."""
    return Image.frombytes("F", (a.shape[1], a.shape[0]), np.ascontiguousarray(a, np.float32).tobytes())


def _matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
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


def _resample(c: np.ndarray, wy: np.ndarray, wx: np.ndarray) -> np.ndarray:
    """Separable resampling wy @ c @ wx.T, the cheaper product first."""
    if wy.shape[0] * c.shape[1] <= c.shape[0] * wx.shape[0]:
        return _matmul(_matmul(wy, c), np.ascontiguousarray(wx.T))
    return _matmul(wy, _matmul(c, np.ascontiguousarray(wx.T)))


def _normalise(c: np.ndarray, fit: bool = True, reduced: bool = False
               ) -> tuple[np.ndarray | None, np.ndarray]:
    """Ink crop (float32, 0..1) -> (20x20 box picture, or None unless `fit`; 28x28 MNIST-style input).

    `reduced`: the crop was already read at the working resolution (it is not enlarged again).
    """
    c = _trim(c)
    # Judge the crop on its own contrast: a faint digit (next to bold ones in a number) becomes solid too.
    strong = c[c > 0.1 * float(c.max())]
    c = np.minimum(c * np.float32(1 / max(_quantile(strong, 0.9), 1e-3)), 1)
    sw = _stroke_width(c > 0.5)
    # Work at 80..160 px on the longer side: enough for anti-aliasing and stroke-width changes, and cheap.
    factor = max(1, max(c.shape) // CROP_SIDE)
    if factor > 1:
        c = _pixels(_to_image(c).reduce(factor))
        sw /= factor
        if sw < 1:
            c = np.clip(c / max(sw, 0.2), 0, 1)  # strokes thinner than a working pixel came out faint
            sw = 1.0
    elif max(c.shape) < CROP_SIDE and not reduced:
        # Small crops (an MNIST digit, a small photo) are enlarged so stroke-width changes are not coarse.
        up = math.ceil(CROP_SIDE / max(c.shape))
        h, w = c.shape
        c = _resample(c, _enlarge(h, up), _enlarge(w, up))
        sw *= up
    # Stroke width into MNIST's range: the network never saw hairlines or felt-tip blobs. Clamping (rather
    # than snapping to one width) keeps the result continuous in the input's scale and stroke width.
    side = max(c.shape)
    thinnest, thickest = STROKE_MIN * side / BOX, STROKE_MAX * side / BOX  # in working pixels
    if sw < thinnest:
        # Thickening grows the box by 2r, which shrinks the scale: solve sw + 2r = w * (side + 2r) / side.
        radius = (thinnest - sw) / (2 * max(1 - thinnest / side, 0.5))
        pad = int(math.ceil(radius)) + 1
        c = _trim(_dilate(_pad(c, pad, pad, pad, pad), radius))
    elif sw > thickest:
        c = _trim(_erode(_pad(c, 1, 1, 1, 1), (sw - thickest) / 2))
    h, w = c.shape
    s = BOX / max(h, w)  # output pixels per working pixel
    fit20 = None
    if fit:
        nh, nw = max(1, round(h * s)), max(1, round(w * s))
        small = _resample(c, _bilinear(h, nh), _bilinear(w, nw))
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
    span = SIZE / s  # working pixels covered by the frame
    # Frame's left/top edge in working coordinates (pixel i spans [i, i+1)); kept so the digit stays whole.
    bx = min(max(cx + 0.5 - (COM_TARGET + 0.5) / s, w - span), 0.0)
    by = min(max(cy + 0.5 - (COM_TARGET + 0.5) / s, h - span), 0.0)
    # Weights over the crop padded with zeros two pixels beyond the frame (the picture Pillow would resample,
    # dropping weights past its edges), keeping the columns of the crop itself.
    px0, py0 = math.ceil(-bx) + 2, math.ceil(-by) + 2
    pw = px0 + w + max(math.ceil(bx + span - w) + 2, 0)
    ph = py0 + h + max(math.ceil(by + span - h) + 2, 0)
    wy = _bilinear(ph, SIZE, by + py0, by + py0 + span)[:, py0 : py0 + h]
    wx = _bilinear(pw, SIZE, bx + px0, bx + px0 + span)[:, px0 : px0 + w]
    final = _resample(c, wy, wx)
    top = float(final.max())
    if top <= 0:
        raise NoInkError("no ink left after scaling")
    np.maximum(final, 0, out=final)
    final *= np.float32(1 / top)
    return fit20, final


def _model_input(crop: np.ndarray, reduced: bool = False) -> np.ndarray:
    return _normalise(crop, fit=False, reduced=reduced)[1]


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
        c = np.minimum(_array_to_float(c), 1)
    return _model_input(c)


def _ink_map(found: _Ink) -> tuple[np.ndarray, int]:
    """The whole ink map at most WORK_SIDE a side, and the picture pixels per ink-map pixel."""
    width, height = found.picture.size
    step = _reduction(width, height, WORK_SIDE)
    h, w = found.shape
    return _ink_crop(found, (0, 0, w, h), step=step)


def load_image(source: Any, *, max_side: int = 4096) -> np.ndarray:
    """Decode anything preprocess accepts into a float32 ink map in [0,1] (1 = ink), noise removed.

    Large inputs are reduced so the longer side is at most 512 px. Raises NoInkError for a blank image.
    """
    return _ink_map(_analyse(*_to_picture(source, max_side)))[0]


_GRID = np.arange(SIZE, dtype=np.int64)


def _mnist_form(picture: Image.Image) -> np.ndarray | None:
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


def preprocess(source: Any, *, max_side: int = 4096, return_stages: bool = False) -> np.ndarray | Stages:
    """Any image of one digit -> float32 [28,28] in [0,1], white ink on black, the way MNIST was made.

    Accepts encoded bytes, a file path, a data URL, a PIL image or a NumPy array. Raises ImageError (one-line
    message) for unusable input, ImageTooLargeError over max_side, NoInkError when there is nothing drawn.
    """
    picture, size = _to_picture(source, max_side)
    as_is = _mnist_form(picture)
    if as_is is not None:
        return _mnist_stages(as_is) if return_stages else as_is
    found = _analyse(picture, size)
    box = _kept_box(found)
    crop, step = _ink_crop(found, box)
    fit20, final = _normalise(crop, fit=return_stages, reduced=step > 1)
    if not return_stages:
        return final
    assert fit20 is not None
    ink, step = _ink_map(found)
    f = found.factor
    ih, iw = ink.shape
    x0, y0 = box[0] * f // step, box[1] * f // step
    x1, y1 = min(iw, -(-box[2] * f // step)), min(ih, -(-box[3] * f // step))
    mask = _under(found.mask, f, step, ih, iw)  # the kept ink at the ink map's resolution
    return Stages(ink=ink, mask=mask, box=(x0, y0, x1, y1), crop=ink[y0:y1, x0:x1], fit20=fit20, final=final)

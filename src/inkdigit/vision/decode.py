"""Any accepted source -> a grey picture: encoded bytes, a file path, a data URL, a PIL image or an array.

Sizes are checked before a pixel is decompressed (decompression bombs are refused with a clear error),
EXIF/XMP orientation is applied, transparency is composited over the paper, and plain PNGs are decoded
without Pillow's Python chunk reader.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import struct
import warnings
import zlib
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from inkdigit.errors import ImageError, ImageTooLargeError, UnsupportedImageError, one_line
from inkdigit.vision.ink import WORK_SIDE
from inkdigit.vision.ops import float_picture, quantile

__all__ = ["ALLOWED_FORMATS", "MAX_FILE_BYTES", "MIN_SIDE", "PNG_SIGNATURE", "array_to_float", "read_file",
           "to_picture"]

MIN_SIDE = 8
MAX_FILE_BYTES = 256 << 20  # encoded bytes; no sane picture of a digit comes near this
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The only Pillow readers encoded bytes are handed to (Pillow's names): the formats the README and the CLI's
# file suffixes promise. Every reader is a parser of untrusted bytes from the network, and Pillow has some
# forty more (EPS even passes the file to Ghostscript as PostScript), so the others are never offered any.
# PPM is Pillow's reader of the whole PNM family (.pbm, .pgm, .ppm), which the CLI reads from folders.
ALLOWED_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF", "PPM")
_ALLOWED_NAMES = "PNG, JPEG, GIF, BMP, WebP, TIFF or PNM"
_PNG_MODES = {0: "L", 2: "RGB", 4: "LA", 6: "RGBA"}  # colour type -> mode, at 8 bits per sample
# Chunks that change nothing in the pixels Pillow would return (no transparency, palette or orientation).
_PNG_INERT = {b"pHYs", b"tEXt", b"zTXt", b"iTXt", b"tIME", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT", b"bKGD"}
# Orientation may come from EXIF or XMP; only pictures carrying one of these are asked for it.
_ORIENTATION_KEYS = ("exif", "Raw profile type exif", "xmp", "XML:com.adobe.xmp")

# Pillow's TIFF metadata reader (TIFF files, and the EXIF block of JPEG, PNG and WebP) warns about each
# malformed tag it skips, and Python prints every distinct warning once per process: a TIFF with hundreds of
# bad tags writes two lines to the server's log for each, and every new file more. The tags are skipped
# either way and a picture that does not decode still raises ImageError, so these warnings are dropped. The
# filter is set once, here: warnings.catch_warnings around each decode is not thread-safe.
warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.TiffImagePlugin")


def to_picture(source: Any, max_side: int) -> tuple[Image.Image, tuple[int, int]]:
    """Decode anything to a grey PIL picture ("L" or "F") and the source's size as shown."""
    if not isinstance(max_side, int) or max_side < MIN_SIDE:
        raise ValueError(f"max_side must be an int >= {MIN_SIDE}")
    img, shown = _source_to_image(source, max_side)
    if isinstance(img, Image.Image):
        picture = _pil_picture(img)
        return picture, shown or img.size
    picture = _array_picture(img, max_side)
    return picture, picture.size


def _source_to_image(source: Any, max_side: int) -> tuple[Image.Image | np.ndarray, tuple[int, int] | None]:
    """Any accepted source -> a PIL image or NumPy array, and the source size when decoding changed it."""
    if isinstance(source, np.ndarray):
        return source, None
    if isinstance(source, Image.Image):
        _check_size(source.width, source.height, max_side)
        try:
            source.load()  # a lazily opened file may turn out truncated only now
        except Exception as exc:
            raise ImageError(f"could not decode image: {one_line(exc)}") from None
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
            raise ImageError(f"cannot read {source}: {exc.strerror or one_line(exc)}") from None
        return _open_encoded(data, max_side)
    if isinstance(source, (list, tuple)):
        try:
            return np.asarray(source), None
        except ValueError as exc:
            raise ImageError(f"not an image array: {one_line(exc)}") from None
    raise ImageError(f"unsupported image type {type(source).__name__}")


def read_file(path: str | os.PathLike, limit: int = MAX_FILE_BYTES) -> bytes:
    """A file's bytes; raises OSError, or ImageTooLargeError over `limit` bytes.

    os.open/os.read: half the cost of open() for the small files a folder of digits holds.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        if size > limit:
            raise _file_too_large(path, limit)
        # fstat is only a hint: a device (/dev/zero), a FIFO or a file still growing reports a size it does
        # not keep to, so at most limit + 1 bytes are read whatever it said (over is known without reading on).
        parts, got = [], 0
        while got <= limit and (part := os.read(fd, min(size + 1 if not parts else 1 << 20, limit + 1 - got))):
            parts.append(part)
            got += len(part)
        if got > limit:
            raise _file_too_large(path, limit)
        return b"".join(parts)
    finally:
        os.close(fd)


def _file_too_large(path: str | os.PathLike, limit: int) -> ImageTooLargeError:
    return ImageTooLargeError(f"{os.fspath(path)} is over "
                              + (f"{limit >> 20} MiB" if limit >= 1 << 20 else f"{limit} bytes"))


def _open_encoded(data: bytes, max_side: int) -> tuple[Image.Image, tuple[int, int]]:
    """Decode bytes in one of ALLOWED_FORMATS, refusing bombs before the pixels are decompressed.

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
        raise ImageTooLargeError(f"image refused as a decompression bomb: {one_line(exc)}") from None
    except Exception as exc:  # PIL raises many types for garbage input
        raise ImageError(f"not an image ({one_line(exc)})") from None
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
        raise ImageTooLargeError(f"image refused as a decompression bomb: {one_line(exc)}") from None
    except Exception as exc:
        raise ImageError(f"could not decode image ({kind}): {one_line(exc)}") from None
    return img, shown


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


def _identify(data: bytes) -> Image.Image:
    """Open encoded bytes (header only) with the first allowed Pillow plugin that accepts them.

    This is Image.open without its decompression-bomb check: that check warns through the process-wide
    warnings machinery, which cannot be silenced per call without racing other threads (the server decodes
    in a thread pool). The caller checks the size itself before any pixel is decoded.
    Raises UnsupportedImageError for a picture in a format not in ALLOWED_FORMATS, ImageError for the rest.
    """
    fp = io.BytesIO(data)
    prefix = data[:16]
    tried: set[str] = set()
    for loader in (Image.preinit, _load_other_allowed):  # the common formats first, WebP and TIFF if needed
        loader()
        for fmt in ALLOWED_FORMATS:
            if fmt in tried or fmt not in Image.OPEN:
                continue
            tried.add(fmt)
            factory, accept = Image.OPEN[fmt]
            try:
                accepted = accept is None or accept(prefix)
                if accepted and not isinstance(accepted, str):  # a string says why it was refused
                    fp.seek(0)
                    return factory(fp, "")
            except (SyntaxError, IndexError, TypeError, struct.error):
                continue  # not this format (what Image.open does too)
    refused = _refused_format(prefix)
    if refused is not None:
        raise UnsupportedImageError(f"{refused} images are not supported: send {_ALLOWED_NAMES}")
    raise ImageError("not an image (cannot identify the format)")


def _load_other_allowed() -> None:
    """Register the allowed plugins that Image.preinit leaves out, and only those."""
    from PIL import TiffImagePlugin, WebPImagePlugin  # noqa: F401  (importing a plugin registers it)


def _refused_format(prefix: bytes) -> str | None:
    """The name of the format a refused plugin would claim these bytes for, by its magic-number check alone:
    only to word the error, so no refused plugin parses a byte (formats without a magic number, TGA say,
    stay "not an image").
    """
    Image.init()
    for fmt in Image.ID:
        if fmt in ALLOWED_FORMATS or fmt not in Image.OPEN:
            continue
        accept = Image.OPEN[fmt][1]
        try:
            accepted = accept is not None and accept(prefix)
        except Exception:  # a check that trips over a short prefix claims nothing
            continue
        if accepted and not isinstance(accepted, str):
            return fmt
    return None


def _check_size(width: int, height: int, max_side: int) -> None:
    if width > max_side or height > max_side:
        raise ImageTooLargeError(f"image is {width}x{height}; the limit is {max_side} pixels a side")
    if Image.MAX_IMAGE_PIXELS and width * height > Image.MAX_IMAGE_PIXELS:
        raise ImageTooLargeError(f"image is {width}x{height}: too many pixels")
    if width < MIN_SIDE or height < MIN_SIDE:
        raise ImageError(f"image is {width}x{height}; it must be at least {MIN_SIDE}x{MIN_SIDE} pixels")



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
            raise ImageError(f"unsupported image mode {mode}: {one_line(exc)}") from None
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


def _array_picture(a: np.ndarray, max_side: int) -> Image.Image:
    """NumPy image -> grey PIL picture ("L" for 8-bit grey, else "F" in [0,1]), transparency composited."""
    if a.ndim == 2 and a.dtype == np.uint8:  # the common case (an MNIST array): no float copy
        _check_size(a.shape[1], a.shape[0], max_side)
        return Image.fromarray(np.ascontiguousarray(a))
    gray, alpha = _split_array(a, max_side)
    if alpha is not None and float(alpha.min()) < 0.999:
        paper = _paper_under(gray, alpha)
        gray = np.ones_like(gray) if paper is None else gray * alpha + np.float32(paper) * (1 - alpha)
    return float_picture(gray)


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
    f = array_to_float(a)
    if f.ndim == 2:
        return f, None
    if f.shape[-1] == 2:
        return np.ascontiguousarray(f[..., 0]), np.ascontiguousarray(f[..., 1])
    gray = _luma(f)
    return gray, (np.ascontiguousarray(f[..., 3]) if f.shape[-1] == 4 else None)


def array_to_float(a: np.ndarray) -> np.ndarray:
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
    return quantile(values, 0.5)

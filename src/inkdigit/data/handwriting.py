"""Handwriting-like pictures drawn from fonts: the one drawing that the benchmarks and training share.

`draw_text` draws a string in a font with the variation a hand adds: size, spacing (the tightest touch),
slant, stroke width and, for some, greyish paper with grain. `font_digit_set` draws a whole labelled set
of single digits in MNIST's form for training. Torch-free; fonts come from `inkdigit.data.fonts`.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

STROKES = ("thin", "normal", "thick")


def draw_text(font_path: str, text: str, rng: np.random.Generator) -> tuple[Image.Image, dict]:
    """`text` in a font, glyph by glyph, black on white; the variation is drawn from `rng`.

    Size (em 28-120 px), spacing (-0.05 to +0.35 em between glyphs: the tightest touch), slant (shear up to
    ±20°, half of them within ±6°), stroke width (a 3 or 5 px min/max filter, erosion only where the glyphs
    are large enough to keep their strokes) and, for 30% of them, grey paper with light noise.
    """
    size = int(rng.uniform(28, 120))
    tracking = float(rng.uniform(-0.05, 0.35)) * size
    slant = float(rng.uniform(-6, 6) if rng.random() < 0.5 else rng.uniform(-20, 20))
    stroke = STROKES[int(rng.integers(0, 3))]
    noisy = bool(rng.random() < 0.3)
    ink = _glyphs(_font(font_path, size), text, tracking)
    if stroke == "thin" and stroke_width(ink) < 5:
        stroke = "normal"  # eroding a fine pen leaves broken dots, not a finer pen
    if stroke != "normal":
        width = 3 if stroke == "thin" or size < 70 else 5
        ink = np.asarray(square_filter(Image.fromarray(ink), width, np.maximum if stroke == "thick" else np.minimum))
    picture = 255 - shear(ink, slant)
    if noisy:
        picture = paper_noise(picture, rng)
    params = {"size": size, "tracking": round(tracking / size, 3), "slant": round(slant, 1), "stroke": stroke,
              "noise": noisy}
    return Image.fromarray(picture), params


def stroke_width(ink: np.ndarray) -> float:
    """Mean stroke width in px of white-on-black ink: 2 x area / boundary (a stroke of width w and length L
    has area wL and about 2L boundary pixels)."""
    m = np.pad(ink > 127, 1)
    interior = m[1:-1, 1:-1] & m[:-2, 1:-1] & m[2:, 1:-1] & m[1:-1, :-2] & m[1:-1, 2:]
    area = int(m.sum())
    return 2 * area / max(1, area - int(interior.sum()))


def shear(ink: np.ndarray, degrees: float) -> np.ndarray:
    """White-on-black ink sheared like italics (positive leans right), widened so nothing is cut off."""
    h, w = ink.shape
    t = float(np.tan(np.radians(degrees)))
    shift = max(0.0, -t * h)
    width = w + int(np.ceil(abs(t) * h))
    # PIL maps each output pixel back to the input: x_in = x_out + t*y - t*h - shift.
    out = Image.fromarray(ink).transform((width, h), Image.Transform.AFFINE, (1, t, -t * h - shift, 0, 1, 0),
                                         resample=Image.Resampling.BILINEAR, fillcolor=0)
    return np.asarray(out)


def paper_noise(picture: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Black-on-white picture on greyish paper: a soft light gradient, grain, ink not quite black."""
    h, w = picture.shape
    paper = float(rng.uniform(205, 245))
    ink = float(rng.uniform(0, 60))
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
    across, down = float(rng.uniform(-12, 12)), float(rng.uniform(-8, 8))
    shade = paper + across * (gx / max(1, w - 1) - 0.5) + down * (gy / max(1, h - 1))
    level = ink + (shade - ink) * (picture.astype(np.float32) / 255)
    level += rng.normal(0, float(rng.uniform(3, 10)), level.shape)
    return np.clip(level, 0, 255).astype(np.uint8)


@lru_cache(maxsize=64)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def _glyphs(font: ImageFont.FreeTypeFont, text: str, tracking: float) -> np.ndarray:
    """White-on-black ink of `text`, each glyph placed after the previous one's advance plus `tracking`."""
    size = font.size
    advances = [font.getlength(ch) for ch in text]
    pad = size
    width = int(sum(advances) + tracking * max(0, len(text) - 1)) + 2 * pad
    im = Image.new("L", (max(width, 2 * pad + 1), 4 * size), 0)
    draw = ImageDraw.Draw(im)
    x = float(pad)
    for ch, advance in zip(text, advances, strict=True):
        draw.text((x, 2.5 * size), ch, font=font, fill=255, anchor="ls")
        x += advance + tracking
    box = im.getbbox()
    if box is None:
        raise ValueError(f"{Path(font.path).name} draws nothing for {text!r}")
    margin = int(0.3 * size)
    x0, y0, x1, y1 = box
    out = np.zeros((y1 - y0 + 2 * margin, x1 - x0 + 2 * margin), np.uint8)
    out[margin:-margin, margin:-margin] = np.asarray(im)[y0:y1, x0:x1]
    return out


def square_filter(im: Image.Image, size: int, op: np.ufunc) -> Image.Image:
    """Min or max filter over a size x size square, separably in NumPy (much faster than a rank filter)."""
    a = np.asarray(im)
    r = size // 2
    for axis in (0, 1):
        p = np.pad(a, [(r, r) if ax == axis else (0, 0) for ax in (0, 1)], mode="edge")
        n = a.shape[axis]
        out = p.take(range(0, n), axis=axis)
        for k in range(1, size):
            out = op(out, p.take(range(k, k + n), axis=axis))
        a = out
    return Image.fromarray(a)


def font_digit_set(fonts: Mapping[str, Path], n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`n` single digits drawn from `fonts` by `draw_text`, in MNIST's form: (uint8 [n,28,28] white on black,
    int64 labels), the ten digits in turn and the fonts in a seeded order; the same (fonts, n, seed), the same
    set. Each picture goes through `inkdigit.vision.preprocess`, as a drawing to be read does."""
    from inkdigit.vision.preprocess import preprocess

    paths = [str(p) for _, p in sorted(fonts.items())]
    images = np.empty((n, 28, 28), np.uint8)
    labels = np.arange(n, dtype=np.int64) % 10
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        picture, _ = draw_text(paths[int(rng.integers(0, len(paths)))], str(labels[i]), rng)
        images[i] = np.round(preprocess(picture) * 255).astype(np.uint8)
    return images, labels


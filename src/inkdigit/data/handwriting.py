"""Handwriting-like pictures drawn from fonts: the one drawing that the benchmarks and training share.

`draw_text` draws a string in a font with the variation a hand adds: size, spacing (the tightest touch),
slant, stroke width and, for some, greyish paper with grain (`draw_text_owned`: the same picture and the glyph
that owns each pixel). `font_digit_set` draws a whole labelled set
of single digits in MNIST's form for training, `font_char_set` the same for any character set (letters,
symbols), skipping a font that has no glyph for a character; `split_families` splits fonts so that
validation fonts are never trained on. Torch-free; fonts come from `inkdigit.data.fonts`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from inkdigit.charsets import Charset, get_charset
from inkdigit.data.fonts import FAMILY_LISTS
from inkdigit.errors import MissingDataError, NoInkError

STROKES = ("thin", "normal", "thick")
OWNED_INK = 64  # a pixel darker than this (of 255) in the drawn ink has an owner (draw_text_owned)
SPLIT_SEED = 0  # which families of a list are the validation fonts: fixed, so every run validates alike
DRAW_TRIES = 20  # draws of one picture of a character set before a glyph the reader finds no ink in is an error


def draw_text(font_path: str, text: str, rng: np.random.Generator) -> tuple[Image.Image, dict]:
    """`text` in a font, glyph by glyph, black on white; the variation is drawn from `rng`.

    Size (em 28-120 px), spacing (-0.05 to +0.35 em between glyphs: the tightest touch), slant (shear up to
    ±20°, half of them within ±6°), stroke width (a 3 or 5 px min/max filter, erosion only where the glyphs
    are large enough to keep their strokes) and, for 30% of them, grey paper with light noise.
    """
    picture, _, params = _draw(font_path, text, rng, owned=False)
    return picture, params


def draw_text_owned(font_path: str, text: str, rng: np.random.Generator) -> tuple[Image.Image, np.ndarray, dict]:
    """`draw_text`'s picture (the same for the same `rng`) and the owner of each of its pixels: int16, the
    picture's shape, the index in `text` of the glyph whose ink it is, -1 on paper. What a segmenter's candidate
    holds of each character is judged from it (training/verifier.py)."""
    picture, owner, params = _draw(font_path, text, rng, owned=True)
    assert owner is not None
    return picture, owner, params


def _draw(font_path: str, text: str, rng: np.random.Generator, owned: bool
          ) -> tuple[Image.Image, np.ndarray | None, dict]:
    size = int(rng.uniform(28, 120))
    tracking = float(rng.uniform(-0.05, 0.35)) * size
    slant = float(rng.uniform(-6, 6) if rng.random() < 0.5 else rng.uniform(-20, 20))
    stroke = STROKES[int(rng.integers(0, 3))]
    noisy = bool(rng.random() < 0.3)
    ink, layers = _glyphs(_font(font_path, size), text, tracking, owned)
    if stroke == "thin" and stroke_width(ink) < 5:
        stroke = "normal"  # eroding a fine pen leaves broken dots, not a finer pen
    if stroke != "normal":
        width = 3 if stroke == "thin" or size < 70 else 5
        op = np.maximum if stroke == "thick" else np.minimum
        ink = np.asarray(square_filter(Image.fromarray(ink), width, op))
        layers = [np.asarray(square_filter(Image.fromarray(layer), width, op)) for layer in layers]
    ink = shear(ink, slant)
    owner = None
    if owned:
        # Each glyph's own ink, drawn and moved alike: a pixel belongs to the glyph with most ink there.
        stack = np.stack([shear(layer, slant) for layer in layers])
        owner = np.where((ink > OWNED_INK) & (stack.max(axis=0) > 0), stack.argmax(axis=0), -1).astype(np.int16)
    picture = 255 - ink
    if noisy:
        picture = paper_noise(picture, rng)
    params = {"size": size, "tracking": round(tracking / size, 3), "slant": round(slant, 1), "stroke": stroke,
              "noise": noisy}
    return Image.fromarray(picture), owner, params


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


def _glyphs(font: ImageFont.FreeTypeFont, text: str, tracking: float, owned: bool = False
            ) -> tuple[np.ndarray, list[np.ndarray]]:
    """White-on-black ink of `text`, each glyph placed after the previous one's advance plus `tracking`; with
    `owned`, also each glyph's ink alone, cropped alike (else no layers)."""
    size = font.size
    advances = [font.getlength(ch) for ch in text]
    pad = size
    width = int(sum(advances) + tracking * max(0, len(text) - 1)) + 2 * pad
    canvas = (max(width, 2 * pad + 1), 4 * size)
    im = Image.new("L", canvas, 0)
    draw = ImageDraw.Draw(im)
    layers = []
    x = float(pad)
    for ch, advance in zip(text, advances, strict=True):
        draw.text((x, 2.5 * size), ch, font=font, fill=255, anchor="ls")
        if owned:
            layer = Image.new("L", canvas, 0)
            ImageDraw.Draw(layer).text((x, 2.5 * size), ch, font=font, fill=255, anchor="ls")
            layers.append(layer)
        x += advance + tracking
    box = im.getbbox()
    if box is None:
        raise ValueError(f"{Path(font.path).name} draws nothing for {text!r}")
    margin = int(0.3 * size)
    x0, y0, x1, y1 = box

    def crop(picture: Image.Image) -> np.ndarray:
        out = np.zeros((y1 - y0 + 2 * margin, x1 - x0 + 2 * margin), np.uint8)
        out[margin:-margin, margin:-margin] = np.asarray(picture)[y0:y1, x0:x1]
        return out

    return crop(im), [crop(layer) for layer in layers]


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


@dataclass
class FontChars:
    """A drawn character set: images in MNIST's form, label indices, the font of each, and what was skipped."""

    images: np.ndarray  # uint8 [N,28,28], white on black
    labels: np.ndarray  # int64 [N], indices into `label_names`
    label_names: tuple[str, ...]
    families: list[str]  # the family each image was drawn in
    chars: list[str]  # the character each image shows (one of its label's forms)
    missing: dict[str, list[str]] = field(default_factory=dict)  # label → families with no glyph for it

    def summary(self) -> str:
        """One line: how many, and which fonts were skipped for which labels."""
        fonts = len(set(self.families))
        line = f"{len(self.images)} characters, {len(self.label_names)} labels, {fonts} fonts"
        if self.missing:
            line += "; no glyph (skipped): " + "; ".join(f"{label!r} in {', '.join(fams)}"
                                                      for label, fams in self.missing.items())
        return line


def font_char_set(labels: str | Charset | Sequence[str], families: Mapping[str, Path], per_label: int,
                  seed: int, *, workers: int = 1) -> FontChars:
    """`per_label` pictures of each label drawn by `draw_text` in the fonts of `families` ({family: path}),
    in MNIST's form through `inkdigit.vision.preprocess`, as `font_digit_set` draws digits.

    `labels`: a character set (or its name: every label is drawn in each of its forms, so letters' "A" is
    drawn as "A" or "a") or a list of labels drawn as they are. Each picture takes a font, and a form, at
    random among those with a glyph for it; a font without one is skipped for that label and named in
    `missing`. The same arguments give the same set; picture i of a label does not depend on the other labels,
    nor on `workers` (processes that draw the labels in parallel: a training set is tens of thousands of
    pictures). Raises MissingDataError when no font has any glyph for a label.
    """
    charset = get_charset(labels) if isinstance(labels, str) else labels
    names = tuple(charset.labels) if isinstance(charset, Charset) else tuple(charset)
    forms = {label: charset.forms_of(label) if isinstance(charset, Charset) else (label,) for label in names}
    paths = {family: str(path) for family, path in sorted(families.items())}
    drawable, missing = {}, {}
    for label in names:
        drawable[label] = [(family, form) for family, path in paths.items() for form in forms[label]
                           if has_glyph(path, form)]
        have = {family for family, _ in drawable[label]}
        if not have:
            raise MissingDataError(f"none of the {len(paths)} fonts has a glyph for {label!r}")
        if len(have) < len(paths):
            missing[label] = [family for family in paths if family not in have]
    jobs = [(paths, drawable[label], k, per_label, seed) for k, label in enumerate(names)]
    if workers > 1 and len(jobs) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # spawn, not fork: the caller may be a training run whose torch threads a forked child would inherit.
        with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=multiprocessing.get_context("spawn")) as pool:
            drawn = list(pool.map(_draw_label, *zip(*jobs)))
    else:
        drawn = [_draw_label(*job) for job in jobs]
    images = np.concatenate([d[0] for d in drawn]) if drawn else np.empty((0, 28, 28), np.uint8)
    label_idx = np.repeat(np.arange(len(names), dtype=np.int64), per_label)
    drawn_in = [family for d in drawn for family in d[1]]
    shown = [form for d in drawn for form in d[2]]
    return FontChars(images, label_idx, names, drawn_in, shown, missing)


def _draw_label(paths: Mapping[str, str], drawable: Sequence[tuple[str, str]], k: int, per_label: int, seed: int
                ) -> tuple[np.ndarray, list[str], list[str]]:
    """`font_char_set`'s pictures of label number k: (images, the family of each, the form of each)."""
    from inkdigit.vision.preprocess import preprocess

    images = np.empty((per_label, 28, 28), np.uint8)
    drawn_in, shown = [], []
    for i in range(per_label):
        rng = np.random.default_rng([seed, k, i])
        family, form = drawable[int(rng.integers(0, len(drawable)))]
        for attempt in range(DRAW_TRIES):
            picture, _ = draw_text(paths[family], form, rng)
            try:
                images[i] = np.round(preprocess(picture) * 255).astype(np.uint8)
                break
            except NoInkError:  # a period drawn small is a speck to the reader: draw it again (other size, pen)
                if attempt == DRAW_TRIES - 1:
                    raise
        drawn_in.append(family)
        shown.append(form)
    return images, drawn_in, shown


def font_sides(validation: int, families: str = "training") -> tuple[list[str], list[str]]:
    """(training, validation) families of the pinned list `families` (`fonts.FAMILY_LISTS`), `validation` of
    them held out by `split_families` with `SPLIT_SEED`: the split every character-set run, the
    whole-character verifier and the benchmarks' validation fonts share."""
    return split_families(FAMILY_LISTS[families], validation, seed=SPLIT_SEED)


def split_families(families: Sequence[str], validation: int, seed: int) -> tuple[list[str], list[str]]:
    """(training, validation) families: `validation` of them drawn at random (seeded), the rest to train on.

    Splitting by font, not by picture, is what makes a validation score mean "a hand never seen": a font's
    glyphs in training would leak its shapes. Pass `fonts.TRAINING_FAMILIES`, so the benchmark families stay
    out of both."""
    names = sorted(dict.fromkeys(families))
    if not 0 < validation < len(names):
        raise ValueError(f"validation must leave fonts on both sides: 1 to {len(names) - 1}, not {validation}")
    chosen = set(np.random.default_rng(seed).choice(len(names), validation, replace=False).tolist())
    return [f for i, f in enumerate(names) if i not in chosen], [f for i, f in enumerate(names) if i in chosen]


@lru_cache(maxsize=4096)
def has_glyph(font_path: str, char: str) -> bool:
    """Whether the font draws `char` itself: FreeType draws a missing character as the font's .notdef glyph
    (empty in most of these fonts, a box in some), so a glyph that is empty or the same as .notdef's is
    missing. Pillow has no character-map lookup; tests/test_charsets.py checks this against fontTools' map."""
    font = _font(font_path, 64)
    mask = font.getmask(char)
    if mask.getbbox() is None:
        return False
    notdef = font.getmask("\uffff")  # a noncharacter: never in a font's character map
    return not (mask.size == notdef.size and bytes(mask) == bytes(notdef))

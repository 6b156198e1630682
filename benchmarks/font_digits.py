"""Font digits: each digit 0-9 drawn in each handwriting font, varied, read back one digit at a time.

Every (family, digit) is drawn `--variants` times with the written-numbers benchmark's font variation
(size, slant, stroke width, black on white, some with light paper noise) by `draw_text`, which that
benchmark also uses for its `fonts` category. Each picture is read with `Predictor.predict_many`, the
single-digit path; reported: accuracy per family, per digit and overall, and each family's commonest
misreads. The fonts come from `inkdigit fetch --dataset fonts`.

    python benchmarks/font_digits.py --variants 10 --seed 0
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from functools import lru_cache
from pathlib import Path

import numpy as np
from canvas_mnist import square_filter  # sibling script: its folder is first on sys.path
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


def evaluate(model: str | None, fonts: dict[str, Path], variants: int, seed: int, out: Path | None) -> dict:
    """Draw every (family, digit, variant), read each as one digit; accuracy per family, digit and overall."""
    from inkdigit.inference import Predictor

    predictor = Predictor.load(model)
    by_family, by_digit, misreads = {}, Counter(), {}
    total = right = 0
    for f, (family, path) in enumerate(fonts.items()):
        pictures, truth = [], []
        for digit in range(10):
            for k in range(variants):
                im, _ = draw_text(str(path), str(digit), np.random.default_rng([seed, f, digit, k]))
                pictures.append(im)
                truth.append(digit)
                if out is not None:
                    im.save(out / f"{family}-{digit}-{k:03d}.png", compress_level=1)
        read = np.array([p.label for p in predictor.predict_many(pictures)])
        ok = read == np.array(truth)
        by_family[family] = float(ok.mean())
        for d in range(10):
            by_digit[d] += int(ok[d * variants : (d + 1) * variants].sum())
        wrong = Counter(f"{t}->{r}" for t, r, good in zip(truth, read, ok, strict=True) if not good)
        misreads[family] = [f"{pair} ({count})" for pair, count in wrong.most_common(3)]
        total += len(ok)
        right += int(ok.sum())
    per_digit = {str(d): by_digit[d] / (variants * len(fonts)) for d in range(10)}
    return {"model": predictor.name, "families": len(fonts), "variants": variants, "n": total,
            "accuracy": right / total, "by_family": by_family, "by_digit": per_digit, "misreads": misreads}


def print_table(result: dict) -> None:
    print(f"font digits, model {result['model']}, {result['families']} families x 10 digits x "
          f"{result['variants']} variants, n={result['n']}")
    print(f"{'family':<24}{'accuracy':>9}  commonest misreads (truth->read)")
    for family, acc in result["by_family"].items():
        print(f"{family:<24}{100 * acc:>8.1f}%  {', '.join(result['misreads'][family])}")
    print(f"{'all':<24}{100 * result['accuracy']:>8.1f}%")
    print("by digit: " + "  ".join(f"{d}: {100 * a:.0f}%" for d, a in result["by_digit"].items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--model", default=None, help="bundled model name or .onnx path (None: the default)")
    parser.add_argument("--variants", type=int, default=10, help="pictures per family and digit")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--families", default=None,
                        help="comma-separated font families, or 'all' for every pinned one (None: the 12 "
                        "benchmark families)")
    parser.add_argument("--data-dir", default=None, help="cache directory (None: inkdigit's cache)")
    parser.add_argument("--out", type=Path, default=None, help="also save the pictures as PNGs here")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    args = parser.parse_args(argv)
    if args.variants < 1:
        parser.error("--variants must be at least 1")

    from inkdigit.data.fonts import BENCHMARK_FAMILIES, font_paths
    from inkdigit.errors import InkdigitError

    names = (BENCHMARK_FAMILIES if args.families is None else None if args.families == "all"
             else [f.strip() for f in args.families.split(",") if f.strip()])
    try:
        fonts = font_paths(names, args.data_dir)
    except (InkdigitError, KeyError) as e:
        print(f"{Path(__file__).name}: error: {e.args[0] if isinstance(e, KeyError) else e}", file=sys.stderr)
        return 1
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
    result = evaluate(args.model, fonts, args.variants, args.seed, args.out)
    result["seed"] = args.seed
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        print()
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Canvas MNIST: MNIST test digits re-drawn on a 280x280 canvas, read back through the recognition path.

Each digit is drawn black on white or white on black, at a random size (30-90% of the canvas), position,
slight rotation and stroke thickness, and saved as a PNG with a labels CSV. The PNGs are then read with
`Predictor.predict_many` (the same preprocessing as the CLI, API and GUIs) and the accuracy is reported next
to plain MNIST accuracy for the same digits and the "naive" whole-canvas resize to 28x28.

    python benchmarks/canvas_mnist.py --model paper --n 2000
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from inkdigit.data.handwriting import square_filter

CANVAS = 280
THICKNESS = ("thin", "normal", "thick")




def render_digit(digit: np.ndarray, rng: np.random.Generator, height: float, thickness: str) -> np.ndarray:
    """An MNIST digit (uint8 28x28, white on black) re-drawn so its longer side is `height` px.

    The digit is cropped to its ink, upscaled 4x, thinned or thickened there with a min/max filter,
    rotated by up to 15 degrees and scaled to the requested size. Returns uint8 ink (255 = ink).
    """
    rows = np.flatnonzero(digit.max(axis=1) > 0)
    cols = np.flatnonzero(digit.max(axis=0) > 0)
    crop = Image.fromarray(digit[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1])
    crop = crop.resize((crop.width * 4, crop.height * 4), Image.Resampling.BICUBIC)
    big = Image.new("L", (crop.width + 24, crop.height + 24), 0)
    big.paste(crop, (12, 12))
    # At 4x, a 3/5-px min filter takes ~0.5/1 px off an MNIST stroke (median 2.3 px -> 1.7/1.2: a fine
    # pen) and a 5/7-px max filter adds ~1/1.5 px (-> 3.6/4.3 px, a felt-tip marker).
    if thickness == "thin":
        big = square_filter(big, int(rng.choice([3, 5])), np.minimum)
    elif thickness == "thick":
        big = square_filter(big, int(rng.choice([5, 7])), np.maximum)
    big = big.rotate(float(rng.uniform(-15, 15)), resample=Image.Resampling.BILINEAR, expand=True)
    box = big.getbbox()
    if box is None:  # thinned away entirely: keep the unfiltered digit instead
        return render_digit(digit, rng, height, "normal")
    big = big.crop(box)
    scale = height / max(big.size)
    size = (max(1, round(big.width * scale)), max(1, round(big.height * scale)))
    return np.asarray(big.resize(size, Image.Resampling.BILINEAR))


def make_canvas(digit: np.ndarray, seed: int, index: int) -> tuple[Image.Image, dict]:
    """One canvas PNG image and its parameters; deterministic in (seed, index)."""
    rng = np.random.default_rng([seed, index])
    fraction = float(rng.uniform(0.3, 0.9))
    thickness = THICKNESS[int(rng.integers(0, 3))]
    ink = render_digit(digit, rng, fraction * CANVAS, thickness)
    h, w = ink.shape
    h, w = min(h, CANVAS), min(w, CANVAS)
    y = int(rng.integers(0, CANVAS - h + 1))
    x = int(rng.integers(0, CANVAS - w + 1))
    canvas = np.zeros((CANVAS, CANVAS), np.uint8)
    canvas[y : y + h, x : x + w] = ink[:h, :w]
    white_on_black = bool(rng.integers(0, 2))
    if not white_on_black:
        canvas = 255 - canvas
    params = {"size": round(fraction, 3), "thickness": thickness,
              "polarity": "white_on_black" if white_on_black else "black_on_white"}
    return Image.fromarray(canvas), params


def _generate_chunk(args: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, str]) -> list[dict]:
    images, labels, indices, positions, seed, out = args
    rows = []
    for digit, label, index, pos in zip(images, labels, indices, positions, strict=True):
        im, params = make_canvas(digit, seed, int(pos))
        name = f"{int(pos):05d}.png"
        im.save(Path(out) / name, compress_level=1)
        rows.append({"file": name, "label": int(label), "mnist_index": int(index), **params})
    return rows


def generate(images: np.ndarray, labels: np.ndarray, n: int, seed: int, out: Path,
             workers: int) -> list[dict]:
    """Write n canvases (digits drawn from a seeded permutation of the test set) and labels.csv."""
    out.mkdir(parents=True, exist_ok=True)
    order = np.random.default_rng(seed).permutation(len(images))
    indices = np.resize(order, n)  # wraps around past the test set's size
    chunks = np.array_split(np.arange(n), max(1, workers * 4))
    jobs = [(images[indices[c]], labels[indices[c]], indices[c], c, seed, str(out)) for c in chunks if len(c)]
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            rows = [r for part in pool.map(_generate_chunk, jobs) for r in part]
    else:
        rows = [r for job in jobs for r in _generate_chunk(job)]
    with open(out / "labels.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return rows


def naive_input(path: Path) -> np.ndarray:
    """The paper GUI's approach: whole canvas, white on black, resized straight to 28x28."""
    with Image.open(path) as im:
        g = im.convert("L")
    if np.asarray(g).mean() > 127:  # black on white: invert to MNIST's white on black
        g = Image.fromarray(255 - np.asarray(g))
    return np.asarray(g.resize((28, 28)), dtype=np.float32) / 255


def _accuracy(pred: np.ndarray, truth: np.ndarray) -> float:
    return float((pred == truth).mean()) if len(truth) else float("nan")


def _subset(sel: np.ndarray, plain: np.ndarray, canvas: np.ndarray, naive: np.ndarray,
            truth: np.ndarray) -> dict:
    return {"n": int(sel.sum()), "plain_mnist": _accuracy(plain[sel], truth[sel]),
            "canvas": _accuracy(canvas[sel], truth[sel]), "naive_resize": _accuracy(naive[sel], truth[sel])}


def evaluate(model: str | None, rows: list[dict], out: Path, images: np.ndarray, batch: int = 500) -> dict:
    """Accuracy of plain MNIST, the canvas path and the naive resize, overall and by condition."""
    from inkdigit.inference import Predictor

    predictor = Predictor.load(model)
    truth = np.array([r["label"] for r in rows])
    mnist_idx = np.array([r["mnist_index"] for r in rows])
    plain = predictor.predict_arrays(images[mnist_idx].astype(np.float32) / 255).argmax(1)

    paths = [out / r["file"] for r in rows]
    canvas = np.empty(len(rows), np.int64)
    failed = 0
    t0 = time.perf_counter()
    for s in range(0, len(paths), batch):
        preds = predictor.predict_many(paths[s : s + batch])
        canvas[s : s + batch] = [p.label for p in preds]
    seconds = time.perf_counter() - t0
    naive = predictor.predict_arrays(np.stack([naive_input(p) for p in paths])).argmax(1)

    result = {
        "model": predictor.name,
        "n": len(rows),
        "plain_mnist": _accuracy(plain, truth),
        "canvas": _accuracy(canvas, truth),
        "naive_resize": _accuracy(naive, truth),
        "failed_reads": failed,
        "ms_per_canvas": 1000 * seconds / max(1, len(rows)),
        "by_condition": {},
    }
    result["gap_points"] = 100 * (result["plain_mnist"] - result["canvas"])
    for key in ("thickness", "polarity"):
        for value in sorted({r[key] for r in rows}):
            sel = np.array([r[key] == value for r in rows])
            result["by_condition"][f"{key}={value}"] = _subset(sel, plain, canvas, naive, truth)
    sizes = np.array([r["size"] for r in rows])
    for lo, hi in ((0.3, 0.5), (0.5, 0.7), (0.7, 0.91)):
        sel = (sizes >= lo) & (sizes < hi)
        name = f"size={lo:.1f}-{min(hi, 0.9):.1f}"
        result["by_condition"][name] = _subset(sel, plain, canvas, naive, truth)
    return result


def print_table(result: dict) -> None:
    print(f"canvas MNIST, model {result['model']}, n={result['n']}")
    print(f"{'condition':<24}{'n':>7}{'plain MNIST':>13}{'canvas':>9}{'naive':>9}")
    print(f"{'all':<24}{result['n']:>7}{100 * result['plain_mnist']:>12.2f}%"
          f"{100 * result['canvas']:>8.2f}%{100 * result['naive_resize']:>8.2f}%")
    for name, r in result["by_condition"].items():
        print(f"{name:<24}{r['n']:>7}{100 * r['plain_mnist']:>12.2f}%"
              f"{100 * r['canvas']:>8.2f}%{100 * r['naive_resize']:>8.2f}%")
    print(f"gap to plain MNIST: {result['gap_points']:.2f} points; "
          f"{result['ms_per_canvas']:.2f} ms per canvas (decode + preprocess + model)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--model", default="paper", help="bundled model name or .onnx path")
    parser.add_argument("--n", type=int, default=10000, help="number of canvases")
    parser.add_argument("--seed", type=int, default=0, help="random seed for digits and drawing")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "inkdigit-canvas-mnist",
                        help="directory for the PNGs and labels.csv")
    parser.add_argument("--data-dir", default=None, help="MNIST cache directory (None: inkdigit's cache)")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                        help="processes generating canvases")
    parser.add_argument("--reuse", action="store_true", help="read existing PNGs in --out, do not regenerate")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("--n must be at least 1")

    from inkdigit.data import load

    images, labels = load("mnist", "test", args.data_dir)
    t0 = time.perf_counter()
    if args.reuse:
        with open(args.out / "labels.csv", newline="") as f:
            rows = [dict(r, label=int(r["label"]), mnist_index=int(r["mnist_index"]), size=float(r["size"]))
                    for r in csv.DictReader(f)][: args.n]
    else:
        rows = generate(images, labels, args.n, args.seed, args.out, args.workers)
    gen_seconds = time.perf_counter() - t0
    result = evaluate(args.model, rows, args.out, images)
    result.update(seed=args.seed, out=str(args.out), generate_seconds=round(gen_seconds, 2))
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        print()
    else:
        print(f"generated {len(rows)} canvases in {gen_seconds:.1f} s into {args.out}"
              if not args.reuse else f"reused {len(rows)} canvases in {args.out}")
        print_table(result)
    return 0 if math.isfinite(result["canvas"]) else 1


if __name__ == "__main__":
    sys.exit(main())

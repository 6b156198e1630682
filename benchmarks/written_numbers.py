"""Written numbers: 3-6 MNIST test digits side by side (varied gaps, some touching), read as a string.

Each number is drawn like the canvas benchmark's digits (random size, slight rotation, stroke thickness,
polarity) on one baseline and saved as a PNG with a labels CSV; `Predictor.predict_number` then reads each
back. Reported: exact-string accuracy, digit-count accuracy, both split by whether digits touch, next to
the "perfect segmentation" bound (all of the number's digits right on plain MNIST).

    python benchmarks/written_numbers.py --model paper --n 1000
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from canvas_mnist import THICKNESS, render_digit  # sibling script: its folder is first on sys.path
from PIL import Image


def make_number(digits: np.ndarray, seed: int, index: int, touch: float) -> tuple[Image.Image, dict]:
    """One number picture and its parameters; deterministic in (seed, index)."""
    rng = np.random.default_rng([seed, index])
    height = float(rng.uniform(60, 140))
    thickness = THICKNESS[int(rng.integers(0, 3))]
    inks = [render_digit(d, rng, height * float(rng.uniform(0.9, 1.1)), thickness) for d in digits]
    gaps, touching = [], 0
    for _ in range(len(digits) - 1):
        if rng.random() < touch:
            gaps.append(-int(rng.integers(1, 4)))  # overlapping by a few pixels: the strokes touch
            touching += 1
        else:
            gaps.append(int(rng.uniform(0.1, 0.5) * height))
    margin = int(0.3 * height)
    top = max(i.shape[0] for i in inks)
    jitter = [int(rng.uniform(-0.08, 0.08) * height) for _ in inks]
    h = top + 2 * margin + 2 * int(0.08 * height) + 2
    w = sum(i.shape[1] for i in inks) + sum(gaps) + 2 * margin
    canvas = np.zeros((h, w), np.uint8)
    x = margin
    for k, ink in enumerate(inks):
        y = margin + int(0.08 * height) + 1 + top - ink.shape[0] + jitter[k]  # bottom on the baseline
        region = canvas[y : y + ink.shape[0], x : x + ink.shape[1]]
        np.maximum(region, ink, out=region)
        x += ink.shape[1] + (gaps[k] if k < len(gaps) else 0)
    white_on_black = bool(rng.integers(0, 2))
    if not white_on_black:
        canvas = 255 - canvas
    params = {"digits": len(digits), "touching": touching, "thickness": thickness,
              "polarity": "white_on_black" if white_on_black else "black_on_white"}
    return Image.fromarray(canvas), params


def _generate_chunk(args: tuple[np.ndarray, list[np.ndarray], list[np.ndarray], np.ndarray, int, float, str]
                    ) -> list[dict]:
    images, index_lists, label_lists, positions, seed, touch, out = args
    rows = []
    for idx, labels, pos in zip(index_lists, label_lists, positions, strict=True):
        im, params = make_number(images[idx], seed, int(pos), touch)
        name = f"{int(pos):05d}.png"
        im.save(Path(out) / name, compress_level=1)
        rows.append({"file": name, "text": "".join(str(int(v)) for v in labels),
                     "mnist_indices": " ".join(str(int(v)) for v in idx), **params})
    return rows


def generate(images: np.ndarray, labels: np.ndarray, n: int, seed: int, touch: float, out: Path,
             workers: int) -> list[dict]:
    """Write n number pictures and labels.csv."""
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    index_lists = [rng.integers(0, len(images), int(rng.integers(3, 7))) for _ in range(n)]
    label_lists = [labels[i] for i in index_lists]
    chunks = np.array_split(np.arange(n), max(1, workers * 4))
    jobs = [(images, [index_lists[i] for i in c], [label_lists[i] for i in c], c, seed, touch, str(out))
            for c in chunks if len(c)]
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


def evaluate(model: str | None, rows: list[dict], out: Path, images: np.ndarray, labels: np.ndarray) -> dict:
    """Exact-string and digit-count accuracy, overall and with/without touching digits."""
    from inkdigit.inference import Predictor
    from inkdigit.vision.preprocess import ImageError

    predictor = Predictor.load(model)
    plain_right = predictor.predict_arrays(images.astype(np.float32) / 255).argmax(1) == labels
    texts, t0 = [], time.perf_counter()
    for r in rows:
        try:
            texts.append(predictor.predict_number(out / r["file"]).text)
        except ImageError:
            texts.append("")
    seconds = time.perf_counter() - t0
    truth = [r["text"] for r in rows]
    exact = np.array([a == b for a, b in zip(texts, truth, strict=True)])
    count = np.array([len(a) == len(b) for a, b in zip(texts, truth, strict=True)])
    bound = np.array([all(plain_right[int(i)] for i in r["mnist_indices"].split()) for r in rows])
    touching = np.array([int(r["touching"]) > 0 for r in rows])

    def part(sel: np.ndarray) -> dict:
        n = int(sel.sum())
        return {"n": n, "exact": float(exact[sel].mean()) if n else float("nan"),
                "count": float(count[sel].mean()) if n else float("nan"),
                "plain_bound": float(bound[sel].mean()) if n else float("nan")}

    return {"model": predictor.name, "n": len(rows), "exact": float(exact.mean()),
            "count": float(count.mean()), "plain_bound": float(bound.mean()),
            "no_touching": part(~touching), "touching": part(touching),
            "ms_per_number": 1000 * seconds / max(1, len(rows)),
            "examples_wrong": [{"file": r["file"], "truth": r["text"], "read": t}
                               for r, t, e in zip(rows, texts, exact, strict=True) if not e][:10]}


def print_table(result: dict) -> None:
    print(f"written numbers (3-6 digits), model {result['model']}, n={result['n']}")
    print(f"{'numbers':<22}{'n':>7}{'exact':>9}{'count':>9}{'plain bound':>13}")
    rows = [("all", {"n": result["n"], "exact": result["exact"], "count": result["count"],
                     "plain_bound": result["plain_bound"]}),
            ("no touching digits", result["no_touching"]), ("some touching", result["touching"])]
    for name, r in rows:
        print(f"{name:<22}{r['n']:>7}{100 * r['exact']:>8.2f}%{100 * r['count']:>8.2f}%"
              f"{100 * r['plain_bound']:>12.2f}%")
    print(f"{result['ms_per_number']:.2f} ms per number (decode + segment + model); "
          "plain bound = every digit of the number right on plain MNIST")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--model", default="paper", help="bundled model name or .onnx path")
    parser.add_argument("--n", type=int, default=1000, help="number of written numbers")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--touch", type=float, default=0.2,
                        help="probability that two neighbouring digits touch")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "inkdigit-numbers",
                        help="directory for the PNGs and labels.csv")
    parser.add_argument("--data-dir", default=None, help="MNIST cache directory (None: inkdigit's cache)")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                        help="processes generating pictures")
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
            rows = list(csv.DictReader(f))[: args.n]
    else:
        rows = generate(images, labels, args.n, args.seed, args.touch, args.out, args.workers)
    gen_seconds = time.perf_counter() - t0
    result = evaluate(args.model, rows, args.out, images, labels)
    result.update(seed=args.seed, out=str(args.out), generate_seconds=round(gen_seconds, 2))
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        print()
    else:
        print(f"generated {len(rows)} numbers in {gen_seconds:.1f} s into {args.out}"
              if not args.reuse else f"reused {len(rows)} numbers in {args.out}")
        print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())

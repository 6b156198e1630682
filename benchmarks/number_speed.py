"""Number reading speed: milliseconds to read a 6-digit written number from a 560x280 PNG on one core.

    OMP_NUM_THREADS=1 python benchmarks/number_speed.py [--model resnet-small] [--n 200] [--touch 0.2]

Each picture holds 6 MNIST test digits drawn like the canvas benchmark's (random size, slight rotation,
stroke thickness), dark on white, side by side on one baseline, a neighbouring pair touching with
probability --touch. `Predictor.predict_number` (decode, over-segmentation, every candidate through the
model in one batch, best paths; for the bundled default, its single-view twin scores the candidates) reads
each PNG with one ONNX Runtime thread; p50 and p90 of the wall time per number are printed, with the share
read exactly, the candidates scored per number and the load average.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time

import numpy as np
from canvas_mnist import render_digit  # sibling script: its folder is first on sys.path
from PIL import Image

WIDTH, HEIGHT = 560, 280
DIGITS = 6


def number_png(images: np.ndarray, labels: np.ndarray, rng: np.random.Generator, touch: float
               ) -> tuple[bytes, str]:
    """A 560x280 PNG of 6 MNIST digits side by side, dark on white, and its text."""
    idx = rng.integers(0, len(images), DIGITS)
    height = float(rng.uniform(60, 80))
    inks = [render_digit(images[i], rng, height * float(rng.uniform(0.9, 1.1)), "normal") for i in idx]
    gaps = [-int(rng.integers(1, 4)) if rng.random() < touch else int(rng.uniform(0.1, 0.3) * height)
            for _ in range(DIGITS - 1)]
    canvas = np.zeros((HEIGHT, WIDTH), np.uint8)
    x = max(4, (WIDTH - sum(i.shape[1] for i in inks) - sum(gaps)) // 2)
    for k, ink in enumerate(inks):
        h, w = ink.shape
        w = min(w, WIDTH - x)
        if w <= 0:
            break
        y = HEIGHT // 2 + 40 - h
        region = canvas[y : y + h, x : x + w]
        np.maximum(region, ink[:, :w], out=region)
        x += w + (gaps[k] if k < len(gaps) else 0)
    buf = io.BytesIO()
    Image.fromarray(255 - canvas).save(buf, "PNG")
    return buf.getvalue(), "".join(str(int(labels[i])) for i in idx)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="bundled model name or .onnx path (default: the default)")
    parser.add_argument("--n", type=int, default=200, help="numbers to read")
    parser.add_argument("--touch", type=float, default=0.2, help="probability that two neighbours touch")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from inkdigit.data import load
    from inkdigit.errors import ImageError
    from inkdigit.inference import Predictor

    images, labels = load("mnist", "test")
    rng = np.random.default_rng(args.seed)
    cases = [number_png(images, labels, rng, args.touch) for _ in range(args.n)]
    predictor = Predictor.load(args.model, threads=1)
    batches: list[int] = []
    scorer = predictor.line_scorer()  # the bundled default's single-view twin (inkdigit.inference)
    score = scorer.predict_arrays

    def counting(x: np.ndarray) -> np.ndarray:
        batches.append(len(x))
        return score(x)

    scorer.predict_arrays = counting  # type: ignore[method-assign]  # counts the candidates scored
    predictor.predict_number(cases[0][0])  # warm up
    batches.clear()
    times, right = [], 0
    for data, text in cases:
        t = time.perf_counter()
        try:
            read = predictor.predict_number(data).text
        except ImageError:
            read = ""
        times.append(1000 * (time.perf_counter() - t))
        right += read == text
    p50, p90 = np.percentile(times, [50, 90])
    print(f"number speed, model {predictor.name} (candidates scored by {scorer.path.parent.name}/{scorer.path.name}), "
          f"{args.n} numbers of {DIGITS} digits, {WIDTH}x{HEIGHT} PNG, touch {args.touch}, 1 ORT thread, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    print(f"p50 {p50:.1f} ms, p90 {p90:.1f} ms, mean {np.mean(times):.1f} ms; exact {100 * right / args.n:.1f}%; "
          f"{np.mean(batches):.1f} candidates scored per number; load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

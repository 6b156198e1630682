"""Preprocessing speed: median milliseconds per image (decode included) for the inputs each path sees.

    python benchmarks/preprocess_speed.py [--repeat 5] [--n 200]

Cases: a 28x28 MNIST test PNG (`inkdigit predict DIR`), a 280x280 canvas PNG in L and in RGBA, opaque and
with a transparent background (what a browser sends), a 1000x280 written number through `segment` (every
candidate digit cut and normalised; a stand-in recogniser that is sure of every candidate, so no model), and a
4096x4096 PNG (the size limit). Each case runs `--repeat` passes over `--n` distinct images in one thread;
the median over passes of CPU time (time.process_time) per image is printed, with wall time beside it and
the load average, since the machine may be shared. Digits come from the MNIST test set and are drawn like
the canvas benchmark's (benchmarks/canvas_mnist.py).
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
from canvas_mnist import make_canvas, render_digit  # sibling script: its folder is first on sys.path
from PIL import Image, ImageDraw

from inkdigit.data import load
from inkdigit.vision.preprocess import preprocess
from inkdigit.vision.segment import segment


def sure_of_all(x: np.ndarray) -> np.ndarray:
    """A stand-in recogniser: every candidate is a 1 with probability 0.91 (the segmentation's work, no model)."""
    probs = np.full((len(x), 10), 0.01, np.float32)
    probs[:, 1] = 0.91
    return probs


def png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def transparent(im: Image.Image) -> Image.Image:
    """Black strokes on a transparent background, as an HTML canvas exports them when nothing is filled."""
    a = np.asarray(im.convert("L"))
    ink = 255 - a if a.mean() > 127 else a
    rgba = np.zeros(a.shape + (4,), np.uint8)
    rgba[..., 3] = ink
    return Image.fromarray(rgba, "RGBA")


def number_canvas(images: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """3-6 MNIST digits drawn ~160 px tall side by side on a 1000x280 white canvas."""
    k = int(rng.integers(3, 7))
    digits = images[rng.integers(0, len(images), k)]
    inks = [render_digit(d, rng, float(rng.uniform(140, 180)), "normal") for d in digits]
    canvas = np.zeros((280, 1000), np.uint8)
    gap = int(rng.integers(20, 50))
    x = max(10, (1000 - sum(i.shape[1] for i in inks) - gap * (k - 1)) // 2)
    for ink in inks:
        h, w = ink.shape
        w = min(w, 1000 - x)
        if w <= 0:
            break
        y = 230 - h
        region = canvas[y : y + h, x : x + w]
        np.maximum(region, ink[:, :w], out=region)
        x += w + gap
    return Image.fromarray(255 - canvas)


def big_seven() -> Image.Image:
    im = Image.new("L", (4096, 4096), 255)
    d = ImageDraw.Draw(im)
    s = 4096 / 280
    d.line([(70 * s, 60 * s), (210 * s, 60 * s), (130 * s, 230 * s)], fill=0, width=120, joint="curve")
    d.line([(110 * s, 145 * s), (185 * s, 145 * s)], fill=0, width=120)
    return im


def measure(fn: Callable[[bytes], object], items: list[bytes], repeat: int) -> tuple[float, float]:
    """Median over passes of (CPU ms, wall ms) per item."""
    fn(items[0])  # warm up
    cpu, wall = [], []
    for _ in range(repeat):
        c, w = time.process_time(), time.perf_counter()
        for it in items:
            fn(it)
        cpu.append((time.process_time() - c) / len(items) * 1000)
        wall.append((time.perf_counter() - w) / len(items) * 1000)
    return statistics.median(cpu), statistics.median(wall)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--n", type=int, default=200, help="distinct images per case (fewer for big ones)")
    args = parser.parse_args(argv)

    images, _ = load("mnist", "test")
    rng = np.random.default_rng(0)
    n = args.n
    canvases = [make_canvas(images[i], 0, i)[0] for i in range(n)]
    cases: list[tuple[str, Callable[[bytes], object], list[bytes]]] = [
        ("28x28 MNIST PNG", preprocess, [png(Image.fromarray(images[i])) for i in range(n)]),
        ("280x280 canvas PNG L", preprocess, [png(c) for c in canvases]),
        ("280x280 canvas PNG RGBA", preprocess, [png(c.convert("RGBA")) for c in canvases]),
        ("280x280 canvas PNG RGBA transparent", preprocess, [png(transparent(c)) for c in canvases]),
        ("1000x280 number PNG, segment", lambda data: segment(data, sure_of_all),
         [png(number_canvas(images, rng)) for _ in range(max(1, n // 4))]),
        ("4096x4096 PNG", preprocess, [png(big_seven())]),
    ]
    load_avg = os.getloadavg()[0]
    print(f"preprocess speed, {args.repeat} passes, load average {load_avg:.2f} on {os.cpu_count()} CPUs")
    print(f"{'case':40s} {'images':>6s} {'cpu ms':>8s} {'wall ms':>8s}")
    for name, fn, items in cases:
        cpu, wall = measure(fn, items, args.repeat if len(items) > 1 else max(args.repeat, 5))
        print(f"{name:40s} {len(items):6d} {cpu:8.3f} {wall:8.3f}")
    print(f"load average now {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

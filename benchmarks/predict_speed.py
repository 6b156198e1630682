"""Speed of `inkdigit predict`: cold start for one image, and throughput over the 10,000 MNIST test PNGs.

    python benchmarks/predict_speed.py
    python benchmarks/predict_speed.py --model paper --repeat 5

Cold start: wall time and peak memory (max RSS) of a fresh `inkdigit predict one.png` process, median
of --repeat runs. Throughput: one `inkdigit predict DIR --json` over the test set written as PNGs; also
checks that what it read matches the labels (accuracy). MNIST's own 28x28 images are already in the form
the model takes, so preprocessing passes them through; a second folder of 280x280 canvases (the same
digits drawn large, dark on white) measures the full preprocessing path.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def one_child(cmd: list[str]) -> tuple[float, float]:
    """Run `cmd` inside a fresh helper process so its max RSS is its own."""
    code = ("import json, resource, subprocess, sys, time; t = time.perf_counter(); "
            "subprocess.run(sys.argv[1:], check=True, capture_output=True); w = time.perf_counter() - t; "
            "print(json.dumps([w, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024]))")
    out = subprocess.run([sys.executable, "-c", code, *cmd], capture_output=True, check=True, text=True).stdout
    wall, rss = json.loads(out)
    return wall, rss


def model_latency(model: str | None, calls: int = 500) -> float:
    """Median milliseconds of one single-image model call (already preprocessed), one ORT thread."""
    import numpy as np

    from inkdigit.data import load
    from inkdigit.inference import Predictor

    x = load("mnist", "test")[0][:1].astype(np.float32) / 255
    return latency_ms(Predictor.load(model, threads=1), x, calls)


def latency_ms(predictor: Any, x: Any, calls: int) -> float:
    """Median milliseconds of one call of `predictor.predict_arrays(x)`, after 50 warm-up calls."""
    for _ in range(50):  # warm-up
        predictor.predict_arrays(x)
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        predictor.predict_arrays(x)
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="model name or path (default: the bundled default)")
    ap.add_argument("--repeat", type=int, default=5, help="cold-start runs (default: %(default)s)")
    ap.add_argument("--n", type=int, default=10000, help="test images for throughput (default: %(default)s)")
    ap.add_argument("--canvas-n", type=int, default=2000,
                    help="280x280 canvas PNGs for the full-preprocessing throughput (default: %(default)s)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--latency-only", action="store_true", help="only the single-image model latency")
    args = ap.parse_args()
    latency = model_latency(args.model)
    if args.latency_only:
        print(json.dumps({"model_latency_ms": latency}) if args.json else
              f"model latency, one preprocessed image, 1 thread: {latency:.3f} ms (median of 500)")
        return

    import numpy as np
    from PIL import Image

    from inkdigit.data import load

    exe = [str(Path(sys.executable).with_name("inkdigit"))]
    if not Path(exe[0]).exists():
        exe = [sys.executable, "-m", "inkdigit"]
    model = ["--model", args.model] if args.model else []
    images, labels = load("mnist", "test")
    images, labels = images[: args.n], labels[: args.n]
    with tempfile.TemporaryDirectory(prefix="inkdigit-predict-") as tmp:
        folder = Path(tmp) / "png"
        folder.mkdir()
        for i, im in enumerate(images):
            Image.fromarray(im).save(folder / f"{i:05d}.png")
        canvases = Path(tmp) / "canvas"
        canvases.mkdir()
        for i, im in enumerate(images[: args.canvas_n]):
            # The digit drawn large, dark on white, as a 280x280 canvas: the full preprocessing path.
            page = Image.new("L", (280, 280), 255)
            page.paste(Image.fromarray(255 - im).resize((200, 200), Image.Resampling.BILINEAR), (40, 40))
            page.save(canvases / f"{i:05d}.png")
        one = str(folder / "00000.png")
        subprocess.run([*exe, "predict", one, *model], capture_output=True, check=True)  # warm the file cache
        cold = [one_child([*exe, "predict", one, *model]) for _ in range(args.repeat)]
        t = time.perf_counter()
        out = subprocess.run([*exe, "predict", str(folder), "--json", *model], capture_output=True, check=True)
        wall = time.perf_counter() - t
        t = time.perf_counter()
        canvas_out = subprocess.run([*exe, "predict", str(canvases), "--json", *model], capture_output=True,
                                    check=True)
        canvas_wall = time.perf_counter() - t
    canvas_got = np.array([json.loads(line)["label"] for line in canvas_out.stdout.splitlines()])
    got = np.array([json.loads(line)["label"] for line in out.stdout.splitlines()])
    result = {
        "cold_start_s": statistics.median(w for w, _ in cold),
        "cold_start_peak_mb": statistics.median(m for _, m in cold),
        "folder_images": len(images), "folder_seconds": wall, "images_per_s": len(images) / wall,
        "accuracy": float((got == labels).mean()), "cores": os.cpu_count(), "model_latency_ms": latency,
        "canvas_images": len(canvas_got), "canvas_seconds": canvas_wall,
        "canvas_images_per_s": len(canvas_got) / canvas_wall,
        "canvas_accuracy": float((canvas_got == labels[: len(canvas_got)]).mean()),
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"cold start, one image: {result['cold_start_s']:.3f} s wall, {result['cold_start_peak_mb']:.0f} MB peak "
          f"(median of {args.repeat})")
    print(f"folder of {len(images):,} MNIST test PNGs: {wall:.2f} s = {result['images_per_s']:,.0f} images/s, "
          f"accuracy {100 * result['accuracy']:.2f}% ({os.cpu_count()} cores)")
    print(f"folder of {len(canvas_got):,} 280x280 canvas PNGs (full preprocessing): {canvas_wall:.2f} s = "
          f"{result['canvas_images_per_s']:,.0f} images/s, accuracy {100 * result['canvas_accuracy']:.2f}%")


if __name__ == "__main__":
    main()

"""Accuracy and speed of the bundled character-set models (letters, alnum, math) on fonts no model trained on.

    python benchmarks/charsets.py --n 100 --seed 0
    python benchmarks/charsets.py --n 100 --seed 0 --gap-run runs/chars-digits-fonts
    python benchmarks/charsets.py --n 100 --seed 0 --models runs/chars-digits-fonts/digits-fonts.onnx

For each model in src/inkdigit/weights/chars/: `--n` glyphs per label drawn (seeded) from the benchmark
families (`fonts.BENCHMARK_FAMILIES`, never trained or tuned on) with the same hand's variation training
used (`data.handwriting.font_char_set`), read by the model: top-1 and top-3 accuracy; the math model's
symbols (+ − × ÷ = ( ) .) apart from its digits; the five weakest labels; top-1 with each confusable group
(0/O, 1/I/l, 5/S, 2/Z, 9/g/q, as the set's labels) counted as one answer, which is what a mode that shows
both readings gives; and, for a model with digits, its reading of MNIST's test digits (real handwriting),
over all its labels and restricted to the digits (`charsets.mask_kinds`). `--models` also takes an exported
.onnx, such as the fonts-only digits model: its unseen-font digits next to its MNIST number.

`--gap-run` (a run dir of `inkdigit train --charset digits --dataset fonts`, or its exported .onnx): that
model's accuracy on MNIST's test set, the synthetic-to-real gap. Last, the single-character latency of each
model next to the bundled digit model's (one preprocessed image, one ONNX Runtime thread, median of
--calls), as benchmarks/predict_speed.py measures it. One fixed-width line per result.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from predict_speed import latency_ms  # benchmarks/: the digit models' latency, measured the same way

from inkdigit.charsets import DIGIT, SYMBOL, get_charset, mask_kinds
from inkdigit.data import load
from inkdigit.data.fonts import BENCHMARK_FAMILIES, font_paths
from inkdigit.data.handwriting import font_char_set
from inkdigit.inference import Predictor

CHARS_DIR = Path(__file__).resolve().parents[1] / "src" / "inkdigit" / "weights" / "chars"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100, help="glyphs per label from the unseen fonts (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=0, help="drawing seed (default: %(default)s)")
    ap.add_argument("--models", nargs="+", default=["letters", "alnum", "math"],
                    help="charset names (weights/chars/<name>.onnx) or .onnx paths (default: %(default)s)")
    ap.add_argument("--gap-run", default=None,
                    help="run dir (or .onnx) of the fonts-only digits model: its MNIST test accuracy")
    ap.add_argument("--calls", type=int, default=500, help="calls for the latency median (default: %(default)s)")
    args = ap.parse_args()

    fonts = font_paths(BENCHMARK_FAMILIES)
    mnist_x, mnist_y = load("mnist", "test")
    paths = {Path(m).stem if m.endswith(".onnx") else m: Path(m) if m.endswith(".onnx") else CHARS_DIR / f"{m}.onnx"
             for m in args.models}
    print(f"unseen fonts: {len(fonts)} benchmark families, {args.n} glyphs per label, seed {args.seed}")
    for name, path in paths.items():
        model = Predictor(path, threads=1)
        for line in font_lines(name, model, fonts, args.n, args.seed):
            print(line)
        if "0" in model.labels:
            print(mnist_line(name, model, mnist_x, mnist_y))
    if args.gap_run:
        acc = gap_accuracy(args.gap_run, mnist_x, mnist_y)
        print(f"{'digits, fonts only':<18} MNIST test (real)      top-1 {100 * acc:6.2f}%"
              f"                n={len(mnist_y)}  (the synthetic-to-real gap)")
    x = mnist_x[:1].astype(np.float32) / 255
    for name, path in [("digits (default)", None), *paths.items()]:
        model = Predictor.load(path, threads=1)
        print(f"{name[:18]:<18} latency, 1 char, 1 thread {latency_ms(model, x, args.calls):7.3f} ms "
              f"(median of {args.calls})   {model.path.stat().st_size / 1e6:.2f} MB")
    return 0


def font_lines(name: str, model: Predictor, fonts: dict, n: int, seed: int) -> list[str]:
    """Top-1 / top-3 over every label on glyphs of the unseen fonts; the symbols and digits apart (math)."""
    charset = get_charset(model.metadata.get("charset") or name)
    if list(charset.labels) != model.labels:
        raise SystemExit(f"{model.path}: its labels are not the {charset.name} set's")
    drawn = font_char_set(charset, fonts, n, seed, workers=2)
    probs = model.predict_arrays(drawn.images.astype(np.float32) / 255)
    top3 = np.argsort(-probs, axis=1)[:, :3]
    kinds = np.array(charset.kinds)[drawn.labels]
    groups = [("all labels", np.ones(len(kinds), bool))]
    if charset.name == "math":
        groups += [("symbols", kinds == SYMBOL), ("digits", kinds == DIGIT)]
    lines = []
    for what, rows in groups:
        t1 = float((top3[rows, 0] == drawn.labels[rows]).mean())
        t3 = float((top3[rows] == drawn.labels[rows, None]).any(axis=1).mean())
        lines.append(f"{name:<18} unseen fonts, {what:<9} top-1 {100 * t1:6.2f}%  top-3 {100 * t3:6.2f}%"
                     f"  n={int(rows.sum())}")
    if charset.confusable_groups():  # 0/O, 1/I/l, 5/S, 2/Z, 9/g/q: what a mode showing both readings gets
        alike = np.zeros((len(charset.labels), len(charset.labels)), bool)
        np.fill_diagonal(alike, True)
        for group in charset.confusable_groups():
            idx = [charset.labels.index(label) for label in group]
            alike[np.ix_(idx, idx)] = True
        t1 = float(alike[drawn.labels, top3[:, 0]].mean())
        groups_text = " ".join("/".join(g) for g in charset.confusable_groups())
        lines.append(f"{name:<18} unseen fonts, top-1 with the confusable labels as one ({groups_text}): "
                     f"{100 * t1:6.2f}%")
    worst = sorted(((float((top3[drawn.labels == k, 0] == k).mean()), label)
                    for k, label in enumerate(charset.labels)))[:5]
    lines.append(f"{name:<18} weakest labels: " + ", ".join(f"{lab} {100 * a:.0f}%" for a, lab in worst))
    return lines


def mnist_line(name: str, model: Predictor, x: np.ndarray, y: np.ndarray) -> str:
    """A model with digits reading MNIST's test digits: over all its labels, and allowed digits only."""
    charset = get_charset(model.metadata.get("charset") or name)
    probs = model.predict_arrays(x.astype(np.float32) / 255)
    truth = np.array([charset.labels.index(str(d)) for d in y])
    any_label = float((probs.argmax(1) == truth).mean())
    digits_only = float((mask_kinds(charset, probs, {DIGIT}).argmax(1) == truth).mean())
    return (f"{name:<18} MNIST test digits      top-1 {100 * any_label:6.2f}%  digits-only "
            f"{100 * digits_only:6.2f}%  n={len(y)}")


def gap_accuracy(run: str, x: np.ndarray, y: np.ndarray) -> float:
    """MNIST test accuracy of the fonts-only digits model: an .onnx file, or a run dir read with torch."""
    if run.endswith(".onnx"):
        probs = Predictor(run).predict_arrays(x.astype(np.float32) / 255)
        return float((probs.argmax(1) == y).mean())
    import torch

    from inkdigit.training.runs import load_run
    from inkdigit.training.tensors import predict_logits, to_tensor

    net, config, _ = load_run(run)
    if config["settings"].get("dataset") != "fonts":
        print(f"note: {run} did not train on fonts only", file=sys.stderr)
    logits = predict_logits(net, to_tensor(x, torch.device("cpu")))
    return float((logits.argmax(1).numpy() == y).mean())


if __name__ == "__main__":
    sys.exit(main())

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
from pathlib import Path

import numpy as np

from inkdigit.data.handwriting import draw_text


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

"""Recipe search for resnet-small: variants of the recipe × seeds, several runs at once on one device.

    python benchmarks/recipe_search.py --variants base,clean1 --seeds 3 --parallel 2
    python benchmarks/recipe_search.py --seeds 3 --parallel 11 --data-dir DIR   # all, on a GPU machine

Meant for a GPU, where a 14-epoch run takes ~30-120 s and a dozen share the card; on a 2-core CPU one run
takes ~9 minutes. Each variant is a set of `TrainConfig` overrides on top of resnet-small's recipe
(src/inkdigit/training/recipes.py; `widths` builds a wider net instead). Prints one JSON line per finished
run, then a table of test accuracy (mean ± std over the seeds) and final validation accuracy per variant;
--out writes the runs as JSON. The session-3 search in docs/experiments.md is this script's output on an H100.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed

# Each variant: overrides of the registered recipe (14 epochs, 5,000 validation images, label smoothing
# 0.1, EMA 0.995, SGD lr 0.1, weight decay 5e-4, no clean epochs). All cost about the same CPU time.
VARIANTS: dict[str, dict] = {
    "base": {"clean_epochs": 0},
    "ls0": {"clean_epochs": 0, "label_smoothing": 0.0},
    "ls05": {"clean_epochs": 0, "label_smoothing": 0.05},
    "full13": {"clean_epochs": 0, "val_size": 0, "epochs": 13},  # all 60,000 images, one epoch fewer
    "ema998": {"clean_epochs": 0, "ema": 0.998},
    "lr2": {"clean_epochs": 0, "lr": 0.2},
    "wd1e3": {"clean_epochs": 0, "weight_decay": 1e-3},
    "clean1": {"clean_epochs": 1},
    "clean2": {"clean_epochs": 2},
    "wide12": {"clean_epochs": 0, "epochs": 12, "widths": (32, 48, 72, 144)},  # +12% CPU per epoch
    "ls0full13": {"clean_epochs": 0, "label_smoothing": 0.0, "val_size": 0, "epochs": 13},
    "c1full13": {"clean_epochs": 1, "val_size": 0, "epochs": 13},
    "c2full13": {"clean_epochs": 2, "val_size": 0, "epochs": 13},
    "c1wd": {"clean_epochs": 1, "weight_decay": 1e-3},
    "c1ema": {"clean_epochs": 1, "ema": 0.998},
    "c1ls05": {"clean_epochs": 1, "label_smoothing": 0.05},
}


def run(name: str, seed: int, data_dir: str | None, threads: int) -> dict:
    """Train one (variant, seed) in a scratch dir; returns its test and final validation accuracy."""
    import functools

    from inkdigit.training import nets as models
    from inkdigit.training.config import TrainConfig
    from inkdigit.training.loop import train
    from inkdigit.training.nets.resnet import ResNetSmall
    from inkdigit.training.tensors import pick_device

    overrides = dict(VARIANTS[name])
    widths = overrides.pop("widths", None)
    if widths:  # this process only: resnet-small's entry builds the wider net
        info = models.MODELS["resnet-small"]
        models.MODELS["resnet-small"] = models.ModelInfo(
            info.name, info.description, functools.partial(ResNetSmall, widths))
    cfg = TrainConfig(model="resnet-small", seed=seed, threads=threads, **overrides)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        m = train(cfg, tmp, data_dir=data_dir, progress=False, log=lambda _: None)
    return {"variant": name, "seed": seed, "test": m["test_accuracy"], "val": m["epochs"][-1]["val_acc"],
            "train_seconds": m["train_seconds"], "wall_seconds": round(time.perf_counter() - t0, 1),
            "device": str(pick_device("auto"))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated (default: all)")
    ap.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 per variant (default: %(default)s)")
    ap.add_argument("--parallel", type=int, default=1, help="runs at once (default: %(default)s)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per run (default: %(default)s)")
    ap.add_argument("--data-dir", default=None, help="dataset cache (default: $INKDIGIT_DATA or ~/.cache)")
    ap.add_argument("--out", default=None, help="also write every run's numbers to this JSON file")
    args = ap.parse_args()
    names = [n for n in args.variants.split(",") if n]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown or args.seeds < 1 or args.parallel < 1:
        sys.exit(f"unknown variant(s) {', '.join(unknown)} (known: {', '.join(VARIANTS)})" if unknown
                 else "--seeds and --parallel must be >= 1")

    results: list[dict] = []
    jobs = [(n, s) for s in range(args.seeds) for n in names]  # seed-major: every variant gets seed 0 first
    # spawn, not fork: each run owns its CUDA context and torch thread settings.
    with ProcessPoolExecutor(args.parallel, mp_context=mp.get_context("spawn")) as ex:
        futures = {ex.submit(run, n, s, args.data_dir, args.threads): (n, s) for n, s in jobs}
        for f in as_completed(futures):
            try:
                r = f.result()
            except Exception:  # one broken run is reported, the others go on
                n, s = futures[f]
                r = {"variant": n, "seed": s, "error": traceback.format_exc(limit=2)[-400:]}
            results.append(r)
            print(json.dumps(r), flush=True)
            if args.out:
                tmp = f"{args.out}.tmp"
                with open(tmp, "w") as fh:
                    json.dump(results, fh, indent=1)
                os.replace(tmp, args.out)

    print(f"\n{'variant':<10} {'runs':>4} {'test mean ± std':>16} {'val mean':>8}  test per seed")
    for n in names:
        rs = sorted((r for r in results if r["variant"] == n and "test" in r), key=lambda r: r["seed"])
        if not rs:
            print(f"{n:<10} no finished runs")
            continue
        t = [100 * r["test"] for r in rs]
        v = [100 * r["val"] for r in rs if r["val"] == r["val"]]  # NaN without a validation split
        sd = statistics.stdev(t) if len(t) > 1 else 0.0
        print(f"{n:<10} {len(rs):>4} {statistics.mean(t):9.2f} ± {sd:4.2f} "
              f"{(f'{statistics.mean(v):8.2f}' if v else '       -')}  {' '.join(f'{x:.2f}' for x in t)}")
    return 0 if all("test" in r for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())

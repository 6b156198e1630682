"""Training speed of the paper's recipe (5 epochs, batch 32, Adam 1e-3) on this machine, over seeds.

    python benchmarks/train_speed.py                 # 3 seeds, the full recipe (fused step on a CPU)
    python benchmarks/train_speed.py --engine torch --threads 1   # the same in eager PyTorch
    python benchmarks/train_speed.py --seeds 1 --epochs 1

Prints one line per seed (training seconds, images/s, test accuracy) and the mean ± std. Training time is
the sum of the epochs' wall time (data loading, validation and the final test pass excluded).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="paper", help="registered model (default: %(default)s)")
    ap.add_argument("--seeds", type=int, default=3, help="number of seeds, 0..N-1 (default: %(default)s)")
    ap.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs")
    ap.add_argument("--threads", type=int, default=None, help="threads (default: all cores)")
    ap.add_argument("--engine", default="auto", choices=["auto", "torch", "fused"],
                    help="training step, as `inkdigit train --engine` (default: %(default)s)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = ap.parse_args()

    import torch

    from inkdigit.training.config import TrainConfig
    from inkdigit.training.loop import train
    from inkdigit.training.runs import saved_config

    rows = []
    for seed in range(args.seeds):
        with tempfile.TemporaryDirectory(prefix="inkdigit-bench-") as tmp:
            run = os.path.join(tmp, "run")
            m = train(TrainConfig(model=args.model, epochs=args.epochs, seed=seed, threads=args.threads,
                                  engine=args.engine), run, progress=False, log=lambda _m: None)
            engine = saved_config(run)["engine"]
        images = sum(r["images_per_s"] * r["epoch_seconds"] for r in m["epochs"])
        rows.append({"seed": seed, "train_seconds": m["train_seconds"], "images_per_s": images / m["train_seconds"],
                     "test_accuracy": m["test_accuracy"], "engine": engine})
        if not args.json:
            r = rows[-1]
            print(f"seed {seed}: {r['train_seconds']:7.1f} s  {r['images_per_s']:8.0f} img/s  "
                  f"test {100 * r['test_accuracy']:.2f}%  ({engine} step)", flush=True)

    def ms(key: str, scale: float = 1.0) -> tuple[float, float]:
        vals = [r[key] * scale for r in rows]
        return statistics.mean(vals), statistics.stdev(vals) if len(vals) > 1 else 0.0

    summary = {"model": args.model, "seeds": args.seeds, "rows": rows, "threads": torch.get_num_threads(),
               "engine": rows[-1]["engine"],
               "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
               "train_seconds": ms("train_seconds"), "test_accuracy_pct": ms("test_accuracy", 100)}
    if args.json:
        print(json.dumps(summary))
        return
    (ts, tsd), (acc, accd) = summary["train_seconds"], summary["test_accuracy_pct"]
    print(f"{args.model}: training {ts:.1f} ± {tsd:.1f} s, test accuracy {acc:.2f} ± {accd:.2f}% "
          f"over {args.seeds} seeds ({summary['engine']} step, {os.cpu_count()} cores, {torch.get_num_threads()} "
          f"threads)")


if __name__ == "__main__":
    main()

"""`inkdigit train` in one process against the same recipe under torchrun (DistributedDataParallel).

    python benchmarks/train_distributed.py                       # CPU: the paper recipe, resnet-small 2 epochs
    python benchmarks/train_distributed.py --processes 1 2 4     # any process counts (CPU, gloo)
    python benchmarks/train_distributed.py --gpu                 # 1 GPU against all of this machine's GPUs

Each row is one real run in a temporary folder: one process is `python -m inkdigit train`, N processes are
`torchrun --standalone --nproc-per-node N -m inkdigit train` with the same flags (the batch is the global
one). On a CPU the paper recipe runs twice in one process, with its fused C step (what `inkdigit train`
uses) and with torch's step (what every process uses under torchrun), so the table separates the step's
cost from the processes'. Columns: training seconds (the epochs' wall time; loading, validation and the
test pass excluded), images/s over those seconds, the last epoch's validation accuracy, the test accuracy,
the first epoch at which validation reached --target (cumulative training seconds), and the whole command's
wall time (start-up of every process included).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# (label, model, extra flags): the paper's recipe as it is; the default recipe cut to a few epochs (its full
# 14 take ~9 minutes on 2 cores in one process), which changes its one-cycle schedule but not its step.
RECIPES = [("paper (recipe: 5 epochs, batch 32)", "paper", []),
           ("resnet-small (recipe, 2 epochs)", "resnet-small", ["--epochs", "2"])]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--processes", type=int, nargs="+", default=[1, 2], help="process counts (default: 1 2)")
    ap.add_argument("--gpu", action="store_true", help="1 GPU against every GPU of this machine (--device cuda)")
    ap.add_argument("--model", choices=[m for _, m, _ in RECIPES], default=None, help="only this recipe")
    ap.add_argument("--epochs", type=int, default=None, help="override every recipe's epochs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--target", type=float, default=98.5, help="validation accuracy, percent, for time-to-accuracy")
    ap.add_argument("--json", action="store_true", help="print the rows as JSON lines too")
    args = ap.parse_args()

    processes, device = args.processes, "cpu"
    if args.gpu:
        import torch

        if not torch.cuda.is_available():
            raise SystemExit("--gpu: this machine has no CUDA device")
        processes, device = sorted({1, torch.cuda.device_count()}), "cuda"
    print(f"# {platform.node()} | {os.cpu_count()} cores | {platform.processor() or platform.machine()} | "
          f"device {device} | {time.strftime('%Y-%m-%d %H:%M')} | {' '.join(sys.argv)}", flush=True)
    print("| recipe | processes | step, threads each | train s | images/s | last val | test | to val >= "
          f"{args.target:g}% | wall s |\n|---|---|---|---|---|---|---|---|---|", flush=True)
    for label, model, extra in RECIPES:
        if args.model not in (None, model):
            continue
        flags = ["--model", model, "--seed", str(args.seed), "--device", device, "--no-progress", *extra]
        if args.epochs is not None:
            flags += ["--epochs", str(args.epochs)]
        for n in processes:
            # One CPU process with the paper net runs its fused step; torch's is measured too (what DDP uses),
            # on one thread, its fastest at batch 32 (README); torchrun gives each process one thread itself.
            engines = [[], ["--engine", "torch", "--threads", "1"]] if n == 1 and model == "paper" and device == "cpu" \
                else [[]]
            for engine in engines:
                row = run(label, n, [*flags, *engine], args.target)
                print(f"| {label} | {n} | {row['engine']}, {row['threads']} | {row['train_seconds']:.1f} "
                      f"| {row['images_per_s']:,.0f} | {row['last_val']:.2f}% | {row['test']:.2f}% "
                      f"| {row['to_target']} | {row['wall']:.1f} |", flush=True)
                if args.json:
                    print(json.dumps(row), flush=True)


def run(label: str, processes: int, flags: list[str], target: float) -> dict:
    """One training run with `processes` processes; its numbers, read back from the run folder."""
    with tempfile.TemporaryDirectory(prefix="inkdigit-ddp-bench-") as tmp:
        out = Path(tmp) / "run"
        if processes == 1:
            cmd = [sys.executable, "-m", "inkdigit", "train", *flags, "--out", str(out)]
        else:
            torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
            cmd = [torchrun, "--standalone", "--nproc-per-node", str(processes), "-m", "inkdigit", "train", *flags,
                   "--out", str(out)]
        t0 = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if r.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stdout}\n{r.stderr}")
        metrics = json.loads((out / "metrics.json").read_text())
        config = json.loads((out / "config.json").read_text())
    epochs = metrics["epochs"]
    images = sum(e["images_per_s"] * e["epoch_seconds"] for e in epochs)
    to_target, elapsed = "not reached", 0.0
    for e in epochs:
        elapsed += e["epoch_seconds"]
        if e["val_acc"] is not None and 100 * e["val_acc"] >= target:
            to_target = f"epoch {e['epoch']}, {elapsed:.1f} s"
            break
    return {"recipe": label, "processes": processes, "world_size": config["world_size"], "engine": config["engine"],
            "threads": config["threads"], "train_seconds": metrics["train_seconds"],
            "images_per_s": images / metrics["train_seconds"], "last_val": 100 * epochs[-1]["val_acc"],
            "test": 100 * metrics["test_accuracy"], "to_target": to_target, "wall": wall, "command": " ".join(cmd)}


if __name__ == "__main__":
    main()

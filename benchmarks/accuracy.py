"""Accuracy benchmark: the paper net vs the stronger net, each trained with its recipe over several seeds.

    python benchmarks/accuracy.py                         # 3 seeds of each model, full recipes (long)
    python benchmarks/accuracy.py --seeds 1 --epochs 1    # smoke run
    python benchmarks/accuracy.py --models resnet-small --clean-epochs 1   # the recipe, last epoch clean
    inkdigit bench accuracy --models resnet-small --json

For each model: test accuracy mean ± std over the seeds, plain and with test-time augmentation (the
`inkdigit export --tta` views: each image read rotated by -6° and +6°, the two answers averaged), training
time (sum of epoch wall times: data loading, validation and the test pass excluded), and the training
time at which the run first reached 99.5% and 99.7% TEST accuracy, plain and with TTA. Those come from a
post-hoc evaluation of each epoch's weights (the EMA weights when the recipe has EMA) on the test set,
made here, after training and outside it: nothing in training sees the test set; the validation-based
times are in the JSON too. "Time to X" is measured inside the full-length run (a one-cycle schedule cut
shorter would end at a different accuracy), and is "never" when no epoch reached X. Finally the seeds
are exported as one averaged ensemble ONNX (`inkdigit.training.export.export_runs`) and its test accuracy reported.

Runs go to --out-dir/<model>-seed<k>; a finished run dir found there is reused (delete it to retrain).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import sys
from pathlib import Path

DEFAULT_MODELS = ("paper", "resnet-small")
THRESHOLDS = (0.995, 0.997)


def first_time_at(history: list[dict], accs: list[float], threshold: float) -> float | None:
    """Cumulative training seconds at the end of the first epoch whose accuracy is >= threshold."""
    elapsed = 0.0
    for row, acc in zip(history, accs, strict=True):
        elapsed += row["epoch_seconds"]
        if round(acc, 6) >= threshold:  # accuracies come as float32 fractions: 0.997 arrives as 0.99699998
            return round(elapsed, 1)
    return None


def run_prefix(model: str, args: argparse.Namespace) -> str:
    """Run-dir name stem: a shortened run gets its own, so that reusing finished runs never mixes recipes."""
    prefix = model if args.epochs is None else f"{model}-e{args.epochs}"
    return prefix if args.clean_epochs is None else f"{prefix}-c{args.clean_epochs}"


def run_one(model: str, seed: int, args: argparse.Namespace, x_test, y_test) -> dict:
    """Train (or reuse) one run; returns its numbers incl. the per-epoch test accuracy of its snapshots."""
    import torch

    from inkdigit.training.config import TrainConfig
    from inkdigit.training.export import TTA_ROTATIONS, Probabilities
    from inkdigit.training.loop import train
    from inkdigit.training.runs import load_run, saved_settings
    from inkdigit.training.tensors import evaluate_split, predict_logits

    out = Path(args.out_dir) / f"{run_prefix(model, args)}-seed{seed}"
    snapshots: dict[int, dict] = {}
    snap_path = out / "epoch-snapshots.pt"

    def snapshot(epoch: int, net: torch.nn.Module) -> None:
        snapshots[epoch] = {k: v.detach().clone() for k, v in net.state_dict().items()}

    cfg = TrainConfig(model=model, seed=seed, epochs=args.epochs, clean_epochs=args.clean_epochs,
                      threads=args.threads)
    if (out / "metrics.json").is_file() and snap_path.is_file():
        # Reuse only a run of exactly this recipe: one made by a recipe that has changed since is an error,
        # never silently mixed in.
        saved = saved_settings(out)
        wanted = dataclasses.asdict(cfg.resolved())
        differ = [k for k, v in wanted.items() if k not in ("threads", "device") and saved.get(k) != v]
        if differ:
            sys.exit(f"{out} holds a run with other settings ({', '.join(differ)}): delete it or use another "
                     "--out-dir")
        snapshots = torch.load(snap_path, weights_only=True)
        print(f"{model} seed {seed}: reusing {out}", file=sys.stderr)
    else:
        def log(m: str) -> None:
            if args.verbose:
                print(f"[{model} seed {seed}] {m}", file=sys.stderr)

        train(cfg, out, progress=False, log=log, data_dir=args.data_dir, on_epoch_end=snapshot)
        torch.save(snapshots, snap_path)

    net, _, metrics = load_run(out)  # the metrics train() wrote (or an earlier run did)
    tta = Probabilities([net], rotations=TTA_ROTATIONS).eval()  # the graph `export --tta` writes
    test_accs, tta_accs = [], []
    for epoch in sorted(snapshots):
        net.load_state_dict(snapshots[epoch])
        test_accs.append(evaluate_split(net, x_test, y_test)[1])
        tta_accs.append(float((predict_logits(tta, x_test).argmax(1) == y_test).float().mean()))
    history = metrics["epochs"]
    val_accs = [r["val_acc"] for r in history]
    row = {"model": model, "seed": seed, "run": str(out), "epochs": len(history),
           "train_seconds": metrics["train_seconds"], "test_accuracy": metrics["test_accuracy"],
           "test_accuracy_per_epoch": [round(a, 6) for a in test_accs],
           "test_accuracy_tta": round(tta_accs[-1], 6), "test_accuracy_tta_per_epoch": [round(a, 6) for a in tta_accs],
           "images_per_s": round(sum(r["images_per_s"] * r["epoch_seconds"] for r in history)
                                 / max(metrics["train_seconds"], 1e-9), 1)}
    for t in THRESHOLDS:
        row[f"time_to_{100 * t:g}_test"] = first_time_at(history, test_accs, t)
        row[f"time_to_{100 * t:g}_val"] = first_time_at(history, val_accs, t)
        row[f"time_to_{100 * t:g}_test_tta"] = first_time_at(history, tta_accs, t)
    print(f"{model} seed {seed}: test {100 * row['test_accuracy']:.2f}% (TTA {100 * row['test_accuracy_tta']:.2f}%)  "
          f"{row['train_seconds']:.0f} s  "
          f"{row['images_per_s']:.0f} img/s", file=sys.stderr)
    return row


def mean_std(values: list[float]) -> tuple[float, float]:
    """(mean, sample std; 0 for one value), rounded for the report."""
    return round(statistics.mean(values), 4), round(statistics.stdev(values), 4) if len(values) > 1 else 0.0


def summarise(model: str, rows: list[dict], ensemble: dict | None) -> dict:
    """Mean ± std of one model's seeds (time-to-X: mean over the seeds that reached X, and how many did)."""
    s = {"model": model, "seeds": len(rows), "epochs": rows[0]["epochs"],
         "test_accuracy_pct": mean_std([100 * r["test_accuracy"] for r in rows]),
         "test_accuracy_tta_pct": mean_std([100 * r["test_accuracy_tta"] for r in rows]),
         "train_seconds": mean_std([r["train_seconds"] for r in rows]),
         "images_per_s": mean_std([r["images_per_s"] for r in rows]), "ensemble": ensemble}
    for t in THRESHOLDS:
        for split in ("test", "test_tta", "val"):
            key = f"time_to_{100 * t:g}_{split}"
            reached = [r[key] for r in rows if r[key] is not None]
            s[key] = {"mean_s": round(statistics.mean(reached), 1) if reached else None,
                      "reached": len(reached), "of": len(rows)}
    return s


def export_ensemble(model: str, rows: list[dict], args: argparse.Namespace) -> dict:
    """Export the seeds as one averaged ONNX; its test accuracy (as recorded in the file's metadata)."""
    from inkdigit.inference import model_metadata
    from inkdigit.training.export import export_runs

    path = Path(args.out_dir) / f"{run_prefix(model, args)}-ensemble{len(rows)}.onnx"
    export_runs([r["run"] for r in rows], path, data_dir=args.data_dir)
    return {"path": str(path), "members": len(rows), "test_accuracy": model_metadata(path)["test_accuracy"]}


def fmt_time(t: dict) -> str:
    if t["mean_s"] is None:
        return "never"
    return f"{t['mean_s']:.0f} s" + ("" if t["reached"] == t["of"] else f" ({t['reached']}/{t['of']} runs)")


def markdown(summaries: list[dict], context: str) -> str:
    lines = ["| model | seeds × epochs | test accuracy | with TTA (±6°) | training time | images/s "
             "| time to 99.5% test | time to 99.7% test | ensemble of seeds |",
             "|---|---|---|---|---|---|---|---|---|"]
    for s in summaries:
        (a, ad), (ta, tad) = s["test_accuracy_pct"], s["test_accuracy_tta_pct"]
        (t, td), (ips, _) = s["train_seconds"], s["images_per_s"]
        ens = s["ensemble"]
        ens_txt = f"{100 * ens['test_accuracy']:.2f}% ({ens['members']})" if ens else "-"
        times = [f"{fmt_time(s[f'time_to_{x}_test'])} · TTA {fmt_time(s[f'time_to_{x}_test_tta'])}"
                 for x in ("99.5", "99.7")]
        lines.append(f"| {s['model']} | {s['seeds']} × {s['epochs']} | {a:.2f} ± {ad:.2f}% | {ta:.2f} ± {tad:.2f}% "
                     f"| {t:.0f} ± {td:.0f} s | {ips:.0f} | {times[0]} | {times[1]} | {ens_txt} |")
    return "\n".join(lines) + f"\n\n{context}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(DEFAULT_MODELS),
                    help="comma-separated registered models (default: %(default)s)")
    ap.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 per model (default: %(default)s)")
    ap.add_argument("--epochs", type=int, default=None, help="override every recipe's epochs")
    ap.add_argument("--clean-epochs", type=int, default=None,
                    help="override every recipe's clean epochs (the last N without augmentation)")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads for every run (default: each recipe's own: 1 for paper, all cores otherwise)")
    ap.add_argument("--out-dir", default="runs/bench-accuracy",
                    help="where the runs and ensembles go (default: %(default)s)")
    ap.add_argument("--no-ensemble", action="store_true", help="skip exporting/evaluating the seed ensemble")
    ap.add_argument("--data-dir", default=None, help="dataset cache (default: $INKDIGIT_DATA or ~/.cache)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of a markdown table")
    ap.add_argument("--verbose", action="store_true", help="print the epoch lines of each run on stderr")
    args = ap.parse_args(argv)
    if args.seeds < 1:
        ap.error("--seeds must be >= 1")

    import torch

    from inkdigit.data import load
    from inkdigit.training.nets import MODELS
    from inkdigit.training.tensors import to_tensor

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        ap.error(f"unknown model(s) {', '.join(unknown)} (known: {', '.join(MODELS)})")
    if args.threads:
        torch.set_num_threads(args.threads)
    images, labels = load("mnist", "test", args.data_dir)
    x_test, y_test = to_tensor(images, torch.device("cpu")), torch.from_numpy(labels)

    summaries, all_rows = [], []
    for model in models:
        rows = [run_one(model, seed, args, x_test, y_test) for seed in range(args.seeds)]
        ensemble = None if args.no_ensemble or len(rows) < 2 else export_ensemble(model, rows, args)
        summaries.append(summarise(model, rows, ensemble))
        all_rows += rows
    load_avg = os.getloadavg() if hasattr(os, "getloadavg") else None
    context = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
               f"{torch.get_num_threads()} torch threads, torch {torch.__version__}; "
               f"load average at the end {', '.join(f'{v:.1f}' for v in load_avg) if load_avg else 'n/a'}. "
               "Time to X: training seconds until an epoch's weights first reached X on the test set "
               "(evaluated after training, never used to train or choose anything).")
    if args.json:
        print(json.dumps({"summaries": summaries, "runs": all_rows, "context": context,
                          "load_average": load_avg}, indent=1))
    else:
        print(markdown(summaries, context))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

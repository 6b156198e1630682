"""`inkdigit train`: train a model into a run directory."""

from __future__ import annotations

import argparse
import os

from inkdigit.cli.common import add_data_dir

HELP = "train a model into a run directory"
HEAVY = "inkdigit.training.loop"


def add_arguments(t: argparse.ArgumentParser) -> None:
    t.description = ("Train a model into a run directory. A training setting not given takes the model's "
                     "recipe's value (src/inkdigit/training/recipes.py). On several processes or machines: "
                     "torchrun --nproc-per-node N -m inkdigit train ... (DistributedDataParallel; see README).")
    recipe = "(default: the model's recipe)"
    t.add_argument("--model", default="paper", help="registered model name")
    t.add_argument("--dataset", default="mnist",
                   help="registered dataset name, or fonts: every label drawn from the handwriting fonts (with "
                        "--charset digits: the synthetic-to-real gap, tested on MNIST's test set)")
    t.add_argument("--charset", default="digits",
                   help="the labels: digits (MNIST), letters, alnum or math; any but digits trains on glyphs drawn "
                        "from the handwriting fonts (inkdigit fetch --dataset fonts), split by font, plus MNIST's "
                        "digits (default: %(default)s)")
    t.add_argument("--font-chars", type=int, default=None,
                   help=f"glyphs drawn per label from the training fonts, in a charset or fonts run {recipe}")
    t.add_argument("--font-families", default=None, metavar="LIST",
                   help="the pinned family list (data/fonts.py FAMILY_LISTS: training, training-57) a charset or "
                        f"fonts run trains and validates on {recipe}")
    t.add_argument("--val-fonts", type=int, default=8,
                   help="training font families held out for validation in a charset or fonts run "
                        "(default: %(default)s)")
    t.add_argument("--epochs", type=int, default=None, help=f"epochs {recipe}")
    t.add_argument("--batch-size", type=int, default=None,
                   help=f"batch size, global: under torchrun each of N processes takes 1/N of it {recipe}")
    t.add_argument("--lr", type=float, default=None, help=f"(peak) learning rate {recipe}")
    t.add_argument("--optimizer", choices=["adam", "adamw", "sgd"], default=None, help=f"optimiser {recipe}")
    t.add_argument("--schedule", choices=["constant", "onecycle"], default=None,
                   help=f"learning-rate schedule {recipe}")
    t.add_argument("--weight-decay", type=float, default=None, help=f"weight decay {recipe}")
    t.add_argument("--label-smoothing", type=float, default=None, help=f"label smoothing {recipe}")
    t.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                   help=f"canvas-like augmentation on the fly {recipe}")
    t.add_argument("--augment-strength", type=float, default=None,
                   help=f"every distortion of the augmentation times this; 1 = the digit models' {recipe}")
    t.add_argument("--pen-lifts", type=float, default=None,
                   help=f"share of augmented images with a pen lift (a disc of ink wiped out) {recipe}")
    t.add_argument("--clean-epochs", type=int, default=None,
                   help=f"train the last N epochs without augmentation {recipe}")
    t.add_argument("--ema", type=float, default=None, help=f"EMA decay of weights, 0 = off {recipe}")
    t.add_argument("--font-digits", type=int, default=None,
                   help="add this many digits drawn from handwriting fonts (inkdigit fetch --dataset fonts; "
                        f"the benchmark families are never used) to the training images {recipe}")
    t.add_argument("--init-from", default=None, metavar="RUN",
                   help="start from the weights of this finished run (same model and labels): fine-tuning")
    t.add_argument("--seed", type=int, default=0, help="random seed (same seed, same numbers)")
    t.add_argument("--val-size", type=int, default=5000, help="validation images carved from train (fixed)")
    t.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's choice)")
    t.add_argument("--device", default="auto",
                   help="auto (CUDA when present), cpu, cuda, cuda:N; under torchrun cuda is each process's own GPU")
    t.add_argument("--engine", choices=["auto", "torch", "fused"], default="auto",
                   help="training step: fused = the paper net's C kernel (Adam or AdamW, CPU, one process), "
                        "torch = eager PyTorch, auto = fused where it applies (default: %(default)s)")
    t.add_argument("--out", default=None, help="run directory (default: runs/<model>-seed<seed>)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    t.add_argument("--dry-run", action="store_true", help="train a few batches on a small slice (smoke test)")
    t.add_argument("--target-accuracy", type=float, default=None,
                   help="exit non-zero if test accuracy (percent) ends below this")
    t.add_argument("--no-progress", action="store_true", help="no progress bar, just the epoch lines")
    add_data_dir(t)


def run(args: argparse.Namespace) -> int:
    from inkdigit.training.config import TrainConfig
    from inkdigit.training.loop import train

    cfg = TrainConfig(
        model=args.model, dataset=args.dataset, charset=args.charset, font_chars=args.font_chars,
        font_families=args.font_families, val_fonts=args.val_fonts, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr,
        optimizer=args.optimizer, schedule=args.schedule, weight_decay=args.weight_decay,
        label_smoothing=args.label_smoothing, augment=args.augment,
        augment_strength=args.augment_strength, pen_lifts=args.pen_lifts, clean_epochs=args.clean_epochs, ema=args.ema,
        font_digits=args.font_digits, init_from=args.init_from,
        seed=args.seed, val_size=args.val_size, threads=args.threads,
        device=args.device, engine=args.engine, dry_run=args.dry_run,
        target_accuracy=None if args.target_accuracy is None else args.target_accuracy / 100,
    )
    prefix = args.model if args.charset == "digits" and args.dataset != "fonts" else \
        f"{args.model}-{args.charset}-{args.dataset}"
    out = args.out or os.path.join("runs", f"{prefix}-seed{args.seed}" + ("-dry" if args.dry_run else ""))
    train(cfg, out, resume=args.resume, data_dir=args.data_dir, progress=not args.no_progress)
    return 0

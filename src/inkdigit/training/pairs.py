"""Train the pair reader: a small net that reads two touching or overlapping digits at once ("18", "91"), or
says they are not two whole digits.

Where the strokes of two digits cross, no cut through the line gives each digit its own ink, so the cut
candidates hold a piece of one digit with the other, and reading the line fails (docs/experiments.md). Read
whole, the pair needs no cut: Hochuli, Oliveira, Britto & Sabourin (2018, "Handwritten digit segmentation: is it
still necessary?") read touching pairs with a 100-class net. Here such a net joins the check reader's lattice
instead of replacing it: `inkdigit.vision.lattice.build_pair_arcs` proposes groups of atoms that could be two
digits, and the pair reader's probability of each pair (or of "not a pair") scores them next to the single-digit
arcs. Its training data are the segmenter's own pair candidates (`inkdigit.vision.segment.pair_candidates`) on
generated lines (`inkdigit.data.lines`, MNIST's training digits, mostly touching and overlapping), each
labelled by the owner map of its pixels.

    python -m inkdigit.training.pairs --out runs/pairs        # ~40 min on 2 cores
    python -m inkdigit.training.pairs --dry-run                # a few lines, one epoch: checks the path
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from inkdigit.data import load
from inkdigit.data.lines import STYLES, make_line
from inkdigit.errors import InkdigitError, one_line
from inkdigit.fsutil import make_dir, write_atomic, write_json
from inkdigit.provenance import provenance
from inkdigit.training.candidate_nets import fit, line_by_line, predicted
from inkdigit.training.export import attach_metadata, to_onnx_bytes
from inkdigit.training.verifier import analysis_owner
from inkdigit.vision import segment
from inkdigit.vision.preprocess import PREPROCESS_VERSION

# The labels: "00".."99", then the candidate is not two whole neighbouring digits.
PAIR_LABELS = [f"{a}{b}" for a in range(10) for b in range(10)] + ["not a pair"]
NOT_A_PAIR = 100
# A candidate is a pair when at least PURE of its ink is two neighbouring digits' and it holds at least WHOLE
# of each one's ink; not a pair when under IMPURE / PARTIAL; in between it is left out of training.
PURE, WHOLE = 0.92, 0.9
IMPURE, PARTIAL = 0.8, 0.6
# The styles of `inkdigit.data.lines` the lines are drawn in, in turn: mostly digits that touch or overlap.
LINE_STYLES = ("touch", "overlap", "touch", "overlap", "apart", "short-ones", "pieces", "bars")


@dataclass
class PairConfig:
    lines: int = 40000
    epochs: int = 8
    batch_size: int = 256
    lr: float = 2e-3
    seed: int = 0
    val_share: float = 0.1  # of the lines: their candidates are held out
    # Most candidates are not pairs: this share of them is kept (drawn with the line's seed), so an epoch is spent
    # on pairs as much as on what is not one.
    not_pair_keep: float = 0.25
    workers: int = 2  # processes drawing and cutting the lines (the candidates do not depend on it)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inkdigit.training.pairs", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/pairs"), help="run folder (default runs/pairs)")
    parser.add_argument("--lines", type=int, default=PairConfig.lines, help="generated lines to learn from")
    parser.add_argument("--epochs", type=int, default=PairConfig.epochs)
    parser.add_argument("--seed", type=int, default=PairConfig.seed)
    parser.add_argument("--workers", type=int, default=PairConfig.workers)
    parser.add_argument("--data-dir", default=None, help="MNIST cache directory (default: inkdigit's cache)")
    parser.add_argument("--dry-run", action="store_true", help="80 lines and one epoch: check the whole path")
    args = parser.parse_args(argv)
    config = PairConfig(lines=80 if args.dry_run else args.lines, epochs=1 if args.dry_run else args.epochs,
                        seed=args.seed, workers=args.workers)
    try:
        train_pairs(config, args.out, args.data_dir)
    except InkdigitError as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 1
    return 0


def train_pairs(config: PairConfig, out: Path, data_dir: str | None = None) -> dict:
    """Generate, train, check on held-out lines, export `out`/pair-digits.onnx; returns the metrics."""
    torch.manual_seed(config.seed)
    make_dir(out)
    start = time.perf_counter()
    x, y, line_of = pair_candidate_set(config.lines, config.seed, data_dir, config.workers, config.not_pair_keep)
    pairs = float((y != NOT_A_PAIR).mean())
    print(f"{len(y)} candidates from {config.lines} lines ({pairs:.1%} pairs) in {time.perf_counter() - start:.0f} s",
          flush=True)
    val = line_of >= round(config.lines * (1 - config.val_share))
    net = PairNet()

    def report() -> str:
        m = accuracy(net, x[val], y[val])
        return f"pairs {m['pairs']:7.2%}  not pairs {m['not_pairs']:7.2%}"

    fit(net, x[~val], y[~val], epochs=config.epochs, batch_size=config.batch_size, lr=config.lr, seed=config.seed,
        loss_fn=nn.CrossEntropyLoss(), report=report)
    metrics = {**accuracy(net, x[val], y[val]), "candidates": int(len(y)), "pair_share": pairs,
               "seconds": round(time.perf_counter() - start, 1)}
    meta = {"name": "pair-digits", "labels": PAIR_LABELS, "preprocess_version": PREPROCESS_VERSION,
            "input_shape": [1, 28, 56], "description": "Which two digits side by side is this, or is it not two?",
            "config": asdict(config), "metrics": metrics, "provenance": provenance()}
    path = out / "pair-digits.onnx"
    write_atomic(path, attach_metadata(to_onnx_bytes(nn.Sequential(net, nn.Softmax(1)), shape=(1, 1, 28, 56)),
                                       meta))
    write_json(out / "metrics.json", meta)
    print(f"val: pairs read {metrics['pairs']:.2%}, not-pairs kept out {metrics['not_pairs']:.2%}; wrote {path}",
          flush=True)
    return metrics


def pair_candidate_set(lines: int, seed: int, data_dir: str | None = None, workers: int = 1,
                       not_pair_keep: float = PairConfig.not_pair_keep) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The segmenter's pair candidates on `lines` generated lines of MNIST's training digits: (uint8 [M,28,56]
    pictures, int64 [M] labels (PAIR_LABELS), int64 [M] the line each came from). `workers` processes draw and
    cut the lines; the result does not depend on it. `not_pair_keep` of the candidates that are not pairs are kept.
    """
    return line_by_line(_pair_candidates, lines, workers, seed, data_dir, not_pair_keep)


def _pair_candidates(indices: list[int], seed: int, data_dir: str | None, not_pair_keep: float
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    images, labels = load("mnist", "train", data_dir)
    xs, ys, of = [np.empty((0, 28, 56), np.uint8)], [], []
    for i in indices:
        # make_line draws line `index` in STYLES[index % len(STYLES)]: pick the index for this line's style.
        index = len(STYLES) * i + STYLES.index(LINE_STYLES[i % len(LINE_STYLES)])
        line = make_line(images, labels, seed, index)
        try:
            found = segment.candidates(line.picture)
        except InkdigitError:
            continue
        arcs, pictures = segment.pair_candidates(found)
        keep = np.random.default_rng([seed, i, 1]).random(len(arcs)) < not_pair_keep
        verdicts = judge_pairs(found, arcs, line.owner, line.text)
        for picture, verdict, kept in zip(pictures, verdicts, keep, strict=True):
            if verdict is not None and (kept or verdict != NOT_A_PAIR):
                xs.append(np.round(picture * 255).astype(np.uint8)[None])
                ys.append(verdict)
                of.append(i)
    return np.concatenate(xs), np.array(ys, np.int64), np.array(of, np.int64)


def judge_pairs(found: segment.Candidates, arcs: list, owner: np.ndarray, text: str) -> list[int | None]:
    """Per pair arc: its label (10 * left digit + right digit) when it is two whole neighbouring digits,
    NOT_A_PAIR when it is not, None when unclear; from the owner of each pixel of its ink."""
    own = analysis_owner(found, owner)
    digits = max(2, len(text))  # a line of one digit: its candidates are no pair
    totals = np.bincount(own[found.ink.mask & (own >= 0)], minlength=digits)
    out: list[int | None] = []
    for a in arcs:
        (x0, y0, x1, y1), mask = found.mask(a)
        mine = own[y0:y1, x0:x1][mask]
        mine = mine[mine >= 0]
        if mine.size == 0:
            out.append(NOT_A_PAIR)
            continue
        counts = np.bincount(mine, minlength=digits)
        top = np.argsort(-counts, kind="stable")[:2]
        d1, d2 = sorted(int(d) for d in top)
        purity = (counts[d1] + counts[d2]) / mine.size
        coverage = min(counts[d1] / max(1, totals[d1]), counts[d2] / max(1, totals[d2]))
        if d2 == d1 + 1 and purity >= PURE and coverage >= WHOLE:
            out.append(10 * int(text[d1]) + int(text[d2]))
        elif purity < IMPURE or coverage < PARTIAL or d2 != d1 + 1:
            out.append(NOT_A_PAIR)
        else:
            out.append(None)
    return out


class PairNet(nn.Sequential):
    """[N,1,28,56] → 101 logits (the 100 pairs, not a pair); ~0.4 M parameters."""

    def __init__(self) -> None:
        super().__init__(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 96, 3, padding=1), nn.BatchNorm2d(96), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Dropout(0.3), nn.Linear(96 * 3 * 7, 128), nn.ReLU(), nn.Linear(128, len(PAIR_LABELS)),
        )


def accuracy(net: nn.Module, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Share of held-out pairs read right, and of not-pairs called so (argmax)."""
    pred, pair = predicted(net, x), y != NOT_A_PAIR
    return {"pairs": float((pred[pair] == y[pair]).mean()) if pair.any() else float("nan"),
            "not_pairs": float((pred[~pair] == y[~pair]).mean()) if (~pair).any() else float("nan")}


if __name__ == "__main__":
    sys.exit(main())

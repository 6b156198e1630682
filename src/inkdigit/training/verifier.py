"""Train a whole-character verifier: a small net that looks at a candidate cut out of a written line and says
whether it is exactly one whole character, or a piece of one, or parts of two. Two are bundled: the
whole-digit verifier (lines of MNIST digits) and, with `--chars`, the whole-character verifier (lines of
letters, arithmetic and codes drawn in the handwriting fonts), which lines of any other label set use.

The digit recogniser was trained on whole, centred digits, so it is often sure of a fragment (the bar of a
5 read as a sure "7") or of two touching digits squeezed into one box. Reading a line needs the other half
of the check reader's recipe (LeCun, Bottou, Bengio & Haffner, 1998): candidates that are not one character
must score low. This net gives that score; `inkdigit.vision.segment.read_number` adds its log-probability to
each candidate's. Its training data are the segmenter's own candidates on generated lines
(`inkdigit.data.lines`) from MNIST's training digits, each labelled by the owner map of its pixels; with
`--chars`, lines drawn by `inkdigit.data.handwriting.draw_text_owned` in the character models' training fonts
(their validation fonts give the held-out lines; the benchmark fonts are never used), each read with its
label set's line rules (words: letters, arithmetic: math, codes: alnum).

    python -m inkdigit.training.verifier --out runs/verifier        # ~10-20 min on 2 cores
    python -m inkdigit.training.verifier --chars --out runs/verifier-chars
    python -m inkdigit.training.verifier --dry-run                   # a few lines, one epoch: checks the path
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

from inkdigit.charsets import get_charset
from inkdigit.data import load
from inkdigit.data.fonts import font_paths
from inkdigit.data.handwriting import draw_text_owned, has_glyph
from inkdigit.data.lines import make_line
from inkdigit.data.texts import random_alnum, random_expression, random_word
from inkdigit.errors import InkdigitError, one_line
from inkdigit.fsutil import make_dir, write_atomic, write_json
from inkdigit.provenance import provenance
from inkdigit.training.candidate_nets import fit, line_by_line, predicted
from inkdigit.training.chardata import font_split
from inkdigit.training.export import attach_metadata, to_onnx_bytes
from inkdigit.vision import segment
from inkdigit.vision.lattice import line_rules
from inkdigit.vision.preprocess import PREPROCESS_VERSION

# A candidate is one whole digit when at least PURE of its ink is one digit's and it holds at least WHOLE of
# that digit's ink; it is not when under IMPURE / PARTIAL; in between (soft edges, a shared pixel) it is left
# out of training rather than guessed.
PURE, WHOLE = 0.92, 0.9
IMPURE, PARTIAL = 0.8, 0.7


@dataclass
class VerifierConfig:
    lines: int = 12000
    epochs: int = 6
    batch_size: int = 256
    lr: float = 2e-3
    seed: int = 0
    val_share: float = 0.1  # of the lines: their candidates are held out
    chars: bool = False  # lines of letters, arithmetic and codes in the training fonts, not MNIST digits
    workers: int = 2  # processes drawing the --chars lines (the candidates do not depend on it)


# --chars: which texts a line is (its label set's line rules cut it), and how often.
CHAR_TEXTS = (("letters", random_word, 0.45), ("math", random_expression, 0.35), ("alnum", random_alnum, 0.2))
VALIDATION_FONTS = 8  # as the character models' runs (their `val_fonts`): the same 8 held out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inkdigit.training.verifier", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/verifier"), help="run folder (default runs/verifier)")
    parser.add_argument("--lines", type=int, default=VerifierConfig.lines, help="generated lines to learn from")
    parser.add_argument("--epochs", type=int, default=VerifierConfig.epochs)
    parser.add_argument("--seed", type=int, default=VerifierConfig.seed)
    parser.add_argument("--data-dir", default=None, help="MNIST cache directory (default: inkdigit's cache)")
    parser.add_argument("--chars", action="store_true",
                        help="the whole-character verifier: lines of letters, arithmetic and codes in the fonts")
    parser.add_argument("--dry-run", action="store_true", help="60 lines and one epoch: check the whole path")
    args = parser.parse_args(argv)
    config = VerifierConfig(lines=60 if args.dry_run else args.lines, epochs=1 if args.dry_run else args.epochs,
                            seed=args.seed, chars=args.chars)
    try:
        train_verifier(config, args.out, args.data_dir)
    except InkdigitError as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 1
    return 0


def train_verifier(config: VerifierConfig, out: Path, data_dir: str | None = None) -> dict:
    """Generate, train, check on held-out lines, export `out`/whole-digit.onnx (whole-char.onnx with
    `config.chars`); returns the metrics."""
    torch.manual_seed(config.seed)
    make_dir(out)
    start = time.perf_counter()
    held_out = round(config.lines * (1 - config.val_share))  # lines from here on are the validation lines
    if config.chars:
        x, y, line_of = char_candidate_set(config.lines, held_out, config.seed, data_dir, workers=config.workers)
    else:
        images, labels = load("mnist", "train", data_dir)
        x, y, line_of = candidate_set(images, labels, config.lines, config.seed)
    print(f"{len(y)} candidates from {config.lines} lines ({float(y.mean()):.1%} whole) in "
          f"{time.perf_counter() - start:.0f} s", flush=True)
    val = line_of >= held_out
    net = VerifierNet()
    share = float(y[~val].mean())  # each class weighted by the other's share
    fit(net, x[~val], y[~val], epochs=config.epochs, batch_size=config.batch_size, lr=config.lr, seed=config.seed,
        loss_fn=nn.CrossEntropyLoss(weight=torch.tensor([share, 1 - share], dtype=torch.float32) * 2),
        report=lambda: f"val {accuracy(net, x[val], y[val]):7.2%}")
    metrics = {"val_accuracy": accuracy(net, x[val], y[val]), "candidates": int(len(y)),
               "whole_share": float(y.mean()), "seconds": round(time.perf_counter() - start, 1)}
    what = "character" if config.chars else "digit"
    name = f"whole-{'char' if config.chars else 'digit'}"
    meta = {"name": name, "labels": [f"not one {what}", f"one whole {what}"],
            "preprocess_version": PREPROCESS_VERSION, "description": f"Is this candidate exactly one whole {what}?",
            "config": asdict(config), "metrics": metrics, "provenance": provenance()}
    path = out / f"{name}.onnx"
    write_atomic(path, attach_metadata(to_onnx_bytes(nn.Sequential(net, nn.Softmax(1))), meta))
    write_json(out / "metrics.json", meta)
    print(f"val accuracy {metrics['val_accuracy']:.2%}; wrote {path}", flush=True)
    return metrics


def candidate_set(images: np.ndarray, labels: np.ndarray, lines: int, seed: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The segmenter's candidates on `lines` generated lines: (uint8 [M,28,28] model inputs, int64 [M] 1 when
    one whole digit, int64 [M] the line each came from)."""
    xs, ys, of = [], [], []
    for i in range(lines):
        line = make_line(images, labels, seed, i)
        try:
            found = segment.candidates(line.picture)
        except InkdigitError:
            continue
        for k, verdict in enumerate(judge(found, line.owner)):
            if verdict is not None:
                xs.append(np.round(found.images[k] * 255).astype(np.uint8))
                ys.append(verdict)
                of.append(i)
    return np.stack(xs), np.array(ys, np.int64), np.array(of, np.int64)


def char_candidate_set(lines: int, held_out: int, seed: int, data_dir: str | None = None, workers: int = 1
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`candidate_set` for lines of characters: line i is a word, an expression or a code (`CHAR_TEXTS`) drawn in
    a training font, or in a validation font from line `held_out` on, cut with its label set's line rules.
    `workers` processes draw and cut the lines; the result does not depend on it."""
    return line_by_line(_char_candidates, lines, workers, held_out, seed, data_dir)


def _char_candidates(indices: list[int], held_out: int, seed: int, data_dir: str | None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`char_candidate_set`'s candidates of the lines `indices`."""
    split = font_split(VALIDATION_FONTS)
    training, validation = split.training, split.validation
    paths = {family: str(path) for family, path in font_paths([*training, *validation], data_dir).items()}
    rules = {name: line_rules(get_charset(name).labels) for name, _, _ in CHAR_TEXTS}
    shares = np.array([share for _, _, share in CHAR_TEXTS])
    xs, ys, of = [np.empty((0, 28, 28), np.uint8)], [], []
    for i in indices:
        rng = np.random.default_rng([seed, i])
        name, make, _ = CHAR_TEXTS[int(rng.choice(len(CHAR_TEXTS), p=shares / shares.sum()))]
        text = make(rng)
        fonts = [paths[f] for f in (validation if i >= held_out else training)
                 if all(has_glyph(paths[f], ch) for ch in set(text))]
        if not fonts:
            continue
        picture, owner, _ = draw_text_owned(fonts[int(rng.integers(0, len(fonts)))], text, rng)
        try:
            found = segment.candidates(picture, rules=rules[name])
        except InkdigitError:
            continue
        for k, verdict in enumerate(judge(found, owner)):
            if verdict is not None:
                xs.append(np.round(found.images[k] * 255).astype(np.uint8)[None])
                ys.append(verdict)
                of.append(i)
    return np.concatenate(xs), np.array(ys, np.int64), np.array(of, np.int64)


def judge(found: segment.Candidates, owner: np.ndarray) -> list[int | None]:
    """Per candidate: 1 one whole digit, 0 not, None unclear; from the owner of each pixel of its ink."""
    own = analysis_owner(found, owner)
    digits = int(owner.max()) + 1
    totals = np.bincount(own[found.ink.mask & (own >= 0)], minlength=digits)
    out: list[int | None] = []
    for k in range(len(found.arcs)):
        (x0, y0, x1, y1), mask = found.mask(k)
        mine = own[y0:y1, x0:x1][mask]
        mine = mine[mine >= 0]
        if mine.size == 0:
            out.append(0)
            continue
        counts = np.bincount(mine, minlength=digits)
        d = int(counts.argmax())
        purity, coverage = counts[d] / mine.size, counts[d] / max(1, totals[d])
        if purity >= PURE and coverage >= WHOLE:
            out.append(1)
        elif purity < IMPURE or coverage < PARTIAL:
            out.append(0)
        else:
            out.append(None)
    return out


def analysis_owner(found: segment.Candidates, owner: np.ndarray) -> np.ndarray:
    """The owner map (per picture pixel: -1 paper, k the k-th character) read at the analysis pixels of `found`."""
    h, w = found.ink.shape
    sx, sy = found.ink.scale
    rows = np.minimum(((np.arange(h) + 0.5) * sy).astype(np.intp), owner.shape[0] - 1)
    cols = np.minimum(((np.arange(w) + 0.5) * sx).astype(np.intp), owner.shape[1] - 1)
    return owner[rows][:, cols]


class VerifierNet(nn.Sequential):
    """[N,1,28,28] → 2 logits (not one digit, one whole digit); ~0.2 M parameters."""

    def __init__(self) -> None:
        super().__init__(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 3 * 3, 128), nn.ReLU(), nn.Linear(128, 2),
        )


def accuracy(net: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    """Share of candidates judged right (argmax)."""
    return float((predicted(net, x) == y).mean()) if len(y) else float("nan")


if __name__ == "__main__":
    sys.exit(main())

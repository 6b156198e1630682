"""The data of a run that draws from the handwriting fonts: a character set (`--charset letters`), or the digits
alone from fonts (`--dataset fonts`, the synthetic-to-real gap), as train / validation / test arrays.

The fonts are split three ways, by family, so that no score is made on a hand the net has seen:

- training: the run's family list (`font_families`, a name in `fonts.FAMILY_LISTS`: today's
  `TRAINING_FAMILIES` for most recipes) less the validation families;
- validation: `val_fonts` of that list, drawn once with a fixed seed (the same for every run of the list, as
  MNIST's validation split is), used for the epoch lines and the export's temperature;
- test: `fonts.BENCHMARK_FAMILIES`, never trained or tuned on. The fonts-only digits run is tested on
  MNIST's test set instead: that number is the gap between font glyphs and real handwriting.

A charset's digits are half MNIST's (its training split), half the fonts', `font_chars` in all like every
other label, unless `--dataset fonts`: MNIST is the digits' real source. Drawing tens of thousands of glyphs
takes minutes, so each set is cached under the data dir (`glyphs/`), keyed by everything that makes it:
charset, families, count, seed and the drawing code's version.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inkdigit.charsets import Charset, get_charset
from inkdigit.data import load, split_train_val
from inkdigit.data.fetch import default_data_dir
from inkdigit.data.fonts import BENCHMARK_FAMILIES, font_paths
from inkdigit.data.handwriting import font_char_set, font_sides
from inkdigit.fsutil import write_atomic
from inkdigit.training.config import TrainConfig
from inkdigit.training.recipes import FONTS_ONLY
from inkdigit.vision.preprocess import PREPROCESS_VERSION

Arrays = tuple[np.ndarray, np.ndarray]  # (uint8 images [N,28,28], int64 label indices [N])

# The list of a run saved before runs named theirs (`font_families` None): "training", what they all drew from.
DEFAULT_FAMILIES = "training"
VAL_SEED, TEST_SEED = 10_001, 10_002  # the drawing seeds of the validation and test glyphs (not the run's)
VAL_PER_LABEL = TEST_PER_LABEL = 100  # validation and test glyphs per label (the same for every run)
# What a cached glyph set depends on besides its key's arguments: bump it when draw_text, preprocess or
# font_char_set change what they draw.
GLYPHS_VERSION = 1
RENDER_WORKERS = 2  # processes drawing a set that is not cached yet (this project's VMs have 2 cores)


@dataclass(frozen=True)
class FontSplit:
    """The families of each side of a font run."""

    training: list[str]
    validation: list[str]
    test: list[str]


def font_split(val_fonts: int, families: str | None = DEFAULT_FAMILIES) -> FontSplit:
    """The family list `FAMILY_LISTS[families]` less `val_fonts` held out for validation (seeded,
    `handwriting.font_sides`); the benchmark families as the test fonts."""
    training, validation = font_sides(val_fonts, families or DEFAULT_FAMILIES)
    return FontSplit(training, validation, list(BENCHMARK_FAMILIES))


def font_run_data(cfg: TrainConfig, data_dir: str | os.PathLike | None = None,
                  log: Callable[[str], None] = print) -> tuple[Arrays, Arrays, Arrays]:
    """(train, validation, test) arrays of a resolved `cfg` that draws fonts (`cfg.draws_fonts()`); labels
    index `get_charset(cfg.charset).labels`. A dry run's are a few glyphs per label."""
    return (side_data(cfg, "train", data_dir, log), side_data(cfg, "val", data_dir, log),
            side_data(cfg, "test", data_dir, log))


def side_data(cfg: TrainConfig, side: str, data_dir: str | os.PathLike | None = None,
              log: Callable[[str], None] = print) -> Arrays:
    """One side ("train", "val" or "test") of `font_run_data`: export reads a finished run's validation and
    test sides alone, without drawing its training glyphs again when they are not cached."""
    charset = get_charset(cfg.charset)
    split = font_split(cfg.val_fonts, cfg.font_families)
    if side == "test":
        if charset.name == "digits":  # the fonts-only digits: tested on real handwriting, MNIST's test set
            images, labels = load("mnist", "test", data_dir)
            return (images[:256], labels[:256]) if cfg.dry_run else (images, labels)
        return glyphs(charset, split.test, 4 if cfg.dry_run else TEST_PER_LABEL, TEST_SEED, data_dir, log)
    per_label = 8 if cfg.dry_run else cfg.font_chars
    if side == "val":
        count, seed = (4 if cfg.dry_run else VAL_PER_LABEL), VAL_SEED
        drawn = glyphs(charset, split.validation, count, seed, data_dir, log)
    elif side == "train":
        count, seed = per_label, cfg.seed
        drawn = glyphs(charset, split.training, count, seed, data_dir, log)
    else:
        raise ValueError(f"unknown side {side!r} (train, val or test)")
    if cfg.dataset == FONTS_ONLY or "0" not in charset.labels:
        return drawn
    # MNIST is the digits' real source: half of each digit's pictures are MNIST's, half the fonts', so that
    # every label has `count` (twice as many digits taught the net to answer "0" for an O, "6" for a G:
    # docs/experiments.md). From MNIST's training split: its fixed validation images for "val", the rest
    # for "train".
    digit_labels = [charset.labels.index(str(d)) for d in range(10)]
    keep = np.ones(len(drawn[1]), bool)
    for k in digit_labels:
        keep[np.flatnonzero(drawn[1] == k)[count - count // 2:]] = False
    images, labels = load("mnist", "train", data_dir)
    tr_idx, va_idx = split_train_val(len(images), 5000, seed=0)
    real = mnist_digits(charset, images, labels, va_idx if side == "val" else tr_idx, count // 2, cfg.seed)
    return np.concatenate([drawn[0][keep], real[0]]), np.concatenate([drawn[1][keep], real[1]])


def test_set_name(settings: dict) -> str:
    """What a font run's test set is, in words (for the exported model's metadata)."""
    if settings["charset"] == "digits":
        return "MNIST's test set (real handwriting; the run trained on fonts only)"
    per_label = 4 if settings.get("dry_run") else TEST_PER_LABEL
    return f"the benchmark fonts, never trained on ({', '.join(BENCHMARK_FAMILIES)}), {per_label} per label"


def font_val_data(settings: dict, data_dir: str | os.PathLike | None = None) -> Arrays:
    """A finished font run's validation arrays, from its saved settings (what export fits its temperature on)."""
    return side_data(TrainConfig(**settings), "val", data_dir, log=_quiet)


def font_test_data(settings: dict, data_dir: str | os.PathLike | None = None) -> Arrays:
    """A finished font run's test arrays, from its saved settings (what export reports and checks on)."""
    return side_data(TrainConfig(**settings), "test", data_dir, log=_quiet)


def mnist_digits(charset: Charset, images: np.ndarray, labels: np.ndarray, pool: np.ndarray, per_digit: int,
                 seed: int) -> Arrays:
    """`per_digit` MNIST images of each digit drawn (seeded) from the indices `pool`, labelled in `charset`."""
    rng = np.random.default_rng([seed, 7])
    picked = []
    for d in range(10):
        of_d = pool[labels[pool] == d]
        picked.append(rng.choice(of_d, min(per_digit, len(of_d)), replace=False))
    idx = np.sort(np.concatenate(picked))
    index_of = np.array([charset.labels.index(str(d)) for d in range(10)], np.int64)
    return images[idx], index_of[labels[idx]]


def glyphs(charset: Charset, families: Sequence[str], per_label: int, seed: int,
           data_dir: str | os.PathLike | None = None, log: Callable[[str], None] = print) -> Arrays:
    """`font_char_set` of `charset` in `families`, read from the cache when drawn before, else drawn (with
    `RENDER_WORKERS` processes) and cached. Raises MissingDataError when the fonts are not fetched."""
    key = {"charset": charset.name, "labels": list(charset.labels), "families": sorted(families),
           "per_label": per_label, "seed": seed, "version": GLYPHS_VERSION,
           "preprocess": PREPROCESS_VERSION}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    path = glyph_cache_dir(data_dir) / f"{charset.name}-{per_label}-{digest}.npz"
    if path.is_file():
        try:
            with np.load(path) as f:
                return f["images"], f["labels"]
        except (OSError, ValueError, KeyError):
            log(f"glyph cache {path} unreadable: drawing it again")
    paths = font_paths(families, data_dir)
    log(f"drawing {per_label} glyphs per label of {charset.name} ({len(charset.labels)} labels) in "
        f"{len(paths)} fonts (cached in {path.parent})")
    small = len(charset.labels) * per_label < 2000  # a few seconds: not worth starting processes for
    drawn = font_char_set(charset, paths, per_label, seed, workers=1 if small else RENDER_WORKERS)
    if drawn.missing:
        log(f"  {drawn.summary()}")
    buf = io.BytesIO()
    np.savez(buf, images=drawn.images, labels=drawn.labels)
    write_atomic(path, buf.getvalue())
    return drawn.images, drawn.labels


def glyph_cache_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """Where drawn glyph sets are cached."""
    return (Path(data_dir).expanduser() if data_dir else default_data_dir()) / "glyphs"


def _quiet(line: str) -> None:
    """The log of a set drawn again for an export (the training run logged it the first time)."""

"""The settings of a training run, and their resolution: each setting as given, else the model's recipe's."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from inkdigit.charsets import CHARSETS
from inkdigit.data.fonts import FAMILY_LISTS
from inkdigit.errors import TrainError
from inkdigit.training.recipes import CHARSET_RECIPES, FONTS_ONLY, RECIPES


@dataclass
class TrainConfig:
    """Every setting of a run. None means "the model's recipe's value" (training/recipes.py, see `resolved`)."""

    model: str = "paper"
    dataset: str = "mnist"  # or "fonts" (FONTS_ONLY): every label drawn from fonts, even a charset's digits
    charset: str = "digits"  # the labels (inkdigit.charsets); any but digits trains on font glyphs (chardata.py)
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    optimizer: str | None = None  # adam | adamw | sgd
    schedule: str | None = None  # constant | onecycle
    weight_decay: float | None = None
    label_smoothing: float | None = None
    augment: bool | None = None
    augment_strength: float | None = None  # every distortion of the augmentation times this (None, 1: as is)
    clean_epochs: int | None = None  # the last N epochs train on the images as they are (no augmentation)
    pen_lifts: float | None = None  # share of augmented images with a pen lift (augment.pen_lift); 0 = none
    ema: float | None = None  # EMA decay of the weights used for eval/export; 0 = off
    # digits drawn from the training fonts (not the validation ones: `val_fonts`), added to the training images
    font_digits: int | None = None
    font_chars: int | None = None  # glyphs per label drawn from the training fonts (charset or fonts-only runs)
    val_fonts: int = 8  # training families held out as the validation fonts of a run that draws from fonts
    # the families a font run trains and validates on: a name in data.fonts.FAMILY_LISTS (saved settings from
    # before this setting have None: they drew from "training", as it was then)
    font_families: str | None = None
    init_from: str | None = None  # a finished run (its folder) of the same model and labels to start from
    seed: int = 0
    val_size: int = 5000
    threads: int | None = None  # None: all the cores torch would use
    device: str = "auto"
    engine: str = "auto"  # torch | fused (paper_kernel.c: the paper net, Adam(W), CPU) | auto: fused where it can
    dry_run: bool = False
    target_accuracy: float | None = None  # the run checks itself against this (test accuracy, 0..1)

    def resolved(self) -> TrainConfig:
        """A validated copy in which each setting left as None has the model's recipe's value."""
        if self.model not in RECIPES:
            raise TrainError(f"unknown model {self.model!r} (known: {', '.join(RECIPES)})")
        if self.charset not in CHARSETS:
            raise TrainError(f"unknown character set {self.charset!r} (known: {', '.join(CHARSETS)})")
        # A charset's recipe (training/recipes.py) comes before the model's: letters need other epochs than MNIST.
        recipe = {**RECIPES[self.model], **CHARSET_RECIPES.get(self.charset, {})} if self.draws_fonts() \
            else RECIPES[self.model]
        cfg = dataclasses.replace(self, **{k: v for k, v in recipe.items() if getattr(self, k) is None})
        cfg.validate()
        return cfg

    def draws_fonts(self) -> bool:
        """Whether the run's data are font glyphs (chardata.py): any charset but digits, or `--dataset fonts`."""
        return self.charset != "digits" or self.dataset == FONTS_ONLY

    def validate(self) -> None:
        """Raise TrainError for settings no run could use."""
        families = FAMILY_LISTS.get(self.font_families or "", ())  # () when not named yet, or unknown
        checks = [
            (self.epochs is None or self.epochs >= 1, f"--epochs must be >= 1, got {self.epochs}"),
            (self.batch_size is None or self.batch_size >= 1, f"--batch-size must be >= 1, got {self.batch_size}"),
            (self.lr is None or self.lr > 0, f"--lr must be > 0, got {self.lr}"),
            (self.optimizer in (None, "adam", "adamw", "sgd"), f"unknown optimizer {self.optimizer!r}"),
            (self.schedule in (None, "constant", "onecycle"), f"unknown schedule {self.schedule!r}"),
            (self.clean_epochs is None or self.clean_epochs >= 0,
             f"--clean-epochs must be >= 0, got {self.clean_epochs}"),
            (self.ema is None or 0 <= self.ema < 1, f"--ema must be in [0, 1), got {self.ema}"),
            (self.pen_lifts is None or 0 <= self.pen_lifts <= 1,
             f"--pen-lifts must be in [0, 1], got {self.pen_lifts}"),
            (self.font_digits is None or self.font_digits >= 0,
             f"--font-digits must be >= 0, got {self.font_digits}"),
            (self.augment_strength is None or self.augment_strength > 0,
             f"--augment-strength must be > 0, got {self.augment_strength}"),
            (self.font_chars is None or self.font_chars >= 1, f"--font-chars must be >= 1, got {self.font_chars}"),
            (not (self.draws_fonts() or self.font_digits) or self.val_fonts >= 1,
             f"--val-fonts must be >= 1, got {self.val_fonts}"),
            (self.font_families is None or self.font_families in FAMILY_LISTS,
             f"unknown font family list {self.font_families!r} (known: {', '.join(FAMILY_LISTS)})"),
            (not ((self.draws_fonts() or self.font_digits) and families) or self.val_fonts < len(families),
             f"--val-fonts must leave fonts to train on: {self.val_fonts} of the {len(families)} families of "
             f"{self.font_families!r}"),
            (not (self.draws_fonts() and self.font_digits),
             "--font-digits adds font digits to MNIST runs; a charset or --dataset fonts run sets --font-chars"),
            (self.threads is None or self.threads >= 1, f"--threads must be >= 1, got {self.threads}"),
            (self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:"),
             f"unknown device {self.device!r}"),
            (self.engine in ("auto", "torch", "fused"), f"unknown engine {self.engine!r}"),
        ]
        for ok, msg in checks:
            if not ok:
                raise TrainError(msg)

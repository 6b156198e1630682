"""Every registered model's training recipe, complete, as plain values: what `inkdigit train --model NAME`
runs when no flag says otherwise. `font_chars` (glyphs per label) and `font_families` (which of
`data.fonts.FAMILY_LISTS` the training and validation fonts come from) matter only to a run that draws from the
fonts (`--charset`, `--dataset fonts`), whose charset's recipe (`CHARSET_RECIPES`) comes first.

A `TrainConfig` setting left as None takes its value from here, and from nowhere else (`TrainConfig.resolved`).
The command line's recipe flags default to None, so each flag given replaces one value of the recipe.
"""

from __future__ import annotations

FONTS_ONLY = "fonts"  # --dataset fonts: every label drawn from the training fonts, MNIST's digits left out

RECIPES: dict[str, dict] = {
    # The paper's recipe: Adam 1e-3, 5 epochs; batch 32 is Keras's default (the paper names none).
    # On a CPU it trains with the fused step (paper_kernel.c), which splits each batch over the cores.
    "paper": {
        "epochs": 5, "batch_size": 32, "lr": 1e-3, "optimizer": "adam", "schedule": "constant",
        "weight_decay": 0.0, "label_smoothing": 0.0, "augment": False, "clean_epochs": 0, "ema": 0.0,
        "font_digits": 0, "augment_strength": 1.0, "font_chars": 1000, "font_families": "training",
        "pen_lifts": 0.0,
    },
    # Chosen by the measurements in docs/experiments.md: one-cycle SGD, canvas-like augmentation, label
    # smoothing and EMA weights, for as many epochs as the training-time target allows on 2 CPU cores.
    # No clean epochs (--clean-epochs): on 2 CPU cores they did not raise accuracy (docs/experiments.md).
    "resnet-small": {
        "epochs": 14, "batch_size": 128, "lr": 0.1, "optimizer": "sgd", "schedule": "onecycle",
        "weight_decay": 5e-4, "label_smoothing": 0.1, "augment": True, "clean_epochs": 0, "ema": 0.995,
        "font_digits": 0, "augment_strength": 1.0, "font_chars": 1000, "font_families": "training",
        "pen_lifts": 0.0,
    },
}

# A character-set run (`--charset letters`, or `--dataset fonts`) trains on glyphs drawn from the handwriting
# fonts (training/chardata.py); these values come before its model's recipe. `font_chars` is the number of
# training pictures per label (alnum's and math's digits: half drawn, half MNIST's); a font is one hand drawn
# alike every time, so the augmentation is 1.5x the digit models'. Chosen on the validation fonts
# (docs/experiments.md); the epochs keep each run within ~10 minutes on this project's 2-core VM
# (docs/charsets.md has the measurements). Math keeps the 57 families it was chosen and shipped on: trained on
# today's 104 it reads a stroke-drawn "1" as "7" (docs/experiments.md).
CHARSET_RECIPES: dict[str, dict] = {
    "digits": {"font_chars": 2000, "epochs": 12, "augment_strength": 1.5},  # --dataset fonts: the gap
    "letters": {"font_chars": 2000, "epochs": 25, "augment_strength": 1.5},
    "alnum": {"font_chars": 1500, "epochs": 10, "augment_strength": 1.5},
    "math": {"font_chars": 1500, "epochs": 10, "augment_strength": 1.5, "font_families": "training-57"},
}

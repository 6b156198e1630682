"""Every registered model's training recipe, complete, as plain values: what `inkdigit train --model NAME`
runs when no flag says otherwise.

A `TrainConfig` setting left as None takes its value from here, and from nowhere else (`TrainConfig.resolved`).
The command line's recipe flags default to None, so each flag given replaces one value of the recipe.
"""

from __future__ import annotations

RECIPES: dict[str, dict] = {
    # The paper's recipe: Adam 1e-3, 5 epochs; batch 32 is Keras's default (the paper names none).
    # On a CPU it trains with the fused step (paper_kernel.c), which splits each batch over the cores.
    "paper": {
        "epochs": 5, "batch_size": 32, "lr": 1e-3, "optimizer": "adam", "schedule": "constant",
        "weight_decay": 0.0, "label_smoothing": 0.0, "augment": False, "clean_epochs": 0, "ema": 0.0,
        "font_digits": 0,
    },
    # Chosen by the measurements in docs/experiments.md: one-cycle SGD, canvas-like augmentation, label
    # smoothing and EMA weights, for as many epochs as the training-time target allows on 2 CPU cores.
    # No clean epochs (--clean-epochs): on 2 CPU cores they did not raise accuracy (docs/experiments.md).
    "resnet-small": {
        "epochs": 14, "batch_size": 128, "lr": 0.1, "optimizer": "sgd", "schedule": "onecycle",
        "weight_decay": 5e-4, "label_smoothing": 0.1, "augment": True, "clean_epochs": 0, "ema": 0.995,
        "font_digits": 0,
    },
}

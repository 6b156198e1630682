"""Model registry: build a torch network by name. Model classes do no I/O."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from inkdigit.training.nets.paper import PaperNet
from inkdigit.training.nets.resnet import ResNetSmall


@dataclass(frozen=True)
class ModelInfo:
    """A registered network and the training recipe that is its default."""

    name: str
    description: str
    build: Callable[[], nn.Module]
    defaults: dict


MODELS: dict[str, ModelInfo] = {
    "paper": ModelInfo(
        name="paper",
        description="The paper's Keras Sequential CNN (conv8-conv16-dense256), reproduced layer for layer",
        build=PaperNet,
        # The paper's recipe: Adam 1e-3, 5 epochs; batch 32 is Keras's default (the paper names none).
        # On a CPU it trains with the fused step (paper_kernel.c), which splits each batch over the cores.
        defaults={"epochs": 5, "batch_size": 32, "lr": 1e-3, "optimizer": "adam", "schedule": "constant"},
    ),
    "resnet-small": ModelInfo(
        name="resnet-small",
        description="Small ResNet-style CNN with batch norm (space-to-depth stem, 32-48-64-128 channels, one "
                    "residual block), trained with canvas-like augmentation, label smoothing and EMA weights",
        build=ResNetSmall,
        # Chosen by the measurements in docs/experiments.md: 14 epochs take ~9.2 minutes on 2 quiet CPU cores.
        defaults={"epochs": 14, "batch_size": 128, "lr": 0.1, "optimizer": "sgd", "schedule": "onecycle",
                  "weight_decay": 5e-4, "label_smoothing": 0.1, "augment": True, "ema": 0.995},
    ),
}


def build_model(name: str) -> nn.Module:
    """A fresh, initialised network by registry name; raises KeyError listing the known names."""
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r} (known: {', '.join(MODELS)})")
    return MODELS[name].build()


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)

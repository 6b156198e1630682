"""Model registry: build a torch network by name. Model classes do no I/O; their recipes are in recipes.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from inkdigit.training.nets.paper import PaperNet
from inkdigit.training.nets.resnet import ResNetSmall


@dataclass(frozen=True)
class ModelInfo:
    """A registered network."""

    name: str
    description: str
    build: Callable[[], nn.Module]


MODELS: dict[str, ModelInfo] = {
    "paper": ModelInfo(
        name="paper",
        description="The paper's Keras Sequential CNN (conv8-conv16-dense256), reproduced layer for layer",
        build=PaperNet,
    ),
    "resnet-small": ModelInfo(
        name="resnet-small",
        description="Small ResNet-style CNN with batch norm (space-to-depth stem, 32-48-64-128 channels, one "
                    "residual block), trained with canvas-like augmentation, label smoothing and EMA weights",
        build=ResNetSmall,
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

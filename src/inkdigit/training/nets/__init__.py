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
    build: Callable[..., nn.Module]  # build(): the ten digits; build(num_classes=K): a character set's K labels


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


def build_model(name: str, num_classes: int = 10) -> nn.Module:
    """A fresh, initialised network by registry name, with `num_classes` outputs (a character set's labels);
    raises KeyError listing the known names."""
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r} (known: {', '.join(MODELS)})")
    build = MODELS[name].build
    # A net registered before character sets builds the ten digits' outputs with no arguments: still so.
    return build() if num_classes == 10 else build(num_classes=num_classes)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)

"""A small ResNet-style CNN sized for training on a 2-core CPU: cheap early layers, width where it's cheap.

Cost is what shapes it (multiply-adds per image, fwd): a 3x3 conv from C to C' channels on an S x S map
costs 9·S²·C·C'. So the net leaves 28x28 at once, losslessly, by a space-to-depth "stem" (each 2x2 block
of pixels becomes 4 channels of a 14x14 map), keeps 14x14 narrow, and puts its width and its residual
block at 7x7 and 4x4, where a layer costs 4-12x less. Batch norm after every conv, ReLU, max-pool to
downsample, global average pooling and one linear layer: no dropout (augmentation + label smoothing
regularise it instead), no biases before batch norm.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def conv_bn(c_in: int, c_out: int) -> list[nn.Module]:
    """3x3 'same' conv (no bias: BN has one) → batch norm → ReLU."""
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


class ResidualBlock(nn.Module):
    """Two 3x3 conv-BN layers with an identity shortcut (He et al. 2016, basic block)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            *conv_bn(channels, channels),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
        )
        # Zero-init the last BN scale: the block starts as the identity, which trains faster and more stably.
        nn.init.zeros_(self.body[-1].weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.body(x))


class SpaceToDepth(nn.Module):
    """[N,C,H,W] → [N,4C,H/2,W/2]: every 2x2 pixel block becomes 4 channels (no information lost)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_unshuffle(x, 2)


class ResNetSmall(nn.Sequential):
    """Takes [N,1,28,28] floats in [0,1] (white ink on black); returns logits [N,10].

    28x28x1 → space-to-depth 14x14x4 → conv 32 → conv 48 → pool → 7x7: conv 64, residual block
    → pool → 4x4: conv 128 → global average → linear 10. ~190k parameters, ~9 M multiply-adds.
    """

    def __init__(self, widths: tuple[int, int, int, int] = (32, 48, 64, 128), residual: bool = True,
                 num_classes: int = 10) -> None:
        w0, w1, w2, w3 = widths
        super().__init__(
            SpaceToDepth(),  # 28x28x1 -> 14x14x4
            *conv_bn(4, w0),
            *conv_bn(w0, w1),
            nn.MaxPool2d(2),  # 14 -> 7
            *conv_bn(w1, w2),
            *([ResidualBlock(w2)] if residual else []),
            nn.MaxPool2d(2, ceil_mode=True),  # 7 -> 4 (ceil: the last row/column is pooled, not dropped)
            *conv_bn(w2, w3),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(w3, num_classes),
        )

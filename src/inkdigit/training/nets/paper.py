"""The paper's Keras Sequential CNN, layer for layer, in PyTorch."""

from __future__ import annotations

import torch
from torch import nn


class PaperNet(nn.Sequential):
    """conv 8@5x5 → pool → drop .25 → conv 16@3x3 → pool → drop .25 → dense 256 → drop .5 → dense 10.

    Takes [N,1,28,28] floats in [0,1]; returns logits [N,10] (softmax lives in the loss / at inference,
    which is the numerically stable equivalent of Keras's softmax layer + categorical cross-entropy).
    """

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__(
            nn.Conv2d(1, 8, kernel_size=5),  # 28 -> 24 ('valid' padding, as Keras's default)
            nn.ReLU(),
            nn.MaxPool2d(2),  # 24 -> 12
            nn.Dropout(0.25),
            nn.Conv2d(8, 16, kernel_size=3),  # 12 -> 10
            nn.ReLU(),
            nn.MaxPool2d(2, stride=2),  # 10 -> 5
            nn.Dropout(0.25),
            nn.Flatten(),  # 16*5*5 = 400
            nn.Linear(400, 256),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(256, num_classes),
        )
        self.keras_init()

    @torch.no_grad()
    def keras_init(self) -> None:
        """Keras's defaults: Glorot-uniform weights and zero biases (PyTorch's defaults train differently)."""
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

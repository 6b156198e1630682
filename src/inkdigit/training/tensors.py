"""Images and nets as tensors: the device a run uses, image arrays as float tensors, batched logits, and a
split's loss and accuracy. Training, evaluation and export share these."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from inkdigit.errors import TrainError


def pick_device(name: str) -> torch.device:
    """'auto' → CUDA when present, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise TrainError("--device cuda asked for, but no CUDA device is available")
    return torch.device(name)


def to_tensor(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 [N,28,28] → float32 [N,1,28,28] in [0,1] on `device` (kept there for the whole run)."""
    return torch.from_numpy(np.ascontiguousarray(images)).to(device).unsqueeze(1).float().div_(255.0)


@torch.no_grad()
def predict_logits(model: nn.Module, x: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
    """Logits for every row of x, in eval mode, in large batches."""
    was_training = model.training
    model.eval()
    out = torch.cat([model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])
    model.train(was_training)
    return out


def evaluate_split(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of `model` on (x, y), which must have rows."""
    logits = predict_logits(model, x)
    return F.cross_entropy(logits, y).item(), (logits.argmax(1) == y).float().mean().item()


@torch.no_grad()
def split_sums(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(summed cross-entropy, number right) of `model` on (x, y), which may be empty: a share of a split that
    several processes evaluate together."""
    if not len(x):
        return 0.0, 0.0
    logits = predict_logits(model, x)
    return F.cross_entropy(logits, y, reduction="sum").item(), float((logits.argmax(1) == y).sum().item())

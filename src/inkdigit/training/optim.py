"""What moves the weights around the step: the optimiser, its per-step LR schedule, and an EMA of the weights."""

from __future__ import annotations

import copy

import torch
from torch import nn

from inkdigit.training.config import TrainConfig


def make_optimizer(cfg: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    """The optimiser named in cfg; fused kernels where torch has them (same maths, fewer ops)."""
    params = model.parameters()
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, nesterov=True, weight_decay=cfg.weight_decay)
    cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    try:
        return cls(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
    except (RuntimeError, TypeError):
        return cls(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)


def make_schedule(cfg: TrainConfig, opt: torch.optim.Optimizer,
                  steps_per_epoch: int) -> torch.optim.lr_scheduler.LRScheduler | None:
    """Per-step LR schedule, or None for a constant LR."""
    if cfg.schedule == "onecycle":
        total = cfg.epochs * steps_per_epoch
        if total < 4:  # no room for warm-up + anneal
            return None
        # OneCycleLR divides by zero when its warm-up is under ~2 steps (a --dry-run has only 4 batches).
        return torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=cfg.lr, epochs=cfg.epochs, steps_per_epoch=steps_per_epoch,
            pct_start=max(0.25, 2.5 / total),
        )
    return None


class EMA:
    """Exponential moving average of a model's weights (and buffers), for evaluation and export."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        # (average, source) tensor pairs, found once: both models are only ever updated in place
        ema_sd, sd = self.model.state_dict(), model.state_dict()
        self._pairs = [(v, sd[k]) for k, v in ema_sd.items()]

    @torch.no_grad()
    def update(self, step: int | None = None) -> None:
        """Move the average one step towards the model given at construction."""
        # Warm-up (as TF/timm): average over at most ~`step` updates, else the first epochs' EMA is mostly
        # the random init. `step` is the global step, so a resumed run averages exactly as an unbroken one.
        decay = self.decay if step is None else min(self.decay, (1 + step) / (10 + step))
        for v, src in self._pairs:
            if v.dtype.is_floating_point:
                v.lerp_(src, 1.0 - decay)
            else:
                v.copy_(src)

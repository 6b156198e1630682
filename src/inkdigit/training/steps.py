"""One training step, two engines behind one interface: eager PyTorch (`TorchStep`) or the paper net's fused
C step (`FusedStep`, paper_kernel.c). `choose_engine` picks one for a run, `make_step` builds it.

A step trains on a batch given as indices into the training images (held on the device for the whole run),
or on `images`, those images augmented; it keeps the epoch's summed loss and number right where they are
cheapest to add up, and hands them over in `sums()`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch
from torch import nn

from inkdigit.errors import KernelError, TrainError
from inkdigit.training.config import TrainConfig
from inkdigit.training.fused.build import library
from inkdigit.training.fused.step import PaperStep, unsupported


class Step(Protocol):
    """What the training loop calls, whichever engine runs it."""

    def start_epoch(self) -> None:
        """Zero the epoch's sums."""

    def __call__(self, idx: torch.Tensor, images: torch.Tensor | None) -> None:
        """One optimiser step on the training images x[idx] with labels y[idx], or on `images` (x[idx] augmented)."""

    def sums(self) -> tuple[float, float]:
        """(summed loss, number right) since `start_epoch`."""

    def end_epoch(self) -> None:
        """Leave the model and the optimiser's state complete (a checkpoint or evaluation reads them next)."""


def choose_engine(cfg: TrainConfig, device: torch.device, log: Callable[[str], None], processes: int = 1) -> str:
    """'fused' (the paper net's C step) or 'torch' for a resolved cfg; TrainError if 'fused' cannot be had.
    The fused step is the single-process CPU fast path: a run over several `processes` trains with torch."""
    if cfg.engine == "torch":
        return "torch"
    why = unsupported(cfg.model, cfg.optimizer, device)
    if why is None and cfg.charset != "digits":
        why = f"it has the ten digits' outputs, not the {cfg.charset} set's"
    if processes > 1:  # --engine fused was refused before (distributed.World.check)
        if why is None:
            log(f"note: the fused paper step is single-process; with {processes} processes training uses torch's")
        return "torch"
    if why is None:
        try:
            library()
            return "fused"
        except KernelError as e:
            why = str(e)
            if cfg.engine == "auto":  # the recipe could have used it: say why it does not
                log(f"note: the fused paper step is unavailable ({why}); training with torch")
    if cfg.engine == "fused":
        raise TrainError(f"--engine fused: {why}")
    return "torch"


def prepare_model(model: nn.Module, engine: str, device: torch.device) -> nn.Module:
    """The model in the memory layout its engine runs fastest on."""
    if device.type == "cpu" and engine == "torch":  # torch's CPU convolutions prefer it (docs/experiments.md)
        return model.to(memory_format=torch.channels_last)
    return model


def make_step(engine: str, model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
              cfg: TrainConfig) -> Step:
    """The engine's step training `model` with `opt` on images x [N,1,28,28] and labels y [N]."""
    if engine == "torch":
        return TorchStep(model, opt, x, y, label_smoothing=cfg.label_smoothing)
    try:
        kernel = PaperStep(model, opt, x, y, seed=cfg.seed, batch_size=cfg.batch_size,
                           threads=torch.get_num_threads(), label_smoothing=cfg.label_smoothing)
    except KernelError as e:  # e.g. a checkpoint whose optimiser state is not the kernel's layout
        raise TrainError(f"--engine fused: {e}") from None
    return FusedStep(kernel)


class TorchStep:
    """Forward, loss, backward and optimiser step in eager PyTorch, on any device."""

    def __init__(self, model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
                 label_smoothing: float) -> None:
        self.model, self.opt, self.x, self.y = model, opt, x, y
        self.loss_fn = nn.CrossEntropyLoss(label_smoothing=label_smoothing)

    def start_epoch(self) -> None:
        self.model.train()
        # Summed on the device: a .item() per step would force a sync every batch.
        self.loss_sum = torch.zeros((), device=self.x.device)
        self.correct = torch.zeros((), device=self.x.device)

    def __call__(self, idx: torch.Tensor, images: torch.Tensor | None) -> None:
        xb, yb = self.x[idx] if images is None else images, self.y[idx]
        logits = self.model(xb)
        loss = self.loss_fn(logits, yb)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        with torch.no_grad():
            self.loss_sum += loss.detach() * len(yb)
            self.correct += (logits.argmax(1) == yb).sum()

    def sums(self) -> tuple[float, float]:
        return self.loss_sum.item(), self.correct.item()

    def end_epoch(self) -> None:
        pass


class FusedStep:
    """The paper net's forward, backward and Adam(W) in one C call (`fused.step.PaperStep`), on the CPU."""

    def __init__(self, kernel: PaperStep) -> None:
        self.kernel = kernel

    def start_epoch(self) -> None:
        self.kernel.sums[:] = 0.0  # the kernel adds each batch's summed loss and number right here

    def __call__(self, idx: torch.Tensor, images: torch.Tensor | None) -> None:
        self.kernel(idx, None if images is None else images.contiguous())

    def sums(self) -> tuple[float, float]:
        return float(self.kernel.sums[0]), float(self.kernel.sums[1])

    def end_epoch(self) -> None:
        self.kernel.sync()  # the step count into the optimiser's state, as torch's Adam keeps it

"""The paper net's fused training step bound to torch tensors: `PaperStep` trains a PaperNet in place.

`train` uses it for the paper net on the CPU with Adam or AdamW (`--engine auto|fused`; schedules,
augmentation, EMA and label smoothing included), through `training.steps.FusedStep`. It does the same maths
as the eager torch step (tests/test_paper_kernel.py compares them), many times faster on a CPU
(docs/experiments.md).
"""

from __future__ import annotations

import ctypes

import numpy as np
import torch
from torch import nn

from inkdigit.errors import KernelError
from inkdigit.training.fused.build import PARAMS, Ctx, library


def unsupported(model: str, optimizer: str, device: torch.device) -> str | None:
    """Why a run of `model` with `optimizer` on `device` cannot use the fused step, or None if it can."""
    # Schedules, augmentation and EMA run in torch around the step, so any of them goes with it.
    checks = [
        (model == "paper", f"it runs the paper net only, not {model!r}"),
        (device.type == "cpu", f"it runs on the CPU, not {device}"),
        (optimizer in ("adam", "adamw"), f"it implements Adam and AdamW, not {optimizer}"),
    ]
    for ok, why in checks:
        if not ok:
            return why
    return None


class PaperStep:
    """Trains a PaperNet in place with its torch Adam optimiser's own state, a batch per call.

    `model` (contiguous parameters), `opt` (torch.optim.Adam over model.parameters()), `x` [N,1,28,28]
    float32 with labels `y` [N] in 0..9 on the CPU. After `sync()` the optimiser's state is what torch's
    Adam would hold, so checkpoints are the same as the torch step's.
    """

    def __init__(self, model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
                 seed: int, batch_size: int, threads: int = 1, label_smoothing: float = 0.0,
                 record_masks: bool = False) -> None:
        self._lib = lib = library()
        self._step = lib.paper_step
        params = list(model.parameters())
        shapes = [tuple(p.shape) for p in params]
        expected = [(8, 1, 5, 5), (8,), (16, 8, 3, 3), (16,), (256, 400), (256,), (10, 256), (10,)]
        if shapes != expected:
            raise KernelError(f"not the paper net's parameters: {shapes}")
        group = opt.param_groups[0]
        if len(opt.param_groups) != 1 or group["params"] != params or not isinstance(opt, torch.optim.Adam):
            raise KernelError("the optimiser must be one torch Adam(W) group over the model's parameters")
        if group.get("amsgrad") or group.get("maximize"):
            raise KernelError("Adam's amsgrad and maximize variants are not implemented")
        for p in params:
            state = opt.state[p]
            if not state:  # as torch's Adam initialises it on its first step (a float32 step for fused)
                state["step"] = torch.zeros((), dtype=torch.float32)
                state["exp_avg"] = torch.zeros_like(p, memory_format=torch.contiguous_format)
                state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.contiguous_format)
        tensors = params + [opt.state[p]["exp_avg"] for p in params] + [opt.state[p]["exp_avg_sq"] for p in params]
        if not all(t.is_contiguous() and t.dtype == torch.float32 and t.device.type == "cpu" for t in tensors):
            raise KernelError("parameters and Adam state must be contiguous float32 CPU tensors")
        if x.dim() != 4 or tuple(x.shape[1:]) != (1, 28, 28) or x.dtype != torch.float32:
            raise KernelError(f"images must be float32 [N,1,28,28], not {x.dtype} {list(x.shape)}")
        if len(y) != len(x) or (len(y) and not 0 <= int(y.min()) <= int(y.max()) <= 9):
            raise KernelError("labels must be one per image, in 0..9")
        self.x = x.contiguous()
        self.y = y.to(torch.int64).contiguous()
        self.params, self.opt = params, opt
        self.t = int(opt.state[params[0]]["step"].item())
        self.work = np.zeros(lib.paper_work_floats(batch_size), dtype=np.float32)
        self.masks = np.zeros((batch_size, 1808), dtype=np.uint8) if record_masks else None
        self.ctx = Ctx(
            x=self.x.data_ptr(), y=self.y.data_ptr(), n=len(self.x),
            param=(ctypes.c_void_p * PARAMS)(*[p.data_ptr() for p in params]),
            exp_avg=(ctypes.c_void_p * PARAMS)(*[opt.state[p]["exp_avg"].data_ptr() for p in params]),
            exp_avg_sq=(ctypes.c_void_p * PARAMS)(*[opt.state[p]["exp_avg_sq"].data_ptr() for p in params]),
            work=self.work.ctypes.data, masks=self.masks.ctypes.data if record_masks else None,
            seed=seed & (2**64 - 1), eps=group["eps"], weight_decay=group["weight_decay"],
            decoupled=int(group.get("decoupled_weight_decay", isinstance(opt, torch.optim.AdamW))),
            label_smoothing=label_smoothing, threads=threads,
        )
        self.group = group
        self.batch_size = batch_size
        self.sums = np.zeros(2, dtype=np.float64)  # summed loss, number right, since the last reset
        self._ctx_ref = ctypes.byref(self.ctx)
        self._sums_ptr = self.sums.ctypes.data

    def __call__(self, idx: torch.Tensor, images: torch.Tensor | None = None) -> None:
        """One Adam step on the images x[idx] (int64, contiguous, at most batch_size of them), or on `images`
        [len(idx),1,28,28] (float32, contiguous: x[idx] augmented) with the labels y[idx]."""
        n = len(idx)
        if not 1 <= n <= self.batch_size or idx.dtype != torch.int64 or not idx.is_contiguous():
            raise ValueError(f"a batch must be 1..{self.batch_size} contiguous int64 indices")
        if images is not None and (tuple(images.shape) != (n, 1, 28, 28) or images.dtype != torch.float32
                                   or not images.is_contiguous()):
            raise ValueError(f"images must be contiguous float32 [{n},1,28,28]")
        ctx, group = self.ctx, self.group
        ctx.lr, (ctx.beta1, ctx.beta2) = group["lr"], group["betas"]  # a schedule may have changed them
        ctx.batch_x = None if images is None else images.data_ptr()
        try:
            with torch.no_grad():  # the kernel writes the parameters behind autograd's back
                status = self._step(self._ctx_ref, idx.data_ptr(), n, self.t + 1, self._sums_ptr)
        finally:
            ctx.batch_x = None
        if status == -2:
            raise ValueError(f"batch indices must be in 0..{len(self.x) - 1}")
        if status != 0:
            raise KernelError("the fused step failed")
        self.t += 1
        # What torch's own step() records for LR schedulers, which otherwise warn that it never ran.
        self.opt._opt_called = True  # type: ignore[attr-defined]

    def gradients(self) -> list[np.ndarray]:
        """The last step's gradients, per parameter in torch's layout (views into the work area)."""
        out, off = [], int(self._lib.paper_grad_offset())
        for p in self.params:
            out.append(self.work[off : off + p.numel()].reshape(p.shape))
            off += p.numel()
        return out

    def sync(self) -> None:
        """Write the step count into the optimiser's state (checkpoints and a later torch step read it)."""
        for p in self.params:
            self.opt.state[p]["step"].fill_(float(self.t))

"""The training loop shared by the small nets that judge a line's candidates (the whole-character verifiers,
`training/verifier.py`, and the pair reader, `training/pairs.py`): uint8 pictures and int labels in memory, Adam
with a one-cycle schedule, one log line per epoch."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn


def fit(net: nn.Module, x: np.ndarray, y: np.ndarray, *, epochs: int, batch_size: int, lr: float, seed: int,
        loss_fn: nn.Module, report: Callable[[], str]) -> None:
    """Train `net` on pictures `x` (uint8 [N,H,W]) with labels `y`; after each epoch print its mean loss and what
    `report()` says (the held-out numbers)."""
    xt, yt = as_tensor(x), torch.from_numpy(y)
    steps = epochs * ((len(y) + batch_size - 1) // batch_size)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps)
    gen = torch.Generator().manual_seed(seed)
    for epoch in range(1, epochs + 1):
        net.train()
        start, total = time.perf_counter(), 0.0
        for idx in torch.randperm(len(yt), generator=gen).split(batch_size):
            loss = loss_fn(net(xt[idx]), yt[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        seconds = time.perf_counter() - start
        print(f"epoch {epoch:2d}/{epochs}  loss {total / len(yt):.4f}  {report()}  {seconds:5.0f} s", flush=True)


def line_by_line(work: Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray]], lines: int, workers: int,
                 *args: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`work(indices, *args)` → (pictures, labels, the line each came from) for lines 0..lines-1, shared among
    `workers` processes and joined line by line, as one process would have made them: the result does not depend
    on `workers`."""
    chunks = [list(range(k, lines, workers)) for k in range(workers)] if workers > 1 else [list(range(lines))]
    if len(chunks) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # spawn, not fork: torch's threads in this process must not be inherited mid-state.
        with ProcessPoolExecutor(len(chunks), mp_context=multiprocessing.get_context("spawn")) as pool:
            parts = list(pool.map(work, chunks, *([a] * len(chunks) for a in args)))
    else:
        parts = [work(chunks[0], *args)]
    x, y, of = (np.concatenate(a) for a in zip(*parts, strict=True))
    order = np.argsort(of, kind="stable")
    return x[order], y[order], of[order]


def predicted(net: nn.Module, x: np.ndarray) -> np.ndarray:
    """The net's label (argmax) for each picture of `x` (uint8 [N,H,W])."""
    net.eval()
    with torch.no_grad():
        return torch.cat([net(b).argmax(1) for b in as_tensor(x).split(2048)]).numpy() if len(x) else \
            np.zeros(0, np.int64)


def as_tensor(x: np.ndarray) -> torch.Tensor:
    """uint8 pictures [N,H,W] → float [N,1,H,W] in 0..1."""
    return torch.from_numpy(x).float().div_(255).unsqueeze(1)

"""Training over several processes, one or many machines, launched by PyTorch's own launcher (torchrun).

`World.from_env()` reads what torchrun (or a hand launch) puts in the environment: RANK, WORLD_SIZE and
LOCAL_RANK. With one process every method here is the identity and nothing is networked, so a plain
`inkdigit train` runs exactly as it did before this module existed. With several:

- `joined()` starts the process group (gloo for CPU tensors, NCCL for CUDA ones) with a timeout
  (INKDIGIT_DIST_TIMEOUT seconds, default 60): a process that cannot reach the others, or that waits on one
  that died, stops with one line instead of hanging;
- the batch given is the global one: each epoch's order is drawn from the same seeded generator on every
  process, and each process trains on its consecutive 1/W of every global batch (`shard`), so together they
  see exactly what one process would, and DistributedDataParallel's mean of the W gradients is the gradient
  of the whole batch;
- what one process decides for all (the settings of a resumed run, its checkpoint) is read by rank 0 and
  sent to the others (`from_rank0`), so a run folder on rank 0's machine is all that --resume needs;
- sums (loss, number right, images) are added over the processes (`all_sum`).
"""

from __future__ import annotations

import contextlib
import datetime
import os
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from inkdigit.errors import InkdigitError, TrainError, one_line
from inkdigit.training.config import TrainConfig
from inkdigit.training.tensors import pick_device

TIMEOUT_ENV = "INKDIGIT_DIST_TIMEOUT"
DEFAULT_TIMEOUT_S = 60.0

T = TypeVar("T")


@dataclass(frozen=True)
class World:
    """This process's place among the processes of a run: rank `rank` of `size`, `local_rank` on its machine."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls) -> World:
        """The world torchrun describes in RANK, WORLD_SIZE and LOCAL_RANK; one process when they are unset."""
        try:
            size = int(os.environ.get("WORLD_SIZE", "1"))
            rank = int(os.environ.get("RANK", "0"))
            local_rank = int(os.environ.get("LOCAL_RANK", str(rank)))
        except ValueError:
            raise TrainError("RANK, WORLD_SIZE and LOCAL_RANK must be whole numbers (torchrun sets them)") from None
        if size < 1 or not 0 <= rank < size or local_rank < 0:
            raise TrainError(f"RANK {rank} / WORLD_SIZE {size} is not a process of a run: 0 <= RANK < WORLD_SIZE")
        return cls(rank=rank, size=size, local_rank=local_rank)

    @property
    def distributed(self) -> bool:
        """True when this run has more than one process."""
        return self.size > 1

    @property
    def is_main(self) -> bool:
        """True for the process that writes the run's files and prints its lines (rank 0)."""
        return self.rank == 0

    # --- before any networking -------------------------------------------------------------------------

    def check(self, cfg: TrainConfig) -> None:
        """TrainError for resolved settings these processes cannot run; every process decides alike."""
        if not self.distributed:
            return
        if cfg.batch_size % self.size:
            raise TrainError(f"--batch-size {cfg.batch_size} is the global batch and must divide evenly over "
                             f"{self.size} processes: give a multiple of {self.size}")
        if cfg.engine == "fused":
            raise TrainError(f"the fused step (--engine fused) is single-process; with {self.size} processes use "
                             "--engine torch (a run started with the fused step resumes without torchrun)")
        self.device(cfg.device)

    def device(self, name: str) -> torch.device:
        """The device this process trains on: `name` for one process; under torchrun 'cuda' (or 'auto' on a
        machine with CUDA) is this process's own GPU, cuda:LOCAL_RANK."""
        if not self.distributed:
            return pick_device(name)
        if name.startswith("cuda:"):
            raise TrainError(f"--device {name} would put every process on one GPU: under torchrun give "
                             "--device cuda (process k on a machine uses cuda:k)")
        device = pick_device(name)  # one line when CUDA is asked for and there is none
        if device.type != "cuda":
            return device
        count = torch.cuda.device_count()
        if self.local_rank >= count:
            raise TrainError(f"process {self.local_rank} on this machine has no GPU of its own ({count} CUDA "
                             f"devices): start at most {count} processes per machine (--nproc-per-node)")
        torch.cuda.set_device(self.local_rank)
        return torch.device("cuda", self.local_rank)

    # --- the process group -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def joined(self, out: Path) -> Iterator[None]:
        """The process group, for the length of a run; a lost process becomes one line naming how to resume."""
        if not self.distributed:
            yield
            return
        self._start()
        try:
            yield
            dist.barrier()  # leave together: none closes its connections while another still talks to it
        except RuntimeError as e:
            if not _is_communication_error(e):
                raise
            raise TrainError(f"process {self.rank} of {self.size} lost contact with the others "
                             f"({_short(e)}); the run goes on from its last checkpoint with: "
                             f"{self.resume_command(out)}") from None
        finally:
            dist.destroy_process_group()

    def _start(self) -> None:
        timeout = timeout_seconds()
        if not os.environ.get("MASTER_ADDR") or not os.environ.get("MASTER_PORT"):
            raise TrainError(f"WORLD_SIZE is {self.size} but MASTER_ADDR and MASTER_PORT are not set: launch with "
                             "torchrun, which sets them (or set them, with RANK, in every process)")
        # CPU tensors (the sums, the checkpoint sent from rank 0) go over gloo; CUDA ones over NCCL.
        backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"
        try:
            with _c10d_logs_held():
                dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout))
        except (RuntimeError, ValueError) as e:  # DistNetworkError, DistStoreError, a port that is not a number
            where = f"{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}"
            raise TrainError(f"process {self.rank} of {self.size} could not reach the others at {where} within "
                             f"{timeout:g}s ({_short(e)}): start every process (torchrun --nnodes, "
                             f"--rdzv-endpoint) and check the address and port; {TIMEOUT_ENV} sets the wait"
                             ) from None

    def resume_command(self, out: str | os.PathLike) -> str:
        """The command that continues the run in `out` as it was launched."""
        if not self.distributed:
            return f"inkdigit train --resume --out {out}"
        return f"torchrun [as before] -m inkdigit train --resume --out {out}"

    # --- what rank 0 decides for all -------------------------------------------------------------------

    def from_rank0(self, fn: Callable[..., T], *args: object) -> T:
        """fn(*args) on rank 0, its result sent to every process; an error there is raised on every process."""
        if not self.distributed:
            return fn(*args)
        box: list[object] = [None]
        error: BaseException | None = None
        if self.is_main:
            try:
                box[0] = ("ok", fn(*args))
            except Exception as e:  # the others must hear of it, or they would wait for a result until timeout
                error = e
                box[0] = ("error", str(e) if isinstance(e, InkdigitError) else f"rank 0: {one_line(e)}")
        dist.broadcast_object_list(box, src=0, device=torch.device("cpu"))
        if error is not None:
            raise error
        kind, value = box[0]  # type: ignore[misc]
        if kind == "error":
            raise TrainError(str(value))
        return value  # type: ignore[return-value]

    # --- training --------------------------------------------------------------------------------------

    def wrap(self, model: nn.Module, device: torch.device) -> tuple[nn.Module, nn.Module]:
        """(the model, what the step trains): DistributedDataParallel around it under torchrun, with batch
        norm over the whole global batch on GPUs (SyncBatchNorm; torch has it only for GPUs, so on CPUs each
        process normalises with its own share's statistics)."""
        if not self.distributed:
            return model, model
        if device.type == "cuda":
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return model, DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    def steps_per_epoch(self, n: int, batch_size: int) -> int:
        """Batches in an epoch of n images. Under torchrun a last batch of fewer images than processes is left
        out (every process must take part in every step)."""
        if not self.distributed:
            return -(-n // batch_size)
        return n // batch_size + (n % batch_size >= self.size)

    def shard(self, batch: torch.Tensor) -> torch.Tensor:
        """This process's consecutive 1/W of a global batch of indices (an epoch's short last batch drops
        its len mod W last images, so that every share is the same size and the mean of means is the mean)."""
        if not self.distributed:
            return batch
        per = len(batch) // self.size
        return batch[self.rank * per : (self.rank + 1) * per]

    def part(self, n: int) -> slice:
        """This process's consecutive share of n rows to evaluate (sizes differ by at most one)."""
        return slice(self.rank * n // self.size, (self.rank + 1) * n // self.size)

    def epoch_generator(self, gen: torch.Generator, seed: int, epoch: int) -> torch.Generator:
        """The generator that augments this process's images in `epoch`: the run's own `gen` for one process
        (which also draws the order); under torchrun one seeded by (seed, epoch, rank), and torch's global RNG
        (dropout) too, so that `gen` draws the same orders on every process and a resumed run repeats an
        unbroken one with the same number of processes."""
        if not self.distributed:
            return gen
        seed_here = int(np.random.SeedSequence([seed, epoch, self.rank]).generate_state(1)[0])
        torch.manual_seed(seed_here)
        return torch.Generator(device="cpu").manual_seed(seed_here)

    def sync_buffers(self, model: nn.Module) -> None:
        """Rank 0's buffers (batch norm's running statistics) into every process's `model`, before an
        evaluation shared between them: on CPUs each process's statistics are its own share's."""
        if not self.distributed:
            return
        for buf in model.buffers():
            dist.broadcast(buf, src=0)

    def all_sum(self, values: tuple[float, ...]) -> tuple[float, ...]:
        """Each value summed over the processes (the values themselves for one process)."""
        if not self.distributed:
            return values
        t = torch.tensor(values, dtype=torch.float64)
        dist.all_reduce(t)
        return tuple(t.tolist())


def timeout_seconds() -> float:
    """How long a process waits for the others (INKDIGIT_DIST_TIMEOUT, seconds), to join and at each exchange."""
    raw = os.environ.get(TIMEOUT_ENV, "")
    if not raw:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise TrainError(f"{TIMEOUT_ENV}={raw!r}: give the seconds to wait for the other processes, e.g. 60")
    return value


# gloo's messages start with the C++ source file: "[.../gloo/transport/tcp/pair.cc:537] Read error ..."
_SOURCE_PREFIX = re.compile(r"^\[[^\]]*\.(?:cc|cpp|h):\d+\]\s*")


def _short(e: BaseException) -> str:
    """An exception from torch.distributed as a short phrase."""
    first = _SOURCE_PREFIX.sub("", one_line(e)).split(". ")[0]  # gloo's advice follows the first sentence
    return f"{type(e).__name__}: {first[:160]}"


def _is_communication_error(e: RuntimeError) -> bool:
    """True for a failed exchange between processes (a peer that died, a timeout), not a bug in the step."""
    return isinstance(e, dist.DistError) or "gloo" in str(e).lower() or "nccl" in str(e).lower()


@contextlib.contextmanager
def _c10d_logs_held() -> Iterator[None]:
    """stderr closed while the process group starts: c10d logs each failed try to connect with a page of C++
    stack frames, and the one-line error raised after says the same. TORCH_CPP_LOG_LEVEL set keeps its logs."""
    if "TORCH_CPP_LOG_LEVEL" in os.environ:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)

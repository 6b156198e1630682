"""Give the memory that reading large pictures freed back to the system, within seconds of the work.

glibc's malloc keeps memory freed at the top of a heap up to a threshold that grows with the largest block
freed so far: a burst of large pictures left a server process 15-35 MiB larger for good (measured when the
work ran in threads, each with a heap of its own; ONNX Runtime's threads still have theirs). Fixing the
threshold (``MALLOC_TRIM_THRESHOLD_``) gives memory
back at every free, but cost ~15% more CPU per request, in page faults on fresh memory; `malloc_trim` every
few seconds gives it back for ~2 ms each time (docs/speed.md, "Hostile clients"). Where the C library has no
`malloc_trim` (musl, macOS) this does nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import anyio.to_thread

TRIM_EVERY_S = 5.0


@contextlib.asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    """The app's lifespan: trims the heaps every `TRIM_EVERY_S` seconds while the app serves."""
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(trim_every, TRIM_EVERY_S)
        yield
        tasks.cancel_scope.cancel()


async def trim_every(seconds: float) -> None:
    """Return free heap memory to the system every ``seconds``, off the event loop, until cancelled."""
    trim = malloc_trim()
    if trim is None:
        return
    while True:
        await anyio.sleep(seconds)
        await anyio.to_thread.run_sync(trim, 0)


def malloc_trim() -> Callable[[int], int] | None:
    """The C library's ``malloc_trim(pad)``, or None where there is none."""
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None

"""Signal handlers set for a block of code: training and `serve` both stop on SIGTERM as on Ctrl+C, and the
CLI holds a Ctrl+C back while it imports libraries that break when one lands mid-import, and `serve`'s workers
leave Ctrl+C to their supervisor."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def handling(signum: int, handler: Any) -> Iterator[None]:
    """Set a signal's handler for the block, then restore the previous one. Outside the main thread, where
    Python cannot set handlers, the block runs with the handlers as they are."""
    try:
        previous = signal.signal(signum, handler)
    except ValueError:
        yield
        return
    try:
        yield
    finally:
        signal.signal(signum, previous)


def sigterm_as_interrupt() -> Any:
    """A block in which SIGTERM (a kill, a service manager) raises KeyboardInterrupt, as Ctrl+C does."""
    return handling(signal.SIGTERM, signal.default_int_handler)


@contextmanager
def held_interrupt() -> Iterator[None]:
    """A block that a Ctrl+C does not interrupt: it is raised as KeyboardInterrupt when the block ends.

    For imports of large libraries: pydantic turns a KeyboardInterrupt in its Rust code into a SchemaError,
    class creation wraps it in a RuntimeError, and one that lands in importlib's lock cleanup can hang."""
    caught: list[int] = []
    with handling(signal.SIGINT, lambda signum, _frame: caught.append(signum)):
        yield
    if caught:
        raise KeyboardInterrupt


@contextmanager
def interrupt_not_inherited() -> Iterator[None]:
    """A block whose child processes start with Ctrl+C blocked, while this process still receives it.

    Ctrl+C in a terminal signals the whole process group. `serve`'s supervisor stops its workers itself (with
    SIGTERM); a worker that got the Ctrl+C too while still importing would print a KeyboardInterrupt traceback
    from multiprocessing's start-up code, before any handler of ours exists. A signal mask is inherited across
    fork and exec, so the main thread, which starts the workers, blocks SIGINT; a thread started before the
    block keeps it unblocked, and the kernel delivers the signal there for the main thread's Python handler.
    """
    from multiprocessing import resource_tracker

    # multiprocessing starts its resource tracker with the first child and unblocks SIGINT when it has: now.
    resource_tracker.ensure_running()
    listener = threading.Thread(target=threading.Event().wait, name="sigint-listener", daemon=True)
    listener.start()
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})

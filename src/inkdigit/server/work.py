"""The API's recognition work, as plain functions (image bytes + settings → JSON-ready dict) that run either
in the server process or in a pool of worker processes.

Reading a canvas is ~1.5 ms of NumPy/Pillow work that mostly holds the GIL, so threads in one process cannot
use a second core; worker processes can, and the event loop stays free for HTTP while they compute.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import pickle
import re
import signal
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

from inkdigit.inference import usable_cores
from inkdigit.server.bodies import ApiError, Upload
from inkdigit.server.registry import ModelRegistry
from inkdigit.server.render import stage_previews


def image_error_status(exc: Exception) -> int | None:
    """HTTP status for an exception raised while reading an image, or None if it is not an input problem."""
    from PIL import Image

    from inkdigit import preprocess

    if isinstance(exc, preprocess.ImageTooLargeError):
        return 413
    if isinstance(exc, preprocess.ImageError):
        return 422
    if isinstance(exc, Image.DecompressionBombError):
        return 413
    return None


def one_line(exc: Exception) -> str:
    """First line of an exception's message, without Python object reprs that mean nothing to a client."""
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return re.sub(r"\s*<[\w.]+ object at 0x[0-9a-fA-F]+>", "", line)


def predict(registry: ModelRegistry, data: bytes, model: str | None, top_k: int, preview: bool) -> dict:
    """One digit → the /api/predict answer."""
    from inkdigit import preprocess

    start = time.perf_counter()
    predictor = registry.get(model)
    if preview:
        # Preprocess once and keep the stages; the model then reads the same 28x28 the page shows.
        stages = preprocess.preprocess(data, return_stages=True)
        probs = predictor.predict_arrays(stages.final[None])[0]
        result = predictor.prediction(probs, stages.final, top_k).to_dict(preview=True)
        result["stages"] = stage_previews(stages)
    else:
        result = predictor.predict(data, top_k=top_k).to_dict()
    result["model"] = predictor.name
    result["elapsed_ms"] = round((time.perf_counter() - start) * 1000, 2)
    return result


def predict_number(registry: ModelRegistry, data: bytes, model: str | None, top_k: int, preview: bool) -> dict:
    """A written number → the /api/predict/number answer."""
    start = time.perf_counter()
    predictor = registry.get(model)
    result = predictor.predict_number(data, top_k=top_k).to_dict(preview=preview)
    result["model"] = predictor.name
    result["elapsed_ms"] = round((time.perf_counter() - start) * 1000, 2)
    return result


def predict_batch(registry: ModelRegistry, uploads: list[Upload], model: str | None, top_k: int,
                  preview: bool) -> dict:
    """Many single-digit uploads → the /api/predict/batch answer (a bad file is an item, not a failure)."""
    predictor = registry.get(model)
    results = []
    for upload in uploads:
        item: dict[str, Any] = {"filename": upload.filename}
        if upload.error is not None:
            item.update(ok=False, status=upload.error.status, error=upload.error.message)
        else:
            try:
                item.update(ok=True, **predictor.predict(upload.data, top_k=top_k).to_dict(preview=preview))
            except Exception as exc:
                status = image_error_status(exc)
                if status is None:
                    raise
                item.update(ok=False, status=status, error=one_line(exc))
        results.append(item)
    return {"model": predictor.name, "count": len(results), "results": results}


_FRAME = struct.Struct(">I")  # every message: its length, then a pickle
RECOVER_SECONDS = 60  # longest a worker may take to finish the answer to a cancelled request


def _recv_exactly(sock: socket.socket, n: int) -> bytes | None:
    parts, left = [], n
    while left:
        part = sock.recv(min(left, 1 << 20))
        if not part:
            return None
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def _frame(message: Any) -> bytes:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _FRAME.pack(len(data)) + data


def _send(sock: socket.socket, message: Any) -> None:
    sock.sendall(_frame(message))


def _worker_main(sock: socket.socket, model: str | None) -> None:
    """A worker process: load the models, say so, then answer (job, args) messages until the socket closes."""
    # Ctrl+C reaches the whole process group: the server stops and closes the socket, which stops us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        registry = ModelRegistry(model)
    except Exception as exc:  # the server reports it; it already loaded this model once, so this is rare
        _send(sock, ("error", RuntimeError(one_line(exc))))
        return
    _send(sock, ("ready", None))
    while True:
        head = _recv_exactly(sock, _FRAME.size)
        if head is None:
            return  # the server closed the socket: stop
        body = _recv_exactly(sock, _FRAME.unpack(head)[0])
        if body is None:
            return
        job, args = pickle.loads(body)  # one of the jobs above (pickled by name), from our own server
        try:
            reply = ("ok", job(registry, *args))
        except Exception as exc:  # ImageError, ApiError, ...: raised again in the server, which answers 4xx
            reply = ("error", exc)
        try:
            _send(sock, reply)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:  # an exception that cannot travel
            _send(sock, ("error", RuntimeError(one_line(exc))))


def default_processes() -> int:
    """Worker processes `serve` starts by default: one per core (at most 4) and one more; none on one core.

    The extra one keeps every core busy while a worker waits for the event loop to hand it its next image:
    on 2 cores, 3 workers served 3-36% more requests/s than 2, with lower p99 (docs/speed.md), for ~90 MiB.
    """
    cores = usable_cores()
    return 0 if cores < 2 else min(cores, 4) + 1


class _Process:
    """One worker process and the event loop's end of its socket."""

    def __init__(self, model: str | None) -> None:
        ours, theirs = socket.socketpair()
        # spawn, not fork: the server process already runs threads (event loop helpers, ONNX Runtime).
        self.process = multiprocessing.get_context("spawn").Process(
            target=_worker_main, args=(theirs, model), daemon=True, name="inkdigit-worker")
        self.process.start()
        theirs.close()
        self.sock = ours
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(sock=self.sock)
        status, value = await self.receive()
        if status != "ready":
            raise value

    async def receive(self) -> tuple[str, Any]:
        assert self.reader is not None
        head = await self.reader.readexactly(_FRAME.size)
        return pickle.loads(await self.reader.readexactly(_FRAME.unpack(head)[0]))

    async def call(self, job: Callable[..., dict], args: tuple) -> dict:
        assert self.writer is not None
        self.writer.write(_frame((job, args)))
        await self.writer.drain()
        status, value = await self.receive()
        if status != "ok":
            raise value
        return value

    def close(self) -> None:
        """Tell the worker to stop: end of file on its socket (now, not on the event loop's next turn)."""
        with contextlib.suppress(OSError):  # already closed, or the worker is gone
            self.sock.shutdown(socket.SHUT_RDWR)
        if self.writer is not None:
            self.writer.close()
        else:
            self.sock.close()

    def stop(self) -> None:
        """Close, then wait for the worker to exit (killing it if it does not within 5 s)."""
        self.close()
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


class Workers:
    """Runs the jobs above for the event loop: in `processes` worker processes, or in this process's
    thread pool when `processes` is 0 (or when the app was given an in-process model loader).

    Each worker reads one image at a time over its own socket, driven by the event loop itself: no helper
    threads, so a request costs the server process only a message out and one back.
    """

    def __init__(self, registry: ModelRegistry, model: str | None, processes: int) -> None:
        self.registry, self.model, self.processes = registry, model, processes
        self._idle: asyncio.Queue[_Process] | None = None
        self._all: list[_Process] = []
        self._tasks: set[asyncio.Future] = set()  # background recoveries, kept alive until done

    async def _spawn(self) -> _Process:
        worker = _Process(self.model)
        self._all.append(worker)
        await worker.connect()
        return worker

    async def start(self) -> None:
        """Start the processes and load their models now, so the first requests do not wait for it."""
        if self.processes:
            self._idle = asyncio.Queue()
            for worker in await asyncio.gather(*(self._spawn() for _ in range(self.processes))):
                self._idle.put_nowait(worker)

    def stop(self) -> None:
        for worker in self._all:
            worker.close()  # all at once, then wait for each
        for worker in self._all:
            worker.stop()
        self._all.clear()
        self._idle = None

    async def run(self, job: Callable[..., dict], *args: Any) -> dict:
        """`job(registry, *args)` in a worker process (or a thread); its exceptions are re-raised here."""
        if self._idle is None:
            from starlette.concurrency import run_in_threadpool

            return await run_in_threadpool(job, self.registry, *args)
        worker = await self._idle.get()
        try:
            result = await worker.call(job, args)
        except (asyncio.IncompleteReadError, ConnectionError, EOFError):
            # The worker died (killed, out of memory): answer this request with 503 and start a fresh one.
            self._background(self._replace(worker))
            raise ApiError(503, "a recognition worker stopped; please retry") from None
        except Exception:
            self._idle.put_nowait(worker)  # an error answer (bad image, unknown model): the worker is fine
            raise
        except BaseException:
            # Cancelled while the worker computes: its answer is still on the way and must not reach the
            # next request, so read it first, in the background.
            self._background(self._recover(worker))
            raise
        self._idle.put_nowait(worker)
        return result

    def _background(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _replace(self, worker: _Process) -> None:
        if worker in self._all:
            self._all.remove(worker)
        worker.stop()
        if self._idle is not None:
            self._idle.put_nowait(await self._spawn())

    async def _recover(self, worker: _Process) -> None:
        try:
            # Bounded: if the request was cancelled half-sent, the worker waits for the rest and never answers.
            await asyncio.wait_for(worker.receive(), timeout=RECOVER_SECONDS)
        except (asyncio.IncompleteReadError, ConnectionError, EOFError, asyncio.TimeoutError):
            await self._replace(worker)
            return
        if self._idle is not None:
            self._idle.put_nowait(worker)

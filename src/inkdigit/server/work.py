"""The API's recognition work, as plain functions (image bytes + settings → JSON-ready dict) that run either
in the server process or in a pool of worker processes.

Reading a canvas is ~1.5 ms of NumPy/Pillow work that mostly holds the GIL, so threads in one process cannot
use a second core; worker processes can, and the event loop stays free for HTTP while they compute.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import multiprocessing
import os
import re
import time
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from inkdigit.server.bodies import ApiError, Upload
from inkdigit.server.registry import ModelRegistry
from inkdigit.server.render import stage_previews

_registry: ModelRegistry | None = None  # a worker process's models, made by _start_worker


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


def _start_worker(model: str | None) -> None:
    global _registry
    _registry = ModelRegistry(model)


def _in_worker(job: Callable[..., dict], *args: Any) -> dict:
    assert _registry is not None, "worker not started"
    return job(_registry, *args)


def _ready() -> bool:
    return _registry is not None


def default_processes() -> int:
    """Worker processes `serve` starts by default: one per core (at most 4); none on a single core."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return 0 if cores < 2 else min(cores, 4)


class Workers:
    """Runs the jobs above for the event loop: in `processes` worker processes, or in this process's
    thread pool when `processes` is 0 (or when the app was given an in-process model loader)."""

    def __init__(self, registry: ModelRegistry, model: str | None, processes: int) -> None:
        self.registry, self.model, self.processes = registry, model, processes
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None

    def _new_pool(self) -> concurrent.futures.ProcessPoolExecutor:
        # spawn, not fork: the server process already runs threads (event loop helpers, ONNX Runtime).
        return concurrent.futures.ProcessPoolExecutor(
            self.processes, mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker, initargs=(self.model,))

    async def start(self) -> None:
        """Start the processes and load their models now, so the first requests do not wait for it."""
        if self.processes:
            self._pool = self._new_pool()
            loop = asyncio.get_running_loop()
            await asyncio.gather(*(loop.run_in_executor(self._pool, _ready) for _ in range(2 * self.processes)))

    def stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    async def run(self, job: Callable[..., dict], *args: Any) -> dict:
        """`job(registry, *args)` in a worker process (or a thread); its exceptions are re-raised here."""
        if self._pool is None:
            from starlette.concurrency import run_in_threadpool

            return await run_in_threadpool(job, self.registry, *args)
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, _in_worker, job, *args)
        except BrokenProcessPool:
            # A worker died (killed, out of memory): answer this request with 503 and start fresh ones.
            broken, self._pool = self._pool, self._new_pool()
            broken.shutdown(wait=False, cancel_futures=True)
            raise ApiError(503, "a recognition worker stopped; please retry") from None

"""The API's recognition work, as plain functions: image bytes + settings → a JSON-ready dict."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from inkdigit.server.bodies import Upload
from inkdigit.server.registry import ModelRegistry
from inkdigit.server.render import stage_previews


def json_bytes(payload: Any) -> bytes:
    """A compact JSON answer's bytes (plain ``json.dumps``: our payloads are already JSON types)."""
    return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()


def image_error_status(exc: Exception) -> int | None:
    """HTTP status for an exception raised while reading an image, or None if it is not an input problem."""
    from PIL import Image

    from inkdigit.vision import preprocess

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
    from inkdigit.vision import preprocess

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

"""The API's recognition work, as plain functions: image bytes or a drawing + settings → a JSON-ready dict."""

from __future__ import annotations

import json
import time
from typing import Any

from inkdigit.server.bodies import Upload
from inkdigit.server.errors import message_of, status_of
from inkdigit.server.registry import ModelRegistry
from inkdigit.server.render import stage_previews
from inkdigit.vision import strokes
from inkdigit.vision.strokes import Drawing


def json_bytes(payload: Any) -> bytes:
    """A compact JSON answer's bytes (plain ``json.dumps``: our payloads are already JSON types)."""
    return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()


def predict(registry: ModelRegistry, source: bytes | Drawing, model: str | None, top_k: int, preview: bool) -> dict:
    """One digit → the /api/predict answer."""
    from inkdigit.vision import preprocess

    start = time.perf_counter()
    predictor = registry.get(model)
    data = strokes.render(source).picture if isinstance(source, Drawing) else source
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


def predict_number(registry: ModelRegistry, source: bytes | Drawing, model: str | None, top_k: int,
                   preview: bool) -> dict:
    """A written number → the /api/predict/number answer."""
    start = time.perf_counter()
    predictor = registry.get(model)
    if isinstance(source, Drawing):
        # The picture of the strokes, and their groups (one per character): the segmentation never cuts
        # inside a group, so it cuts where the pen says a character ends.
        rendered = strokes.render(source)
        number = predictor.predict_number(rendered.picture, top_k=top_k, atoms=rendered.atoms())
    else:
        number = predictor.predict_number(source, top_k=top_k)
    result = number.to_dict(preview=preview)
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
            item.update(ok=False, status=status_of(upload.error), error=message_of(upload.error))
        else:
            try:
                item.update(ok=True, **predictor.predict(upload.data, top_k=top_k).to_dict(preview=preview))
            except Exception as exc:
                status = status_of(exc)
                if status is None:
                    raise
                item.update(ok=False, status=status, error=message_of(exc))
        results.append(item)
    return {"model": predictor.name, "count": len(results), "results": results}

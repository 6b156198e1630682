"""The API's recognition work: image bytes or a drawing + settings → a JSON-ready dict, with each request's
work bounded.

Each image is read on the event loop, so the loop never waits on more than one image's work. A single
image starts as soon as its body is in, without asking whether the client has gone (Starlette's
`is_disconnected` costs ~0.1 ms, 5% of a request). A batch is read one image at a time, and between two
images the loop runs whatever else is waiting (other requests, the protocol's timers). A request's work
must end `DEADLINE_S` after it starts (its body read): a batch not done by then is a 503, and it stops when
the client has gone; the pixels of its images, summed, must be within `MAX_BATCH_PIXELS`. Reading in worker
threads instead cost ~0.5 ms more CPU per request and missed the p99 target at 500 requests/s
(docs/speed.md).
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
from PIL import Image
from starlette.requests import ClientDisconnect, Request

from inkdigit.server.bodies import Upload
from inkdigit.server.errors import DeadlineError, TooMuchWorkError, message_of, status_of
from inkdigit.server.registry import ModelRegistry
from inkdigit.server.render import stage_previews
from inkdigit.vision import strokes
from inkdigit.vision.decode import ALLOWED_FORMATS
from inkdigit.vision.strokes import Drawing

T = TypeVar("T")

DEADLINE_S = 10.0  # a request's work, from its body read to its answer
# Decoded pixels of one batch request, summed over its images: 32 pictures of 1024 x 1024 (a 16-bit PNG of
# 4096 x 4096 is ~130 KB on the wire and ~0.2-0.4 s to decode; 32 of them were 20 s of work).
MAX_BATCH_PIXELS = 32 << 20

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


def charsets(registry: ModelRegistry) -> dict:
    """The /api/charsets answer: each character set, its labels and the model that reads it (None: missing).
    Reads the models' metadata: not on the event loop."""
    from inkdigit.charsets import CHARSETS
    from inkdigit.inference import CHARSET_DIR, model_metadata

    out = []
    for name, charset in CHARSETS.items():
        if name == "digits":
            model: str | None = registry.default.name
        elif registry.charset_ready(name):
            model = registry.charset(name).name
        else:
            path = CHARSET_DIR / f"{name}.onnx"
            model = (model_metadata(path).get("name") or path.stem) if path.is_file() else None
        out.append({"name": name, "description": charset.description, "labels": list(charset.labels),
                    "model": model})
    return {"charsets": out}


def predict_char(predictor: Any, source: bytes | Drawing, charset: str, top_k: int, preview: bool,
                 kinds: str | None) -> dict:
    """One character of any set → the /api/predict/char answer."""
    start = time.perf_counter()
    data = strokes.render(source).picture if isinstance(source, Drawing) else source
    pred = predictor.predict(data, top_k=top_k, kinds=kinds)
    result = predictor.char_answer(pred, preview=preview)
    result.update(charset=charset, model=predictor.name, elapsed_ms=round((time.perf_counter() - start) * 1000, 2))
    return result


def predict_text(predictor: Any, source: bytes | Drawing, charset: str, top_k: int, kinds: str | None = None,
                 math: bool = False, preview: bool = False) -> dict:
    """A line of characters → the /api/predict/text answer; with `math`, read and evaluated → /api/predict/math."""
    from inkdigit.inference import read_math

    start = time.perf_counter()
    picture, atoms = source, None
    if isinstance(source, Drawing):
        # As for a number: the strokes' groups are never cut (see predict_number).
        rendered = strokes.render(source)
        picture, atoms = rendered.picture, rendered.atoms()
    if math:
        reading = read_math(predictor, picture, atoms=atoms, top_k=top_k)
        result = {**predictor.line_answer(reading.line, preview), **reading.to_dict()}
    else:
        result = predictor.line_answer(predictor.read_line(picture, top_k, atoms=atoms, kinds=kinds), preview)
    result.update(charset=charset, model=predictor.name, elapsed_ms=round((time.perf_counter() - start) * 1000, 2))
    return result


async def predict_batch(request: Request, registry: ModelRegistry, uploads: list[Upload], model: str | None,
                        top_k: int, preview: bool) -> dict:
    """Many single-digit uploads → the /api/predict/batch answer (a bad file is an item, not a failure).

    TooMuchWorkError before any image is read if their pixels are over the budget; DeadlineError when the
    deadline passes between two images; ClientDisconnect (no answer) when the client has gone.
    """
    deadline = time.monotonic() + DEADLINE_S
    predictor = await _step(request, deadline, _batch_model, registry, model, uploads)
    results = []
    for upload in uploads:
        try:
            await anyio.sleep(0)  # let the event loop run what waits before the next image
            results.append(await _step(request, deadline, batch_item, predictor, upload, top_k, preview))
        except DeadlineError:
            raise DeadlineError(f"the batch ran past its {DEADLINE_S:g} s deadline after {len(results)} of "
                                f"{len(uploads)} images; send fewer or smaller images per request") from None
    return {"model": predictor.name, "count": len(results), "results": results}


def batch_item(predictor: Any, upload: Upload, top_k: int, preview: bool) -> dict:
    """One upload of a batch → its item: the prediction, or the error it would have been alone."""
    item: dict[str, Any] = {"filename": upload.filename}
    if upload.error is not None:
        item.update(ok=False, status=status_of(upload.error), error=message_of(upload.error))
        return item
    try:
        item.update(ok=True, **predictor.predict(upload.data, top_k=top_k).to_dict(preview=preview))
    except Exception as exc:
        status = status_of(exc)
        if status is None:
            raise
        item.update(ok=False, status=status, error=message_of(exc))
    return item


def image_pixels(data: bytes) -> int:
    """The pixels an image's header declares, without decoding it; 0 for bytes that are no image of an allowed
    format (reading them fails cheaply, and says why)."""
    try:
        with Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS) as img:
            return img.width * img.height
    except Exception:
        return 0


def _batch_model(registry: ModelRegistry, model: str | None, uploads: list[Upload]) -> Any:
    """The batch's predictor, once its images are known to be within the pixel budget."""
    pixels = sum(image_pixels(u.data) for u in uploads if u.error is None)
    if pixels > MAX_BATCH_PIXELS:
        raise TooMuchWorkError(f"batch too large: its images hold {pixels / 1e6:.1f} million pixels; the limit is "
                               f"{MAX_BATCH_PIXELS / 1e6:.1f} million per request (send fewer or smaller images)")
    return registry.get(model)


async def _step(request: Request, deadline: float, job: Callable[..., T], *args: Any) -> T:
    """``job(*args)`` now; DeadlineError when ``deadline`` has passed, ClientDisconnect when the client has
    gone."""
    if time.monotonic() > deadline:
        raise DeadlineError(f"the server is busy: this request's work did not start within its {DEADLINE_S:g} s "
                            "deadline; try again")
    if await request.is_disconnected():
        raise ClientDisconnect()
    return job(*args)

"""OpenAPI description of the HTTP API: answer shapes, request bodies and prose for /docs."""

from __future__ import annotations

from pydantic import BaseModel, Field

API_DESCRIPTION = """\
Read handwritten digits: send an image, get back the digit, how sure the model is, and the
probability of every class 0-9.

**Sending an image** (every `POST` endpoint that reads one image accepts all three):

* the raw image as the body, with `Content-Type: image/png` (or `image/jpeg`, `image/gif`, `image/bmp`,
  `image/webp`, `application/octet-stream`);
* `multipart/form-data` with the image in a file field named `file`;
* JSON `{"image": "data:image/png;base64,..."}` (a bare base64 string works too).

Dark ink on light paper and light ink on dark paper are both fine; photos, scans and canvas drawings
of any size are scaled down to the 28x28 MNIST input on the server.

**Errors** are JSON `{"error": "one line"}` with a 4xx status: 413 image over the size limit (5 MB by
default), 415 not an image type, 422 undecodable or blank image or bad parameter, 404 unknown model
or path. The server keeps serving after any of them.

Example: `curl -s --data-binary @digit.png -H 'Content-Type: image/png' http://127.0.0.1:8000/api/predict`
"""

TAGS = [
    {"name": "read", "description": "Read digits from images."},
    {"name": "models", "description": "The models this server can use."},
    {"name": "service", "description": "Service health."},
]

MODEL_PARAM = "Model name from `GET /api/models`; the server's default model when left out."
TOP_K_PARAM = "How many of the most likely digits to list in `top_k` (1-10)."
PREVIEW_PARAM = (
    "Also return what the model sees: the 28x28 input as a PNG data URL (`preview_png`) and, for "
    "`/api/predict`, the preprocessing `stages` (ink box, crop, 20x20 fit)."
)

PREDICT_DESCRIPTION = """\
Reads the one digit in the image. `label` is the answer, `confidence` its probability, and `unsure` is
true when that is below the model's confidence threshold (the page then says "not sure"). A blank
image (no ink) is a 422 error.
"""

NUMBER_DESCRIPTION = """\
Splits the image into digits written side by side (left to right, by connected ink strokes) and reads
each one. `text` is the number as a string; each entry of `digits` has its `box`, `[x0, y0, x1, y1]` in the
sent image's pixels (end exclusive).
"""

BATCH_DESCRIPTION = """\
Reads many images in one request: send `multipart/form-data` with one or more file fields (any field
name; `files` is conventional). Each file gets its own entry in `results`, in the order sent: with
`ok: true` and the prediction, or `ok: false` with that file's `status` and `error` (for example an
undecodable or oversized file) while the other files are still read. The whole request may be at most
25 MB and hold at most 64 files.
"""


class TopK(BaseModel):
    """One of the most likely digits."""

    label: int = Field(..., ge=0, le=9, description="The digit.")
    probability: float = Field(..., ge=0, le=1, description="Its probability.")


class PredictionOut(BaseModel):
    """What the model read from one image."""

    label: int = Field(..., ge=0, le=9, description="The digit read.", examples=[7])
    confidence: float = Field(..., ge=0, le=1, description="Probability of `label`.", examples=[0.993])
    probabilities: list[float] = Field(..., description="Probability of each digit 0-9 (sums to 1).")
    top_k: list[TopK] = Field(..., description="The `top_k` most likely digits, most likely first.")
    unsure: bool = Field(..., description="True when `confidence` is below the model's threshold.")
    preview_png: str | None = Field(
        None, description="With `preview=true`: the 28x28 model input (PNG data URL)."
    )
    stages: dict | None = Field(
        None,
        description="With `preview=true` on /api/predict: `size` [w, h] of the decoded image, `box` "
        "[x0, y0, x1, y1] of the ink, and `crop`, `fit20`, `final` previews as PNG data URLs.",
    )
    model: str = Field(..., description="The model that answered.", examples=["paper"])
    elapsed_ms: float = Field(..., description="Server time spent decoding and reading, in milliseconds.")


class DigitOut(BaseModel):
    """One digit of a number."""

    label: int = Field(..., ge=0, le=9, description="The digit read.")
    confidence: float = Field(..., ge=0, le=1, description="Probability of `label`.")
    probabilities: list[float] = Field(..., description="Probability of each digit 0-9.")
    top_k: list[TopK] = Field(..., description="The `top_k` most likely digits.")
    unsure: bool = Field(..., description="True when `confidence` is below the model's threshold.")
    box: list[int] = Field(..., description="`[x0, y0, x1, y1]` of this digit in the sent image's pixels.")
    preview_png: str | None = Field(None, description="With `preview=true`: this digit's 28x28 model input.")


class NumberOut(BaseModel):
    """What the model read from a row of digits."""

    text: str = Field(..., description="The digits read, left to right.", examples=["2024"])
    confidence: float = Field(
        ..., ge=0, le=1, description="Confidence in the whole number (product of digits')."
    )
    unsure: bool = Field(..., description="True when any digit is unsure.")
    digits: list[DigitOut] = Field(..., description="Each digit, left to right, with its box.")
    model: str = Field(..., description="The model that answered.")
    elapsed_ms: float = Field(..., description="Server time in milliseconds.")


class BatchItem(BaseModel):
    """The answer for one file of a batch."""

    filename: str | None = Field(None, description="The file name the client sent.")
    ok: bool = Field(..., description="Whether this file was read.")
    status: int | None = Field(None, description="When not ok: the HTTP status this file alone would get.")
    error: str | None = Field(None, description="When not ok: why.")
    label: int | None = Field(None, description="When ok: the digit read (and the other prediction fields).")
    confidence: float | None = None
    probabilities: list[float] | None = None
    top_k: list[TopK] | None = None
    unsure: bool | None = None


class BatchOut(BaseModel):
    """Answers for every file of a batch, in the order sent."""

    model: str
    count: int
    results: list[BatchItem]


class ModelInfo(BaseModel):
    """One model the server can use."""

    name: str = Field(..., examples=["paper"])
    description: str = ""
    test_accuracy: float | None = Field(None, description="Accuracy on the MNIST test set, when known.")
    default: bool = Field(..., description="Used when a request names no model.")
    loaded: bool = Field(..., description="Already in memory (others load on first use).")


class ModelList(BaseModel):
    """The models this server offers."""

    default: str
    models: list[ModelInfo]


class Health(BaseModel):
    """Liveness answer."""

    status: str = Field(..., examples=["ok"])
    model: str = Field(..., description="The default model.")
    version: str


class ErrorOut(BaseModel):
    """Every error answer."""

    error: str = Field(..., examples=["image is blank: nothing to read"])


ERROR_RESPONSES: dict = {
    404: {"model": ErrorOut, "description": "Unknown model."},
    413: {"model": ErrorOut, "description": "Image (or request) over the size limit."},
    415: {"model": ErrorOut, "description": "Not an image media type."},
    422: {"model": ErrorOut, "description": "Undecodable or blank image, or a bad parameter."},
}

_BINARY = {"schema": {"type": "string", "format": "binary"}}


def image_body(description: str) -> dict:
    """OpenAPI ``requestBody`` for endpoints that take one image in any of the three encodings."""
    return {
        "requestBody": {
            "required": True,
            "description": description + " Raw image body, multipart field `file`, or JSON data URL.",
            "content": {
                "image/png": _BINARY,
                "image/jpeg": _BINARY,
                "application/octet-stream": _BINARY,
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                        "required": ["file"],
                    }
                },
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "image": {
                                "type": "string",
                                "description": "A data URL (or bare base64) of the image.",
                                "examples": ["data:image/png;base64,iVBORw0KGgo..."],
                            }
                        },
                        "required": ["image"],
                    }
                },
            },
        }
    }


BATCH_BODY: dict = {
    "requestBody": {
        "required": True,
        "description": "One or more image files as multipart form data.",
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "files": {"type": "array", "items": {"type": "string", "format": "binary"}}
                    },
                    "required": ["files"],
                }
            }
        },
    }
}

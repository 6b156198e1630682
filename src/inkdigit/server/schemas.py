"""OpenAPI description of the HTTP API: answer shapes, request bodies and prose for /docs."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from inkdigit.inference import CONFUSABLE_FACTOR
from inkdigit.vision.strokes import DEFAULT_BRUSH, MAX_POINTS, MAX_SIDE, MAX_STROKES, MIN_SIDE

API_DESCRIPTION = f"""\
Read handwritten digits: send an image, get back the digit, how sure the model is, and the
probability of every class 0-9. Letters and symbols have their own routes (tag `characters`): one character
of a set (`/api/predict/char?charset=letters|alnum|math|digits`), a line of them (`/api/predict/text`), and a
written sum read and evaluated (`/api/predict/math`); `GET /api/charsets` lists the sets.

**Sending an image** (every `POST` endpoint that reads one image accepts all three):

* the raw image as the body, with `Content-Type: image/png` (or `image/jpeg`, `image/gif`, `image/bmp`,
  `image/webp`, `application/octet-stream`);
* `multipart/form-data` with the image in a file field named `file`;
* JSON `{{"image": "data:image/png;base64,..."}}` (a bare base64 string works too).

Dark ink on light paper and light ink on dark paper are both fine; photos, scans and canvas drawings
of any size are scaled down to the 28x28 MNIST input on the server.

**Sending a drawing as strokes** (digital ink, as a pen or finger wrote it; every route that reads one
image): JSON `{{"strokes": [[[x, y], ...], ...], "width": W, "height": H}}`, each stroke the
points from pen-down to pen-up in pixels of a W x H canvas (a third number per point, a time, is allowed),
and optionally `"brush"`, the pen's width in pixels (one number, or one per stroke;
{DEFAULT_BRUSH:.0%} of the shorter side by default). The server paints it with the drawing page's round pen,
black on white, and reads that; boxes in the answer are in the canvas's pixels. Limits: at most
{MAX_STROKES:,} strokes, {MAX_POINTS:,} points and {MAX_SIDE} pixels a side; points may lie at most one canvas
width (height) outside the canvas.

**Errors** are JSON `{{"error": "one line"}}` with a 4xx status: 413 image or drawing over a size limit
(5 MB by default), 415 not an image type or an unread format (EPS, PSD, ...), 422 undecodable or blank
image, malformed strokes or bad parameter, 404 unknown model or path. The server keeps serving after any of them.

Example: `curl -s --data-binary @digit.png -H 'Content-Type: image/png' http://127.0.0.1:8000/api/predict`
or, a "1" as one stroke: `curl -s -H 'Content-Type: application/json' -d
'{{"strokes": [[[150, 50], [140, 230]]], "width": 280, "height": 280}}' http://127.0.0.1:8000/api/predict`
"""

TAGS = [
    {"name": "read", "description": "Read digits from images."},
    {"name": "characters", "description": "Read letters and symbols: one character, a line, a sum to evaluate."},
    {"name": "models", "description": "The models this server can use."},
    {"name": "service", "description": "Service health."},
]

PREDICT_DESCRIPTION = """\
Reads the one digit in the image. `label` is the answer, `confidence` its probability, and `unsure` is
true when that is below the model's confidence threshold (the page then says "not sure"). A blank
image (no ink) is a 422 error.
"""

NUMBER_DESCRIPTION = """\
Reads digits written side by side, left to right. The ink is cut into candidate pieces and the model
decides which pieces make one digit (a drawing's strokes are never cut). `text` is the number as a string;
each entry of `digits` has its `box`, `[x0, y0, x1, y1]` in the sent image's pixels, or a drawing's canvas
pixels (end exclusive); `alternatives` are the next-best readings, when there are any.
"""

BATCH_DESCRIPTION = """\
Reads many images in one request: send `multipart/form-data` with one or more file fields (any field
name; `files` is conventional). Each file gets its own entry in `results`, in the order sent: with
`ok: true` and the prediction, or `ok: false` with that file's `status` and `error` (for example an
undecodable or oversized file) while the other files are still read. The whole request may be at most
25 MB and hold at most 64 files.
"""


# Every answer model forbids fields it does not name: tests/test_server_schemas.py validates each JSON answer
# the API can give against its model, so a field sent but not documented here fails a test. A field that is
# only sometimes sent is typed as what it holds when sent, with default None (it is never sent as null).


class TopK(BaseModel):
    """One of the most likely digits."""

    model_config = ConfigDict(extra="forbid")

    label: int = Field(..., ge=0, le=9, description="The digit.")
    probability: float = Field(..., ge=0, le=1, description="Its probability.")


class Stages(BaseModel):
    """What preprocessing did to one image, for the page to show."""

    model_config = ConfigDict(extra="forbid")

    size: list[int] = Field(..., min_length=2, max_length=2, description="`[w, h]` of the decoded image.")
    box: list[int] = Field(..., min_length=4, max_length=4, description="`[x0, y0, x1, y1]` of the ink.")
    crop: str = Field(..., description="The ink's crop (PNG data URL).")
    fit20: str = Field(..., description="The crop fitted into 20x20 (PNG data URL).")
    final: str = Field(..., description="The 28x28 model input (PNG data URL).")


class PredictionOut(BaseModel):
    """What the model read from one image."""

    model_config = ConfigDict(extra="forbid")

    label: int = Field(..., ge=0, le=9, description="The digit read.", examples=[7])
    confidence: float = Field(..., ge=0, le=1, description="Probability of `label`.", examples=[0.993])
    probabilities: list[float] = Field(
        ..., min_length=10, max_length=10, description="Probability of each digit 0-9 (sums to 1)."
    )
    top_k: list[TopK] = Field(..., description="The `top_k` most likely digits, most likely first.")
    unsure: bool = Field(..., description="True when `confidence` is below the model's threshold.")
    preview_png: str = Field(None, description="Only with `preview=true`: the 28x28 model input (PNG data URL).")
    stages: Stages = Field(None, description="Only with `preview=true`: what preprocessing did.")
    model: str = Field(..., description="The model that answered.", examples=["paper"])
    elapsed_ms: float = Field(..., description="Server time spent decoding and reading, in milliseconds.")


class DigitOut(BaseModel):
    """One digit of a number."""

    model_config = ConfigDict(extra="forbid")

    label: int = Field(..., ge=0, le=9, description="The digit read.")
    confidence: float = Field(..., ge=0, le=1, description="Probability of `label`.")
    probabilities: list[float] = Field(..., min_length=10, max_length=10, description="Probability of each digit 0-9.")
    top_k: list[TopK] = Field(..., description="The `top_k` most likely digits.")
    unsure: bool = Field(..., description="True when `confidence` is below the model's threshold.")
    preview_png: str = Field(None, description="Only with `preview=true`: this digit's 28x28 model input.")
    box: list[int] = Field(
        ..., min_length=4, max_length=4, description="`[x0, y0, x1, y1]` of this digit in the sent image's pixels."
    )


class AlternativeOut(BaseModel):
    """Another way to read the number."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(..., description="The digits of this reading, left to right.", examples=["528"])
    confidence: float = Field(..., ge=0, le=1, description="The answer's confidence scaled by how much less "
                              "likely this reading is (never above the answer's).")


class NumberOut(BaseModel):
    """What the model read from a row of digits."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(..., description="The digits read, left to right.", examples=["2024"])
    confidence: float = Field(
        ..., ge=0, le=1, description="Confidence in the whole number (product of digits')."
    )
    unsure: bool = Field(..., description="True when any digit is unsure.")
    digits: list[DigitOut] = Field(..., description="Each digit, left to right, with its box.")
    alternatives: list[AlternativeOut] = Field(..., description="Up to 2 next-best readings (another split "
                                               "of the ink or another digit), best first; may be empty.")
    model: str = Field(..., description="The model that answered.")
    elapsed_ms: float = Field(..., description="Server time in milliseconds.")


class BatchItem(BaseModel):
    """The answer for one file of a batch: `ok` and the prediction fields, or not `ok`, `status` and `error`."""

    model_config = ConfigDict(extra="forbid")

    filename: str | None = Field(..., description="The file name the client sent.")
    ok: bool = Field(..., description="Whether this file was read.")
    status: int = Field(None, description="Only when not ok: the HTTP status this file alone would get.")
    error: str = Field(None, description="Only when not ok: why.")
    label: int = Field(None, ge=0, le=9, description="Only when ok: the digit read.")
    confidence: float = Field(None, ge=0, le=1, description="Only when ok: probability of `label`.")
    probabilities: list[float] = Field(
        None, min_length=10, max_length=10, description="Only when ok: probability of each digit 0-9."
    )
    top_k: list[TopK] = Field(None, description="Only when ok: the `top_k` most likely digits.")
    unsure: bool = Field(None, description="Only when ok: `confidence` is below the model's threshold.")
    preview_png: str = Field(None, description="Only when ok, with `preview=true`: the 28x28 model input.")


class BatchOut(BaseModel):
    """Answers for every file of a batch, in the order sent."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(..., description="The model that answered.")
    count: int = Field(..., description="How many files were sent (the length of `results`).")
    results: list[BatchItem] = Field(..., description="One answer per file, in the order sent.")


class ModelInfo(BaseModel):
    """One model the server can use."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., examples=["paper"])
    description: str = Field(..., description="What the model is.")
    test_accuracy: float | None = Field(..., description="Accuracy on the MNIST test set, null when unknown.")
    default: bool = Field(..., description="Used when a request names no model.")
    loaded: bool = Field(..., description="Already in memory (others load on first use).")


class ModelList(BaseModel):
    """The models this server offers."""

    model_config = ConfigDict(extra="forbid")

    default: str = Field(..., description="The model used when a request names none.")
    models: list[ModelInfo]


class Health(BaseModel):
    """Liveness answer."""

    model_config = ConfigDict(extra="forbid")

    status: str = Field(..., examples=["ok"])
    model: str = Field(..., description="The default model.")
    version: str = Field(..., description="The inkdigit version serving.")


CHARSETS_DESCRIPTION = """\
The character sets this server reads (`digits`, `letters`, `alnum`, `math`), each with its labels in the
order of its model's outputs and the model that reads it (`null` when that model is not installed: reading with
the set is then a 503). Letters are upper and lower case merged ("A" stands for A and a); `alnum` is EMNIST
balanced's 47 classes (digits, A-Z and a b d e f g h n q r t, the other lower-case letters merged into their
capitals).
"""

CHAR_DESCRIPTION = f"""\
Reads the one character in the image with the model of `charset` (`letters` by default). `text` is the
answer, `kind` its kind (`digit`, `letter` or `symbol`). `kinds` (comma-separated, e.g. `letter` or
`digit,letter`) restricts the answer to those kinds: a letters-only or digits-only reading never answers with
the other kind. `confusable` lists readings of another kind that look alike and are at least
1/{CONFUSABLE_FACTOR:g} as likely as the answer ("O" for "0" with `alnum`); it is empty otherwise. A blank
image is a 422, an unknown `charset` or `kinds` a 422, a set whose model is not installed a 503.
"""

TEXT_DESCRIPTION = """\
Reads a line of characters (a word, a code, an expression), left to right, with the model of `charset`
(`alnum` by default). The ink is cut into candidate pieces and the model decides which pieces make one
character (a drawing's strokes are never cut; the dot of an i, the bars of "=" and the dots of "÷" make one
character). Each entry of `chars` has its `box`, `[x0, y0, x1, y1]` in the sent image's (or canvas's) pixels;
`alternatives` are the next-best readings.
"""

MATH_DESCRIPTION = """\
Reads a written line of arithmetic with the `math` model (digits and + − × ÷ = ( ) .) and evaluates it
exactly with the server's own parser (never Python's eval): "12+7=" gives `value` "19" and `message`
"12+7 = 19"; "2+2=5" gives `holds` false. A line that was read but does not evaluate ("7÷0", "12+") is a 200
with `ok` false and the evaluator's one-line `message`; blank or unreadable ink is a 422 as on the other routes.
"""


class CharsetInfo(BaseModel):
    """One character set."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., examples=["letters"])
    description: str = Field(..., description="What the set holds.")
    labels: list[str] = Field(..., description="The set's labels, in the order of its model's outputs.")
    model: str | None = Field(..., description="The model that reads it; null when it is not installed.")


class CharsetList(BaseModel):
    """The character sets this server reads."""

    model_config = ConfigDict(extra="forbid")

    charsets: list[CharsetInfo]


class TextProbability(BaseModel):
    """One reading of a character and its probability."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(..., description="The label read.", examples=["A"])
    probability: float = Field(..., ge=0, le=1, description="Its probability.")


class CharOut(BaseModel):
    """What the model read from one character."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(..., description="The label read.", examples=["A"])
    kind: str = Field(..., description="Its kind: `digit`, `letter` or `symbol`.", examples=["letter"])
    confidence: float = Field(..., ge=0, le=1, description="Probability of `text`.")
    unsure: bool = Field(..., description="True when `confidence` is below the model's threshold.")
    top_k: list[TextProbability] = Field(..., description="The `top_k` most likely labels, most likely first.")
    confusable: list[TextProbability] = Field(..., description="Readings of another kind that look alike and are "
                                              "close to the answer (\"O\" for \"0\"); may be empty.")
    charset: str = Field(..., description="The character set read with.", examples=["letters"])
    model: str = Field(..., description="The model that answered.")
    elapsed_ms: float = Field(..., description="Server time in milliseconds.")
    preview_png: str = Field(None, description="Only with `preview=true`: the 28x28 model input (PNG data URL).")


class TextCharOut(BaseModel):
    """One character of a line."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(..., description="The label read.")
    confidence: float = Field(..., ge=0, le=1, description="Probability of `text`.")
    unsure: bool = Field(..., description="True when `confidence` is below the model's threshold.")
    top_k: list[TextProbability] = Field(..., description="The `top_k` most likely labels.")
    box: list[int] = Field(..., min_length=4, max_length=4,
                           description="`[x0, y0, x1, y1]` of this character in the sent image's pixels.")
    preview_png: str = Field(None, description="Only with `preview=true`: this character's 28x28 model input.")


class TextOut(BaseModel):
    """What the model read from a line of characters."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(..., description="The characters read, left to right.", examples=["CAT"])
    confidence: float = Field(..., ge=0, le=1, description="Confidence in the whole line (product of its "
                              "characters').")
    unsure: bool = Field(..., description="True when any character is unsure.")
    chars: list[TextCharOut] = Field(..., description="Each character, left to right, with its box.")
    alternatives: list[AlternativeOut] = Field(..., description="Up to 2 next-best readings, best first.")
    charset: str = Field(..., description="The character set read with.", examples=["alnum"])
    model: str = Field(..., description="The model that answered.")
    elapsed_ms: float = Field(..., description="Server time in milliseconds.")


class MathOut(TextOut):
    """A written line of arithmetic, read and evaluated."""

    expression: str = Field(..., description="The symbols read, as evaluated.", examples=["12+7="])
    value: str | None = Field(..., description="The value of the left side as shown (\"19\", \"3.5\", "
                              "\"≈0.3333333333\"); null when the line does not evaluate.", examples=["19"])
    holds: bool | None = Field(..., description="For a line with two sides (\"2+2=4\"): whether it is true; "
                               "null otherwise.")
    message: str = Field(..., description="One line: the result (\"12+7 = 19\") or what is wrong (\"division "
                         "by zero at symbol 2\").", examples=["12+7 = 19"])
    ok: bool = Field(..., description="Whether the line evaluated.")


class ErrorOut(BaseModel):
    """Every error answer."""

    model_config = ConfigDict(extra="forbid")

    error: str = Field(..., examples=["image is blank: nothing to read"])


ERROR_RESPONSES: dict = {
    404: {"model": ErrorOut, "description": "Unknown model."},
    413: {"model": ErrorOut, "description": "Image, drawing (or request) over a size limit, or a batch whose "
          "images hold too many pixels in all."},
    415: {"model": ErrorOut, "description": "Not an image media type, or an image format that is not read "
          "(only PNG, JPEG, GIF, BMP, WebP, TIFF and PNM are)."},
    422: {"model": ErrorOut, "description": "Undecodable or blank image, malformed strokes, or a bad parameter."},
    503: {"model": ErrorOut, "description": "The server's model does not load now, or the request's work ran past "
          "its deadline (10 s); `Retry-After` says when the model is tried again."},
}
# The character routes: as the digit routes, and a 503 when the set's model is not installed.
CHAR_ERROR_RESPONSES: dict = {
    **{k: v for k, v in ERROR_RESPONSES.items() if k != 404},
    422: {"model": ErrorOut, "description": "Undecodable or blank image, malformed strokes, an unknown `charset` "
          "or `kinds`, or a bad parameter."},
    503: {"model": ErrorOut, "description": "The character set's model is not installed or does not load, or the "
          "request's work ran past its deadline."},
}
# /healthz and /api/models: their one error answer besides 405.
UNAVAILABLE_RESPONSE: dict = {
    503: {"model": ErrorOut, "description": "The server's default model does not load now (the reason is in "
          "`error`); `Retry-After` says when it is tried again."},
}


# The request bodies read as JSON. The routes read their bodies themselves (vision/strokes.py checks a
# drawing), so these models document the shapes in the OpenAPI document; tests/test_server_schemas.py checks
# that they agree with what the server accepts.

Point = Annotated[list[float], Field(min_length=2, max_length=3)]
Stroke = Annotated[list[Point], Field(min_length=1)]


class ImageIn(BaseModel):
    """An image as a data URL."""

    model_config = ConfigDict(extra="forbid")

    image: str = Field(..., description="A data URL (or bare base64) of the image.",
                       examples=["data:image/png;base64,iVBORw0KGgo..."])


class DrawingIn(BaseModel):
    """A drawing as the strokes of a pen, in pixels of a canvas."""

    model_config = ConfigDict(extra="forbid")

    strokes: list[Stroke] = Field(
        ..., min_length=1, max_length=MAX_STROKES,
        description="The strokes in the order written, each the points `[x, y]` (or `[x, y, t]`, t a time "
        f"that is not used) from pen-down to pen-up; at most {MAX_POINTS:,} points in all.",
    )
    width: int = Field(..., ge=MIN_SIDE, le=MAX_SIDE, description="The canvas's width in pixels.")
    height: int = Field(..., ge=MIN_SIDE, le=MAX_SIDE, description="The canvas's height in pixels.")
    brush: float | list[float] | None = Field(
        None, description="The pen's width in pixels: one number, or one per stroke; "
        f"{DEFAULT_BRUSH:.0%} of the canvas's shorter side when left out.",
    )


# A "7" as the drawing page sends it: two strokes on its 280 x 280 canvas with its 20-pixel pen.
DRAWING_EXAMPLE = {
    "strokes": [[[78, 62], [140, 61], [202, 62], [170, 126], [126, 224]], [[110, 140], [180, 138]]],
    "width": 280,
    "height": 280,
    "brush": 20,
}
IMAGE_EXAMPLE = {"image": "data:image/png;base64,iVBORw0KGgo..."}

_BINARY = {"schema": {"type": "string", "format": "binary"}}


def image_body(description: str) -> dict:
    """OpenAPI ``requestBody`` for endpoints that take one image in any of the three encodings, or strokes."""
    return {
        "requestBody": {
            "required": True,
            "description": description + " Raw image body, multipart field `file`, JSON data URL, or a drawing "
            "as JSON strokes.",
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
                    "schema": {"oneOf": [_inline(ImageIn), _inline(DrawingIn)]},
                    "examples": {
                        "image": {"summary": "An image as a data URL", "value": IMAGE_EXAMPLE},
                        "strokes": {"summary": "A drawing as strokes (a 7)", "value": DRAWING_EXAMPLE},
                    },
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


def _inline(model: type[BaseModel]) -> dict:
    """A request model's JSON schema, whole, for an OpenAPI request body."""
    return model.model_json_schema()

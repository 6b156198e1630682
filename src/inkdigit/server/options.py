"""The query parameters every reading endpoint takes, `model`, `top_k` and `preview`: their limits, defaults
and descriptions, defined once for the routes (a FastAPI dependency) and for the shortcut (a plain parser).
"""

from __future__ import annotations

from typing import NamedTuple
from urllib.parse import parse_qsl

from fastapi import Query

MODEL_NAME_MAX = 200  # characters; longer names are refused before the catalogue is looked at
TOP_K_MIN, TOP_K_MAX, TOP_K_DEFAULT = 1, 10, 3
PREVIEW_DEFAULT = False
# The spellings of `preview` the shortcut takes itself; the route also takes pydantic's other ones ("yes", "on").
PLAIN_BOOLEANS = {"true": True, "false": False, "1": True, "0": False}

MODEL_PARAM = "Model name from `GET /api/models`; the server's default model when left out."
TOP_K_PARAM = f"How many of the most likely digits to list in `top_k` ({TOP_K_MIN}-{TOP_K_MAX})."
PREVIEW_PARAM = (
    "Also return what the model sees: the 28x28 input as a PNG data URL (`preview_png`) and, for "
    "`/api/predict`, the preprocessing `stages` (ink box, crop, 20x20 fit)."
)


class ReadOptions(NamedTuple):
    """The query parameters every read endpoint takes, in the order the work functions take them."""

    model: str | None
    top_k: int
    preview: bool


async def read_options(
    model: str | None = Query(None, description=MODEL_PARAM, max_length=MODEL_NAME_MAX),
    top_k: int = Query(TOP_K_DEFAULT, ge=TOP_K_MIN, le=TOP_K_MAX, description=TOP_K_PARAM),
    preview: bool = Query(PREVIEW_DEFAULT, description=PREVIEW_PARAM),
) -> ReadOptions:
    """The routes' dependency: FastAPI parses and checks the parameters (a bad one is a 422)."""
    # async on purpose: FastAPI runs a plain `def` dependency in its thread pool, and that hand-over to a
    # thread and back cost the event loop more CPU than the rest of the request (docs/speed.md).
    return ReadOptions(model, top_k, preview)


def plain_options(query: bytes) -> ReadOptions | None:
    """The shortcut's parser: the options of a query string in plain form, or None to leave it to the route.

    Only spellings whose meaning is beyond doubt, within the same limits as `read_options`, so that whatever
    this accepts, the route would read the same way; anything else (a bad value included) goes to the route.
    """
    model, top_k, preview = None, TOP_K_DEFAULT, PREVIEW_DEFAULT
    try:
        pairs = parse_qsl(query.decode("ascii"), keep_blank_values=True, strict_parsing=bool(query))
    except (UnicodeDecodeError, ValueError):
        return None
    if len({key for key, _ in pairs}) != len(pairs):
        return None  # a repeated parameter
    for key, value in pairs:
        if key == "model" and 0 < len(value) <= MODEL_NAME_MAX:
            model = value
        elif key == "top_k" and _plain_int(value) in range(TOP_K_MIN, TOP_K_MAX + 1):
            top_k = int(value)
        elif key == "preview" and value in PLAIN_BOOLEANS:
            preview = PLAIN_BOOLEANS[value]
        else:
            return None
    return ReadOptions(model, top_k, preview)


def _plain_int(value: str) -> int | None:
    """A whole number written in plain decimal digits, no sign, no leading zero; else None."""
    plain = value.isascii() and value.isdigit() and (value == "0" or not value.startswith("0"))
    return int(value) if plain else None

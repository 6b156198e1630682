"""The query parameters every reading endpoint takes, `model`, `top_k` and `preview`: their limits, defaults
and descriptions, defined once as the FastAPI dependency all those routes share.
"""

from __future__ import annotations

from typing import NamedTuple

from fastapi import Query

MODEL_NAME_MAX = 200  # characters; longer names are refused before the catalogue is looked at
TOP_K_MIN, TOP_K_MAX, TOP_K_DEFAULT = 1, 10, 3
PREVIEW_DEFAULT = False

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


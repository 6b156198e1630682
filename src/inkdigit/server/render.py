"""Small PNG previews of preprocessing stages, as data URLs the page can show directly."""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
from PIL import Image

MAX_PREVIEW_SIDE = 112


def png_data_url(image: np.ndarray, max_side: int = MAX_PREVIEW_SIDE) -> str:
    """Encode a float [0,1] (or uint8) grey image as a PNG data URL, shrunk to at most ``max_side`` pixels."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        arr = (np.clip(arr, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if arr.ndim != 2 or arr.size == 0:
        arr = np.zeros((1, 1), np.uint8)
    picture = Image.fromarray(arr, mode="L")
    if max(picture.size) > max_side:
        scale = max_side / max(picture.size)
        size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
        picture = picture.resize(size, Image.Resampling.BOX)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=False, compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def stage_previews(stages: Any) -> dict:
    """Preprocessing stages of one image: the ink box, the crop, the 20x20 fit and the 28x28 input."""
    height, width = stages.ink.shape[:2]
    return {
        "size": [int(width), int(height)],
        "box": [int(v) for v in stages.box],
        "crop": png_data_url(stages.crop),
        "fit20": png_data_url(stages.fit20),
        "final": png_data_url(stages.final),
    }

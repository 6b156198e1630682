"""Small PNG previews of preprocessing stages, as data URLs the page can show directly."""

from __future__ import annotations

from typing import Any

from inkdigit.vision.encode import png_data_url

MAX_PREVIEW_SIDE = 112


def stage_previews(stages: Any) -> dict:
    """Preprocessing stages of one image: the ink box, the crop, the 20x20 fit and the 28x28 input."""
    height, width = stages.ink.shape[:2]
    return {
        "size": [int(width), int(height)],
        "box": [int(v) for v in stages.box],
        "crop": png_data_url(stages.crop, MAX_PREVIEW_SIDE),
        "fit20": png_data_url(stages.fit20, MAX_PREVIEW_SIDE),
        "final": png_data_url(stages.final, MAX_PREVIEW_SIDE),
    }

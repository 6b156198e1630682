"""Painting the result card's two pictures: the bar chart and the preview of what the model saw."""

from __future__ import annotations

import tkinter as tk
from tkinter import font as tkfont
from typing import TYPE_CHECKING

from PIL import Image

from inkdigit.gui import present
from inkdigit.gui.theme import ACCENT, BAR, MUTED, TEXT, TRACK, png_photo

if TYPE_CHECKING:
    import numpy as np

PREVIEW = 112  # px; the 28x28 model input shown at 4x
BAR_ROW = 21  # px per probability bar
EMPTY_PREVIEW = "#181818"


def draw_bars(canvas: tk.Canvas, bars: list[present.Bar], fonts: dict[str, tkfont.Font]) -> None:
    """One bar per row: label, bar and value; the highlighted one bold and in the accent colour."""
    canvas.delete("all")
    width = int(canvas.cget("width"))
    x_bar, x_end = 26, width - 80
    for i, bar in enumerate(bars):
        y = 3 + i * BAR_ROW
        mid = y + BAR_ROW / 2
        font = fonts["bar_bold"] if bar.hot else fonts["bar"]
        canvas.create_text(8, mid, text=bar.label, anchor="w", font=font, fill=ACCENT if bar.hot else TEXT)
        canvas.create_rectangle(x_bar, y + 5, x_end, y + BAR_ROW - 5, fill=TRACK, outline="")
        if bar.value > 0:
            x = x_bar + max((x_end - x_bar) * min(bar.value, 1.0), 2)
            fill = ACCENT if bar.hot else BAR
            canvas.create_rectangle(x_bar, y + 5, x, y + BAR_ROW - 5, fill=fill, outline="")
        canvas.create_text(width - 4, mid, text=bar.text, anchor="e", font=font, fill=TEXT if bar.hot else MUTED)


def preview_photo(images: list[np.ndarray], master: tk.Misc) -> tk.PhotoImage:
    """The 28x28 model input(s), upscaled with nearest neighbour so each pixel stays visible."""
    if not images:  # a plain dark square; no PIL encoding, which would slow the first paint
        photo = tk.PhotoImage(master=master, width=PREVIEW, height=PREVIEW)
        photo.put(EMPTY_PREVIEW, to=(0, 0, PREVIEW, PREVIEW))
        return photo
    import numpy as np  # already loaded: the images come from the model

    box = Image.new("L", (PREVIEW, PREVIEW), 24)
    for image, (x, y, side) in zip(images, present.tiles(len(images), PREVIEW), strict=False):
        tile = np.clip(np.asarray(image, dtype=np.float32), 0, 1)
        pic = Image.fromarray((tile * 255).astype(np.uint8), mode="L")
        box.paste(pic.resize((side, side), Image.Resampling.NEAREST), (x, y))
    return png_photo(box, master)

"""The drawing sheet of the desktop app: strokes kept as vectors, shown on a Tk canvas, read as strokes.

The paper's app screen-grabbed its canvas; here every stroke is stored in page units ([0,1] both ways), and
what the model reads is those strokes on a sheet of fixed size (IMAGE_SIZE), painted by
`inkdigit.vision.strokes` with the same pen as the web page and the API's strokes, so the desktop app, the page
and an API client read one drawing alike. A resize only changes how the sheet is shown.
"""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable
from dataclasses import dataclass, field
from tkinter import font as tkfont
from typing import TYPE_CHECKING

from PIL import Image

from inkdigit.gui.present import Box
from inkdigit.gui.theme import ACCENT, BORDER, CANVAS_BG, HINT, INK, SHADOW, png_photo

if TYPE_CHECKING:
    from inkdigit.vision.strokes import Drawing

# A 4:3 sheet: roomy for one digit, wide enough for a short number.
PAGE_ASPECT = 4 / 3
IMAGE_SIZE = (640, 480)  # the canvas, in pixels, the strokes are read on (black ink on white)
PAGE_MARGIN = 14  # px of canvas around the sheet


@dataclass
class Stroke:
    """One pen-down-to-pen-up line: points in page units and the brush width as a fraction of page height."""

    width: float
    points: list[tuple[float, float]] = field(default_factory=list)


class Sheet:
    """A canvas that scales with the window, the strokes on it, and the image the model reads from them."""

    def __init__(
        self,
        canvas: tk.Canvas,
        fonts: dict[str, tkfont.Font],
        on_stroke_start: Callable[[], None],
        on_stroke_end: Callable[[], None],
    ) -> None:
        self.canvas = canvas
        self.fonts = fonts
        self.brush = 0.07  # fraction of page height
        self.hint = ""  # shown on the empty sheet; the window sets it for the current mode
        self.strokes: list[Stroke] = []
        self.opened: Image.Image | None = None  # an opened image file replaces the drawing until cleared
        self.opened_bytes: bytes | None = None
        self.boxes: list[tuple[Box, str]] = []
        self._on_stroke_start = on_stroke_start
        self._on_stroke_end = on_stroke_end
        self._photo: tk.PhotoImage | None = None
        self._current: Stroke | None = None
        self._current_item: int | None = None
        canvas.configure(background=CANVAS_BG, highlightthickness=0, cursor="pencil")
        canvas.bind("<Configure>", lambda _e: self.redraw())
        canvas.bind("<ButtonPress-1>", self._on_press)
        canvas.bind("<B1-Motion>", self._on_motion)
        canvas.bind("<ButtonRelease-1>", self._on_release)

    # ---------------------------------------------------------------- what the model reads
    @property
    def ink_image(self) -> Image.Image:
        """The drawing as the model's picture: black ink on white, IMAGE_SIZE whatever the window size."""
        from inkdigit.vision.strokes import render

        return render(self.drawing()).picture

    def has_input(self) -> bool:
        """Whether there is anything to read: strokes or an opened image."""
        return bool(self.strokes) or self.opened_bytes is not None

    def source(self) -> bytes | Drawing:
        """What to hand the model: the opened file's bytes, else the drawing's strokes."""
        return self.opened_bytes if self.opened_bytes is not None else self.drawing()

    def strokes_json(self) -> dict:
        """The strokes as the API takes them: pixels of the IMAGE_SIZE sheet, each stroke with its pen width."""
        w, h = IMAGE_SIZE
        return {
            "strokes": [[[u * w, v * h] for u, v in stroke.points] for stroke in self.strokes],
            "width": w,
            "height": h,
            "brush": [stroke.width * h for stroke in self.strokes],
        }

    def drawing(self) -> Drawing:
        """The strokes, checked and ready to paint (numpy is imported here, once a reading is asked for)."""
        from inkdigit.vision.strokes import parse

        return parse(self.strokes_json())

    # ---------------------------------------------------------------- geometry
    def page_rect(self) -> tuple[float, float, float, float]:
        """The sheet on the canvas: x0, y0, width, height (the largest 4:3 box that fits, centred)."""
        w = max(self.canvas.winfo_width(), 2 * PAGE_MARGIN + 4)
        h = max(self.canvas.winfo_height(), 2 * PAGE_MARGIN + 3)
        ph = min((w - 2 * PAGE_MARGIN) / PAGE_ASPECT, h - 2 * PAGE_MARGIN)
        pw = ph * PAGE_ASPECT
        return (w - pw) / 2, (h - ph) / 2, pw, ph

    def page_to_canvas(self, u: float, v: float) -> tuple[float, float]:
        """Page units to canvas pixels."""
        x0, y0, pw, ph = self.page_rect()
        return x0 + u * pw, y0 + v * ph

    def canvas_to_page(self, x: float, y: float) -> tuple[float, float]:
        """Canvas pixels to page units, clamped to the sheet."""
        x0, y0, pw, ph = self.page_rect()
        return min(max((x - x0) / pw, 0.0), 1.0), min(max((y - y0) / ph, 0.0), 1.0)

    def source_rect(self) -> tuple[float, float, float]:
        """Where the image the model reads lies on the canvas: x0, y0 and canvas px per source px."""
        x0, y0, pw, ph = self.page_rect()
        if self.opened is None:
            return x0, y0, pw / IMAGE_SIZE[0]
        iw, ih = self.opened.size
        s = min(pw / iw, ph / ih)
        return x0 + (pw - iw * s) / 2, y0 + (ph - ih * s) / 2, s

    # ---------------------------------------------------------------- mouse
    def _on_press(self, event: tk.Event) -> None:
        if self.opened is not None:  # ink on an opened photo would mix two pictures: start a fresh sheet
            self.clear()
        self.boxes = []
        self.canvas.delete("box", "hint")
        self._current = Stroke(width=self.brush, points=[self.canvas_to_page(event.x, event.y)])
        self.strokes.append(self._current)
        self._current_item = None
        self._dot(self._current)
        self._on_stroke_start()

    def _on_motion(self, event: tk.Event) -> None:
        stroke = self._current
        if stroke is None:
            return
        u, v = self.canvas_to_page(event.x, event.y)
        last = stroke.points[-1]
        _, _, pw, ph = self.page_rect()
        if abs(u - last[0]) * pw < 1 and abs(v - last[1]) * ph < 1:  # sub-pixel jitter adds nothing
            return
        stroke.points.append((u, v))
        coords = [c for p in stroke.points for c in self.page_to_canvas(*p)]
        if self._current_item is None:
            self._current_item = self._line(coords, stroke.width * ph)
        else:
            self.canvas.coords(self._current_item, *coords)

    def _on_release(self, event: tk.Event) -> None:
        if self._current is None:
            return
        self._on_motion(event)
        self._current = None
        self._current_item = None
        self._on_stroke_end()

    # ---------------------------------------------------------------- painting
    def _line(self, coords: list[float], width: float) -> int:
        return self.canvas.create_line(
            *coords,
            fill=INK,
            width=max(width, 1.0),
            capstyle="round",
            joinstyle="round",
            smooth=True,
            splinesteps=12,
            tags=("ink",),
        )

    def _dot(self, stroke: Stroke) -> None:
        _, _, _, ph = self.page_rect()
        x, y = self.page_to_canvas(*stroke.points[0])
        r = max(stroke.width * ph / 2, 0.5)
        self.canvas.create_oval(x - r, y - r, x + r, y + r, fill=INK, outline="", tags=("ink",))

    def redraw(self) -> None:
        """Redraw the whole canvas from the vector data, at the canvas's current size."""
        c = self.canvas
        c.delete("all")
        x0, y0, pw, ph = self.page_rect()
        c.create_rectangle(x0 + 2, y0 + 3, x0 + pw + 2, y0 + ph + 3, fill=SHADOW, outline="")
        c.create_rectangle(x0, y0, x0 + pw, y0 + ph, fill="white", outline=BORDER)
        if self.opened is not None:
            sx, sy, s = self.source_rect()
            iw, ih = self.opened.size
            size = (max(round(iw * s), 1), max(round(ih * s), 1))
            # Tiny images (MNIST's 28x28) are shown as crisp pixels, photos are shrunk smoothly.
            resample = Image.Resampling.NEAREST if s >= 3 else Image.Resampling.LANCZOS
            self._photo = png_photo(self.opened.resize(size, resample), c)
            c.create_image(sx, sy, image=self._photo, anchor="nw", tags=("opened",))
        for stroke in self.strokes:
            if len(stroke.points) == 1:
                self._dot(stroke)
                continue
            item = self._line([c for p in stroke.points for c in self.page_to_canvas(*p)], stroke.width * ph)
            if stroke is self._current:  # a resize mid-stroke: keep extending the new line item
                self._current_item = item
        if not self.has_input():
            c.create_text(
                x0 + pw / 2, y0 + ph / 2, text=self.hint, fill=HINT, font=self.fonts["hint"], tags=("hint",)
            )
        self._draw_boxes()

    def set_boxes(self, boxes: list[tuple[Box, str]]) -> None:
        """Number mode: show a box round each digit found (source-image pixels) with what it was read as."""
        self.boxes = list(boxes)
        self._draw_boxes()

    def _draw_boxes(self) -> None:
        c = self.canvas
        c.delete("box")
        sx, sy, s = self.source_rect()
        for (bx0, by0, bx1, by1), text in self.boxes:
            x0, y0, x1, y1 = sx + bx0 * s - 4, sy + by0 * s - 4, sx + bx1 * s + 4, sy + by1 * s + 4
            c.create_rectangle(x0, y0, x1, y1, outline=ACCENT, width=2, dash=(6, 3), tags=("box",))
            tw = 10 + 9 * len(text)
            c.create_rectangle(x0, y0 - 20, x0 + tw, y0, fill=ACCENT, outline=ACCENT, tags=("box",))
            c.create_text(
                x0 + tw / 2, y0 - 10, text=text, fill="white", font=self.fonts["bar_bold"], tags=("box",)
            )

    # ---------------------------------------------------------------- editing
    def clear(self) -> None:
        """Wipe strokes, opened image and boxes."""
        self.strokes.clear()
        self.opened = self.opened_bytes = self._photo = None
        self._current = None
        self.boxes = []
        self.redraw()

    def undo(self) -> bool:
        """Take back the last stroke (or close an opened image); False when there was nothing to undo."""
        if not self.strokes:
            if self.opened is None:
                return False
            self.clear()
            return True
        self.strokes.pop()
        self.boxes = []
        self.redraw()
        return True

    def show_image(self, image: Image.Image, data: bytes) -> None:
        """Replace the sheet's content with an opened image file (`data` is what the model will read)."""
        self.clear()
        self.opened, self.opened_bytes = image, data
        self.redraw()

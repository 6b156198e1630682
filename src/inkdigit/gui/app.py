"""Desktop app: write a digit (or a whole number) with the mouse and watch the model read it.

`inkdigit gui [--model NAME|PATH]` runs `run_gui`. Tkinter only, and no torch: the model runs on ONNX Runtime
through `inkdigit.inference`, and the model loads just after the window appears.
"""

from __future__ import annotations

import io
import math
import os
import re
import sys
import tkinter as tk
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from tkinter import filedialog, ttk
from typing import TYPE_CHECKING, Any

from PIL import Image

from inkdigit.gui.sheet import Box, Sheet
from inkdigit.gui.theme import (
    ACCENT,
    BAR,
    CARD,
    ERROR,
    INK,
    MUTED,
    TEXT,
    TRACK,
    WARN,
    apply_theme,
    png_photo,
)

if TYPE_CHECKING:
    import numpy as np

    from inkdigit.inference import NumberPrediction, Prediction, Predictor

# numpy, onnxruntime and the model are imported only after the window is on screen (see _start), because
# on a slow machine they take longer than everything else together; the window should appear at once.

TITLE = "inkdigit"
NO_DISPLAY = "no display: set DISPLAY or run on a desktop"
HELP = "Draw with the mouse · Enter read · Ctrl+Z undo · Esc/Delete clear · N number mode · Ctrl+O open image"
BRUSH_MIN, BRUSH_MAX, BRUSH_DEFAULT = 1, 10, 6
BRUSH_STEP = 0.012  # brush width per step as a fraction of page height; 6 gives an MNIST-like stroke
CARD_WIDTH = 300  # px; the result card keeps this width and the sheet takes the rest
PREVIEW = 112  # px; the 28x28 model input shown at 4x
BAR_ROW = 21  # px per probability bar
TIPS = {
    False: "Tip: press N to read a whole number, Ctrl+O to read a photo of a digit.",
    True: "Tip: leave a little space between digits; each gets its own box.",
}
IMAGE_TYPES = [
    ("Images", "*.png *.jpg *.jpeg *.bmp *.gif *.webp *.tif *.tiff *.pgm *.ppm *.pbm"),
    ("All files", "*"),
]


@dataclass
class Shown:
    """What the result card shows right now, as data."""

    answer: str = ""
    detail: str = ""
    unsure: bool = False
    error: str | None = None
    boxes: list[tuple[Box, str]] = field(default_factory=list)


def _one_line(exc: BaseException) -> str:
    """An exception's message on one line, never a traceback."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    # PIL names an in-memory file by its repr ("<_io.BytesIO object at 0x...>"): noise to a person.
    text = re.sub(r"\s*<_?io\.\w+ object at 0x[0-9a-fA-F]+>", "", text)
    return text if len(text) <= 160 else text[:157] + "…"


def _percent(fraction: float) -> str:
    """A probability for people: one decimal, but never a rounded-up "100.0 %" the model did not say."""
    pct = fraction * 100
    return "> 99.9 %" if 99.9 < pct < 100 else f"{pct:.1f} %"


def _to_percent(value: Any) -> float | None:
    """Test accuracy from model metadata in percent; metadata may hold a fraction, a percent or a string."""
    try:
        acc = float(value)
    except (TypeError, ValueError):
        return None
    return acc * 100 if acc <= 1.0 else acc


class InkDigitApp:
    """The window: the drawing sheet on the left, the model's answer on the right, a status bar below."""

    def __init__(self, root: tk.Tk, model: str | None = None, predictor: Predictor | None = None) -> None:
        self.root = root
        self.predictor: Predictor | None = predictor
        self.number_mode = tk.BooleanVar(master=root, value=False)
        self.brush = tk.IntVar(master=root, value=BRUSH_DEFAULT)
        self.shown = Shown()
        self.last_traceback: str | None = None
        self._status_is_error = False
        self._read_job: str | None = None
        self._preview_photo: tk.PhotoImage | None = None
        self._startup_error: str | None = None
        self._loading = False  # while the first model loads, a drawing waits to be read

        root.title(TITLE)
        root.geometry("1100x720")
        root.minsize(880, 680)  # below this the result card no longer fits
        # Tk prints callback tracebacks to the terminal; a person using the app should see them here instead.
        root.report_callback_exception = self._report_callback_exception  # type: ignore[method-assign]
        self._fonts = apply_theme(root)
        self._models: dict[str, str] = {}
        self._model_label = Path(model).stem if model else "…"
        self.model_var = tk.StringVar(master=root, value=self._model_label)
        self._build()
        self._bind_keys()
        self.tip.configure(text=TIPS[False])
        self._show_blank()
        if predictor is not None:
            self._start(model)
        else:
            self._set_status("Loading model…")
            self._loading = True
            self._start_later(model)

    def _start_later(self, model: str | None) -> None:
        """Run _start once the window has been painted (first Expose), so it never waits for the model."""
        started = False

        def start() -> None:
            nonlocal started
            if not started:
                started = True
                self.canvas.unbind("<Expose>", funcid)
                self._start(model, load=True)

        # Expose arrives when the window is mapped; widgets repaint in idle handlers queued before ours.
        funcid = self.canvas.bind(
            "<Expose>", lambda _e: self.root.after_idle(lambda: self.root.after(1, start)), add="+"
        )
        self.root.after(1500, start)  # a window that is never shown (iconified) still gets its model

    def _start(self, model: str | None, load: bool = False) -> None:
        """Fill the model menu and, unless given a predictor, load the model: the slow part of startup."""
        self._models = self._model_choices(model)
        self._model_label = self._initial_model_label(model)
        self.model_var.set(self._model_label)
        self.model_menu.set_menu(self._model_label, *(self._models or [self._model_label]))
        if self._startup_error:
            self._set_status(self._startup_error, error=True)
        if load:
            self.load_model(self._model_label)
        elif self.predictor is not None:
            self._show_model_info()

    # ---------------------------------------------------------------- building the window
    def _build(self) -> None:
        """Header, toolbar, sheet and result card, help line, status bar."""
        root = self.root
        root.columnconfigure(0, weight=1)
        root.rowconfigure(2, weight=1)

        header = ttk.Frame(root, padding=(18, 14, 18, 4))
        header.grid(row=0, column=0, sticky="ew")
        header.columnconfigure(1, weight=1)
        ttk.Label(header, text=TITLE, style="Title.TLabel").grid(row=0, column=0, sticky="w")
        subtitle = "write a digit, lift the pen, see what the network reads"
        ttk.Label(header, text=subtitle, style="Subtitle.TLabel").grid(
            row=0, column=1, sticky="w", padx=(12, 0), pady=(5, 0)
        )
        ttk.Label(header, text="Model", style="Subtitle.TLabel").grid(row=0, column=2, padx=(0, 8))
        self.model_menu = ttk.OptionMenu(
            header, self.model_var, self._model_label, self._model_label, command=self._on_model_picked
        )
        self.model_menu.grid(row=0, column=3, sticky="e")

        bar = ttk.Frame(root, padding=(18, 6, 18, 8))
        bar.grid(row=1, column=0, sticky="ew")
        self.read_button = ttk.Button(bar, text="Read", style="Accent.TButton", command=self.read)
        self.read_button.pack(side="left")
        self.undo_button = ttk.Button(bar, text="Undo", command=self.undo)
        self.undo_button.pack(side="left", padx=(8, 0))
        self.clear_button = ttk.Button(bar, text="Clear", command=self.clear)
        self.clear_button.pack(side="left", padx=(8, 0))
        ttk.Button(bar, text="Open image…", command=self.ask_open).pack(side="left", padx=(8, 0))
        self.mode_button = ttk.Checkbutton(
            bar,
            text="Number mode",
            variable=self.number_mode,
            command=self._on_mode_changed,
            style="Toggle.Toolbutton",
        )
        self.mode_button.pack(side="right")
        ttk.Separator(bar, orient="vertical").pack(side="right", fill="y", padx=14)
        self.brush_label = ttk.Label(bar, width=2, anchor="e", text=str(self.brush.get()))
        self.brush_label.pack(side="right")
        self.brush_scale = ttk.Scale(
            bar,
            from_=BRUSH_MIN,
            to=BRUSH_MAX,
            orient="horizontal",
            length=110,
            command=self._on_brush,
            value=self.brush.get(),
        )
        self.brush_scale.pack(side="right", padx=(6, 6))
        ttk.Label(bar, text="Brush").pack(side="right")

        body = ttk.Frame(root, padding=(18, 0, 18, 0))
        body.grid(row=2, column=0, sticky="nsew")
        body.columnconfigure(0, weight=1)
        body.rowconfigure(0, weight=1)
        self.canvas = tk.Canvas(body)
        self.canvas.grid(row=0, column=0, sticky="nsew")
        self.sheet = Sheet(self.canvas, self._fonts, self._on_stroke_start, self.schedule_read)
        self.sheet.brush = self.brush.get() * BRUSH_STEP
        self._build_card(body)

        ttk.Label(root, text=HELP, style="Help.TLabel", padding=(18, 8, 18, 6)).grid(
            row=3, column=0, sticky="w"
        )
        status = ttk.Frame(root, style="Status.TFrame", padding=(18, 5))
        status.grid(row=4, column=0, sticky="ew")
        status.columnconfigure(1, weight=1)
        self.model_info = ttk.Label(status, style="Status.TLabel", text="")
        self.model_info.grid(row=0, column=0, sticky="w")
        self.status = ttk.Label(status, style="Status.TLabel", text="", anchor="e")
        self.status.grid(row=0, column=1, sticky="e")

    def _build_card(self, parent: ttk.Frame) -> None:
        """The result card: big answer beside the 28x28 the model saw, the confidence, then the bars."""
        card = ttk.Frame(parent, style="Card.TFrame", padding=(20, 16, 20, 16))
        card.grid(row=0, column=1, sticky="ns", padx=(16, 0))
        card.columnconfigure(0, weight=1)
        ttk.Label(card, text="ANSWER", style="Caption.TLabel").grid(row=0, column=0, sticky="w")
        ttk.Label(card, text="MODEL SEES", style="Caption.TLabel").grid(row=0, column=1, sticky="w")
        # A fixed-size box, so a long number in a smaller font does not make the card jump.
        answer_box = tk.Frame(card, background=CARD, width=CARD_WIDTH - PREVIEW - 16, height=PREVIEW + 8)
        answer_box.grid(row=1, column=0, sticky="nsew", padx=(0, 16))
        answer_box.pack_propagate(False)
        self.answer_label = tk.Label(
            answer_box, text=" ", font=self._fonts["answer"], background=CARD, foreground=INK, anchor="w"
        )
        self.answer_label.pack(fill="both", expand=True)
        self.preview = tk.Label(card, background=CARD, borderwidth=0)
        self.preview.grid(row=1, column=1, sticky="n", pady=(6, 0))
        self.detail_label = tk.Label(
            card,
            text="",
            font=self._fonts["detail"],
            background=CARD,
            foreground=MUTED,
            anchor="w",
            justify="left",
            wraplength=CARD_WIDTH - 10,  # narrower than the bars, so the card never changes width
        )
        self.detail_label.grid(row=2, column=0, columnspan=2, sticky="ew", pady=(2, 12))
        self.bars_caption = ttk.Label(card, text="CLASS PROBABILITIES", style="Caption.TLabel")
        self.bars_caption.grid(row=3, column=0, columnspan=2, sticky="w")
        self.bars = tk.Canvas(card, width=CARD_WIDTH, height=10 * BAR_ROW + 6, background=CARD)
        self.bars.configure(highlightthickness=0)
        self.bars.grid(row=4, column=0, columnspan=2, sticky="w", pady=(6, 0))
        card.rowconfigure(5, weight=1)
        self.tip = tk.Label(
            card,
            text="",
            font=self._fonts["small"],
            background=CARD,
            foreground=MUTED,
            anchor="w",
            justify="left",
            wraplength=CARD_WIDTH - 10,  # narrower than the bars, so the card never changes width
        )
        self.tip.grid(row=5, column=0, columnspan=2, sticky="sew")

    def _bind_keys(self) -> None:
        """Keyboard shortcuts, as the help line lists them."""
        keys = {
            ("<Escape>", "<Delete>"): self.clear,
            ("<Control-z>", "<Control-Z>"): self.undo,
            ("<Control-o>", "<Control-O>"): self.ask_open,
            ("<Return>", "<KP_Enter>"): self.read,
            ("<KeyPress-n>", "<KeyPress-N>"): self.toggle_number_mode,
        }
        for sequences, command in keys.items():
            for seq in sequences:
                self.root.bind(seq, lambda _e, c=command: c())

    # ---------------------------------------------------------------- models
    def _model_choices(self, model: str | None) -> dict[str, str]:
        """Menu label -> what to hand Predictor.load: the bundled models plus whatever --model named."""
        from inkdigit.inference import available_models

        choices: dict[str, str] = {}
        try:
            for info in available_models():
                choices[str(info["name"])] = str(info["name"])
        except Exception as exc:  # a broken models folder must not keep the window from opening
            self._startup_error = f"Cannot list the bundled models: {_one_line(exc)}"
        if model and model not in choices:
            label = Path(model).stem if Path(model).suffix == ".onnx" else model
            choices[label if label not in choices else model] = model
        return choices

    def _initial_model_label(self, model: str | None) -> str:
        """The menu entry to start with: the given predictor's or --model, else the default bundled model."""
        if self.predictor is not None:
            path = getattr(self.predictor, "path", None)  # a bundled model's menu label is its file's stem
            for label in (Path(path).stem if path else None, self.predictor.name):
                if label in self._models:
                    return label
            self._models[self.predictor.name] = self.predictor.name
            return self.predictor.name
        if model:
            return next(label for label, target in self._models.items() if target == model)
        from inkdigit.inference import available_models

        try:
            return next(str(m["name"]) for m in available_models() if m.get("default"))
        except Exception:  # no bundled models: the load below reports it in the window
            return next(iter(self._models), "default")

    def load_model(self, label: str) -> bool:
        """Switch to the model behind a menu label; on failure keep the old one and say why in the window."""
        from inkdigit.inference import Predictor

        target = self._models.get(label, label)
        self._loading = False
        try:
            predictor = Predictor.load(target)
        except Exception as exc:  # ModelNotFoundError, a corrupt file, onnxruntime errors: shown, not raised
            self._set_status(f"Cannot load model: {_one_line(exc)}", error=True)
            if self.predictor is None:
                self.model_info.configure(text="No model loaded")
                if self.sheet.has_input():
                    self._show_blank("No model loaded")
            self.model_var.set(self._model_label)
            return False
        self.predictor = predictor
        self._model_label = label
        self.model_var.set(label)
        self._show_model_info()
        self._set_status("")
        if self.sheet.has_input():
            self.schedule_read()
        return True

    def _on_model_picked(self, label: str) -> None:
        self.load_model(label)

    def _show_model_info(self) -> None:
        """Status bar: the model's name and test accuracy, from the model file's own metadata."""
        assert self.predictor is not None
        meta = self.predictor.metadata or {}
        acc = _to_percent(meta.get("test_accuracy"))
        text = f"Model: {meta.get('name') or self.predictor.name}"
        if acc is not None:
            text += f"  ·  test accuracy {acc:.2f} %"
        self.model_info.configure(text=text)

    # ---------------------------------------------------------------- commands
    def _on_brush(self, value: str) -> None:
        self.brush.set(round(float(value)))
        self.brush_label.configure(text=str(self.brush.get()))
        self.sheet.brush = self.brush.get() * BRUSH_STEP

    def _on_stroke_start(self) -> None:
        if self._read_job is not None:  # a read queued for the previous stroke would show a stale answer
            self.root.after_cancel(self._read_job)
            self._read_job = None

    def clear(self) -> None:
        """Wipe the sheet (and any opened image) and the answer."""
        self.sheet.clear()
        self._show_blank()

    def undo(self) -> None:
        """Take back the last stroke and read again."""
        if not self.sheet.undo():
            return
        if self.sheet.has_input():
            self.schedule_read()
        else:
            self._show_blank()

    def toggle_number_mode(self) -> None:
        """Switch between reading one digit and reading a number (digits side by side)."""
        self.number_mode.set(not self.number_mode.get())
        self._on_mode_changed()

    def _on_mode_changed(self) -> None:
        number = self.number_mode.get()
        self.sheet.hint = "Write a number here" if number else "Draw a digit here"
        self.tip.configure(text=TIPS[number])
        self.sheet.boxes = []
        self.sheet.redraw()
        self._set_status("Number mode: write digits side by side, a little apart" if number else "")
        if self.sheet.has_input():
            self.read()
        else:
            self._show_blank()

    def ask_open(self) -> None:
        """Ctrl+O / Open image…: pick a file and read it."""
        path = filedialog.askopenfilename(parent=self.root, title="Open an image", filetypes=IMAGE_TYPES)
        if path:
            self.open_image(path)

    def open_image(self, path: str | Path) -> bool:
        """Show an image file on the sheet and read it; an unusable file is reported in the window."""
        from inkdigit.vision.preprocess import ImageError, NoInkError, load_image

        name = Path(path).name
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            self._show_error(f"Cannot open {name}: {exc.strerror or _one_line(exc)}", f"Cannot open {name}")
            return False
        try:
            load_image(data)  # the model's own checks (format, size limits) before anything is shown
        except NoInkError:
            pass  # a blank picture is still a picture: show it, then say there is nothing to read
        except ImageError as exc:
            self._show_error(f"Cannot read {name}: {_one_line(exc)}", f"Cannot read {name}")
            return False
        try:
            with Image.open(io.BytesIO(data)) as im:
                # Transparent areas shown on white, as a drawing program would show them.
                shown = Image.new("RGB", im.size, "white")
                rgba = im.convert("RGBA")
                shown.paste(rgba, mask=rgba.getchannel("A"))
        except Exception as exc:  # readable for the model but not for display: still say so in the window
            self._show_error(f"Cannot show {name}: {_one_line(exc)}", f"Cannot show {name}")
            return False
        shown.thumbnail((1600, 1600))
        self.sheet.show_image(shown, data)
        self.read()
        self._set_status(f"Opened {name}")
        return True

    def schedule_read(self) -> None:
        """Read once Tk is idle, so the finished stroke is on screen before the model runs."""
        if self._read_job is None:
            self._read_job = self.root.after_idle(self.read)

    def read(self) -> None:
        """Run the model on what is on the sheet and show the answer."""
        from inkdigit.vision.preprocess import ImageError, NoInkError

        if self._read_job is not None:
            self.root.after_cancel(self._read_job)
            self._read_job = None
        if self.predictor is None:
            if self._loading:  # load_model reads it once the model is there
                self._show_blank("Loading model…")
            else:
                self._show_error("No model loaded: pick one from the Model menu")
            return
        if not self.sheet.has_input():
            self._show_blank()
            return
        try:
            if self.number_mode.get():
                self._show_number(self.predictor.predict_number(self.sheet.source()))
            else:
                self._show_digit(self.predictor.predict(self.sheet.source()))
        except NoInkError:
            self._show_blank("Nothing to read here")
        except ImageError as exc:
            self._show_error(f"Cannot read this: {_one_line(exc)}", "Cannot read this")

    # ---------------------------------------------------------------- showing results
    def _set_answer(self, answer: str, detail: str, colour: str, detail_colour: str = MUTED) -> None:
        n = len(answer)
        size = 80 if n <= 2 else 52 if n <= 3 else 40 if n <= 4 else 30 if n <= 6 else 20
        self._fonts["answer"].configure(size=size)
        self.answer_label.configure(text=answer or " ", foreground=colour)
        self.detail_label.configure(text=detail, foreground=detail_colour)
        # The title carries the answer too: visible in the task bar, and readable by xdotool in the tests.
        self.root.title(f"{TITLE} — {answer}" if answer else TITLE)

    def _show_blank(self, message: str | None = None) -> None:
        message = message or ("Write a number" if self.number_mode.get() else "Draw a digit")
        self.shown = Shown(detail=message)
        self._set_answer("", message, INK)
        self.sheet.set_boxes([])
        self._draw_bars([(str(d), 0.0, False) for d in range(10)], "CLASS PROBABILITIES")
        self._set_preview([])

    def _show_error(self, message: str, headline: str | None = None) -> None:
        """The card shows a short headline in red, the status bar the whole reason."""
        self.shown = Shown(detail=headline or message, error=message)
        self._set_answer("", headline or message, INK, ERROR)
        self.sheet.set_boxes([])
        self._draw_bars([(str(d), 0.0, False) for d in range(10)], "CLASS PROBABILITIES")
        self._set_preview([])
        self._set_status(message, error=True)

    def _show_digit(self, p: Prediction) -> None:
        pct = p.confidence * 100
        if p.unsure:
            maybe = " or ".join(str(k) for k, _ in p.top_k[:2])
            detail = f"Not sure ({pct:.0f} %): maybe {maybe}"
        else:
            detail = f"{_percent(p.confidence)} sure"
        self.shown = Shown(answer=str(p.label), detail=detail, unsure=p.unsure)
        self._set_answer(str(p.label), detail, WARN if p.unsure else INK, WARN if p.unsure else MUTED)
        rows = [(str(d), float(v), d == p.label) for d, v in enumerate(p.probabilities)]
        self._draw_bars(rows, "CLASS PROBABILITIES")
        self._set_preview([p.image])
        self.sheet.set_boxes([])
        self._clear_error()

    def _show_number(self, n: NumberPrediction) -> None:
        unsure = [i + 1 for i, d in enumerate(n.digits) if d.unsure]
        pct = n.confidence * 100
        if unsure:
            detail = f"Not sure ({pct:.0f} %): check digit {', '.join(map(str, unsure))}"
        else:
            detail = (
                f"{_percent(n.confidence)} sure · {len(n.digits)} digit{'s' if len(n.digits) != 1 else ''}"
            )
        boxes = [(tuple(b), str(d.label)) for b, d in zip(n.boxes, n.digits, strict=False)]
        self.shown = Shown(answer=n.text, detail=detail, unsure=bool(unsure), boxes=boxes)  # type: ignore[arg-type]
        self._set_answer(n.text, detail, WARN if unsure else INK, WARN if unsure else MUTED)
        rows = [(str(d.label), float(d.confidence), not d.unsure) for d in n.digits[:10]]
        self._draw_bars(rows, "CONFIDENCE PER DIGIT")
        self._set_preview([d.image for d in n.digits])
        self.sheet.set_boxes(boxes)  # type: ignore[arg-type]
        self._clear_error()

    def _draw_bars(self, rows: list[tuple[str, float, bool]], caption: str) -> None:
        """One bar per class (per digit in number mode); the top one in the accent colour."""
        self.bars_caption.configure(text=caption)
        c = self.bars
        c.delete("all")
        width = int(c.cget("width"))
        x_bar, x_end = 26, width - 80
        for i, (label, value, hot) in enumerate(rows):
            y = 3 + i * BAR_ROW
            mid = y + BAR_ROW / 2
            font = self._fonts["bar_bold"] if hot else self._fonts["bar"]
            c.create_text(8, mid, text=label, anchor="w", font=font, fill=ACCENT if hot else TEXT)
            c.create_rectangle(x_bar, y + 5, x_end, y + BAR_ROW - 5, fill=TRACK, outline="")
            if value > 0:
                x = x_bar + max((x_end - x_bar) * min(value, 1.0), 2)
                c.create_rectangle(x_bar, y + 5, x, y + BAR_ROW - 5, fill=ACCENT if hot else BAR, outline="")
            pct = _percent(value) if value >= 0.001 else "–"
            c.create_text(width - 4, mid, text=pct, anchor="e", font=font, fill=TEXT if hot else MUTED)

    def _set_preview(self, images: list[np.ndarray]) -> None:
        """The 28x28 model input(s), upscaled with nearest neighbour so each pixel stays visible."""
        if not images:  # a plain dark square; no PIL encoding, which would slow the first paint
            self._preview_photo = tk.PhotoImage(master=self.root, width=PREVIEW, height=PREVIEW)
            self._preview_photo.put("#181818", to=(0, 0, PREVIEW, PREVIEW))
            self.preview.configure(image=self._preview_photo)
            return
        import numpy as np  # already loaded: the images come from the model

        box = Image.new("L", (PREVIEW, PREVIEW), 24)
        tiles = [np.clip(np.asarray(im, dtype=np.float32), 0, 1) for im in images[:16]]
        # Several digits (number mode) share the box as a grid of tiles in reading order.
        cols = math.ceil(math.sqrt(len(tiles)))
        cell = PREVIEW // cols
        side = max(28, cell - 4) if cols > 1 else PREVIEW
        top = (PREVIEW - cell * math.ceil(len(tiles) / cols)) // 2
        for i, tile in enumerate(tiles):
            pic = Image.fromarray((tile * 255).astype(np.uint8), mode="L")
            pic = pic.resize((side, side), Image.Resampling.NEAREST)
            r, c = divmod(i, cols)
            box.paste(pic, (c * cell + (cell - side) // 2, top + r * cell + (cell - side) // 2))
        self._preview_photo = png_photo(box, self.root)
        self.preview.configure(image=self._preview_photo)

    def _set_status(self, message: str, error: bool = False) -> None:
        self.status.configure(text=message, foreground=ERROR if error else MUTED)
        self._status_is_error = error and bool(message)

    def _clear_error(self) -> None:
        if self._status_is_error:
            self._set_status("")

    def status_text(self) -> tuple[str, bool]:
        """The status bar's message and whether it is shown as an error."""
        return str(self.status.cget("text")), self._status_is_error

    def _report_callback_exception(self, exc: type[BaseException], val: BaseException, tb: Any) -> None:
        """An unexpected error goes to the status bar; its traceback to stderr only with INKDIGIT_DEBUG."""
        self.last_traceback = "".join(traceback.format_exception(exc, val, tb))
        if os.environ.get("INKDIGIT_DEBUG"):
            print(self.last_traceback, file=sys.stderr)
        self._set_status(f"Unexpected error: {exc.__name__}: {_one_line(val)}", error=True)


def _has_display() -> bool:
    """On X11 systems Tk needs $DISPLAY; Windows and macOS always have a desktop."""
    return sys.platform in ("win32", "darwin") or bool(os.environ.get("DISPLAY"))


def run_gui(model: str | None = None) -> int:
    """Open the desktop app and run until its window closes; 2 with a one-line message if it cannot open."""
    if not _has_display():
        print(NO_DISPLAY, file=sys.stderr)
        return 2
    try:
        root = tk.Tk(className="inkdigit")
    except tk.TclError as exc:
        print(f"{NO_DISPLAY} ({_one_line(exc)})", file=sys.stderr)
        return 2
    InkDigitApp(root, model=model)
    try:
        root.mainloop()
    except KeyboardInterrupt:
        return 130
    return 0


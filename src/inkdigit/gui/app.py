"""Desktop app: write a digit, a number, a letter, a word or a sum with the mouse and watch the model read it.

`inkdigit gui [--model NAME|PATH]` runs `run_gui`. Tkinter only, and no torch: the models run on ONNX Runtime
through `inkdigit.inference`, and the model loads just after the window appears. Digit and Number read with
the Model menu's model; Letter, Text and Math with their character set's bundled model (`charset_model`),
loaded when the mode is first picked. This module is what the app does on each event; `widgets` lays the
window out and `present` decides every text it shows.
"""

from __future__ import annotations

import os
import sys
import tkinter as tk
import traceback
from collections.abc import Callable
from pathlib import Path
from tkinter import filedialog
from typing import TYPE_CHECKING, Any

from inkdigit.errors import ImageError
from inkdigit.gui import present
from inkdigit.gui.files import PictureError, open_picture
from inkdigit.gui.models import model_menu
from inkdigit.gui.widgets import Window

if TYPE_CHECKING:
    from inkdigit.inference import Predictor
    from inkdigit.vision.strokes import Drawing

# numpy, onnxruntime and the model are imported only after the window is on screen (see _start and
# load_model), because on a slow machine they take longer than everything else together; the window should
# appear at once.

IMAGE_TYPES = [
    ("Images", "*.png *.jpg *.jpeg *.bmp *.gif *.webp *.tif *.tiff *.pgm *.ppm *.pbm"),
    ("All files", "*"),
]


def run_gui(model: str | None = None) -> int:
    """Open the desktop app and run until its window closes; 2 with a one-line message if it cannot open."""
    # On X11 systems Tk needs $DISPLAY; Windows and macOS always have a desktop.
    if sys.platform not in ("win32", "darwin") and not os.environ.get("DISPLAY"):
        print(present.no_display(), file=sys.stderr)
        return 2
    try:
        root = tk.Tk(className="inkdigit")
    except tk.TclError as exc:
        print(present.no_display(exc), file=sys.stderr)
        return 2
    InkDigitApp(root, model=model)
    try:
        root.mainloop()
    except KeyboardInterrupt:
        return 130
    return 0


class InkDigitApp(Window):
    """The window (sheet, result card, status bar) and what happens on each click, key, stroke and model pick."""

    def __init__(self, root: tk.Tk, model: str | None = None, predictor: Predictor | None = None) -> None:
        self.predictor: Predictor | None = predictor
        self.last_traceback: str | None = None
        self._models: dict[str, str] = {}  # menu label -> what to hand Predictor.load
        self._charset_readers: dict[str, Predictor] = {}  # a character set's bundled model, once loaded
        self._model_label = present.early_label(model)
        self._read_job: str | None = None
        self._loading = False  # while the first model loads, a drawing waits to be read
        super().__init__(root, self, self._model_label)
        # Tk prints callback tracebacks to the terminal; a person using the app should see them here instead.
        root.report_callback_exception = self._report_callback_exception  # type: ignore[method-assign]
        self.show(present.blank(False))
        if predictor is not None:
            self._start(model)
        else:
            self.set_status(present.LOADING)
            self._loading = True
            after_first_paint(self.canvas, lambda: self._start(model, load=True))

    # ---------------------------------------------------------------- models
    def _start(self, model: str | None, load: bool = False) -> None:
        """Fill the model menu and, unless given a predictor, load the model: the slow part of startup."""
        menu = model_menu(model, self.predictor)
        self._models, self._model_label = menu.choices, menu.label
        self.model_var.set(menu.label)
        self.model_menu.set_menu(menu.label, *menu.labels)
        if menu.error:
            self.set_status(menu.error, error=True)
        if load:
            self.load_model(menu.label)
        elif self.predictor is not None:
            self._show_model_info()

    def load_model(self, label: str) -> bool:
        """Switch to the model behind a menu label; on failure keep the old one and say why in the window."""
        from inkdigit.inference import Predictor

        self._loading = False
        try:
            predictor = Predictor.load(self._models.get(label, label))
        except Exception as exc:  # ModelNotFoundError, a corrupt file, onnxruntime errors: shown, not raised
            self.set_status(present.load_failed(exc), error=True)
            if self.predictor is None:
                self._show_model_info()
                if self.sheet.has_input() and self._charset() is None:
                    self.show(present.blank(self.mode.get(), present.NO_MODEL))
            self.model_var.set(self._model_label)
            return False
        self.predictor = predictor
        self._model_label = label
        self.model_var.set(label)
        self._show_model_info()
        self.set_status("")
        if self.sheet.has_input():
            self.schedule_read()
        return True

    def pick_model(self, label: str) -> None:
        """The model menu: load the picked model."""
        self.load_model(label)

    # ---------------------------------------------------------------- commands
    def stroke_started(self) -> None:
        """A new stroke: a read queued for the previous one would show a stale answer."""
        self._cancel_read()

    def clear(self) -> None:
        """Wipe the sheet (and any opened image) and the answer."""
        self.sheet.clear()
        self.show(present.blank(self.mode.get()))

    def undo(self) -> None:
        """Take back the last stroke and read again."""
        if not self.sheet.undo():
            return
        if self.sheet.has_input():
            self.schedule_read()
        else:
            self.show(present.blank(self.mode.get()))

    # ---------------------------------------------------------------- modes
    def toggle_number_mode(self) -> None:
        """N: switch between reading one digit and reading a number (digits side by side)."""
        self.set_mode("digit" if self.mode.get() == "number" else "number")

    def set_mode(self, name: str) -> None:
        """A mode's key (D, N, L, T, M): as its button on the selector."""
        self.mode.set(name)
        self.mode_changed()

    def mode_changed(self) -> None:
        """The mode selector or Text's charset picker: new hint and tip, the mode's model (loaded the first time),
        and the sheet read again in the new mode."""
        name = self.mode.get()
        mode = present.READ_MODES[name]
        self.number_mode.set(name == "number")
        self.show_mode(mode)
        self.set_status(mode.status)
        charset = self._charset()
        # The Model menu picks the digit model: it has no say in the other modes.
        self.model_menu.state(["!disabled"] if charset is None else ["disabled"])
        reader = self._charset_reader(charset) if charset is not None else None
        self._show_model_info()
        if charset is not None and reader is None:
            return  # the card says why the mode cannot read
        if self.sheet.has_input():
            self.read()
        else:
            self.show(present.blank(name))

    def _charset(self) -> str | None:
        """The character set whose bundled model reads in this mode; None: the Model menu's digit model (Digit,
        Number, and Text set to digits only)."""
        name = self.mode.get()
        if name == "text":
            picked = self.text_charset.get()
            charset = next((c for c, label in present.TEXT_CHARSETS.items() if label == picked), "alnum")
        else:
            charset = present.READ_MODES[name].charset
        return None if charset == "digits" else charset

    def _charset_reader(self, charset: str) -> Predictor | None:
        """The bundled model of a character set, loaded once; None (and the card says why) when it cannot be."""
        reader = self._charset_readers.get(charset)
        if reader is not None:
            return reader
        from inkdigit.inference import Predictor, charset_model

        self.set_status(present.loading_charset(charset))
        self.root.update_idletasks()
        try:
            reader = Predictor(charset_model(charset))
        except Exception as exc:  # ModelNotFoundError, a corrupt file: shown, not raised
            self.show(present.charset_missing(charset, exc))
            return None
        self._charset_readers[charset] = reader
        self.set_status(present.READ_MODES[self.mode.get()].status)
        return reader

    def _show_model_info(self) -> None:
        """The status bar's model: the one that reads in this mode."""
        charset = self._charset()
        reader = self.predictor if charset is None else self._charset_readers.get(charset)
        self.model_info.configure(
            text=present.model_info(reader.name, reader.metadata) if reader is not None else present.NO_MODEL
        )

    def ask_open(self) -> None:
        """Ctrl+O / Open image…: pick a file and read it."""
        path = filedialog.askopenfilename(parent=self.root, title="Open an image", filetypes=IMAGE_TYPES)
        if path:
            self.open_image(path)

    def open_image(self, path: str | Path) -> bool:
        """Show an image file on the sheet and read it; an unusable file is reported in the window."""
        name = Path(path).name
        try:
            picture, data = open_picture(path)
        except PictureError as exc:
            self.show(present.file_error(exc.verb, name, exc.reason))
            return False
        self.sheet.show_image(picture, data)
        self.read()
        self.set_status(present.opened(name))
        return True

    def schedule_read(self) -> None:
        """Read once Tk is idle, so the finished stroke is on screen before the model runs."""
        if self._read_job is None:
            self._read_job = self.root.after_idle(self.read)

    def read(self) -> None:
        """Run the mode's model on what is on the sheet and show the answer."""
        self._cancel_read()
        mode, charset = self.mode.get(), self._charset()
        reader = self.predictor if charset is None else self._charset_reader(charset)
        if charset is not None and reader is None:
            return  # the card already says why this mode cannot read
        if reader is None:  # while the first model loads, load_model reads the sheet once it is there
            self.show(present.blank(mode, present.LOADING) if self._loading else present.no_model())
        elif not self.sheet.has_input():
            self.show(present.blank(mode))
        else:
            try:
                shown = read_source(reader, self.sheet.source(), mode)
            except ImageError as exc:
                shown = present.unreadable(exc, mode)
            self.show(shown)

    def _cancel_read(self) -> None:
        if self._read_job is not None:
            self.root.after_cancel(self._read_job)
            self._read_job = None

    def _report_callback_exception(self, exc: type[BaseException], val: BaseException, tb: Any) -> None:
        """An unexpected error goes to the status bar; its traceback to stderr only with INKDIGIT_DEBUG."""
        self.last_traceback = "".join(traceback.format_exception(exc, val, tb))
        if os.environ.get("INKDIGIT_DEBUG"):
            print(self.last_traceback, file=sys.stderr)
        self.set_status(present.unexpected(exc, val), error=True)


def read_source(predictor: Predictor, source: bytes | Drawing, mode: bool | str) -> present.Shown:
    """Read an opened file's bytes, or the sheet's strokes painted by the pen the web page and the API use, in a
    mode (its name; or True/False, the number-mode toggle's values) with the model that reads in it."""
    from inkdigit.vision.strokes import Drawing, render

    name = ("number" if mode else "digit") if isinstance(mode, bool) else mode
    rendered = render(source) if isinstance(source, Drawing) else None
    picture = source if rendered is None else rendered.picture
    if present.READ_MODES[name].line:
        # The strokes also say which ink is one character: the segmentation never cuts inside one of them.
        atoms = rendered.atoms() if rendered else None
        if name == "number":
            return present.number(predictor.predict_number(picture, atoms=atoms))
        if name == "math":
            from inkdigit.inference import read_math

            return present.math_line(read_math(predictor, picture, atoms=atoms))
        return present.line(predictor.read_line(picture, atoms=atoms), "character")
    if name == "letter":
        return present.char(predictor.predict(picture), predictor.labels)
    return present.digit(predictor.predict(picture))


def after_first_paint(widget: tk.Widget, start: Callable[[], None], latest_ms: int = 1500) -> None:
    """Call `start` once, just after `widget` is first painted (its first Expose), or after latest_ms anyway."""
    started = False

    def once() -> None:
        nonlocal started
        if not started:
            started = True
            widget.unbind("<Expose>", funcid)
            start()

    # Expose arrives when the window is mapped; widgets repaint in idle handlers queued before ours.
    funcid = widget.bind("<Expose>", lambda _e: widget.after_idle(lambda: widget.after(1, once)), add="+")
    widget.after(latest_ms, once)  # a window that is never shown (iconified) still gets its model

"""Desktop app: write a digit (or a whole number) with the mouse and watch the model read it.

`inkdigit gui [--model NAME|PATH]` runs `run_gui`. Tkinter only, and no torch: the model runs on ONNX Runtime
through `inkdigit.inference`, and the model loads just after the window appears. This module is what the
app does on each event; `widgets` lays the window out and `present` decides every text it shows.
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
            self.model_info.configure(text=present.model_info(self.predictor.name, self.predictor.metadata))

    def load_model(self, label: str) -> bool:
        """Switch to the model behind a menu label; on failure keep the old one and say why in the window."""
        from inkdigit.inference import Predictor

        self._loading = False
        try:
            predictor = Predictor.load(self._models.get(label, label))
        except Exception as exc:  # ModelNotFoundError, a corrupt file, onnxruntime errors: shown, not raised
            self.set_status(present.load_failed(exc), error=True)
            if self.predictor is None:
                self.model_info.configure(text=present.NO_MODEL)
                if self.sheet.has_input():
                    self.show(present.blank(self.number_mode.get(), present.NO_MODEL))
            self.model_var.set(self._model_label)
            return False
        self.predictor = predictor
        self._model_label = label
        self.model_var.set(label)
        self.model_info.configure(text=present.model_info(predictor.name, predictor.metadata))
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
        self.show(present.blank(self.number_mode.get()))

    def undo(self) -> None:
        """Take back the last stroke and read again."""
        if not self.sheet.undo():
            return
        if self.sheet.has_input():
            self.schedule_read()
        else:
            self.show(present.blank(self.number_mode.get()))

    def toggle_number_mode(self) -> None:
        """Switch between reading one digit and reading a number (digits side by side)."""
        self.number_mode.set(not self.number_mode.get())
        self.mode_changed()

    def mode_changed(self) -> None:
        """The number-mode toggle: new hint and tip, and the sheet read again in the new mode."""
        mode = present.MODES[self.number_mode.get()]
        self.show_mode(mode)
        self.set_status(mode.status)
        if self.sheet.has_input():
            self.read()
        else:
            self.show(present.blank(self.number_mode.get()))

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
        """Run the model on what is on the sheet and show the answer."""
        self._cancel_read()
        number = self.number_mode.get()
        if self.predictor is None:  # while the first model loads, load_model reads the sheet once it is there
            self.show(present.blank(number, present.LOADING) if self._loading else present.no_model())
        elif not self.sheet.has_input():
            self.show(present.blank(number))
        else:
            try:
                shown = read_source(self.predictor, self.sheet.source(), number)
            except ImageError as exc:
                shown = present.unreadable(exc, number)
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


def read_source(predictor: Predictor, source: bytes | Drawing, number: bool) -> present.Shown:
    """Read an opened file's bytes, or the sheet's strokes painted by the pen the web page and the API use."""
    from inkdigit.vision.strokes import Drawing, render

    rendered = render(source) if isinstance(source, Drawing) else None
    picture = source if rendered is None else rendered.picture
    if number:
        # The strokes also say which ink is one character: the segmentation never cuts inside one of them.
        return present.number(predictor.predict_number(picture, atoms=rendered.atoms() if rendered else None))
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

"""Opening an image file for the sheet: the bytes the model will read and a picture fit to show."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from inkdigit.errors import ImageError, NoInkError
from inkdigit.gui.present import one_line

MAX_SHOWN = 1600  # px; larger pictures are shrunk for the screen (the model still reads the file itself)


class PictureError(Exception):
    """A file the app cannot use: `verb` is the step that failed (open, read, show), `reason` says why."""

    def __init__(self, verb: str, reason: str) -> None:
        super().__init__(f"{verb}: {reason}")
        self.verb = verb
        self.reason = reason


def open_picture(path: str | Path) -> tuple[Image.Image, bytes]:
    """The picture to show and the file's bytes, after the model's own checks; raises PictureError."""
    from inkdigit.vision.preprocess import load_image

    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise PictureError("open", exc.strerror or one_line(exc)) from exc
    try:
        load_image(data)  # the model's own checks (format, size limits) before anything is shown
    except NoInkError:
        pass  # a blank picture is still a picture: show it, then say there is nothing to read
    except ImageError as exc:
        raise PictureError("read", one_line(exc)) from exc
    try:
        with Image.open(io.BytesIO(data)) as im:
            # Transparent areas shown on white, as a drawing program would show them.
            shown = Image.new("RGB", im.size, "white")
            rgba = im.convert("RGBA")
            shown.paste(rgba, mask=rgba.getchannel("A"))
    except Exception as exc:  # readable for the model but not for display: still say so in the window
        raise PictureError("show", one_line(exc)) from exc
    shown.thumbnail((MAX_SHOWN, MAX_SHOWN))
    return shown, data

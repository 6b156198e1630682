"""Every error a user can cause, in one place.

Each derives from `InkdigitError`, so the CLI prints any of them as one line (exit 1) and the server maps
each kind to one HTTP status. Each also keeps the built-in base it had (ValueError, RuntimeError, ...), so
code that caught the built-in one still catches it.
"""

from __future__ import annotations

import re

# Python's repr of an object ("<_io.BytesIO object at 0x7f...>"), which libraries put in messages: noise to a person.
_OBJECT_REPR = re.compile(r"\s*<[\w.]+ object at 0x[0-9a-fA-F]+>")


def one_line(exc: BaseException) -> str:
    """The first line of an exception's message, without object reprs; its class name if it has no message."""
    lines = str(exc).strip().splitlines()
    return without_reprs(lines[0]) if lines else type(exc).__name__


def without_reprs(text: str) -> str:
    """`text` less the object reprs libraries put in messages."""
    return _OBJECT_REPR.sub("", text)


class InkdigitError(Exception):
    """A user-facing error: its message is one line that says what is wrong and what to do."""


# --- command line ------------------------------------------------------------------------------------

class CliError(InkdigitError):
    """A command cannot do what was asked (a bad combination of inputs, a missing checkout)."""


class WriteError(InkdigitError, OSError):
    """A file or folder cannot be written (read-only, full disk, a file in the way); one line naming it.

    Also an OSError, so code that caught the OS error (to fall back, or to report it) still catches it.
    """


# --- data --------------------------------------------------------------------------------------------

class IdxError(InkdigitError, ValueError):
    """An IDX file is missing, truncated or corrupt; the message is one line naming the file."""


class MissingDataError(InkdigitError, FileNotFoundError):
    """The dataset is not in the cache; the message says to run `inkdigit fetch`."""


class FetchError(InkdigitError, RuntimeError):
    """No source could provide a verified copy of a dataset; the message says what was tried."""


# --- recognition -------------------------------------------------------------------------------------

class ImageError(InkdigitError, ValueError):
    """The input cannot be used as a picture of a digit (undecodable, bad shape or mode, too small)."""


class ImageTooLargeError(ImageError):
    """The picture is over the size limit, or is a decompression bomb."""


class UnsupportedImageError(ImageError):
    """The picture is in a format that is not read (only PNG, JPEG, GIF, BMP, WebP, TIFF and PNM are)."""


class NoInkError(ImageError):
    """The picture is blank or uniform: there is nothing to read."""


class StrokesError(ImageError):
    """A drawing sent as strokes is malformed (wrong nesting, not a number, NaN, a point far off the canvas)."""


class StrokesTooLargeError(StrokesError, ImageTooLargeError):
    """A drawing sent as strokes is over a limit: too many strokes or points, too large a canvas."""


class ExpressionError(InkdigitError, ValueError):
    """A written arithmetic line cannot be evaluated (malformed, division by zero, too long); says what and where."""


class CharsetError(InkdigitError, ValueError):
    """A reading asks for what its character set cannot give: an unknown kind of character ("digit", "letter",
    "symbol" are known), or only kinds the set has none of."""


class ModelNotFoundError(InkdigitError, ValueError):
    """No bundled model of that name and no such .onnx file; the message lists what exists."""


class ServeError(InkdigitError, RuntimeError):
    """The server could not start (for example the port is taken); the message is one line."""


# --- training ----------------------------------------------------------------------------------------

class TrainError(InkdigitError, RuntimeError):
    """A run cannot start or continue (bad settings, existing run dir, missing checkpoint); one line."""


class KernelError(InkdigitError, RuntimeError):
    """The fused kernel cannot be built or used here; one line saying why."""


class ExportError(InkdigitError, RuntimeError):
    """An export failed or its ONNX output disagrees with torch; one line."""

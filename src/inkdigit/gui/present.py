"""What the desktop app shows, as plain data: every text, flag and number the widgets display.

Pure functions without tkinter: a result (`Prediction`, `NumberPrediction`, `MathReading`) or an error goes
in, a `Shown` (the result card, the window title, the boxes on the sheet, the status line) comes out, so each
rule can be tested without a display. The widgets only copy these values onto the screen. The five reading
modes (Digit, Number, Letter, Text, Math) are data here too: their words, and which character set each reads.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from inkdigit import errors
from inkdigit.errors import NoInkError

if TYPE_CHECKING:
    import numpy as np

    from inkdigit.inference import MathReading, NumberPrediction, Prediction

TITLE = "inkdigit"
NO_DISPLAY = "no display: set DISPLAY or run on a desktop"
CLASS_CAPTION = "CLASS PROBABILITIES"
DIGITS_CAPTION = "CONFIDENCE PER DIGIT"
TOP_CAPTION = "TOP READINGS"
CHARS_CAPTION = "CONFIDENCE PER CHARACTER"
LOADING = "Loading model…"
NO_MODEL = "No model loaded"
MAX_BARS = 10  # the bar chart has room for ten rows: the ten classes, or a number's first ten digits
MAX_TILES = 16  # model inputs shown in the preview box; more would be too small to see
PLAUSIBLE = 0.1  # another reading of a number is offered when it is at least this likely relative to the answer

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels of the image the model reads


class Mode(NamedTuple):
    """A reading mode: the texts that change with it, and what it reads."""

    hint: str  # on the empty sheet
    prompt: str  # on the card while there is nothing to read
    tip: str  # at the foot of the card
    status: str  # on the status bar just after switching to this mode
    label: str = ""  # on the mode selector
    charset: str | None = None  # the character set it reads (None: the digit model of the Model menu)
    line: bool = False  # a row of characters, each with its own box
    item: str = "digit"  # what one box holds ("check character 2")


# In the selector's order. Digit and Number read with the Model menu's model, the others with their character
# set's bundled model (Text: the one picked beside the selector, `TEXT_CHARSETS`).
READ_MODES: dict[str, Mode] = {
    "digit": Mode(
        hint="Draw a digit here",
        prompt="Draw a digit",
        tip="Tip: press N to read a whole number, Ctrl+O to read a photo of a digit.",
        status="",
        label="Digit",
    ),
    "number": Mode(
        hint="Write a number here",
        prompt="Write a number",
        tip="Tip: leave a little space between digits; each gets its own box.",
        status="Number mode: write digits side by side, a little apart",
        label="Number", line=True,
    ),
    "letter": Mode(
        hint="Draw a letter here",
        prompt="Draw a letter",
        tip="Tip: A to Z, capital or small: a and A read as one. Press T to write a word.",
        status="Letter mode: one letter, A to Z",
        label="Letter", charset="letters",
    ),
    "text": Mode(
        hint="Write a word here",
        prompt="Write a word",
        tip="Tip: leave a little space between characters; each gets its own box.",
        status="Text mode: write letters or digits side by side, a little apart",
        label="Text", charset="alnum", line=True, item="character",
    ),
    "math": Mode(
        hint="Write a sum here, like 12+7=",
        prompt="Write a sum",
        tip="Tip: digits and + − × ÷ = ( ) . side by side; end with = for the result.",
        status="Math mode: write a sum such as 12+7=",
        label="Math", charset="math", line=True, item="symbol",
    ),
}
# The number-mode toggle's two modes, as the app's first version named them.
MODES = {False: READ_MODES["digit"], True: READ_MODES["number"]}
# What Text mode can read: character set → its name on the picker; the first is the default.
TEXT_CHARSETS = {"alnum": "letters and digits", "letters": "letters only", "digits": "digits only"}


def read_mode(mode: bool | str) -> Mode:
    """A mode by name ("math"), or by the number-mode toggle's value (False: digit, True: number)."""
    return MODES[mode] if isinstance(mode, bool) else READ_MODES[mode]


class Bar(NamedTuple):
    """One row of the bar chart: a class (or a number's digit), its probability, and whether it is highlighted."""

    label: str
    value: float
    hot: bool

    @property
    def text(self) -> str:
        """The value beside the bar; a dash where the bar would be empty."""
        return percent(self.value) if self.value >= 0.001 else "–"


def _no_bars() -> list[Bar]:
    return [Bar(str(d), 0.0, False) for d in range(10)]


@dataclass
class Shown:
    """What the result card (and with it the window title, the sheet's boxes, the status line) shows."""

    answer: str = ""
    detail: str = ""
    unsure: bool = False
    error: str | None = None  # the whole reason, for the status bar; `detail` holds the card's short headline
    boxes: list[tuple[Box, str]] = field(default_factory=list)
    caption: str = CLASS_CAPTION
    bars: list[Bar] = field(default_factory=_no_bars)
    images: list[np.ndarray] = field(default_factory=list)  # the model's 28x28 inputs
    result: str = ""  # a sum's result line ("12+7 = 19"), or what is wrong with the sum read
    result_ok: bool = True  # False: `result` says why the sum has no value

    @property
    def title(self) -> str:
        """The window title carries the answer too: visible in the task bar, and readable by xdotool. A sum's
        title is its result line."""
        shown = self.result if self.result and self.result_ok else self.answer
        return f"{TITLE} — {shown}" if shown else TITLE

    @property
    def answer_size(self) -> int:
        """Font size (pt) of the answer, smaller for longer numbers so they fit the card."""
        n = len(self.answer)
        return 80 if n <= 2 else 52 if n <= 3 else 40 if n <= 4 else 30 if n <= 6 else 20


# ---------------------------------------------------------------- results
def digit(p: Prediction) -> Shown:
    """One digit: the label, how sure the model is (or which two it hesitates between), all ten bars."""
    if p.unsure:
        maybe = " or ".join(str(k) for k, _ in p.top_k[:2])
        detail = f"Not sure ({whole_percent(p.confidence)}): maybe {maybe}"
    else:
        detail = f"{percent(p.confidence)} sure"
    bars = [Bar(str(d), float(v), d == p.label) for d, v in enumerate(p.probabilities)]
    return Shown(answer=str(p.label), detail=detail, unsure=p.unsure, bars=bars, images=[p.image])


def char(p: Prediction, labels: list[str]) -> Shown:
    """One character of any label set (Letter mode): shown as a digit is, with the MAX_BARS likeliest labels
    as the bars, best first (26 or 47 bars would not fit, nor say more)."""
    if p.unsure:
        maybe = " or ".join(labels[k] for k, _ in p.top_k[:2])
        detail = f"Not sure ({whole_percent(p.confidence)}): maybe {maybe}"
    else:
        detail = f"{percent(p.confidence)} sure"
    order = sorted(range(len(p.probabilities)), key=lambda i: -p.probabilities[i])[:MAX_BARS]
    bars = [Bar(labels[i], float(p.probabilities[i]), i == p.label) for i in order]
    return Shown(answer=p.text, detail=detail, unsure=p.unsure, caption=TOP_CAPTION, bars=bars, images=[p.image])


def number(n: NumberPrediction) -> Shown:
    """A number: its text, the overall confidence or which digits to check, one bar and one box per digit,
    and other ways to read it when the reader offers some ("· or 528?")."""
    return line(n, "digit")


def line(n: NumberPrediction, item: str) -> Shown:
    """A line of characters (a number, a word, a sum), each an `item`: as `number` shows a number."""
    unsure = [i + 1 for i, d in enumerate(n.digits) if d.unsure]
    if unsure:
        detail = f"Not sure ({whole_percent(n.confidence)}): check {item} {', '.join(map(str, unsure))}"
    else:
        count = len(n.digits)
        detail = f"{percent(n.confidence)} sure · {count} {item}{'s' if count != 1 else ''}"
    others = other_readings(n)
    if others:
        detail += f" · or {' or '.join(others)}?"
    boxes = [(box, d.text) for box, d in zip(n.boxes, n.digits, strict=False)]
    bars = [Bar(d.text, float(d.confidence), not d.unsure) for d in n.digits[:MAX_BARS]]
    images = [d.image for d in n.digits]
    return Shown(
        answer=n.text, detail=detail, unsure=bool(unsure), boxes=boxes,
        caption=DIGITS_CAPTION if item == "digit" else CHARS_CAPTION, bars=bars, images=images,
    )


def math_line(reading: MathReading) -> Shown:
    """A sum: the symbols read (as a line), and under them the result ("12+7 = 19") or what is wrong."""
    shown = line(reading.line, "symbol")
    shown.result, shown.result_ok = reading.message, reading.ok
    return shown


def other_readings(n: Any, most: int = 2) -> list[str]:
    """The texts of a number's plausible `alternatives` (none when it has no such field), best first.

    An alternative is plausible unless it says it is less than PLAUSIBLE times as likely as the answer: a sure
    "17" offers no "7". Each may be a mapping or an object with `text` (and `confidence`), or a (text,
    confidence) pair.
    """
    found: list[str] = []
    for alt in getattr(n, "alternatives", None) or ():
        if isinstance(alt, Mapping):
            text, confidence = alt.get("text"), alt.get("confidence")
        elif isinstance(alt, (tuple, list)):
            text, confidence = (alt[0] if alt else None), (alt[1] if len(alt) > 1 else None)
        else:
            text, confidence = getattr(alt, "text", None), getattr(alt, "confidence", None)
        if isinstance(confidence, (int, float)) and confidence < PLAUSIBLE * n.confidence:
            continue
        if isinstance(text, str) and text and text != n.text and text not in found:
            found.append(text)
    return found[:most]


def blank(number_mode: bool | str, message: str | None = None) -> Shown:
    """No answer: the mode's prompt, or why there is nothing to show (loading, nothing to read).

    `number_mode`: the mode's name, or the number-mode toggle's value (see `read_mode`)."""
    mode = read_mode(number_mode)
    if mode.charset is None:
        return Shown(detail=message or mode.prompt)
    return Shown(detail=message or mode.prompt, caption=CHARS_CAPTION if mode.line else TOP_CAPTION, bars=[])


def error(message: str, headline: str | None = None) -> Shown:
    """An error: the card shows a short headline (in red), the status bar the whole reason."""
    return Shown(detail=headline or message, error=message)


def unreadable(exc: Exception, number_mode: bool | str) -> Shown:
    """What the sheet's content could not be read for: a blank picture is no error, anything else is."""
    if isinstance(exc, NoInkError):
        return blank(number_mode, "Nothing to read here")
    return error(f"Cannot read this: {one_line(exc)}", "Cannot read this")


def file_error(verb: str, name: str, reason: str) -> Shown:
    """A file that cannot be opened, read (by the model) or shown (on the sheet), and why."""
    return error(f"Cannot {verb} {name}: {reason}", f"Cannot {verb} {name}")


def no_model() -> Shown:
    """A read asked for while no model is loaded (the first one failed to load)."""
    return error(f"{NO_MODEL}: pick one from the Model menu")


def charset_missing(charset: str, exc: BaseException) -> Shown:
    """A mode whose character set's model cannot be loaded (not installed, a broken file): why, in one line."""
    shown = error(f"Cannot load the {charset} model: {one_line(exc)}", f"No {charset} model")
    shown.caption, shown.bars = "", []  # no digit bars in a mode that does not read digits
    return shown


def loading_charset(charset: str) -> str:
    """The status line while a mode's model loads (the first read in that mode)."""
    return f"Loading the {charset} model…"


# ---------------------------------------------------------------- numbers
def percent(fraction: float) -> str:
    """A probability for people: one decimal, but never a rounded-up "100.0 %" the model did not say."""
    pct = fraction * 100
    return "> 99.9 %" if 99.9 < pct < 100 else f"{pct:.1f} %"


def whole_percent(fraction: float) -> str:
    """A probability in whole percent, for an unsure answer; again never a rounded-up "100 %"."""
    pct = fraction * 100
    return "> 99 %" if 99.5 <= pct < 100 else f"{pct:.0f} %"


def tiles(count: int, size: int) -> list[tuple[int, int, int]]:
    """Where the preview box (size x size px) shows each model input: x, y and side of each tile.

    One input fills the box; several (number mode) share it as a grid in reading order.
    """
    count = min(count, MAX_TILES)
    if count == 0:
        return []
    cols = math.ceil(math.sqrt(count))
    cell = size // cols
    side = max(28, cell - 4) if cols > 1 else size
    top = (size - cell * math.ceil(count / cols)) // 2
    pad = (cell - side) // 2
    return [(c * cell + pad, top + r * cell + pad, side) for r, c in (divmod(i, cols) for i in range(count))]


# ---------------------------------------------------------------- status and error lines
def next_status(shown: Shown, status: str, is_error: bool) -> tuple[str, bool]:
    """The status line after showing `shown`: an error's reason; a new answer clears an old error."""
    if shown.error:
        return shown.error, True
    if shown.answer and is_error:
        return "", False
    return status, is_error


def one_line(exc: BaseException) -> str:
    """An exception's whole message on one line (its lines joined), short enough for the status bar."""
    text = errors.without_reprs(" ".join(str(exc).split())) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "…"


def opened(name: str) -> str:
    """The status line after an image file was opened (and read)."""
    return f"Opened {name}"


def unexpected(kind: type[BaseException], exc: BaseException) -> str:
    """The status line for an error the app did not expect (a bug): its type and message."""
    return f"Unexpected error: {kind.__name__}: {one_line(exc)}"


def no_display(exc: BaseException | None = None) -> str:
    """The one line `inkdigit gui` prints when there is no screen to open a window on."""
    return f"{NO_DISPLAY} ({one_line(exc)})" if exc is not None else NO_DISPLAY


# ---------------------------------------------------------------- models
def model_info(name: str, metadata: Mapping[str, Any] | None) -> str:
    """Status bar: the model's name and test accuracy, from the model file's own metadata."""
    meta = metadata or {}
    text = f"Model: {meta.get('name') or name}"
    acc = _to_percent(meta.get("test_accuracy"))
    if acc is not None:
        text += f"  ·  test accuracy {acc:.2f} %"
    return text


def _to_percent(value: Any) -> float | None:
    """Test accuracy from model metadata in percent; metadata may hold a fraction, a percent or a string."""
    try:
        acc = float(value)
    except (TypeError, ValueError):
        return None
    return acc * 100 if acc <= 1.0 else acc


def load_failed(exc: BaseException) -> str:
    """The status line when a model cannot be loaded (the old one, if any, stays)."""
    return f"Cannot load model: {one_line(exc)}"


def list_failed(exc: BaseException) -> str:
    """The status line when the bundled models cannot be listed (the window opens anyway)."""
    return f"Cannot list the bundled models: {one_line(exc)}"


def early_label(model: str | None) -> str:
    """The menu's text until the model list is read: --model's file stem, else an ellipsis."""
    return Path(model).stem if model else "…"


def path_label(model: str) -> str:
    """How the menu names a --model argument: a model file by its stem, a bundled name as it is."""
    return Path(model).stem if Path(model).suffix == ".onnx" else model


def menu_choices(bundled: list[str], model: str | None) -> dict[str, str]:
    """Menu label -> what to hand Predictor.load: the bundled models plus whatever --model named."""
    choices = {name: name for name in bundled}
    if model and model not in choices:
        label = path_label(model)
        choices[label if label not in choices else model] = model
    return choices


def predictor_label(choices: dict[str, str], path: str | Path | None, name: str) -> str:
    """The menu entry of a ready-made predictor: a bundled model's is its file's stem, else its name."""
    for label in (Path(path).stem if path else None, name):
        if label in choices:
            return label
    return name


def start_label(choices: dict[str, str], model: str | None, default: str | None) -> str:
    """The menu entry to start with: the one --model named, else the default bundled model."""
    if model:
        return next(label for label, target in choices.items() if target == model)
    return default if default is not None else next(iter(choices), "default")

"""The desktop app's five modes (Digit · Number · Letter · Text · Math): what each shows, as plain data, and
in the window under a real X server (Xvfb), written with mouse events in a benchmark handwriting font.

The window tests need Xvfb (Debian package xvfb) and the bundled letters, alnum and math models; without them
they fail (never skip) and say what is missing. Screenshots land in test-output/ for a person to look at.
"""

from __future__ import annotations

import gc
import time
import tkinter as tk
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import ImageGrab

from font_ink import Stroke, pen_strokes
from inkdigit.errors import ModelNotFoundError
from inkdigit.gui import present
from inkdigit.gui.app import InkDigitApp
from inkdigit.gui.sheet import IMAGE_SIZE
from inkdigit.gui.widgets import BRUSH_STEP
from inkdigit.inference import MathReading, NumberPrediction, Prediction, Predictor

OUT = Path(__file__).resolve().parents[1] / "test-output"
FONT = "kalam"  # a benchmark family: no model trained on it
BRUSH = 4  # the brush slider's setting for these drawings: a pen about an eighth of a character's height


# ---------------------------------------------------------------- what each mode shows (no display)
def _char(text: str, labels: list[str], confidence: float, unsure: bool = False) -> Prediction:
    i = labels.index(text)
    probs = [(1 - confidence) / (len(labels) - 1)] * len(labels)
    probs[i] = confidence
    top = sorted(enumerate(probs), key=lambda kv: -kv[1])[:3]
    return Prediction(i, confidence, probs, top, unsure, np.zeros((28, 28), np.float32), text=text)


LETTERS = [chr(c) for c in range(ord("A"), ord("Z") + 1)]
MATH = [*"0123456789", "+", "\u2212", "×", "÷", "=", "(", ")", "."]


def _line(text: str, labels: list[str], unsure_at: int | None = None) -> NumberPrediction:
    chars = [_char(c, labels, 0.6 if i == unsure_at else 0.95, i == unsure_at) for i, c in enumerate(text)]
    boxes = [(10 + 50 * i, 20, 50 + 50 * i, 90) for i in range(len(text))]
    return NumberPrediction(text, float(np.prod([c.confidence for c in chars])), chars, boxes)


def test_a_letter_shows_its_likeliest_labels_as_bars() -> None:
    shown = present.char(_char("Q", LETTERS, 0.91), LETTERS)
    assert (shown.answer, shown.detail, shown.unsure) == ("Q", "91.0 % sure", False)
    assert shown.caption == "TOP READINGS" and len(shown.bars) == present.MAX_BARS
    assert shown.bars[0] == present.Bar("Q", pytest.approx(0.91), True)  # the answer first, highlighted
    assert not any(bar.hot for bar in shown.bars[1:])
    unsure = present.char(_char("O", LETTERS, 0.4, unsure=True), LETTERS)
    assert unsure.unsure and unsure.detail.startswith("Not sure (40 %): maybe O or ")


def test_a_word_shows_a_box_and_a_bar_per_character() -> None:
    line = _line("CAT", LETTERS, unsure_at=1)
    line.alternatives = [("CXT", line.confidence * 0.5), ("OAT", line.confidence * 0.01)]
    shown = present.line(line, "character")
    assert shown.answer == "CAT" and shown.title == "inkdigit — CAT"
    assert shown.detail == "Not sure (54 %): check character 2 · or CXT?"  # not the unlikely OAT
    assert [label for _, label in shown.boxes] == ["C", "A", "T"]
    assert shown.caption == "CONFIDENCE PER CHARACTER" and [b.label for b in shown.bars] == ["C", "A", "T"]


def test_a_sum_shows_its_result_or_what_is_wrong() -> None:
    good = MathReading(_line("12+7=", MATH), "12+7=", "19", None, "12+7 = 19", True)
    shown = present.math_line(good)
    assert (shown.answer, shown.result, shown.result_ok) == ("12+7=", "12+7 = 19", True)
    assert shown.title == "inkdigit — 12+7 = 19" and shown.detail.endswith("5 symbols")
    bad = MathReading(_line("7÷0", MATH), "7÷0", None, None, "cannot divide by zero", False)
    shown = present.math_line(bad)
    assert (shown.result, shown.result_ok, shown.error) == ("cannot divide by zero", False, None)
    assert shown.title == "inkdigit — 7÷0"  # the title says what was read, not the complaint


def test_each_mode_has_its_words_and_blank_card() -> None:
    assert list(present.READ_MODES) == ["digit", "number", "letter", "text", "math"]
    assert [m.label for m in present.READ_MODES.values()] == ["Digit", "Number", "Letter", "Text", "Math"]
    assert present.MODES[False] is present.READ_MODES["digit"] and present.MODES[True] is present.READ_MODES["number"]
    assert present.blank("letter").detail == "Draw a letter" and present.blank("letter").bars == []
    assert present.blank("math").caption == "CONFIDENCE PER CHARACTER"
    assert present.blank("digit") == present.blank(False)  # the digit card as it always was
    assert list(present.TEXT_CHARSETS) == ["alnum", "letters", "digits"]  # alnum first: Text's default
    missing = present.charset_missing("math", ModelNotFoundError("no model for the 'math' character set"))
    assert missing.detail == "No math model" and "\n" not in (missing.error or "")


# ---------------------------------------------------------------- the window
@pytest.fixture(autouse=True)
def _free_tk_in_this_thread() -> Iterator[None]:
    """Tk objects must be freed by the thread that made them (see tests/test_gui.py)."""
    yield
    gc.collect()


@pytest.fixture
def app(xdisplay: str) -> Iterator[InkDigitApp]:
    root = tk.Tk(className="inkdigit")
    application = InkDigitApp(root, predictor=Predictor.load("paper"))
    root.geometry("+0+0")
    _settle(root)
    application.brush_scale.set(BRUSH)
    yield application
    root.destroy()


def _settle(root: tk.Tk) -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not (root.winfo_ismapped() and root.winfo_width() > 200):
        root.update()
        time.sleep(0.01)
    root.update()


def write(app: InkDigitApp, text: str, box: tuple[float, float, float, float]) -> None:
    """Write `text` in the benchmark font with Tk mouse events, then let the app read it once."""
    pen = BRUSH * BRUSH_STEP * IMAGE_SIZE[1]
    strokes = pen_strokes(text, family=FONT, canvas=IMAGE_SIZE, brush=pen, box=box)
    draw(app, strokes)


def draw(app: InkDigitApp, strokes: list[Stroke]) -> None:
    canvas = app.canvas
    for stroke in strokes:
        pts = [app.sheet.page_to_canvas(u, v) for u, v in stroke]
        canvas.event_generate("<ButtonPress-1>", x=round(pts[0][0]), y=round(pts[0][1]), button=1)
        for x, y in pts[1:]:
            canvas.event_generate("<B1-Motion>", x=round(x), y=round(y), state=0x100)
        canvas.event_generate("<ButtonRelease-1>", x=round(pts[-1][0]), y=round(pts[-1][1]), button=1, state=0x100)
    app.root.update()  # the read queued at the last stroke's end


def press_key(app: InkDigitApp, sequence: str) -> None:
    app.root.focus_force()
    app.root.update()
    app.root.event_generate(sequence)
    app.root.update()


def answer(app: InkDigitApp) -> str:
    return str(app.answer_label.cget("text")).strip()


def bar_labels(app: InkDigitApp) -> list[str]:
    """The labels down the bar chart's left edge, top to bottom."""
    items = [i for i in app.bars.find_all() if app.bars.type(i) == "text" and app.bars.coords(i)[0] < 20]
    return [app.bars.itemcget(i, "text") for i in sorted(items, key=lambda i: app.bars.coords(i)[1])]


def screenshot(app: InkDigitApp, display: str, name: str) -> None:
    root = app.root
    root.update()
    x, y, w, h = root.winfo_rootx(), root.winfo_rooty(), root.winfo_width(), root.winfo_height()
    OUT.mkdir(exist_ok=True)
    ImageGrab.grab(bbox=(x, y, x + w, y + h), xdisplay=display).save(OUT / name)


@pytest.mark.slow
def test_letter_mode_reads_a_letter(app: InkDigitApp, xdisplay: str) -> None:
    press_key(app, "<KeyPress-l>")
    assert app.mode.get() == "letter" and app.number_mode.get() is False
    assert app.status_text() == ("Letter mode: one letter, A to Z", False)
    assert "letters" in str(app.model_info.cget("text"))  # the letters model reads, not the Model menu's
    assert app.model_menu.instate(["disabled"])
    write(app, "A", (0.3, 0.15, 0.7, 0.85))
    assert answer(app) == "A", app.shown.detail
    assert app.root.title() == "inkdigit — A" and "% sure" in app.shown.detail
    assert str(app.bars_caption.cget("text")) == "TOP READINGS" and bar_labels(app)[0] == "A"
    image = app.preview.cget("image")
    assert image and int(app.root.call("image", "width", image)) == 112  # what the model saw
    screenshot(app, xdisplay, "gui-letter.png")

    press_key(app, "<KeyPress-d>")  # back to digits: the digit card and the Model menu's model, as before
    assert app.mode.get() == "digit" and not app.model_menu.instate(["disabled"])
    assert "paper" in str(app.model_info.cget("text")) and bar_labels(app) == [str(d) for d in range(10)]


@pytest.mark.slow
def test_text_mode_reads_a_word_with_a_box_per_letter(app: InkDigitApp, xdisplay: str) -> None:
    app.mode_buttons["text"].invoke()
    assert app.mode.get() == "text" and app.charset_box.winfo_ismapped()
    assert app.text_charset.get() == "letters and digits"
    write(app, "CAT", (0.15, 0.3, 0.85, 0.7))
    assert answer(app) == "CAT", app.shown.detail
    boxes = [i for i in app.canvas.find_withtag("box") if app.canvas.type(i) == "text"]
    assert [app.canvas.itemcget(i, "text") for i in boxes] == ["C", "A", "T"]
    assert str(app.bars_caption.cget("text")) == "CONFIDENCE PER CHARACTER" and bar_labels(app) == ["C", "A", "T"]
    assert "alnum" in str(app.model_info.cget("text"))
    screenshot(app, xdisplay, "gui-text.png")

    app.charset_box.set("letters only")  # the picker: the same ink read again, with the letters model
    app.charset_box.event_generate("<<ComboboxSelected>>")
    app.root.update()
    assert answer(app) == "CAT" and "letters" in str(app.model_info.cget("text"))


@pytest.mark.slow
def test_math_mode_works_out_a_written_sum(app: InkDigitApp, xdisplay: str) -> None:
    press_key(app, "<KeyPress-m>")
    write(app, "12+7=", (0.08, 0.35, 0.92, 0.65))
    assert answer(app) == "12+7=", app.shown.detail
    assert str(app.result_label.cget("text")) == "12+7 = 19" and app.result_label.winfo_ismapped()
    assert app.root.title() == "inkdigit — 12+7 = 19"
    screenshot(app, xdisplay, "gui-math.png")

    press_key(app, "<Escape>")
    write(app, "12+", (0.2, 0.35, 0.8, 0.65))  # read, but not a sum: the evaluator says what is missing
    assert answer(app) == "12+", app.shown.detail
    assert "missing" in str(app.result_label.cget("text")) and app.shown.result_ok is False
    assert app.root.title() == "inkdigit — 12+" and app.status_text()[1] is False  # no error: the ink was read


def test_a_mode_without_its_model_says_so_in_the_window(xdisplay: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> Path:
        raise ModelNotFoundError(f"no model for the {name!r} character set: math.onnx is missing")

    monkeypatch.setattr("inkdigit.inference.charset_model", missing)
    root = tk.Tk(className="inkdigit")
    try:
        application = InkDigitApp(root, predictor=Predictor.load("paper"))
        _settle(root)
        application.set_mode("math")
        assert answer(application) == "" and str(application.detail_label.cget("text")) == "No math model"
        message, is_error = application.status_text()
        assert is_error and "math.onnx is missing" in message and "\n" not in message
        assert str(application.model_info.cget("text")) == present.NO_MODEL
        application.set_mode("digit")  # the digit modes are unaffected
        assert application.status_text() == ("", False) and "paper" in str(application.model_info.cget("text"))
    finally:
        root.destroy()

"""The desktop app's presentation rules as plain functions: no display, no Tk, no model run."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from inkdigit.errors import ImageError, NoInkError
from inkdigit.gui import models, present
from inkdigit.gui.files import PictureError, open_picture
from inkdigit.inference import NumberPrediction, Prediction

SRC = Path(__file__).resolve().parents[1] / "src"


def prediction(label: int, confidence: float, unsure: bool = False, runner_up: int | None = None) -> Prediction:
    """A Prediction as the model gives it: `confidence` on `label`, the rest on `runner_up` (or spread)."""
    probs = [0.0] * 10
    probs[label] = confidence
    rest = 1 - confidence
    if runner_up is not None:
        probs[runner_up] = rest
    else:
        for d in range(10):
            if d != label:
                probs[d] = rest / 9
    top = sorted(enumerate(probs), key=lambda kv: -kv[1])[:3]
    image = np.full((28, 28), label / 10, dtype=np.float32)
    return Prediction(label, confidence, probs, top, unsure, image)


def number(*digits: Prediction) -> NumberPrediction:
    boxes = [(10 + 60 * i, 20, 50 + 60 * i, 90) for i in range(len(digits))]
    confidence = float(np.prod([d.confidence for d in digits]))
    return NumberPrediction("".join(str(d.label) for d in digits), confidence, list(digits), boxes)


# ---------------------------------------------------------------- confidence wording
@pytest.mark.parametrize(
    ("fraction", "text"),
    [(0.5, "50.0 %"), (0.0123, "1.2 %"), (0.998, "99.8 %"), (0.9995, "> 99.9 %"), (0.99999, "> 99.9 %"),
     (1.0, "100.0 %")],
)
def test_percent(fraction: float, text: str) -> None:
    assert present.percent(fraction) == text


@pytest.mark.parametrize(
    ("fraction", "text"), [(0.42, "42 %"), (0.994, "99 %"), (0.995, "> 99 %"), (0.9999, "> 99 %"), (1.0, "100 %")]
)
def test_whole_percent(fraction: float, text: str) -> None:
    assert present.whole_percent(fraction) == text


def test_confidence_below_one_is_never_shown_as_100_percent() -> None:
    for fraction in np.linspace(0.99, 1.0, 2001)[:-1]:
        assert not present.percent(float(fraction)).startswith("100"), fraction
        assert not present.whole_percent(float(fraction)).startswith("100"), fraction
        assert "100" not in present.digit(prediction(3, float(fraction))).detail
        assert "100" not in present.digit(prediction(3, float(fraction), unsure=True, runner_up=5)).detail


# ---------------------------------------------------------------- one digit
def test_sure_digit() -> None:
    p = prediction(7, 0.998)
    shown = present.digit(p)
    assert (shown.answer, shown.detail, shown.unsure, shown.error) == ("7", "99.8 % sure", False, None)
    assert shown.title == "inkdigit — 7"
    assert shown.caption == "CLASS PROBABILITIES"
    assert [b.label for b in shown.bars] == [str(d) for d in range(10)]
    assert [b.hot for b in shown.bars] == [d == 7 for d in range(10)]
    assert shown.bars[7].value == pytest.approx(0.998) and shown.bars[7].text == "99.8 %"
    assert shown.images == [p.image] and shown.boxes == []


def test_unsure_digit_names_the_two_candidates() -> None:
    shown = present.digit(prediction(4, 0.55, unsure=True, runner_up=9))
    assert shown.unsure is True
    assert shown.answer == "4"
    assert shown.detail == "Not sure (55 %): maybe 4 or 9"
    assert shown.error is None


def test_unsure_digit_with_a_strict_threshold_is_not_rounded_up() -> None:
    shown = present.digit(prediction(4, 0.997, unsure=True, runner_up=9))
    assert shown.detail == "Not sure (> 99 %): maybe 4 or 9"


# ---------------------------------------------------------------- numbers
def test_sure_number_has_a_box_and_a_bar_per_digit() -> None:
    n = number(prediction(1, 0.95), prediction(7, 0.9))
    shown = present.number(n)
    assert shown.answer == "17" and shown.title == "inkdigit — 17"
    assert shown.detail == "85.5 % sure · 2 digits"
    assert shown.unsure is False
    assert shown.caption == "CONFIDENCE PER DIGIT"
    assert shown.boxes == [((10, 20, 50, 90), "1"), ((70, 20, 110, 90), "7")]
    assert [(b.label, b.value, b.hot) for b in shown.bars] == [("1", 0.95, True), ("7", 0.9, True)]
    assert [b.text for b in shown.bars] == ["95.0 %", "90.0 %"]
    assert len(shown.images) == 2


def test_one_digit_number_says_digit_not_digits() -> None:
    assert present.number(number(prediction(5, 0.9))).detail == "90.0 % sure · 1 digit"


def test_unsure_number_says_which_digits_to_check() -> None:
    n = number(prediction(1, 0.95), prediction(7, 0.4, unsure=True), prediction(2, 0.3, unsure=True))
    shown = present.number(n)
    assert shown.unsure is True
    assert shown.detail == "Not sure (11 %): check digit 2, 3"
    assert [b.hot for b in shown.bars] == [True, False, False]  # the unsure digits are not highlighted


def test_other_readings_of_a_number_are_offered_when_there_are_some() -> None:
    """ "58 · or 528?": the reader's alternatives, in whatever shape it gives them; nothing when it gives none."""
    n = number(prediction(5, 0.9), prediction(8, 0.9))
    n.alternatives = [{"text": "528", "confidence": 0.1}, {"text": "58", "confidence": 0.05}]  # type: ignore[attr-defined]
    assert present.number(n).detail == "81.0 % sure · 2 digits · or 528?"
    n.alternatives = [("528", 0.3), ("5 8", 0.2), ("508", 0.1)]  # type: ignore[attr-defined]
    assert present.number(n).detail.endswith(" · or 528 or 5 8?")  # two at most
    n.alternatives = [("528", 0.3), ("7", 0.0001)]  # type: ignore[attr-defined]
    assert present.number(n).detail.endswith(" · or 528?")  # not the unlikely ones
    n.alternatives = []  # type: ignore[attr-defined]
    assert present.number(n).detail == "81.0 % sure · 2 digits"
    assert present.other_readings(number(prediction(5, 0.9))) == []  # a NumberPrediction without the field


def test_long_number_keeps_ten_bars_but_every_box() -> None:
    n = number(*(prediction(d % 10, 0.99) for d in range(12)))
    shown = present.number(n)
    assert len(shown.bars) == present.MAX_BARS == 10
    assert len(shown.boxes) == 12 and len(shown.images) == 12
    assert shown.answer_size == 20


# ---------------------------------------------------------------- blank, errors, status line
def test_blank_prompts_for_the_mode() -> None:
    for number_mode, prompt in ((False, "Draw a digit"), (True, "Write a number")):
        shown = present.blank(number_mode)
        assert (shown.answer, shown.detail, shown.error, shown.unsure) == ("", prompt, None, False)
        assert shown.title == "inkdigit"
        assert shown.caption == "CLASS PROBABILITIES"
        assert [(b.label, b.text) for b in shown.bars] == [(str(d), "–") for d in range(10)]
        assert shown.images == [] and shown.boxes == []
    assert present.blank(True, present.LOADING).detail == "Loading model…"


def test_error_shows_a_headline_and_puts_the_reason_on_the_status_bar() -> None:
    shown = present.error("Cannot read x.png: not an image", "Cannot read x.png")
    assert (shown.answer, shown.detail, shown.error) == ("", "Cannot read x.png", "Cannot read x.png: not an image")
    assert present.error("something broke").detail == "something broke"
    assert present.no_model().error == "No model loaded: pick one from the Model menu"


def test_blank_picture_is_no_error_but_a_bad_one_is() -> None:
    blank = present.unreadable(NoInkError("the picture is blank"), number_mode=False)
    assert blank.error is None and blank.detail == "Nothing to read here"
    bad = present.unreadable(ImageError("cannot decode\n  this file"), number_mode=False)
    assert bad.detail == "Cannot read this"
    assert bad.error == "Cannot read this: cannot decode this file"


def test_file_errors_name_the_file_and_the_step() -> None:
    shown = present.file_error("open", "seven.png", "No such file or directory")
    assert shown.detail == "Cannot open seven.png"
    assert shown.error == "Cannot open seven.png: No such file or directory"


def test_status_line_after_showing() -> None:
    answer, blank = present.digit(prediction(1, 0.9)), present.blank(False)
    err = present.error("Cannot read this: bad", "Cannot read this")
    assert present.next_status(err, "Opened a.png", False) == ("Cannot read this: bad", True)
    assert present.next_status(answer, "Cannot load model: x", True) == ("", False)  # an answer clears an error
    assert present.next_status(answer, "Opened a.png", False) == ("Opened a.png", False)  # and keeps news
    assert present.next_status(blank, "Cannot load model: x", True) == ("Cannot load model: x", True)


def test_one_line() -> None:
    assert present.one_line(ValueError("first\nsecond\t third")) == "first second third"
    assert present.one_line(KeyError()) == "KeyError"
    pil = OSError(f"cannot identify image file {io.BytesIO()!r}")
    assert present.one_line(pil) == "cannot identify image file"
    long = present.one_line(RuntimeError("x" * 500))
    assert len(long) == 158 and long.endswith("…")
    assert present.unexpected(ZeroDivisionError, ZeroDivisionError("division by zero")) == (
        "Unexpected error: ZeroDivisionError: division by zero"
    )


def test_no_display_line() -> None:
    assert present.no_display() == "no display: set DISPLAY or run on a desktop"
    assert present.no_display(RuntimeError("couldn't connect\nto display")) == (
        "no display: set DISPLAY or run on a desktop (couldn't connect to display)"
    )


# ---------------------------------------------------------------- layout numbers
@pytest.mark.parametrize(("answer", "size"), [("7", 80), ("42", 80), ("123", 52), ("1234", 40), ("123456", 30)])
def test_answer_font_shrinks_for_long_numbers(answer: str, size: int) -> None:
    assert present.Shown(answer=answer).answer_size == size


def test_preview_tiles() -> None:
    assert present.tiles(0, 112) == []
    assert present.tiles(1, 112) == [(0, 0, 112)]  # one input fills the box
    two = present.tiles(2, 112)
    assert [(x, y) for x, y, _ in two] == [(2, 30), (58, 30)]  # side by side, centred vertically
    assert {side for *_, side in two} == {52}
    many = present.tiles(40, 112)
    assert len(many) == present.MAX_TILES
    assert all(min(x, y) >= 0 and max(x, y) + s <= 112 for x, y, s in many)
    assert many == sorted(many, key=lambda t: (t[1], t[0]))  # reading order


def test_mode_texts() -> None:
    digit, number_mode = present.MODES[False], present.MODES[True]
    assert (digit.hint, digit.status) == ("Draw a digit here", "")
    assert (number_mode.hint, number_mode.status) == (
        "Write a number here", "Number mode: write digits side by side, a little apart"
    )
    assert "N" in digit.tip and "box" in number_mode.tip


# ---------------------------------------------------------------- model menu and status bar
@pytest.mark.parametrize(
    ("meta", "text"),
    [
        ({"name": "paper", "test_accuracy": 0.9931}, "Model: paper  ·  test accuracy 99.31 %"),
        ({"test_accuracy": 99.5}, "Model: file  ·  test accuracy 99.50 %"),
        ({"test_accuracy": "0.98"}, "Model: file  ·  test accuracy 98.00 %"),
        ({"test_accuracy": "n/a"}, "Model: file"),
        (None, "Model: file"),
    ],
)
def test_model_info(meta: dict | None, text: str) -> None:
    assert present.model_info("file", meta) == text


def test_menu_choices() -> None:
    bundled = ["paper", "wide"]
    assert present.menu_choices(bundled, None) == {"paper": "paper", "wide": "wide"}
    assert present.menu_choices(bundled, "wide") == {"paper": "paper", "wide": "wide"}
    assert present.menu_choices(bundled, "/m/mine.onnx")["mine"] == "/m/mine.onnx"
    # A file named like a bundled model is listed by its full path, not hidden behind the bundled one.
    assert present.menu_choices(bundled, "/m/paper.onnx")["/m/paper.onnx"] == "/m/paper.onnx"
    assert present.path_label("/m/x.onnx") == "x" and present.path_label("paper") == "paper"
    assert present.early_label(None) == "…" and present.early_label("/m/mine.onnx") == "mine"


def test_start_and_predictor_labels() -> None:
    choices = {"paper": "paper", "wide": "wide", "mine": "/m/mine.onnx"}
    assert present.start_label(choices, "/m/mine.onnx", "wide") == "mine"
    assert present.start_label(choices, None, "wide") == "wide"
    assert present.start_label(choices, None, None) == "paper"  # no default: the first entry
    assert present.start_label({}, None, None) == "default"
    assert present.predictor_label(choices, "/weights/wide.onnx", "wide-v2") == "wide"
    assert present.predictor_label(choices, None, "paper") == "paper"
    assert present.predictor_label(choices, "/x/other.onnx", "other") == "other"


def test_model_menu_lists_the_bundled_models() -> None:
    menu = models.model_menu("paper", None)
    assert menu.label == "paper" and "paper" in menu.labels and menu.error is None


def test_model_menu_survives_a_broken_models_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> list[dict]:
        raise OSError("models folder\nunreadable")

    monkeypatch.setattr("inkdigit.inference.available_models", broken)
    menu = models.model_menu(None, None)
    assert menu.error == "Cannot list the bundled models: models folder unreadable"
    assert menu.choices == {} and menu.labels == ["default"]


# ---------------------------------------------------------------- files and imports
def test_picture_errors_say_which_step_failed(tmp_path: Path) -> None:
    with pytest.raises(PictureError) as missing:
        open_picture(tmp_path / "missing.png")
    assert missing.value.verb == "open" and missing.value.reason
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not a picture")
    with pytest.raises(PictureError) as unreadable:
        open_picture(junk)
    assert unreadable.value.verb == "read" and "\n" not in unreadable.value.reason


def test_presentation_needs_neither_tk_nor_numpy() -> None:
    code = "import sys, inkdigit.gui.present; print(sorted({'tkinter', 'numpy'} & set(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], env={"PYTHONPATH": str(SRC)}, capture_output=True, text=True, timeout=60,
        check=True,
    )
    assert result.stdout.strip() == "[]"

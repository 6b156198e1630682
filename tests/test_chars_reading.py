"""Letters, alnum and math through the Python API (inference.py): the bundled character-set models, single
characters with their kinds and confusables, lines (words, expressions) with the generalised line reader, and
sums read and evaluated. The ink is drawn from benchmark handwriting fonts, which no model is trained on.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from inkdigit.charsets import DIGIT, LETTER, SYMBOL, get_charset, kind_of
from inkdigit.data.fonts import BENCHMARK_FAMILIES, font_paths
from inkdigit.data.handwriting import draw_text
from inkdigit.errors import CharsetError, ImageError, ModelNotFoundError, NoInkError
from inkdigit.inference import (
    CHARSET_DIR,
    DIGITS,
    MathReading,
    Prediction,
    Predictor,
    charset_model,
    default_model_name,
    read_math,
    resolve_model,
)
from inkdigit.vision import lattice
from inkdigit.vision.lattice import DIGIT_RULES, best_paths, build_arcs, line_rules, skip_costs

FAMILY = "patrick-hand"  # a benchmark family: never trained on


def ink(text: str, family: str = FAMILY, seed: int = 0) -> Image.Image:
    """`text` drawn by `draw_text` in a benchmark font, with the first seed from `seed` whose hand is tame
    (nearly upright, no grey paper, glyphs apart): the tests judge reading, not the hardest hands."""
    assert family in BENCHMARK_FAMILIES
    path = str(font_paths([family])[family])
    for s in range(seed, seed + 200):
        image, params = draw_text(path, text, np.random.default_rng([s, 7]))
        if abs(params["slant"]) <= 6 and not params["noise"] and params["tracking"] >= 0.1 and params["size"] >= 50:
            return image
    raise AssertionError("no tame drawing")


def png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def letters() -> Predictor:
    return Predictor.load(charset_model("letters"), threads=1)


@pytest.fixture(scope="module")
def alnum() -> Predictor:
    return Predictor.load(charset_model("alnum"), threads=1)


@pytest.fixture(scope="module")
def maths() -> Predictor:
    return Predictor.load(charset_model("math"), threads=1)


# ---------------------------------------------------------------- the bundled models


@pytest.mark.parametrize("name", ["letters", "alnum", "math"])
def test_each_character_set_has_a_bundled_model_with_its_labels(name: str) -> None:
    path = charset_model(name)
    assert path.parent == CHARSET_DIR and path.stat().st_size <= 2_000_000
    p = Predictor.load(path)
    assert p.labels == list(get_charset(name).labels) and p.charset is get_charset(name)


def test_digits_is_the_default_digit_model_and_unknown_or_missing_sets_are_one_line(tmp_path, monkeypatch) -> None:
    assert charset_model("digits") == resolve_model(default_model_name())
    with pytest.raises(ModelNotFoundError, match="unknown character set 'greek'.*letters"):
        charset_model("greek")
    monkeypatch.setattr("inkdigit.inference.CHARSET_DIR", tmp_path)
    with pytest.raises(ModelNotFoundError, match="letters.*missing") as e:
        charset_model("letters")
    assert "\n" not in str(e.value)


# ---------------------------------------------------------------- single characters


@pytest.mark.parametrize("char", ["A", "K", "r", "W", "e"])
def test_a_letter_is_read_with_its_label(letters: Predictor, char: str) -> None:
    pred = letters.predict(ink(char))
    assert pred.text == char.upper() and kind_of(pred.text) == LETTER
    assert pred.text == letters.labels[pred.label]
    answer = letters.char_answer(pred)
    assert answer["text"] == pred.text and answer["kind"] == LETTER and answer["confusable"] == []
    assert [t["text"] for t in answer["top_k"]][0] == pred.text


@pytest.mark.parametrize("char", ["0", "O", "1", "I", "5", "S", "2", "Z", "9", "g"])
def test_a_mode_of_one_kind_never_answers_with_the_other(alnum: Predictor, char: str) -> None:
    image = ink(char)
    digit = alnum.predict(image, kinds={DIGIT})
    letter = alnum.predict(image, kinds="letter")
    assert kind_of(digit.text) == DIGIT and all(kind_of(alnum.labels[k]) == DIGIT for k, _ in digit.top_k)
    assert kind_of(letter.text) == LETTER and all(kind_of(alnum.labels[k]) == LETTER for k, _ in letter.top_k)
    assert abs(sum(digit.probabilities) - 1) < 1e-4 and alnum.confusables(digit) == []


def test_alnum_reports_the_other_kinds_reading_when_it_is_close(alnum: Predictor) -> None:
    def reading(probs: dict[str, float]) -> Prediction:
        row = np.zeros(len(alnum.labels), np.float32)
        for label, p in probs.items():
            row[alnum.labels.index(label)] = p
        return alnum.prediction(row, np.zeros((28, 28), np.float32))

    assert alnum.confusables(reading({"0": 0.6, "O": 0.3, "D": 0.1})) == [("O", pytest.approx(0.3))]
    assert alnum.confusables(reading({"O": 0.9, "0": 0.1})) == []  # more than 5x less likely: not close
    assert alnum.confusables(reading({"1": 0.5, "I": 0.2, "L": 0.2, "7": 0.1})) == [
        ("I", pytest.approx(0.2)), ("L", pytest.approx(0.2))]
    assert alnum.confusables(reading({"C": 0.5, "G": 0.5})) == []  # alike, but the same kind


def test_unknown_kinds_and_kinds_the_set_lacks_are_one_line_errors(letters: Predictor, alnum: Predictor) -> None:
    with pytest.raises(CharsetError, match="unknown kind vowel"):
        alnum.predict(ink("A"), kinds="vowel,letter")
    with pytest.raises(CharsetError, match="no digit labels"):
        letters.predict(ink("A"), kinds={"digit"})
    with pytest.raises(CharsetError, match="no symbol labels"):
        letters.read_line(ink("AB"), kinds="symbol")


# ---------------------------------------------------------------- lines


@pytest.mark.parametrize("word", ["CAT", "Hello", "zebra", "BOX"])
def test_words_are_read_letter_by_letter(letters: Predictor, word: str) -> None:
    line = letters.read_line(ink(word))
    assert line.text == word.upper()
    assert len(line.digits) == len(word) == len(line.boxes)
    assert [b[0] for b in line.boxes] == sorted(b[0] for b in line.boxes)


@pytest.mark.parametrize("word", ["fix", "mini", "jig"])
def test_a_dotted_letter_is_one_character_with_its_dot(letters: Predictor, word: str) -> None:
    image = ink(word)
    line = letters.read_line(image)
    assert line.text == word.upper() and len(line.digits) == len(word)
    dotted = [b for c, b in zip(word, line.boxes, strict=True) if c in "ij"]
    others = [b for c, b in zip(word, line.boxes, strict=True) if c not in "ijfg"]
    # The dot rises above the small letters beside it: the character's box holds it.
    assert all(b[1] < min(o[1] for o in others) for b in dotted) if others else dotted


@pytest.mark.parametrize(("text", "value"), [("12+7=", "19"), ("8÷2", "4"), ("3×4=12", "12"), ("9−4", "5"),
                                             ("(2+3)×2", "10"), ("2.5×2", "5")])
def test_a_sum_is_read_and_evaluated(maths: Predictor, text: str, value: str) -> None:
    reading = read_math(maths, ink(text))
    assert isinstance(reading, MathReading)
    assert reading.expression == text == reading.line.text, reading.line.alternatives
    assert reading.ok and reading.value == value
    assert len(reading.line.digits) == len(text)  # "=" (two bars) and "÷" (a bar, two dots) are one each


def sum_with_a_split_plus(left: str, right: str) -> Image.Image:
    """`left` + `right`, the digits drawn in the benchmark font, the "+" drawn with pen lines and its left arm
    apart from the rest (a gap of an eighth of its width), as a hand that lifts the pen at the crossing does."""
    a, b = (ink(d).convert("L") for d in (left, right))
    a, b = (im.crop(Image.eval(im, lambda v: 255 - v).getbbox()) for im in (a, b))
    h = max(a.height, b.height)
    w, pen = int(0.7 * h), max(3, h // 12)
    canvas = Image.new("L", (a.width + b.width + w + int(0.4 * h) + 40, h + 40), 255)
    canvas.paste(a, (20, 20 + h - a.height))
    x0, y = 20 + a.width + int(0.2 * h), 20 + h // 2
    draw = ImageDraw.Draw(canvas)
    draw.line([(x0, y), (x0 + w // 4, y)], fill=0, width=pen)
    draw.line([(x0 + w // 4 + w // 8, y), (x0 + w, y)], fill=0, width=pen)
    draw.line([(x0 + int(0.62 * w), y - w // 2), (x0 + int(0.62 * w), y + w // 2)], fill=0, width=pen)
    canvas.paste(b, (x0 + w + int(0.2 * h), 20 + h - b.height))
    return canvas


@pytest.mark.parametrize(("left", "right", "value"), [("6", "5", "11"), ("8", "3", "11"), ("4", "7", "11")])
def test_a_plus_with_its_arm_apart_is_one_plus_in_a_sum(maths: Predictor, left: str, right: str, value: str) -> None:
    # Read as characters alone, the arm is a "−" or one bar of "=" beside a "+"; arithmetic has no "−+" or "=+",
    # and the math reader follows arithmetic's grammar.
    reading = read_math(maths, sum_with_a_split_plus(left, right))
    assert reading.expression == f"{left}+{right}" and reading.value == value, reading.line.alternatives


def test_a_sum_that_does_not_evaluate_was_still_read(maths: Predictor) -> None:
    zero = read_math(maths, ink("7÷0"))
    assert zero.expression == "7÷0" and not zero.ok and zero.value is None and zero.holds is None
    assert "division by zero" in zero.message and "\n" not in zero.message
    claim = read_math(maths, ink("2+2=5"))
    assert claim.ok and claim.holds is False and claim.value == "4" and "false" in claim.message
    unfinished = read_math(maths, ink("12+"))
    assert not unfinished.ok and "missing" in unfinished.message
    assert unfinished.to_dict() == {"expression": "12+", "value": None, "holds": None,
                                    "message": unfinished.message, "ok": False}


def test_blank_ink_is_no_ink_for_every_reader(letters: Predictor, maths: Predictor) -> None:
    blank = Image.new("L", (200, 80), 255)
    for read in (letters.predict, letters.read_line, lambda im: read_math(maths, im)):
        with pytest.raises(NoInkError):
            read(blank)


def test_a_digit_model_reads_a_line_exactly_as_it_reads_a_number() -> None:
    digits = Predictor.load(threads=1)
    assert digits.labels == DIGITS
    for text in ("2026", "31415"):
        image = ink(text)
        number, line = digits.predict_number(image), digits.read_line(image)
        assert (line.text, line.confidence, line.boxes, line.alternatives) == \
            (number.text, number.confidence, number.boxes, number.alternatives)


def test_only_the_digits_keep_the_digit_rules() -> None:
    assert line_rules(DIGITS) is DIGIT_RULES
    assert line_rules(get_charset("alnum").labels, {DIGIT}) is DIGIT_RULES
    math = line_rules(get_charset("math").labels)
    sized = [label for label, s in zip(get_charset("math").labels, math.any_size, strict=True) if s]
    assert sized == [label for label in get_charset("math").labels if kind_of(label) == SYMBOL]
    assert math.ones and math.apart > 0 and math.width == 1.0
    letters = line_rules(get_charset("letters").labels)
    assert not letters.ones and not letters.any_size and letters.width > 1


def test_only_symbols_are_read_from_ink_too_flat_for_a_digit() -> None:
    # A digit, a flat bar, a digit: the bar (6 px tall on a 100 px line) can only be a symbol.
    labels = get_charset("math").labels
    boxes = np.array([[0, 0, 60, 100], [80, 47, 130, 53], [150, 0, 210, 100]])
    minus, one = labels.index("\u2212"), labels.index("1")
    assert all(not (a.start == 1 and a.end == 2) for a in build_arcs(boxes, 100.0, []))  # digits: no such arc
    rules = line_rules(labels)
    arcs = build_arcs(boxes, 100.0, [], rules)
    bar = next(a for a in arcs if (a.start, a.end) == (1, 2))
    assert bar.tiny and 0.3 < bar.level < 0.7

    def probs(middle: int) -> np.ndarray:
        rows = np.full((len(arcs), len(labels)), 1e-4, np.float32)
        for k, a in enumerate(arcs):
            rows[k, middle if (a.start, a.end) == (1, 2) else labels.index("7")] = 0.99
        return rows

    skips = skip_costs(boxes, 100.0, rules)
    read = best_paths(3, arcs, probs(minus), skips, 1, rules=rules)[0]
    assert [labels[c] for c in read.labels] == ["7", "\u2212", "7"]
    read = best_paths(3, arcs, probs(one), skips, 1, rules=rules)[0]
    assert [labels[c] for c in read.labels] == ["7", "7"]  # a flat "1" is no 1: the bar is dropped


def test_a_bar_cut_out_of_a_plus_is_judged_by_the_verifier() -> None:
    # A "+" as one piece of ink, cut by a seam into its upright with the left arm and its right arm (8 px tall on
    # a 100 px line: too flat for a digit). The recogniser reads the arm as "−"; the verifier says it is no whole
    # character. A mark of its own that flat is not judged by the verifier (a point or a bar looks the same in
    # any role); a piece cut out of a larger mark is, so the "+" is one character, not "+−".
    labels = get_charset("math").labels
    plus, minus = labels.index("+"), labels.index("\u2212")
    rules = line_rules(labels)
    boxes = np.array([[0, 0, 55, 100], [55, 45, 80, 53]])
    arcs = build_arcs(boxes, 100.0, [(0, 1, 1.0)], rules)
    arm = next(a for a in arcs if (a.start, a.end) == (1, 2))
    assert arm.tiny and arm.cut
    read_as = {(0, 1): (plus, 0.92, 0.89), (0, 2): (plus, 0.6, 0.44), (1, 2): (minus, 0.98, 0.14)}
    probs = np.full((len(arcs), len(labels)), 1e-4, np.float32)
    whole = np.zeros(len(arcs), np.float32)
    for k, a in enumerate(arcs):
        label, p, w = read_as[(a.start, a.end)]
        probs[k, label], whole[k] = p, w
    skips = skip_costs(boxes, 100.0, rules)
    assert best_paths(2, arcs, probs, skips, 1, rules=rules)[0].labels == (plus, minus)  # the recogniser alone
    assert best_paths(2, arcs, probs, skips, 1, whole=whole, rules=rules)[0].labels == (plus,)


@pytest.mark.parametrize("point", [[52, 88, 60, 96], [72, 90, 80, 98], [72, 94, 80, 102]],
                         ids=["under-a-flourish", "beside", "a-little-below-the-foot"])
def test_a_point_level_with_the_digit_before_it_is_not_part_of_it(point: list[int]) -> None:
    # "8." with the point under the 8's flourish (inside its box), just beside it, or beside it with its bottom a
    # little under the 8's foot ("level": its middle within the 8's top and bottom). In the 28x28 form the point
    # all but vanishes, so the recogniser reads the two as a sure "8" as well as the 8 alone.
    labels = get_charset("math").labels
    eight, dot = labels.index("8"), labels.index(".")
    boxes = np.array([[0, 0, 76, 100], point])
    rules = line_rules(labels)
    arcs = build_arcs(boxes, 100.0, [], rules)
    probs = np.full((len(arcs), len(labels)), 1e-4, np.float32)
    for k, a in enumerate(arcs):
        probs[k, dot if (a.start, a.end) == (1, 2) else eight] = 0.98
    read = best_paths(2, arcs, probs, skip_costs(boxes, 100.0, rules), 1, rules=rules)[0]
    assert [labels[c] for c in read.labels] == ["8", "."]
    # The dots of a "÷" lie over and under its bar, not level with it: no price for reading them with it.
    divide = np.array([[0, 45, 50, 55], [20, 20, 30, 30], [20, 70, 30, 80]])
    whole = next(a for a in build_arcs(divide, 100.0, [], rules) if (a.start, a.end) == (0, 3))
    assert whole.prior > -lattice.LEVEL_PRICE


def test_a_decimal_point_sits_low_and_an_operator_in_the_middle() -> None:
    labels = get_charset("math").labels
    rules = line_rules(labels)
    dot, plus = labels.index("."), labels.index("+")
    assert rules.placed(dot, 0.9) and not rules.placed(dot, 0.1)  # a 5's detached flag is no point
    assert rules.placed(plus, 0.5) and not rules.placed(plus, 0.95)  # nor the tail of a 2 a minus
    assert lattice.LEVELS.keys() <= set(labels)


def test_marks_apart_cost_more_to_join_beyond_the_digits() -> None:
    boxes = np.array([[0, 40, 30, 100], [40, 40, 70, 100]])  # two small marks side by side
    whole = {(a.start, a.end): a.prior for a in build_arcs(boxes, 100.0, [], line_rules(get_charset("letters").labels))}
    digit = {(a.start, a.end): a.prior for a in build_arcs(boxes, 100.0, [])}
    assert whole[(0, 2)] <= digit[(0, 2)] - lattice.APART_PRICE + 1e-9
    # A "÷": two dots over one bar, each overlapping the bar: no price.
    divide = np.array([[0, 45, 50, 55], [20, 20, 30, 30], [20, 70, 30, 80]])
    arcs = build_arcs(divide, 100.0, [], line_rules(get_charset("math").labels))
    assert next(a for a in arcs if (a.start, a.end) == (0, 3)).prior > -1.0
    # The dot of a slanted i, above its stem and barely over it: a part, not a neighbour.
    i = np.array([[4, 20, 11, 27], [10, 40, 20, 100]])
    arcs = build_arcs(i, 100.0, [], line_rules(get_charset("letters").labels))
    assert next(a for a in arcs if (a.start, a.end) == (0, 2)).prior > -1.0


def test_a_dotted_texture_is_refused_in_one_line_for_every_reader(letters: Predictor, maths: Predictor,
                                                                  dot_grid_png: bytes) -> None:
    # Dots are kept as characters' parts beyond the digits: the mark limit still bounds the work.
    for read in (letters.read_line, lambda im: read_math(maths, im)):
        with pytest.raises(ImageError, match="too many separate marks") as e:
            read(dot_grid_png)
        assert "\n" not in str(e.value)

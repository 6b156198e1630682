"""Character sets: the labels and what they stand for, kind masks, confusable pairs, and labels in a model."""

from __future__ import annotations

import json
import re
import string

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from inkdigit.charsets import CHARSETS, MINUS, canonical, get_charset, kind_of, mask_kinds
from inkdigit.errors import ModelNotFoundError
from inkdigit.inference import Prediction, Predictor


def test_the_four_sets_and_their_order():
    assert get_charset("digits").labels == tuple("0123456789")
    assert get_charset("letters").labels == tuple(string.ascii_uppercase)
    alnum = get_charset("alnum").labels  # EMNIST balanced's 47 classes, in its order
    assert len(alnum) == 47 and alnum == tuple(string.digits + string.ascii_uppercase + "abdefghnqrt")
    assert get_charset("math").labels == (*"0123456789", "+", "\u2212", "×", "÷", "=", "(", ")", ".")
    assert {c.emnist_split for c in CHARSETS.values()} == {"digits", "letters", "balanced", None}
    with pytest.raises(KeyError, match="unknown character set 'greek' .known: digits, letters, alnum, math"):
        get_charset("greek")


def test_each_label_stands_for_the_characters_written_for_it():
    letters, alnum, math = get_charset("letters"), get_charset("alnum"), get_charset("math")
    assert letters.forms_of("A") == ("A", "a") and letters.label_of("q") == "Q" and letters.index_of("z") == 25
    # alnum keeps the lower case that looks unlike its capital, and merges the rest, as EMNIST does.
    assert alnum.label_of("a") == "a" and alnum.label_of("A") == "A"
    assert alnum.label_of("c") == "C" and alnum.label_of("l") == "L" and alnum.label_of("o") == "O"
    assert alnum.index_of("t") == 46
    assert math.label_of("-") == MINUS and math.label_of("*") == "×" and math.label_of("/") == "÷"
    assert canonical("-") == MINUS and canonical("7") == "7"
    assert get_charset("digits").label_of("A") is None and letters.label_of("-") is None
    assert letters.label_of("7") is None


def test_kinds():
    assert [kind_of(c) for c in ("7", "A", "g", "×", ".", MINUS)] == ["digit", "letter", "letter", "symbol",
                                                                      "symbol", "symbol"]
    assert set(get_charset("alnum").kinds) == {"digit", "letter"}
    assert get_charset("math").kinds.count("symbol") == 8


def test_confusable_pairs_in_each_set():
    assert get_charset("alnum").confusable_groups() == [("0", "O"), ("1", "I", "L"), ("5", "S"), ("2", "Z"),
                                                        ("9", "g", "q")]
    assert get_charset("alnum").confusable_with("9") == ("g", "q")
    assert get_charset("alnum").confusable_with("O") == ("0",)
    # Within one kind the pairs left are the letters' own: l against I, g against q.
    assert get_charset("letters").confusable_groups() == [("I", "L"), ("G", "Q")]
    assert get_charset("digits").confusable_groups() == [] and get_charset("digits").confusable_with("0") == ()


def test_a_digits_only_mode_never_answers_a_letter_and_a_letters_only_mode_never_a_digit():
    alnum = get_charset("alnum")
    p = np.full(47, 0.001, np.float32)
    p[alnum.labels.index("O")], p[alnum.labels.index("0")] = 0.8, 0.1
    p[alnum.labels.index("S")], p[alnum.labels.index("5")] = 0.04, 0.02
    p /= p.sum()
    digits_only = mask_kinds(alnum, p, ["digit"])
    letters_only = mask_kinds(alnum, p, ["letter"])
    assert alnum.labels[int(digits_only.argmax())] == "0" and alnum.labels[int(letters_only.argmax())] == "O"
    assert all(alnum.kinds[i] == "digit" for i in np.flatnonzero(digits_only))
    assert all(alnum.kinds[i] == "letter" for i in np.flatnonzero(letters_only))
    assert digits_only.dtype == np.float32 and digits_only.sum() == pytest.approx(1.0, abs=1e-6)
    # The order among the allowed labels is the model's: only renormalised.
    assert digits_only[alnum.labels.index("0")] / digits_only[alnum.labels.index("5")] == pytest.approx(5.0)
    both = mask_kinds(alnum, np.stack([p, p[::-1]]), ["digit", "letter"])
    np.testing.assert_allclose(both, np.stack([p, p[::-1]]), rtol=1e-6)


def test_masking_edge_cases_are_clear():
    math = get_charset("math")
    only_symbols = np.zeros(18)
    only_symbols[10:] = 1 / 8
    np.testing.assert_allclose(mask_kinds(math, only_symbols, ["digit"])[:10], 0.1)  # nothing left: uniform
    with pytest.raises(ValueError, match="has no letter labels"):
        mask_kinds(get_charset("digits"), np.full(10, 0.1), ["letter"])
    with pytest.raises(ValueError, match="unknown kind punctuation"):
        mask_kinds(math, only_symbols, ["punctuation"])
    with pytest.raises(ValueError, match="for the 18 labels of 'math'"):
        mask_kinds(math, np.full(10, 0.1), ["digit"])


# --- labels in the model -------------------------------------------------------------------------------

def tiny_onnx(path, outputs: int, *, favourite: int = 0, labels=None, plain: str | None = None):
    """A linear model [N,1,28,28] → softmax over `outputs` whose answer for any ink is `favourite`; its
    metadata written with onnx directly: the inkdigit JSON with `labels` (if given), a plain `labels` key."""
    weights = np.zeros((784, outputs), np.float32)
    weights[:, favourite] = 1.0
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["image"], ["flat"], axis=1), helper.make_node("MatMul", ["flat", "w"], ["z"]),
         helper.make_node("Softmax", ["z"], ["probabilities"], axis=1)],
        "tiny", [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 1, 28, 28])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", outputs])],
        [numpy_helper.from_array(weights, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    meta = {"name": "tiny"} | ({"labels": labels} if labels is not None else {})
    for key, value in (("inkdigit", json.dumps(meta)), ("labels", plain)):
        if value is not None:
            entry = model.metadata_props.add()
            entry.key, entry.value = key, value
    onnx.save(model, str(path))
    return path


def ink() -> np.ndarray:
    x = np.zeros((28, 28), np.float32)
    x[6:22, 12:16] = 1.0
    return x


def test_a_letters_model_answers_with_its_labels(tmp_path):
    letters = list(get_charset("letters").labels)
    p = Predictor(tiny_onnx(tmp_path / "letters.onnx", 26, favourite=11, labels=letters))
    assert p.labels == letters
    got = p.prediction(p.predict_arrays(ink())[0], ink())
    assert (got.label, got.text) == (11, "L") and len(got.probabilities) == 26
    assert [p.predictions(p.predict_arrays(np.stack([ink(), ink()])), [ink(), ink()])[i].text for i in (0, 1)] == [
        "L", "L"]
    assert p._text([11, 0]) == "LA"


def test_a_model_without_labels_is_a_digit_model_as_before(tmp_path):
    p = Predictor(tiny_onnx(tmp_path / "foreign.onnx", 10, favourite=7))
    assert p.labels == list("0123456789")
    got = p.prediction(p.predict_arrays(ink())[0], ink())
    assert got.label == 7 and got.text == "7"
    assert set(got.to_dict()) == {"label", "confidence", "probabilities", "top_k", "unsure"}
    assert isinstance(got.to_dict()["label"], int)


def test_the_plain_labels_key_is_read_when_the_inkdigit_json_has_none(tmp_path):
    math = list(get_charset("math").labels)
    p = Predictor(tiny_onnx(tmp_path / "plain.onnx", 18, favourite=12, plain=json.dumps(math)))
    assert p.labels == math and p.prediction(p.predict_arrays(ink())[0], ink()).text == "×"
    older = Predictor(tiny_onnx(tmp_path / "older.onnx", 10, plain="0,1,2,3,4,5,6,7,8,9"))
    assert older.labels == list("0123456789")


@pytest.mark.parametrize(("outputs", "labels", "message"), [
    (26, None, "26 outputs but 10 labels (no labels in its metadata: the ten digits assumed)"),
    (26, list("ABC"), "26 outputs but 3 labels"),
    (3, "ABC", "labels are not a list of distinct non-empty strings"),
    (3, ["A", "A", "B"], "labels are not a list of distinct non-empty strings"),
    (3, ["A", 1, "B"], "labels are not a list of distinct non-empty strings"),
])
def test_labels_that_do_not_fit_the_model_are_one_line(tmp_path, outputs, labels, message):
    with pytest.raises(ModelNotFoundError, match=re.escape(message)):
        Predictor(tiny_onnx(tmp_path / "bad.onnx", outputs, labels=labels))


@pytest.mark.parametrize("name", ["paper", "resnet-small"])
def test_the_bundled_digit_models_keep_their_answers_shape(name):
    p = Predictor.load(name)
    assert p.labels == list("0123456789")
    got = p.predict(ink())
    assert got.text == str(got.label) and isinstance(got.label, int)
    assert set(got.to_dict()) == {"label", "confidence", "probabilities", "top_k", "unsure"}
    assert all(isinstance(k["label"], int) for k in got.to_dict()["top_k"])


def test_a_prediction_built_by_hand_reads_its_digit():
    assert Prediction(4, 0.9, [0.0] * 10, [(4, 0.9)], False, ink()).text == "4"


@pytest.mark.slow
def test_export_writes_the_label_list_into_the_model(tmp_path):
    """Through the export path: a tiny torch net with 26 outputs, wrapped, serialised and labelled."""
    import torch

    from inkdigit.training.export import Probabilities, attach_metadata, run_labels, to_onnx_bytes
    from inkdigit.vision.preprocess import PREPROCESS_VERSION

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 26))
    letters = run_labels({"charset": "letters"})
    assert letters == list(string.ascii_uppercase) and run_labels({}) == list("0123456789")
    meta = {"name": "letters-test", "labels": letters, "preprocess_version": PREPROCESS_VERSION}
    path = tmp_path / "letters.onnx"
    path.write_bytes(attach_metadata(to_onnx_bytes(Probabilities([net]).eval()), meta))
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert json.loads(props["labels"]) == letters and json.loads(props["inkdigit"])["labels"] == letters
    p = Predictor(path)
    assert p.labels == letters and p.name == "letters-test"
    with torch.no_grad():
        want = int(torch.softmax(net(torch.from_numpy(ink())[None, None]), 1).argmax())
    assert p.prediction(p.predict_arrays(ink())[0], ink()).text == letters[want]
    from inkdigit.errors import ExportError

    with pytest.raises(ExportError, match="distinct non-empty strings"):
        attach_metadata(path.read_bytes(), dict(meta, labels=["A", "A"]))


# --- character sets drawn from the handwriting fonts ---------------------------------------------------

@pytest.fixture(scope="module")
def three_fonts() -> dict:
    """caveat has every glyph; gaegu lacks − × ÷ and gochi-hand lacks − (fetched by `make data`)."""
    from inkdigit.data.fonts import font_paths

    return font_paths(["caveat", "gaegu", "gochi-hand"])


@pytest.mark.slow
def test_a_drawn_math_set_skips_fonts_without_a_glyph_and_says_which(three_fonts):
    from inkdigit.data.handwriting import font_char_set

    drawn = font_char_set("math", three_fonts, per_label=4, seed=1)
    math = get_charset("math")
    assert drawn.images.shape == (18 * 4, 28, 28) and drawn.images.dtype == np.uint8
    assert drawn.label_names == math.labels and list(drawn.labels[:8]) == [0, 0, 0, 0, 1, 1, 1, 1]
    assert drawn.missing == {MINUS: ["gaegu", "gochi-hand"], "×": ["gaegu"], "÷": ["gaegu"]}
    for k, label in enumerate(math.labels):
        fams = {f for f, y in zip(drawn.families, drawn.labels) if y == k}
        assert not fams & set(drawn.missing.get(label, [])), label
    assert [c for c, y in zip(drawn.chars, drawn.labels) if math.labels[y] == MINUS] == [MINUS] * 4
    assert "no glyph (skipped): '−' in gaegu, gochi-hand; '×' in gaegu; '÷' in gaegu" in drawn.summary()
    # MNIST's form: white ink on black, the brightest pixel full white
    assert (drawn.images.max(axis=(1, 2)) == 255).all() and (drawn.images.mean(axis=(1, 2)) < 120).all()
    again = font_char_set("math", three_fonts, per_label=4, seed=1)
    assert np.array_equal(drawn.images, again.images) and drawn.families == again.families
    assert not np.array_equal(drawn.images, font_char_set("math", three_fonts, per_label=4, seed=2).images)


@pytest.mark.slow
def test_a_drawn_letters_set_shows_both_cases_of_a_merged_label(three_fonts):
    from inkdigit.data.handwriting import font_char_set

    drawn = font_char_set(get_charset("letters"), three_fonts, per_label=6, seed=0)
    assert len(drawn.images) == 26 * 6 and drawn.missing == {}
    for char, y in zip(drawn.chars, drawn.labels):
        assert char.upper() == string.ascii_uppercase[y]
    assert {c for c in drawn.chars if c.islower()} and {c for c in drawn.chars if c.isupper()}
    # A label list, not a set: drawn as written. Label i's pictures do not depend on the other labels.
    one = font_char_set(["Q"], three_fonts, per_label=3, seed=5)
    two = font_char_set(["Q", "R"], three_fonts, per_label=3, seed=5)
    assert one.chars == ["Q"] * 3 and np.array_equal(one.images, two.images[:3])


@pytest.mark.slow  # with the other tests of the fetched fonts (test_fonts.py), not for its time
def test_a_label_no_font_draws_is_an_error(three_fonts):
    from inkdigit.data.handwriting import font_char_set
    from inkdigit.errors import MissingDataError

    with pytest.raises(MissingDataError, match="none of the 1 fonts has a glyph for '×'"):
        font_char_set(["7", "×"], {"gaegu": three_fonts["gaegu"]}, per_label=1, seed=0)


def test_fonts_split_into_disjoint_seeded_training_and_validation_sets():
    from inkdigit.data.fonts import BENCHMARK_FAMILIES, TRAINING_FAMILIES
    from inkdigit.data.handwriting import split_families

    train, val = split_families(TRAINING_FAMILIES, 10, seed=0)
    assert len(val) == 10 and not set(train) & set(val) and set(train) | set(val) == set(TRAINING_FAMILIES)
    assert not (set(train) | set(val)) & set(BENCHMARK_FAMILIES)
    assert split_families(TRAINING_FAMILIES, 10, seed=0) == (train, val)
    assert split_families(TRAINING_FAMILIES, 10, seed=1)[1] != val
    with pytest.raises(ValueError, match="fonts on both sides"):
        split_families(["a", "b"], 2, seed=0)


@pytest.mark.slow
def test_the_glyph_check_agrees_with_each_fonts_character_map():
    """Pillow cannot look a character up; has_glyph infers it from the drawing. fontTools reads the map itself."""
    from fontTools.ttLib import TTFont

    from inkdigit.data.fonts import font_paths
    from inkdigit.data.handwriting import has_glyph

    chars = sorted({f for c in CHARSETS.values() for label in c.labels for f in c.forms_of(label)})
    lacking = 0
    for family, path in font_paths().items():
        cmap = TTFont(path).getBestCmap()
        for ch in chars:
            assert has_glyph(str(path), ch) == (ord(ch) in cmap), (family, ch)
            lacking += ord(ch) not in cmap
    assert lacking > 0  # some font lacks a symbol: both answers were checked

"""Generated written lines for training (data/lines.py, and lines drawn in the fonts) and the whole-digit and
whole-character verifiers trained on them (training/verifier.py): the truth of every pixel, the candidates'
verdicts, and the bundled verifiers in use."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from inkdigit import inference
from inkdigit.data.lines import STYLES, make_line
from inkdigit.inference import Predictor
from inkdigit.vision import segment


@pytest.fixture(scope="module")
def digits(mnist_test) -> tuple[np.ndarray, np.ndarray]:
    images, labels = mnist_test
    return images[:500], labels[:500]


def test_a_line_is_the_same_for_the_same_seed_and_index(digits):
    a, b = make_line(*digits, 3, 7), make_line(*digits, 3, 7)
    assert a.text == b.text and np.array_equal(a.picture, b.picture) and np.array_equal(a.owner, b.owner)
    assert not np.array_equal(a.picture, make_line(*digits, 4, 7).picture)


@pytest.mark.parametrize("index", range(len(STYLES)))
def test_every_digit_of_a_line_owns_ink_and_only_ink_has_owners(digits, index):
    line = make_line(*digits, 1, index)
    assert line.style == STYLES[index]
    assert sorted(set(np.unique(line.owner).tolist()) - {-1}) == list(range(len(line.text)))
    paper = float(np.median(line.picture))
    ink = np.abs(line.picture.astype(float) - paper) > 96
    owned = line.owner >= 0
    assert (owned & ~ink).sum() <= 0.05 * owned.sum()  # owners sit on ink (bar a slant's resampled edges)


def test_candidates_are_judged_by_the_owners_of_their_pixels(digits):
    from inkdigit.training.verifier import judge

    line = next(make_line(*digits, 2, i) for i in range(0, 60, len(STYLES)) if len(make_line(*digits, 2, i).text) >= 3)
    found = segment.candidates(line.picture)
    verdicts = judge(found, line.owner)
    whole = [a for a, v in zip(found.arcs, verdicts, strict=True) if v == 1]
    # Digits set apart: every digit is found whole, and no candidate judged whole is two digits wide.
    assert len(whole) >= len(line.text) and 0 in verdicts
    centres = sorted((a.box[0] + a.box[2]) / 2 for a in whole)
    clusters = 1 + sum(b - a > 0.3 * found.line.height for a, b in zip(centres[:-1], centres[1:], strict=True))
    assert clusters == len(line.text)


@pytest.mark.slow
def test_the_verifier_trains_and_exports_in_a_dry_run(tmp_path):
    from inkdigit.training.verifier import main

    assert main(["--dry-run", "--out", str(tmp_path)]) == 0
    model = Predictor(tmp_path / "whole-digit.onnx")
    probs = model.predict_arrays(np.zeros((3, 28, 28), np.float32))
    assert probs.shape == (3, 2) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    assert model.metadata["config"]["lines"] == 60 and model.metadata["provenance"]


def test_a_drawn_line_of_characters_has_the_same_picture_and_an_owner_for_each_glyph():
    from inkdigit.data.fonts import font_paths
    from inkdigit.data.handwriting import draw_text, draw_text_owned

    font = str(font_paths(["caveat"])["caveat"])
    for seed in range(6):
        plain, params = draw_text(font, "Ti÷=8", np.random.default_rng(seed))
        picture, owner, same = draw_text_owned(font, "Ti÷=8", np.random.default_rng(seed))
        assert np.array_equal(np.asarray(plain), np.asarray(picture)) and params == same
        # Each of the five glyphs owns ink (the dot of the i and the dots of ÷ with their glyph), paper none.
        assert sorted(set(np.unique(owner).tolist()) - {-1}) == [0, 1, 2, 3, 4]
        ink = np.asarray(picture, float) < float(np.median(np.asarray(picture))) - 96
        assert (owner[~ink] >= 0).mean() < 0.02 and (owner[ink] >= 0).mean() > 0.95


@pytest.mark.slow
def test_the_character_verifier_learns_from_font_lines_cut_by_their_own_rules():
    from inkdigit.training.verifier import char_candidate_set

    x, y, line_of = char_candidate_set(lines=8, held_out=6, seed=3)
    assert x.shape[1:] == (28, 28) and x.dtype == np.uint8 and len(x) == len(y) == len(line_of)
    assert set(np.unique(y).tolist()) == {0, 1}  # whole characters and pieces or pairs, both
    assert set(np.unique(line_of).tolist()) <= set(range(8)) and (line_of >= 6).any()  # held-out lines too
    # Drawn by two processes, the same candidates in the same order.
    for mine, theirs in zip((x, y, line_of), char_candidate_set(lines=8, held_out=6, seed=3, workers=2), strict=True):
        assert np.array_equal(mine, theirs)


@pytest.mark.parametrize(("charset", "used", "unused", "labels"), [
    ("digits", "whole_digit_verifier", "whole_char_verifier", ["not one digit", "one whole digit"]),
    ("letters", "whole_char_verifier", "whole_digit_verifier", ["not one character", "one whole character"]),
])
def test_reading_a_line_uses_the_bundled_verifier_of_its_kind(monkeypatch, charset, used, unused, labels):
    verifier = getattr(inference, used)()
    assert verifier is not None, f"src/inkdigit/weights/verifier/ has no {used} model: run make models"
    assert verifier.labels == labels
    calls = []

    def spy(x: np.ndarray) -> np.ndarray:
        calls.append(len(x))
        return verifier.predict_arrays(x)

    monkeypatch.setattr(inference, used, lambda: type("V", (), {"predict_arrays": staticmethod(spy)}))
    monkeypatch.setattr(inference, unused, lambda: pytest.fail(f"{unused} judged a line of {charset}"))
    picture = Image.new("L", (200, 100), 255)
    picture.paste(0, (30, 20, 40, 80))
    picture.paste(0, (120, 20, 130, 80))
    Predictor(inference.charset_model(charset), threads=1).read_line(picture)
    assert calls and calls[0] >= 2  # every candidate judged, in one batch


@pytest.mark.slow
def test_the_character_verifier_trains_and_exports_in_a_dry_run(tmp_path):
    from inkdigit.training.verifier import main

    assert main(["--chars", "--dry-run", "--out", str(tmp_path)]) == 0
    model = Predictor(tmp_path / "whole-char.onnx")
    assert model.labels == ["not one character", "one whole character"]
    assert model.metadata["config"]["chars"] is True and model.metadata["provenance"]


# --- the pair reader (training/pairs.py) ------------------------------------------------------------------

def test_pair_candidates_are_labelled_by_the_two_digits_whose_ink_they_hold(digits):
    from inkdigit.training.pairs import NOT_A_PAIR, judge_pairs

    # Two digits touching: the one piece of ink is the pair, in reading order; a piece of it alone is not a pair.
    def touching(line) -> bool:
        cols = [np.flatnonzero((line.owner == k).any(axis=0)) for k in (0, 1)]
        return len(line.text) == 2 and cols[0].max() >= cols[1].min()

    line = next(line for line in (make_line(*digits, 5, i) for i in range(1, 600, len(STYLES))) if touching(line))
    found = segment.candidates(line.picture)
    arcs, pictures = segment.pair_candidates(found)
    verdicts = judge_pairs(found, arcs, line.owner, line.text)
    assert all(p.shape == (28, 56) for p in pictures) and len(verdicts) == len(arcs)
    whole = [(a.start, a.end) for a, v in zip(arcs, verdicts, strict=True) if v == int(line.text)]
    assert (0, len(found.line.atoms)) in whole
    assert NOT_A_PAIR in verdicts
    assert set(verdicts) <= {int(line.text), NOT_A_PAIR, None}


@pytest.mark.slow
def test_the_pair_reader_trains_and_exports_in_a_dry_run(tmp_path):
    from inkdigit.training.pairs import PAIR_LABELS, main, pair_candidate_set

    assert main(["--dry-run", "--workers", "1", "--out", str(tmp_path)]) == 0
    import onnxruntime as ort

    session = ort.InferenceSession(str(tmp_path / "pair-digits.onnx"))
    probs = session.run(None, {session.get_inputs()[0].name: np.zeros((3, 1, 28, 56), np.float32)})[0]
    assert probs.shape == (3, len(PAIR_LABELS)) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    meta = inference.model_metadata(tmp_path / "pair-digits.onnx")
    assert meta["labels"] == PAIR_LABELS and meta["config"]["lines"] == 80 and meta["provenance"]
    # Cut by two processes, the same candidates in the same order.
    one, two = pair_candidate_set(12, seed=3, workers=1), pair_candidate_set(12, seed=3, workers=2)
    for mine, theirs in zip(one, two, strict=True):
        assert np.array_equal(mine, theirs)

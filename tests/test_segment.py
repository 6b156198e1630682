"""inkdigit.vision.segment: a written number -> its digits, left to right, each ready for the model.

The recogniser decides the segmentation, so `segment` is given the bundled default model's scores and, as the
number reader does, the whole-digit verifier's.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from inkdigit.inference import Predictor, whole_digit_verifier
from inkdigit.vision.preprocess import ImageError, NoInkError, preprocess
from inkdigit.vision.segment import DigitPiece
from inkdigit.vision.segment import segment as segment_with


@pytest.fixture(scope="module")
def score():
    """The bundled default model's probabilities for a batch of 28x28 inputs."""
    return Predictor.load(threads=1).predict_arrays


@pytest.fixture(scope="module")
def verify():
    """The bundled whole-digit verifier, which the number reader always asks beside the recogniser."""
    return whole_digit_verifier().predict_arrays


@pytest.fixture
def segment(score, verify):
    """`segment` as the number reader does it: the default model as its recogniser, with the verifier."""
    return lambda source, **kw: segment_with(source, score, verify=verify, **kw)


def ink_crop(digit: np.ndarray, scale: int) -> np.ndarray:
    """An MNIST digit enlarged `scale` times and cropped to its ink (uint8, white on black; the faint
    anti-aliased fringe is left out, so the crop is the box a person would draw around the digit)."""
    up = np.asarray(Image.fromarray(digit).resize((28 * scale, 28 * scale), Image.Resampling.BILINEAR))
    rows = np.flatnonzero(up.max(axis=1) > 100)
    cols = np.flatnonzero(up.max(axis=0) > 100)
    return up[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def write_number(digits: list[np.ndarray], gaps: list[int], scale: int = 4, margin: int = 30,
                 dark_ink: bool = True) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """Digits side by side (negative gap = overlapping, i.e. touching) on one baseline; returns the
    picture and each digit's true ink box (x0, y0, x1, y1)."""
    crops = [ink_crop(d, scale) for d in digits]
    height = max(c.shape[0] for c in crops) + 2 * margin
    width = sum(c.shape[1] for c in crops) + sum(gaps) + 2 * margin
    canvas = np.zeros((height, width), np.uint8)
    boxes = []
    x = margin
    for i, c in enumerate(crops):
        y = height - margin - c.shape[0]  # bottom-aligned, like handwriting on a line
        region = canvas[y : y + c.shape[0], x : x + c.shape[1]]
        np.maximum(region, c, out=region)
        boxes.append((x, y, x + c.shape[1], y + c.shape[0]))
        x += c.shape[1] + (gaps[i] if i < len(gaps) else 0)
    return (255 - canvas if dark_ink else canvas), boxes


def iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


@pytest.fixture(scope="module")
def pool(mnist_test):
    """MNIST test digits by label, first 30 of each."""
    images, labels = mnist_test
    return {k: images[labels == k][:30] for k in range(10)}


def test_number_with_gaps_splits_into_its_digits_in_order(mnist_test, segment):
    images, labels = mnist_test
    rng = np.random.default_rng(0)
    for _ in range(40):
        k = int(rng.integers(3, 7))
        idx = rng.integers(0, 2000, k)
        img, truth = write_number(list(images[idx]), list(rng.integers(10, 40, k - 1)), dark_ink=bool(_ % 2))
        pieces = segment(img)
        assert len(pieces) == k, labels[idx]
        for p, t in zip(pieces, truth, strict=True):
            assert isinstance(p, DigitPiece)
            assert iou(p.box, t) > 0.8, (p.box, t)
            assert p.image.shape == (28, 28) and p.image.dtype == np.float32


def test_each_piece_is_preprocessed_like_a_single_digit(pool, segment):
    digits = [pool[2][0], pool[0][0], pool[2][1], pool[6][0]]
    img, _ = write_number(digits, [30, 30, 30])
    pieces = segment(img)
    assert len(pieces) == 4
    for p, d in zip(pieces, digits, strict=True):
        single = preprocess(255 - ink_crop(d, 4))
        assert np.corrcoef(p.image.ravel(), single.ravel())[0, 1] > 0.95


def test_single_digit_gives_one_piece_equal_to_preprocess(pool, segment):
    for k in range(10):
        img, _ = write_number([pool[k][0]], [])
        pieces = segment(img)
        assert len(pieces) == 1
        assert np.abs(pieces[0].image - preprocess(img)).max() < 1e-5


def test_boxes_are_in_source_pixels_for_large_images(pool, segment):
    """A 4x-enlarged 3000-px-wide picture is reduced internally; boxes still refer to its own pixels."""
    img, truth = write_number([pool[1][0], pool[9][0], pool[8][0]], [40, 40], scale=4)
    big = np.asarray(Image.fromarray(img).resize((img.shape[1] * 4, img.shape[0] * 4)))
    assert max(big.shape) > 1000
    for fmt in ("PNG", "JPEG"):  # a large JPEG is decoded at reduced scale: boxes must not be
        pieces = segment(encode_png(big, fmt))
        assert len(pieces) == 3
        for p, t in zip(pieces, truth, strict=True):
            assert iou(p.box, tuple(4 * v for v in t)) > 0.75
            assert 0 <= p.box[0] < p.box[2] <= big.shape[1] and 0 <= p.box[1] < p.box[3] <= big.shape[0]


def encode_png(a: np.ndarray, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, fmt)
    return buf.getvalue()


def pen(size: tuple[int, int]) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    im = Image.new("L", size, 255)
    return im, ImageDraw.Draw(im)


def test_digit_drawn_in_separate_strokes_stays_one_digit(segment):
    """A 5 whose top bar was drawn with the pen lifted, and a 4 drawn in two strokes that do not meet."""
    im, d = pen((420, 200))
    d.line([(60, 40), (60, 95)], fill=0, width=12)  # 5: down stroke ...
    d.arc((40, 75, 130, 165), start=250, end=150, fill=0, width=12)  # ... and belly
    d.line([(78, 38), (135, 30)], fill=0, width=12)  # lifted top bar, not touching
    d.line([(290, 30), (250, 120), (330, 120)], fill=0, width=12, joint="curve")  # 4: first stroke
    d.line([(312, 60), (312, 170)], fill=0, width=12)  # second stroke, with a gap to the first
    pieces = segment(im)
    assert len(pieces) == 2
    assert pieces[0].box[2] < pieces[1].box[0]


def test_broken_stroke_stays_one_digit(pool, segment):
    digit = pool[7][3].copy()
    img, truth = write_number([pool[3][0], digit, pool[1][0]], [40, 40])
    # Cut a 4-px gap through the middle digit's strokes.
    x0, y0, x1, y1 = truth[1]
    mid = (y0 + y1) // 2
    img[mid - 2 : mid + 2, x0:x1] = 255
    pieces = segment(img)
    assert len(pieces) == 3
    assert iou(pieces[1].box, truth[1]) > 0.8


def test_noise_dots_are_dropped(pool, segment):
    img, truth = write_number([pool[4][0], pool[2][2], pool[7][0]], [35, 35])
    im = Image.fromarray(img)
    d = ImageDraw.Draw(im)
    for x, y in [(10, 10), (truth[0][2] + 15, truth[0][1] + 40), (im.width - 12, im.height - 15)]:
        d.ellipse((x - 3, y - 3, x + 3, y + 3), fill=0)
    pieces = segment(im)
    assert len(pieces) == 3
    for p, t in zip(pieces, truth, strict=True):
        assert iou(p.box, t) > 0.8


def test_touching_digits_are_split(pool, segment):
    cases = [(0, 8), (2, 3), (6, 5), (0, 0), (4, 9)]
    for a, b in cases:
        # Wide, upright examples of each (a "1"-thin pair is not wider than tall: nothing to see).
        da = next(d for d in pool[a] if ink_crop(d, 1).shape[1] >= 0.75 * ink_crop(d, 1).shape[0])
        db = next(d for d in pool[b] if ink_crop(d, 1).shape[1] >= 0.75 * ink_crop(d, 1).shape[0])
        img, truth = write_number([da, db], [-3])
        pieces = segment(img)
        assert len(pieces) == 2, (a, b)
        assert pieces[0].box[0] < pieces[1].box[0]
        for p, t in zip(pieces, truth, strict=True):
            assert iou(p.box, t) > 0.6, (a, b, p.box, t)


def test_touching_pair_inside_a_longer_number(pool, segment):
    digits = [pool[2][4], pool[0][1], pool[2][5], pool[6][2], pool[3][1]]
    img, truth = write_number(digits, [30, -3, 30, 30])
    pieces = segment(img)
    assert len(pieces) == 5
    for p, t in zip(pieces, truth, strict=True):
        assert iou(p.box, t) > 0.6


def test_blank_and_bad_inputs(segment):
    with pytest.raises(NoInkError):
        segment(np.full((100, 300), 255, np.uint8))
    with pytest.raises(ImageError):
        segment(b"not an image")


def test_numbers_read_correctly_with_the_bundled_model(mnist_test):
    """End to end: segment + the bundled paper model read generated numbers exactly."""
    from inkdigit.inference import Predictor

    images, labels = mnist_test
    predictor = Predictor.load("paper")
    rng = np.random.default_rng(3)
    right = 0
    for _ in range(20):
        k = int(rng.integers(3, 7))
        idx = rng.integers(5000, 10000, k)
        img, _ = write_number(list(images[idx]), list(rng.integers(15, 40, k - 1)))
        right += predictor.predict_number(encode_png(img)).text == "".join(str(v) for v in labels[idx])
    assert right >= 18

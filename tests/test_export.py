"""What `inkdigit export` puts in the graph: with `--tta` each image read at ±6°, the answers averaged per image;
with `--half` the weights stored in 16-bit floats."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from inkdigit.training.export import (
    INPUT_NAME,
    TTA_ROTATIONS,
    Probabilities,
    onnx_probabilities,
    rotation_grid,
    store_half,
    to_onnx_bytes,
)
from inkdigit.training.nets import build_model


def pil_rotate(images: np.ndarray, degrees: float) -> np.ndarray:
    """An independent reference: PIL's bilinear rotation about the centre, counterclockwise."""
    return np.stack([np.asarray(Image.fromarray(im, mode="F").rotate(degrees, resample=Image.BILINEAR))
                     for im in images])


@pytest.fixture
def digits() -> np.ndarray:
    """Six different blobs of ink on black, with an empty border like MNIST's, [6,28,28] float32."""
    x = np.zeros((6, 28, 28), np.float32)
    x[:, 5:23, 8:20] = np.random.default_rng(0).random((6, 18, 12), dtype=np.float32)
    return x


@pytest.fixture
def nets() -> list[torch.nn.Module]:
    """Two untrained paper nets with different weights: their answers differ from image to image."""
    out = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        out.append(build_model("paper").eval())
    return out


@pytest.mark.parametrize("degrees", [6.0, -6.0, 30.0])
def test_rotation_grid_turns_the_image_counterclockwise_about_its_centre(digits, degrees):
    x = torch.from_numpy(digits)[:, None]
    got = F.grid_sample(x, rotation_grid(degrees).expand(len(x), -1, -1, -1), align_corners=False)
    np.testing.assert_allclose(got[:, 0].numpy(), pil_rotate(digits, degrees), atol=1e-5)


def test_tta_averages_each_images_own_views(digits, nets):
    x = torch.from_numpy(digits)[:, None]
    with torch.no_grad():
        for members in (nets[:1], nets):  # one net, and an ensemble of two
            want = np.mean([torch.softmax(net(torch.from_numpy(pil_rotate(digits, a))[:, None]), 1).numpy()
                            for net in members for a in TTA_ROTATIONS], axis=0)
            got = Probabilities(members, rotations=TTA_ROTATIONS)(x).numpy()
            np.testing.assert_allclose(got, want, atol=1e-5)
            # The plain view (0°) is the image itself: nothing resampled.
            plain = Probabilities(members)(x).numpy()
            np.testing.assert_allclose(plain, np.mean([torch.softmax(n(x), 1).numpy() for n in members], 0),
                                       atol=1e-6)
            assert np.abs(got - plain).max() > 1e-3  # the views do change the answer's probabilities


def test_tta_temperature_keeps_the_answers(digits, nets):
    x = torch.from_numpy(digits)[:, None]
    with torch.no_grad():
        raw = Probabilities(nets[:1], rotations=TTA_ROTATIONS)(x)
        sharp = Probabilities(nets[:1], temperature=0.5, rotations=TTA_ROTATIONS)(x)
    np.testing.assert_allclose(sharp.numpy(), torch.softmax(torch.log(raw) / 0.5, 1).numpy(), atol=1e-5)
    assert (sharp.argmax(1) == raw.argmax(1)).all() and (sharp.max(1).values >= raw.max(1).values - 1e-6).all()


@pytest.mark.slow
def test_tta_graph_runs_in_onnx_runtime_at_any_batch_size(digits, nets):
    module = Probabilities(nets[:1], temperature=0.8, rotations=TTA_ROTATIONS).eval()
    sess = ort.InferenceSession(to_onnx_bytes(module), providers=["CPUExecutionProvider"])
    for n in (1, 6):
        x = digits[:n, None]
        with torch.no_grad():
            want = module(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(sess.run(None, {INPUT_NAME: x})[0], want, atol=1e-5)


def test_no_views_is_refused(nets):
    with pytest.raises(ValueError, match="at least one view"):
        Probabilities(nets, rotations=())


@pytest.mark.slow
def test_half_storage_halves_the_file_and_keeps_the_answers(digits, nets):
    module = Probabilities(nets).eval()
    full = to_onnx_bytes(module)
    half = store_half(full)
    assert len(half) < 0.55 * len(full)  # the weights are nearly all of the file
    weights = [i for i in onnx.load_from_string(half).graph.initializer if i.data_type == onnx.TensorProto.FLOAT16]
    assert weights and all(i.name.endswith(".half") for i in weights)
    sess = ort.InferenceSession(half, providers=["CPUExecutionProvider"])
    assert sess.get_inputs()[0].type == "tensor(float)" and sess.get_outputs()[0].type == "tensor(float)"
    images = np.round(digits * 255).astype(np.uint8)
    got, want = onnx_probabilities(half, images), onnx_probabilities(full, images)
    # A 16-bit float keeps 11 bits of each weight: the probabilities move, but far less than would change an answer.
    assert np.abs(got - want).max() < 2e-3 and (got.argmax(1) == want.argmax(1)).all()
    assert np.abs(got - want).max() > 0  # the weights really were rounded

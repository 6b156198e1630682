"""The stronger net: registered with its recipe, small, exports to ONNX exactly, trains end to end."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inkdigit.training.config import TrainConfig
from inkdigit.training.loop import train
from inkdigit.training.nets import build_model, count_parameters
from inkdigit.training.recipes import RECIPES
from inkdigit.training.runs import load_run


def test_registered_with_a_recipe_that_needs_no_flags():
    recipe = RECIPES["resnet-small"]
    cfg = TrainConfig(model="resnet-small").resolved()
    # `inkdigit train --model resnet-small` alone must reproduce the shipped model: the recipe is complete.
    assert cfg.augment is True and cfg.schedule == "onecycle" and 0 < cfg.ema < 1
    assert cfg.label_smoothing > 0 and cfg.optimizer == recipe["optimizer"]
    assert cfg.epochs == recipe["epochs"] and cfg.batch_size == recipe["batch_size"]


def test_shape_size_and_batchnorm():
    net = build_model("resnet-small").eval()
    assert count_parameters(net) <= 1_500_000
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
    x = torch.rand(5, 1, 28, 28)
    out = net(x)
    assert out.shape == (5, 10) and torch.isfinite(out).all()
    assert torch.allclose(net(x[:1]), out[:1], atol=1e-5)  # eval mode: a row doesn't depend on its batch


@pytest.mark.slow
def test_onnx_export_matches_torch():
    import onnxruntime as ort

    from inkdigit.training.export import INPUT_NAME, Probabilities, to_onnx_bytes

    torch.manual_seed(0)
    net = build_model("resnet-small")
    net.train()
    with torch.no_grad():  # a few training-mode passes give the BN layers non-trivial running statistics
        for _ in range(3):
            net(torch.rand(64, 1, 28, 28))
    module = Probabilities([net]).eval()
    sess = ort.InferenceSession(to_onnx_bytes(module), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random((7, 1, 28, 28), dtype=np.float32)
    got = sess.run(None, {INPUT_NAME: x})[0]
    with torch.no_grad():
        ref = module(torch.from_numpy(x)).numpy()
    assert np.abs(got - ref).max() < 1e-5


@pytest.mark.slow
def test_trains_with_its_recipe(tiny_data, tmp_path):
    # The whole recipe (augmentation, EMA, one-cycle SGD) runs end to end...
    cfg = TrainConfig(model="resnet-small", dataset="tiny", val_size=100, threads=1, dry_run=True)
    metrics = train(cfg, tmp_path / "recipe", data_dir=tiny_data, progress=False, log=lambda m: None)
    model, config, _ = load_run(tmp_path / "recipe")
    assert config["settings"]["augment"] is True and config["settings"]["ema"] > 0
    assert not model.training and np.isfinite(metrics["test_loss"])
    # ...and the net learns. Not augmented here: the fake digits' class is their bar's row, which
    # shifts and rotations would scramble.
    cfg = TrainConfig(model="resnet-small", dataset="tiny", epochs=3, batch_size=32, val_size=100, threads=1,
                      augment=False)
    metrics = train(cfg, tmp_path / "learn", data_dir=tiny_data, progress=False, log=lambda m: None)
    assert metrics["test_accuracy"] > 0.8


def test_temperature_fit_recovers_a_known_temperature():
    from inkdigit.training.export import Probabilities, fit_temperature

    gen = torch.Generator().manual_seed(0)
    true_logits = torch.randn(20000, 10, generator=gen) * 3
    labels = torch.multinomial(torch.softmax(true_logits, 1), 1, generator=gen).squeeze(1)
    # A net that is under-confident by a factor of 2 (as label smoothing leaves one) needs T = 0.5.
    t, before, after = fit_temperature(true_logits / 2, labels)
    assert t == pytest.approx(0.5, rel=0.05) and after < before
    net = torch.nn.Linear(4, 10)
    x = torch.randn(50, 4)
    cooled = Probabilities([net], temperature=0.5)(x)
    assert torch.allclose(cooled, torch.softmax(net(x) * 2, 1), atol=1e-6)
    nets = [net, torch.nn.Linear(4, 10)]
    warm, cool = Probabilities(nets)(x), Probabilities(nets, temperature=0.5)(x)
    assert torch.allclose(cool.sum(1), torch.ones(50), atol=1e-6)
    assert torch.equal(warm.argmax(1), cool.argmax(1)) and (cool.max(1).values > warm.max(1).values).all()

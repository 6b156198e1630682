"""The fused paper step (paper_kernel.c) against eager PyTorch: same loss, gradients and Adam updates."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from inkdigit.errors import KernelError, TrainError
from inkdigit.training.config import TrainConfig
from inkdigit.training.fused import build as paper_kernel
from inkdigit.training.fused.step import PaperStep
from inkdigit.training.loop import train
from inkdigit.training.nets import build_model
from inkdigit.training.steps import make_step


@pytest.fixture
def fresh_library():
    """paper_kernel.library() looked up anew in the test (its environment patched), and again after it."""
    paper_kernel.library.cache_clear()
    yield paper_kernel.library
    paper_kernel.library.cache_clear()


def digits(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Sparse strokes in [0,1], like MNIST's mostly-empty images, and random labels."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 28, 28, generator=g) * (torch.rand(n, 1, 28, 28, generator=g) > 0.7)
    return x, torch.randint(0, 10, (n,), generator=g)


def pair(seed: int = 0, opt=torch.optim.Adam, **kw):
    """Two identical paper nets with fused-kernel-ready optimisers (Adam unless said)."""
    torch.manual_seed(seed)
    a = build_model("paper")
    b = build_model("paper")
    b.load_state_dict(a.state_dict())
    return (a, opt(a.parameters(), lr=1e-3, fused=True, **kw)), (b, opt(b.parameters(), lr=1e-3, fused=True, **kw))


def torch_loss(net, x, y, masks: np.ndarray, label_smoothing: float = 0.0):
    """The paper net's training forward pass in torch, with the kernel's own dropout masks."""
    n = len(x)
    keep = torch.from_numpy(masks[:n].astype(np.float32))
    m1, m2, m3 = keep[:, :1152].view(n, 8, 12, 12), keep[:, 1152:1552].view(n, 16, 5, 5), keep[:, 1552:]
    h = F.max_pool2d(F.relu(F.conv2d(x, net[0].weight, net[0].bias)), 2) * m1 / 0.75
    h = F.max_pool2d(F.relu(F.conv2d(h, net[4].weight, net[4].bias)), 2) * m2 / 0.75
    h = F.relu(F.linear(h.flatten(1), net[9].weight, net[9].bias)) * m3 / 0.5
    z = F.linear(h, net[12].weight, net[12].bias)
    return F.cross_entropy(z, y, label_smoothing=label_smoothing), int((z.argmax(1) == y).sum())


VARIANTS = {  # what train() can ask of the step besides the paper's recipe
    "paper recipe, 1 thread": dict(threads=1),
    "paper recipe, 2 threads": dict(threads=2),
    "label smoothing + Adam weight decay": dict(label_smoothing=0.1, opt=torch.optim.Adam, weight_decay=0.1),
    "AdamW + given (augmented) images": dict(opt=torch.optim.AdamW, weight_decay=1.0, images=True),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_steps_match_torch(variant):
    v = dict(VARIANTS[variant])
    threads, ls, images = v.pop("threads", 2), v.pop("label_smoothing", 0.0), v.pop("images", False)
    x, y = digits(256)
    (fa, oa), (ta, ob) = pair(**v)
    step = PaperStep(fa, oa, x, y, seed=3, batch_size=32, threads=threads, label_smoothing=ls, record_masks=True)
    # full batches, then a short last batch (as at the end of an epoch)
    batches = [torch.arange(a, a + 32) for a in (0, 32, 64)] + [torch.tensor([200, 5, 77, 3, 9, 150, 11])]
    for k, idx in enumerate(batches):
        if k == 2:  # a schedule moves the learning rate and beta1 (OneCycleLR does both)
            for o in (oa, ob):
                o.param_groups[0].update(lr=3e-4, betas=(0.85, 0.99))
        xb = (x[idx].flip(-1) * 0.9).contiguous() if images else x[idx]  # stands in for augmentation
        before = step.sums.copy()
        step(idx, xb if images else None)
        loss, right = torch_loss(ta, xb, y[idx], step.masks, ls)
        ob.zero_grad()
        loss.backward()
        for got, p in zip(step.gradients(), ta.parameters()):
            want = p.grad.numpy()
            assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max() + 1e-7
        ob.step()
        assert (step.sums[0] - before[0]) / len(idx) == pytest.approx(loss.item(), rel=1e-5)
        assert step.sums[1] - before[1] == right
        # Adam moves a weight by ~lr * g/|g|: where |g| is near eps (1e-8) rounding shows, up to ~1% of lr
        for pa, pb in zip(fa.parameters(), ta.parameters()):
            assert torch.allclose(pa.detach(), pb.detach(), atol=1e-5, rtol=0)
    step.sync()
    assert all(oa.state[p]["step"].item() == 4 for p in fa.parameters())


@pytest.mark.parametrize("engine", ["torch", "fused"])
def test_both_engines_train_behind_one_step_interface(engine):
    x, y = digits(96)
    torch.manual_seed(0)
    net = build_model("paper")
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    step = make_step(engine, net, opt, x, y, TrainConfig(batch_size=32).resolved())
    assert type(step).__name__ == {"torch": "TorchStep", "fused": "FusedStep"}[engine]
    before = [p.detach().clone() for p in net.parameters()]
    step.start_epoch()
    step(torch.arange(32), None)
    step(torch.arange(32, 64), x[32:64].transpose(2, 3))  # given images, in any memory layout
    loss_sum, right = step.sums()
    step.end_epoch()
    assert loss_sum / 64 == pytest.approx(np.log(10), rel=0.2) and 0 <= right <= 64  # ~chance after two steps
    assert all(opt.state[p]["step"].item() == 2 for p in net.parameters())  # as torch's Adam counts them
    assert not any(torch.equal(a, p) for a, p in zip(before, net.parameters()))
    step.start_epoch()
    assert step.sums() == (0.0, 0.0)


def test_masks_are_exact_dropout_and_keyed_by_seed_and_step():
    x, y = digits(64)
    (fa, oa), (fb, ob) = pair()
    a = PaperStep(fa, oa, x, y, seed=1, batch_size=32, record_masks=True)
    b = PaperStep(fb, ob, x, y, seed=1, batch_size=32, record_masks=True)
    kept = []
    for s in range(12):
        idx = torch.arange(32) + 32 * (s % 2)
        a(idx)
        b(idx)
        assert np.array_equal(a.masks, b.masks)  # same seed and step: same masks, so the same numbers
        kept.append(a.masks.copy())
    assert all(torch.equal(p, q) for p, q in zip(fa.parameters(), fb.parameters()))
    k = np.stack(kept).astype(np.float64)  # [steps, batch, 1808]
    assert abs(k[..., :1552].mean() - 0.75) < 0.01 and abs(k[..., 1552:].mean() - 0.5) < 0.01
    assert not np.array_equal(k[0, 0], k[0, 1]) and not np.array_equal(k[0], k[1])  # per image, per step
    (fc, oc), _ = pair()
    c = PaperStep(fc, oc, x, y, seed=2, batch_size=32, record_masks=True)
    c(torch.arange(32))
    assert not np.array_equal(c.masks, kept[0])


def test_results_do_not_depend_on_the_thread_count():
    x, y = digits(320)
    (fa, oa), (fb, ob) = pair()
    a = PaperStep(fa, oa, x, y, seed=0, batch_size=32, threads=1)
    b = PaperStep(fb, ob, x, y, seed=0, batch_size=32, threads=2)
    perm = torch.randperm(320, generator=torch.Generator().manual_seed(0))
    for s in range(10):
        a(perm[32 * s : 32 * (s + 1)])
        b(perm[32 * s : 32 * (s + 1)])
    assert all(torch.equal(p, q) for p, q in zip(fa.parameters(), fb.parameters()))
    assert np.array_equal(a.sums, b.sums)


def test_refuses_what_it_cannot_train():
    x, y = digits(64)
    (fa, oa), _ = pair()
    with pytest.raises(KernelError, match="float32"):
        PaperStep(fa, oa, x.double(), y, seed=0, batch_size=32)
    with pytest.raises(KernelError, match="paper net"):
        net = build_model("resnet-small")
        PaperStep(net, torch.optim.Adam(net.parameters()), x, y, seed=0, batch_size=32)
    with pytest.raises(KernelError, match="Adam"):
        PaperStep(fa, torch.optim.SGD(fa.parameters(), lr=0.1), x, y, seed=0, batch_size=32)
    with pytest.raises(KernelError, match="amsgrad"):
        PaperStep(fa, torch.optim.Adam(fa.parameters(), amsgrad=True), x, y, seed=0, batch_size=32)
    with pytest.raises(KernelError, match="labels"):
        PaperStep(fa, oa, x, y + 5, seed=0, batch_size=32)
    step = PaperStep(fa, oa, x, y, seed=0, batch_size=32)
    with pytest.raises(ValueError, match="batch"):
        step(torch.arange(33))
    with pytest.raises(ValueError, match="indices must be in 0..63"):
        step(torch.tensor([0, 64]))
    with pytest.raises(ValueError, match=r"images must be contiguous float32 \[2,1,28,28\]"):
        step(torch.tensor([0, 1]), x[:3])


def test_train_picks_the_fused_step_and_falls_back_to_torch(tiny_data, tmp_path, monkeypatch, fresh_library):
    base = dict(model="paper", dataset="tiny", epochs=2, batch_size=32, val_size=100, threads=1)
    runs = {}
    for engine in ("auto", "torch"):
        m = train(TrainConfig(**base, engine=engine), tmp_path / engine, data_dir=tiny_data, progress=False,
                  log=lambda _m: None)
        runs[engine] = json.loads((tmp_path / engine / "config.json").read_text())["engine"], m
    assert runs["auto"][0] == "fused" and runs["torch"][0] == "torch"
    # both learn the tiny set; they differ only in their dropout masks' random numbers
    assert runs["auto"][1]["test_accuracy"] > 0.5 and runs["torch"][1]["test_accuracy"] > 0.5

    # the knobs that live around the step (schedule, augmentation, EMA) and in it (AdamW, label smoothing)
    extras = dict(optimizer="adamw", weight_decay=0.01, schedule="onecycle", label_smoothing=0.1, augment=True,
                  ema=0.9)
    m = train(TrainConfig(**base, **extras, engine="fused"), tmp_path / "knobs", data_dir=tiny_data,
              progress=False, log=lambda _m: None)
    assert json.loads((tmp_path / "knobs" / "config.json").read_text())["engine"] == "fused"
    assert m["test_accuracy"] > 0.5

    with pytest.raises(TrainError, match=r"--engine fused: it runs the paper net only"):
        train(TrainConfig(**{**base, "model": "resnet-small"}, engine="fused"), tmp_path / "r",
              data_dir=tiny_data, progress=False, log=lambda _m: None)
    with pytest.raises(TrainError, match=r"--engine fused: it implements Adam and AdamW, not sgd"):
        train(TrainConfig(**base, optimizer="sgd", engine="fused"), tmp_path / "s", data_dir=tiny_data,
              progress=False, log=lambda _m: None)

    # No C compiler: auto says so and trains with torch; asking for fused is a one-line error.
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    fresh_library.cache_clear()  # the runs above built and loaded it
    notes: list[str] = []
    train(TrainConfig(**base, engine="auto"), tmp_path / "fallback", data_dir=tiny_data, progress=False,
          log=notes.append)
    assert any("no C compiler found" in n and "training with torch" in n for n in notes)
    assert json.loads((tmp_path / "fallback" / "config.json").read_text())["engine"] == "torch"
    with pytest.raises(TrainError, match="--engine fused: no C compiler found"):
        train(TrainConfig(**base, engine="fused"), tmp_path / "nocc", data_dir=tiny_data, progress=False,
              log=lambda _m: None)


def test_a_broken_build_is_one_line_and_leaves_no_file(tmp_path, monkeypatch, fresh_library):
    cc = tmp_path / "cc"
    cc.write_text("#!/bin/sh\nfor a; do :; done; echo 'cc: fatal error: out of cheese' >&2; exit 1\n")
    cc.chmod(0o755)
    monkeypatch.setenv("CC", str(cc))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(KernelError, match="could not build paper_kernel.c: cc: fatal error: out of cheese"):
        fresh_library()
    assert list((tmp_path / "cache" / "inkdigit" / "kernels").iterdir()) == []


def test_resume_keeps_the_step_the_run_started_with(tiny_data, tmp_path):
    base = dict(model="paper", dataset="tiny", batch_size=32, val_size=100, threads=1)
    quiet = dict(data_dir=tiny_data, progress=False, log=lambda _m: None)
    whole = train(TrainConfig(**base, epochs=2, engine="torch"), tmp_path / "whole", **quiet)
    train(TrainConfig(**base, epochs=1, engine="torch"), tmp_path / "split", **quiet)
    resumed = train(TrainConfig(epochs=2), tmp_path / "split", resume=True, **quiet)  # engine left to 'auto'
    assert json.loads((tmp_path / "split" / "config.json").read_text())["engine"] == "torch"
    assert resumed["test_loss"] == whole["test_loss"] and resumed["epochs"][-1]["train_loss"] == \
        whole["epochs"][-1]["train_loss"]


def test_a_library_that_will_not_load_is_one_line(tmp_path, monkeypatch, fresh_library):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(paper_kernel, "compile_kernel", lambda cc, out: out.write_bytes(b"not a shared library"))
    with pytest.raises(KernelError, match="cannot load the built kernel .*paper_kernel-"):
        fresh_library()

"""Training: the paper net's shape, run-dir artifacts, determinism, resume after a kill, real MNIST."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from inkdigit.errors import TrainError
from inkdigit.training.config import TrainConfig
from inkdigit.training.loop import train
from inkdigit.training.nets import MODELS, build_model, count_parameters
from inkdigit.training.recipes import RECIPES
from inkdigit.training.runs import load_run


def test_paper_net_is_the_papers_layers():
    net = build_model("paper")
    kinds = [type(m).__name__ for m in net]
    assert kinds == ["Conv2d", "ReLU", "MaxPool2d", "Dropout", "Conv2d", "ReLU", "MaxPool2d", "Dropout",
                     "Flatten", "Linear", "ReLU", "Dropout", "Linear"]
    assert (net[0].out_channels, net[0].kernel_size, net[4].out_channels, net[4].kernel_size) == (8, (5, 5), 16, (3, 3))
    assert [net[3].p, net[7].p, net[11].p] == [0.25, 0.25, 0.5]
    assert (net[9].in_features, net[9].out_features, net[12].out_features) == (400, 256, 10)
    assert count_parameters(net) == 208 + 1168 + 102656 + 2570
    assert net.eval()(torch.zeros(3, 1, 28, 28)).shape == (3, 10)


def _cfg(**kw) -> TrainConfig:
    base = dict(model="paper", dataset="tiny", epochs=2, batch_size=32, val_size=100, threads=1)
    base.update(kw)
    return TrainConfig(**base)


def test_train_writes_a_complete_run_dir(tiny_data, tmp_path):
    run = tmp_path / "run"
    metrics = train(_cfg(), run, data_dir=tiny_data, progress=False, log=lambda m: None)
    assert {p.name for p in run.iterdir()} == {"config.json", "checkpoint.pt", "history.csv", "model.pt",
                                               "metrics.json"}
    config = json.loads((run / "config.json").read_text())
    assert config["settings"]["lr"] == 1e-3 and config["settings"]["epochs"] == 2  # recipe defaults filled in
    assert config["provenance"]["inkdigit_version"] and "git_commit" in config["provenance"]
    assert len(metrics["epochs"]) == 2 and metrics["test_accuracy"] > 0.5  # the fake digits are learnable
    assert (run / "history.csv").read_text().count("\n") == 3
    # model.pt is weights only: loadable with weights_only=True, no pickled objects
    sd = torch.load(run / "model.pt", weights_only=True)
    assert set(sd) == set(build_model("paper").state_dict())
    model, _, m2 = load_run(run)
    assert m2["test_accuracy"] == metrics["test_accuracy"] and not model.training


def test_same_seed_same_numbers(tiny_data, tmp_path):
    a = train(_cfg(seed=3), tmp_path / "a", data_dir=tiny_data, progress=False, log=lambda m: None)
    b = train(_cfg(seed=3), tmp_path / "b", data_dir=tiny_data, progress=False, log=lambda m: None)
    c = train(_cfg(seed=4), tmp_path / "c", data_dir=tiny_data, progress=False, log=lambda m: None)
    assert a["epochs"][-1]["train_loss"] == b["epochs"][-1]["train_loss"]
    assert a["test_loss"] == b["test_loss"]
    assert a["epochs"][-1]["train_loss"] != c["epochs"][-1]["train_loss"]


def test_resume_continues_to_the_same_result(tiny_data, tmp_path):
    full = train(_cfg(epochs=3), tmp_path / "full", data_dir=tiny_data, progress=False, log=lambda m: None)
    train(_cfg(epochs=1), tmp_path / "part", data_dir=tiny_data, progress=False, log=lambda m: None)
    (tmp_path / "part" / "model.pt").unlink()  # as if it had been stopped after epoch 1
    resumed = train(TrainConfig(epochs=3), tmp_path / "part", resume=True, data_dir=tiny_data, progress=False,
                    log=lambda m: None)
    assert [r["epoch"] for r in resumed["epochs"]] == [1, 2, 3]
    assert resumed["epochs"][-1]["train_loss"] == pytest.approx(full["epochs"][-1]["train_loss"], abs=1e-6)
    assert resumed["test_accuracy"] == full["test_accuracy"]


def test_resumes_a_run_saved_before_newer_settings(tiny_data, tmp_path):
    """A run dir from before --clean-epochs and --engine, with the unused `extra` setting: resumed as it ran."""
    quiet = dict(data_dir=tiny_data, progress=False, log=lambda m: None)
    whole = train(_cfg(engine="torch"), tmp_path / "whole", **quiet)
    train(_cfg(epochs=1, engine="torch"), tmp_path / "old", **quiet)
    (tmp_path / "old" / "model.pt").unlink()
    config = json.loads((tmp_path / "old" / "config.json").read_text())
    del config["engine"], config["settings"]["engine"], config["settings"]["clean_epochs"]
    del config["settings"]["pen_lifts"]
    config["settings"]["extra"] = {}
    (tmp_path / "old" / "config.json").write_text(json.dumps(config))
    resumed = train(TrainConfig(epochs=2), tmp_path / "old", resume=True, **quiet)
    config = json.loads((tmp_path / "old" / "config.json").read_text())
    assert config["engine"] == "torch" and config["settings"]["clean_epochs"] == 0
    assert config["settings"]["pen_lifts"] == 0.0
    assert "extra" not in config["settings"]
    assert resumed["test_loss"] == whole["test_loss"]


def test_every_registered_model_has_a_complete_recipe():
    assert list(RECIPES) == list(MODELS)
    for name, recipe in RECIPES.items():
        cfg = TrainConfig(model=name).resolved()
        # Only what belongs to the machine (threads) or to the caller (a run to start from, a target to check) is
        # left unset.
        assert [f.name for f in dataclasses.fields(cfg) if getattr(cfg, f.name) is None] == [
            "init_from", "threads", "target_accuracy"]
        assert {k: getattr(cfg, k) for k in recipe} == recipe


def test_a_setting_given_wins_over_the_recipe_even_when_false_or_zero():
    recipe = RECIPES["resnet-small"]
    cfg = TrainConfig(model="resnet-small", lr=0.05, augment=False, ema=0.0, label_smoothing=0.0).resolved()
    assert (cfg.lr, cfg.augment, cfg.ema, cfg.label_smoothing) == (0.05, False, 0.0, 0.0)
    assert (cfg.epochs, cfg.optimizer, cfg.schedule) == (recipe["epochs"], recipe["optimizer"], recipe["schedule"])
    assert recipe["augment"] is True and recipe["ema"] > 0  # the recipe itself is untouched


def test_a_fine_tuning_run_starts_from_the_given_run_and_says_so(tiny_data, tmp_path):
    quiet = dict(data_dir=tiny_data, progress=False, log=lambda m: None)
    train(_cfg(), tmp_path / "base", **quiet)
    base = torch.load(tmp_path / "base" / "model.pt", weights_only=True)
    # Adam moves each weight by about lr a step: at 1e-7 the tuned net is the base, not a fresh one.
    train(_cfg(epochs=1, lr=1e-7, seed=5, init_from=str(tmp_path / "base")), tmp_path / "tuned", **quiet)
    tuned = torch.load(tmp_path / "tuned" / "model.pt", weights_only=True)
    fresh = build_model("paper").state_dict()
    assert all((tuned[k] - base[k]).abs().max() < 1e-4 for k in base)
    assert any((fresh[k] - base[k]).abs().max() > 1e-2 for k in base)
    config = json.loads((tmp_path / "tuned" / "config.json").read_text())
    assert config["init"]["run"] == str(tmp_path / "base") and config["init"]["settings"]["epochs"] == 2
    # Resumed, it still says where it started.
    (tmp_path / "tuned" / "model.pt").unlink()
    train(TrainConfig(epochs=2), tmp_path / "tuned", resume=True, **quiet)
    assert json.loads((tmp_path / "tuned" / "config.json").read_text())["init"] == config["init"]


@pytest.mark.parametrize(("start", "message"), [("missing", "no such run directory"),
                                                ("other-model", "a paper run on digits, but this run trains")])
def test_fine_tuning_from_what_is_not_a_matching_run_is_one_line(tiny_data, tmp_path, start, message):
    quiet = dict(data_dir=tiny_data, progress=False, log=lambda m: None)
    if start == "other-model":
        train(_cfg(epochs=1), tmp_path / start, **quiet)
    with pytest.raises(TrainError, match=message) as e:
        train(_cfg(model="resnet-small", epochs=1, init_from=str(tmp_path / start)), tmp_path / "r", **quiet)
    assert "\n" not in str(e.value) and not (tmp_path / "r" / "model.pt").exists()


@pytest.mark.parametrize("share", [-0.1, 1.5])
def test_a_pen_lift_share_outside_0_to_1_is_one_line(share):
    with pytest.raises(TrainError, match="--pen-lifts must be in") as e:
        TrainConfig(model="resnet-small", pen_lifts=share).resolved()
    assert "\n" not in str(e.value)


def test_refuses_to_overwrite_a_run_and_to_resume_nothing(tiny_data, tmp_path):
    train(_cfg(epochs=1), tmp_path / "r", data_dir=tiny_data, progress=False, log=lambda m: None)
    with pytest.raises(TrainError, match="already holds a run"):
        train(_cfg(epochs=1), tmp_path / "r", data_dir=tiny_data, progress=False, log=lambda m: None)
    with pytest.raises(TrainError, match="nothing to resume"):
        train(_cfg(), tmp_path / "empty", resume=True, data_dir=tiny_data, progress=False)


def test_clean_epochs_train_the_last_epochs_on_unaugmented_images(tiny_data, tmp_path, monkeypatch):
    from inkdigit.training import loop as train_module

    calls: list[int] = []

    def counting_augment(x, gen):
        calls.append(len(x))
        return x

    monkeypatch.setattr(train_module, "get_augment", lambda cfg: counting_augment if cfg.augment else None)
    train(_cfg(epochs=3, augment=True, clean_epochs=1), tmp_path / "r", data_dir=tiny_data, progress=False,
          log=lambda m: None)
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    # Epochs 1 and 2 augment every training image once; epoch 3 trains on them as they are.
    assert sum(calls) == 2 * config["train_size"] and config["settings"]["clean_epochs"] == 1
    calls.clear()
    train(_cfg(epochs=2, augment=True, clean_epochs=2), tmp_path / "all-clean", data_dir=tiny_data,
          progress=False, log=lambda m: None)
    assert calls == []


@pytest.mark.parametrize("bad", [dict(epochs=0), dict(lr=-1.0), dict(batch_size=0), dict(model="nope"),
                                 dict(ema=1.5), dict(device="tpu"), dict(clean_epochs=-1)])
def test_bad_settings_are_one_line_errors(bad, tiny_data, tmp_path):
    with pytest.raises(TrainError) as e:
        train(_cfg(**bad), tmp_path / "r", data_dir=tiny_data, progress=False)
    assert "\n" not in str(e.value)


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Runs the real CLI in a child process with the generated 'tiny' dataset registered.
CHILD = ("import sys; from inkdigit.data import DATASETS; from tests.conftest import tiny_spec, tiny_arrays; "
         "DATASETS['tiny'] = tiny_spec('tiny', tiny_arrays()); from inkdigit.cli import main; "
         "sys.exit(main(sys.argv[1:]))")


@pytest.mark.slow
def test_kill_leaves_a_resumable_checkpoint(tiny_data, tmp_path):
    """SIGTERM mid-run: the process says how to resume, files are whole, and --resume finishes the run."""
    run = tmp_path / "killed"
    common = ["--no-progress", "--out", str(run), "--data-dir", str(tiny_data)]
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, "train", "--dataset", "tiny", "--epochs", "500", "--threads", "1",
         "--val-size", "100", *common],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    deadline = time.monotonic() + 60
    while not (run / "checkpoint.pt").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1, err
    assert "--resume" in err and "Traceback" not in err
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]
    done = torch.load(run / "checkpoint.pt", weights_only=True)["epoch"]
    assert 1 <= done < 500
    assert f"interrupted after epoch {done}/500" in err  # the epoch the checkpoint holds, which resume goes on after
    r = subprocess.run([sys.executable, "-c", CHILD, "train", "--resume", "--epochs", str(done + 1), *common],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert f"resuming {run} after epoch {done}" in r.stdout
    assert json.loads((run / "metrics.json").read_text())["epochs"][-1]["epoch"] == done + 1


@pytest.mark.slow
def test_no_validation_split_trains_evaluates_and_exports(tiny_data, tmp_path):
    """--val-size 0 trains on every training image: no NaN in the files, evaluate and export still work."""
    from inkdigit.training.evaluate import evaluate_run
    from inkdigit.training.export import export_runs

    run = tmp_path / "run"
    lines: list[str] = []
    train(_cfg(val_size=0, epochs=1), run, data_dir=tiny_data, progress=False, log=lines.append)
    text = (run / "metrics.json").read_text()
    metrics = json.loads(text, parse_constant=lambda c: pytest.fail(f"metrics.json holds {c}"))
    assert metrics["epochs"][0]["val_acc"] is None and metrics["test_accuracy"] > 0
    assert any(line.startswith("epoch   1/1") and "val loss      - acc       -" in line for line in lines)
    assert json.loads((run / "config.json").read_text())["val_size"] == 0
    evaluate_run(run, data_dir=tiny_data, out=tmp_path / "report")
    assert (tmp_path / "report" / "curves.png").stat().st_size > 0
    export_runs([run], tmp_path / "m.onnx", data_dir=tiny_data)  # no validation images: no temperature
    assert (tmp_path / "m.onnx").stat().st_size > 0


def test_resume_from_a_truncated_checkpoint_is_one_line(tiny_data, tmp_path):
    run = tmp_path / "run"
    train(_cfg(epochs=1), run, data_dir=tiny_data, progress=False, log=lambda m: None)
    ck = run / "checkpoint.pt"
    ck.write_bytes(ck.read_bytes()[: ck.stat().st_size // 2])
    with pytest.raises(TrainError, match="truncated or corrupt") as e:
        train(TrainConfig(epochs=2), run, resume=True, data_dir=tiny_data, progress=False, log=lambda m: None)
    assert str(ck) in str(e.value) and "\n" not in str(e.value)


def test_resume_with_a_corrupt_config_is_one_line(tiny_data, tmp_path):
    run = tmp_path / "run"
    train(_cfg(epochs=1), run, data_dir=tiny_data, progress=False, log=lambda m: None)
    (run / "config.json").write_text('{"settings": {"model": "pa')
    with pytest.raises(TrainError, match="unreadable") as e:
        train(TrainConfig(epochs=2), run, resume=True, data_dir=tiny_data, progress=False, log=lambda m: None)
    assert str(run / "config.json") in str(e.value) and "\n" not in str(e.value)


def test_out_that_is_a_file_is_refused_and_kept(tiny_data, tmp_path):
    out = tmp_path / "notes.txt"
    out.write_text("keep me")
    for resume in (False, True):
        with pytest.raises(TrainError, match="is a file, not a folder"):
            train(_cfg(), out, resume=resume, data_dir=tiny_data, progress=False, log=lambda m: None)
    assert out.read_text() == "keep me"


def test_a_full_disk_while_training_is_one_line_and_keeps_what_was_saved(tiny_data, tmp_path, monkeypatch):
    """As root, chmod does not stop writes: ENOSPC is raised in-process where the run's files are written."""
    import errno

    from inkdigit.errors import InkdigitError

    run = tmp_path / "run"
    train(_cfg(epochs=1), run, data_dir=tiny_data, progress=False, log=lambda m: None)
    (run / "model.pt").unlink()  # as if stopped after epoch 1: resumable
    before = {p.name: p.read_bytes() for p in run.iterdir()}

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "open", full)  # where each file's temporary copy is created
    with pytest.raises(InkdigitError, match="free some disk space") as e:
        train(TrainConfig(epochs=2), run, resume=True, data_dir=tiny_data, progress=False, log=lambda m: None)
    monkeypatch.undo()
    assert str(run) in str(e.value) and "\n" not in str(e.value)
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before

"""`inkdigit train` under torchrun: two CPU processes (gloo, loopback) train as one process does, only rank 0
writes, a run whose rank was killed resumes, and a bad launch is one line instead of a hang."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from tests.conftest import tiny_arrays, tiny_spec
from torch import nn

from inkdigit.data import DATASETS, dataset_dir, idx
from inkdigit.errors import TrainError
from inkdigit.training.config import TrainConfig
from inkdigit.training.distributed import World
from inkdigit.training.loop import train
from inkdigit.training.nets import MODELS, ModelInfo
from inkdigit.training.nets.paper import PaperNet
from inkdigit.training.recipes import RECIPES

ROOT = Path(__file__).resolve().parents[1]
TORCHRUN = Path(sys.executable).with_name("torchrun")
# 500 training images (600 less the 100 validation ones) in global batches of 50: every batch splits evenly.
RUN = ["--model", "paper-nodrop", "--dataset", "tiny", "--epochs", "3", "--batch-size", "50", "--val-size", "100",
       "--threads", "1", "--no-progress"]

# What each process runs: the real CLI, with the generated 'tiny' dataset and the paper net without dropout
# registered (dropout draws its masks per process, so only a net without it can match one process exactly).
# It notes which files each rank writes and how many images each epoch gave it, and with TEST_KILL_AT=k rank 1
# (or TEST_KILL_RANK) SIGKILLs itself as its epoch k starts, once rank 0 has saved a checkpoint.
CHILD = f"""
import os, signal, sys, time
from pathlib import Path
sys.path.insert(0, {str(ROOT)!r})
from tests.test_distributed import register
register()
from inkdigit.training import loop, runs

rank, notes = os.environ["RANK"], Path(os.environ["TEST_NOTES"])
def note(line):
    with open(notes, "a") as f:
        f.write(f"{{rank}} {{line}}\\n")
for name in ("write_atomic", "write_json"):
    def wrapped(path, *a, _real=getattr(runs, name), **k):
        note(f"wrote {{Path(path).name}}")
        return _real(path, *a, **k)
    setattr(runs, name, wrapped)
real_epoch, epochs = loop.train_epoch, []
def train_epoch(*a, **k):
    epochs.append(1)
    if rank == os.environ.get("TEST_KILL_RANK", "1") and len(epochs) == int(os.environ.get("TEST_KILL_AT", 0)):
        checkpoint = Path(sys.argv[sys.argv.index("--out") + 1]) / "checkpoint.pt"
        while not checkpoint.exists():
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGKILL)
    seen, secs = real_epoch(*a, **k)
    note(f"seen {{seen}}")
    return seen, secs
loop.train_epoch = train_epoch
from inkdigit.cli import main
sys.exit(main(sys.argv[1:]))
"""


def register(setitem: Callable[[dict, str, object], None] = dict.__setitem__) -> None:
    """The 'tiny' dataset and the 'paper-nodrop' net, in this process's registries (through `setitem`)."""
    def no_dropout() -> nn.Module:
        net = PaperNet()
        for m in net.modules():
            if isinstance(m, nn.Dropout):
                m.p = 0.0
        return net

    setitem(DATASETS, "tiny", tiny_spec("tiny", tiny_arrays()))
    setitem(MODELS, "paper-nodrop", ModelInfo("paper-nodrop", "the paper net without dropout (tests)", no_dropout))
    setitem(RECIPES, "paper-nodrop", RECIPES["paper"])


def torchrun(tmp: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """`torchrun --standalone --nproc-per-node 2 CHILD ARGS` (torchrun picks a free loopback port)."""
    script = tmp / "child.py"
    script.write_text(CHILD)
    launcher = [str(TORCHRUN)] if TORCHRUN.exists() else [sys.executable, "-m", "torch.distributed.run"]
    return subprocess.run([*launcher, "--standalone", "--nproc-per-node", "2", str(script), *args],
                          capture_output=True, text=True, cwd=tmp, timeout=240,
                          env={**os.environ, "TEST_NOTES": str(tmp / "notes.txt"), "INKDIGIT_DIST_TIMEOUT": "30",
                               **env})


def weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "model.pt", weights_only=True)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> tuple[Path, Path, Path]:
    """(data dir, the run of one process, the run of two processes under torchrun), same settings and seed."""
    tmp = tmp_path_factory.mktemp("ddp")
    arrays = tiny_arrays()
    spec = tiny_spec("tiny", arrays)
    folder = dataset_dir(spec, tmp / "data")
    for key, f in zip(arrays, spec.files):
        idx.write_idx(folder / f.name, arrays[key])
    one = tmp / "one"
    cfg = TrainConfig(model="paper-nodrop", dataset="tiny", epochs=3, batch_size=50, val_size=100, threads=1)
    with pytest.MonkeyPatch.context() as mp:
        register(mp.setitem)
        train(cfg, one, data_dir=tmp / "data", progress=False, log=lambda m: None)
    r = torchrun(tmp, "train", *RUN, "--data-dir", str(tmp / "data"), "--out", str(tmp / "two"))
    assert r.returncode == 0, r.stdout + r.stderr
    (tmp / "two.stdout").write_text(r.stdout)
    return tmp / "data", one, tmp / "two"


@pytest.mark.slow
def test_two_processes_train_the_same_weights_as_one(two_runs):
    """The same global batches, split in two: DDP's mean of the two halves' gradients is the whole batch's.
    Only the order of the float additions differs (each half's sum, then the all-reduce), so the weights
    agree to ~1e-6 after 30 Adam steps (measured); 1e-4 is a tenth of one step of lr 1e-3."""
    _, one, two = two_runs
    a, b = weights(one), weights(two)
    assert set(a) == set(b)
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=0, atol=1e-4, msg=k)
    assert any(not torch.equal(a[k], PaperNet().state_dict()[k]) for k in a)  # the nets did train
    notes = (two.parent / "notes.txt").read_text().splitlines()
    # Each rank trained on its own half of every epoch: 250 of the 500 images, three times.
    assert sorted(n for n in notes if " seen " in n) == ["0 seen 250"] * 3 + ["1 seen 250"] * 3


@pytest.mark.slow
def test_only_rank_0_writes_the_run_and_its_lines(two_runs):
    _, _, two = two_runs
    assert {p.name for p in two.iterdir()} == {"config.json", "checkpoint.pt", "history.csv", "model.pt",
                                               "metrics.json"}
    config = json.loads((two / "config.json").read_text())
    assert config["world_size"] == 2 and config["engine"] == "torch"
    notes = (two.parent / "notes.txt").read_text().splitlines()
    writes = [n for n in notes if " wrote " in n]
    assert writes and all(n.startswith("0 ") for n in writes)
    assert writes.count("0 wrote config.json") == 1 and writes.count("0 wrote checkpoint.pt") == 3
    out = (two.parent / "two.stdout").read_text()
    assert out.count("epoch   3/3") == 1 and out.count("× 2 processes (25 images each)") == 1
    assert out.count("test accuracy") == 1
    metrics = json.loads((two / "metrics.json").read_text())
    # The validation and test accuracy are of the whole splits, shared between the two processes.
    assert metrics["test_size"] == 200 and metrics["test_accuracy"] > 0.5


@pytest.mark.slow
def test_a_killed_rank_leaves_a_run_that_resumes_to_the_same_weights(two_runs):
    data, _, two = two_runs
    tmp = two.parent
    run = tmp / "killed"
    common = ["--data-dir", str(data), "--out", str(run)]
    r = torchrun(tmp, "train", *RUN, *common, TEST_KILL_AT="2")  # rank 1 dies as epoch 2 starts
    assert r.returncode != 0
    assert not (run / "model.pt").exists() and not [p for p in run.iterdir() if p.name.endswith(".tmp")]
    assert torch.load(run / "checkpoint.pt", weights_only=True)["epoch"] == 1
    r = torchrun(tmp, "train", "--resume", "--no-progress", *common)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"resuming {run} after epoch 1/3" in r.stdout
    a, b = weights(two), weights(run)
    assert all(torch.equal(a[k], b[k]) for k in a)  # same world size and seed: the unbroken run's weights


def test_a_batch_the_processes_cannot_share_is_one_line_before_any_networking(tiny_data, tmp_path, monkeypatch):
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.delenv("MASTER_ADDR", raising=False)  # nothing to connect to: the check comes first
    cfg = TrainConfig(dataset="tiny", batch_size=33, val_size=100, threads=1)
    with pytest.raises(TrainError, match="--batch-size 33 is the global batch .* multiple of 2") as e:
        train(cfg, tmp_path / "r", data_dir=tiny_data, progress=False)
    assert "\n" not in str(e.value) and not (tmp_path / "r").exists()


@pytest.mark.parametrize(("device", "error"), [("cuda", "no CUDA device is available"),
                                               ("cuda:1", "every process on one GPU")])
def test_cuda_asked_for_under_torchrun_is_one_line(device, error, tiny_data, tmp_path, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(TrainError, match=error) as e:
        train(TrainConfig(dataset="tiny", device=device), tmp_path / "r", data_dir=tiny_data, progress=False)
    assert "\n" not in str(e.value)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.parametrize("rank", ["0", "1"])
def test_a_process_alone_stops_with_one_line_after_the_timeout(rank, tmp_path):
    """Rank 0 waiting for a rank that never comes, or rank 1 with no rank 0 to reach: one line, not a hang
    (the subprocess timeout is what would catch a hang) and not c10d's pages of C++ stack frames."""
    env = {**os.environ, "RANK": rank, "WORLD_SIZE": "2", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
           "MASTER_PORT": str(_free_port()), "INKDIGIT_DIST_TIMEOUT": "1"}
    env.pop("TORCH_CPP_LOG_LEVEL", None)
    r = subprocess.run([sys.executable, "-m", "inkdigit", "train", "--dry-run", "--out", str(tmp_path / "r")],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and f"process {rank} of 2 could not reach the others" in r.stderr, r.stderr
    assert "INKDIGIT_DIST_TIMEOUT" in r.stderr


def test_the_shares_of_a_global_batch_are_the_batch():
    batch = torch.arange(10)
    shares = [World(rank=r, size=2).shard(batch) for r in range(2)]
    assert torch.equal(torch.cat(shares), batch)
    assert World(rank=2, size=3).shard(torch.arange(7)).tolist() == [4, 5]  # the 7th is left out of this batch
    assert World().shard(batch) is batch
    # 23 images in batches of 10 over 4 processes: the last 3 cannot go one to each, so that batch is dropped.
    assert [World(size=4).steps_per_epoch(23, 10), World(size=3).steps_per_epoch(23, 10)] == [2, 3]
    assert World().steps_per_epoch(23, 10) == 3
    assert [World(rank=r, size=3).part(10) for r in range(3)] == [slice(0, 3), slice(3, 6), slice(6, 10)]


def test_each_process_augments_with_its_own_stream_the_same_on_every_run():
    gen = torch.Generator().manual_seed(0)
    assert World().epoch_generator(gen, seed=0, epoch=1) is gen  # one process: the run's generator, as before
    draws = {(r, e): torch.rand(3, generator=World(rank=r, size=2).epoch_generator(gen, 0, e)).tolist()
             for r in (0, 1) for e in (0, 1)}
    assert len({tuple(v) for v in draws.values()}) == 4
    assert torch.rand(3, generator=World(rank=1, size=2).epoch_generator(gen, 0, 1)).tolist() == draws[(1, 1)]

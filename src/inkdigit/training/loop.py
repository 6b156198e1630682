"""Train a registered network on MNIST: the whole dataset in memory as tensors, one log line per epoch.

A run directory holds everything a run made, each file written atomically:
  config.json   the exact settings, package version and git commit
  checkpoint.pt weights + optimiser + RNG state after the last finished epoch (what --resume reads)
  history.csv   one row per epoch
  model.pt      final weights only (a state_dict, never a pickled object)
  metrics.json  per-epoch train/val numbers and the final test accuracy (the test set is touched once, here)
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import functools
import io
import json
import math
import os
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from inkdigit.data import load, split_train_val
from inkdigit.errors import TrainError
from inkdigit.fsutil import write_atomic
from inkdigit.provenance import provenance
from inkdigit.signals import sigterm_as_interrupt
from inkdigit.training.nets import MODELS, build_model, count_parameters


@dataclass
class TrainConfig:
    """Every setting of a run. None means "the model's registered default" (resolved in `resolved`)."""

    model: str = "paper"
    dataset: str = "mnist"
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    optimizer: str | None = None  # adam | adamw | sgd
    schedule: str | None = None  # constant | onecycle
    weight_decay: float | None = None
    label_smoothing: float | None = None
    augment: bool | None = None
    clean_epochs: int | None = None  # the last N epochs train on the images as they are (no augmentation)
    ema: float | None = None  # EMA decay of the weights used for eval/export; 0 = off
    seed: int = 0
    val_size: int = 5000
    threads: int | None = None
    device: str = "auto"
    engine: str = "auto"  # torch | fused (paper_kernel.c: the paper net, Adam(W), CPU) | auto: fused where it can
    dry_run: bool = False
    target_accuracy: float | None = None  # the run checks itself against this (test accuracy, 0..1)
    extra: dict = field(default_factory=dict)

    def resolved(self) -> TrainConfig:
        """A copy with every None filled from the model's registered recipe (then global defaults)."""
        if self.model not in MODELS:
            raise TrainError(f"unknown model {self.model!r} (known: {', '.join(MODELS)})")
        base = {
            "epochs": 5, "batch_size": 32, "lr": 1e-3, "optimizer": "adam", "schedule": "constant",
            "weight_decay": 0.0, "label_smoothing": 0.0, "augment": False, "clean_epochs": 0, "ema": 0.0,
        }
        base.update(MODELS[self.model].defaults)
        cfg = dataclasses.replace(self)
        for k, v in base.items():
            if getattr(cfg, k) is None:
                setattr(cfg, k, v)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        """Raise TrainError for settings no run could use."""
        checks = [
            (self.epochs is None or self.epochs >= 1, f"--epochs must be >= 1, got {self.epochs}"),
            (self.batch_size is None or self.batch_size >= 1, f"--batch-size must be >= 1, got {self.batch_size}"),
            (self.lr is None or self.lr > 0, f"--lr must be > 0, got {self.lr}"),
            (self.optimizer in (None, "adam", "adamw", "sgd"), f"unknown optimizer {self.optimizer!r}"),
            (self.schedule in (None, "constant", "onecycle"), f"unknown schedule {self.schedule!r}"),
            (self.clean_epochs is None or self.clean_epochs >= 0,
             f"--clean-epochs must be >= 0, got {self.clean_epochs}"),
            (self.ema is None or 0 <= self.ema < 1, f"--ema must be in [0, 1), got {self.ema}"),
            (self.threads is None or self.threads >= 1, f"--threads must be >= 1, got {self.threads}"),
            (self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:"),
             f"unknown device {self.device!r}"),
            (self.engine in ("auto", "torch", "fused"), f"unknown engine {self.engine!r}"),
        ]
        for ok, msg in checks:
            if not ok:
                raise TrainError(msg)


def pick_device(name: str) -> torch.device:
    """'auto' → CUDA when present, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise TrainError("--device cuda asked for, but no CUDA device is available")
    return torch.device(name)


def to_tensor(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 [N,28,28] → float32 [N,1,28,28] in [0,1] on `device` (kept there for the whole run)."""
    return torch.from_numpy(np.ascontiguousarray(images)).to(device).unsqueeze(1).float().div_(255.0)


@torch.no_grad()
def predict_logits(model: nn.Module, x: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
    """Logits for every row of x, in eval mode, in large batches."""
    was_training = model.training
    model.eval()
    out = torch.cat([model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])
    model.train(was_training)
    return out


def evaluate_split(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of `model` on (x, y), which must have rows."""
    logits = predict_logits(model, x)
    return F.cross_entropy(logits, y).item(), (logits.argmax(1) == y).float().mean().item()


class EMA:
    """Exponential moving average of a model's weights (and buffers), for evaluation and export."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        # (average, source) tensor pairs, found once: both models are only ever updated in place
        ema_sd, sd = self.model.state_dict(), model.state_dict()
        self._pairs = [(v, sd[k]) for k, v in ema_sd.items()]

    @torch.no_grad()
    def update(self, step: int | None = None) -> None:
        """Move the average one step towards the model given at construction."""
        # Warm-up (as TF/timm): average over at most ~`step` updates, else the first epochs' EMA is mostly
        # the random init. `step` is the global step, so a resumed run averages exactly as an unbroken one.
        decay = self.decay if step is None else min(self.decay, (1 + step) / (10 + step))
        for v, src in self._pairs:
            if v.dtype.is_floating_point:
                v.lerp_(src, 1.0 - decay)
            else:
                v.copy_(src)


def make_optimizer(cfg: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    """The optimiser named in cfg; fused kernels where torch has them (same maths, fewer ops)."""
    params = model.parameters()
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, nesterov=True, weight_decay=cfg.weight_decay)
    cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    try:
        return cls(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
    except (RuntimeError, TypeError):
        return cls(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)


def make_schedule(cfg: TrainConfig, opt: torch.optim.Optimizer, steps_per_epoch: int):
    """Per-step LR schedule, or None for a constant LR."""
    if cfg.schedule == "onecycle":
        total = cfg.epochs * steps_per_epoch
        if total < 4:  # no room for warm-up + anneal
            return None
        # OneCycleLR divides by zero when its warm-up is under ~2 steps (a --dry-run has only 4 batches).
        return torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=cfg.lr, epochs=cfg.epochs, steps_per_epoch=steps_per_epoch,
            pct_start=max(0.25, 2.5 / total),
        )
    return None


def save_torch_atomic(obj: dict, path: Path) -> None:
    """torch.save into a temp file then rename: a kill mid-write never leaves a broken checkpoint."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    write_atomic(path, buf.getvalue())


def write_json(path: Path, obj: dict) -> None:
    """Pretty JSON, written atomically."""
    write_atomic(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def write_history(path: Path, history: list[dict]) -> None:
    """history.csv, written atomically."""
    if not history:
        return
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(history[0]))
    writer.writeheader()
    writer.writerows(history)
    write_atomic(path, buf.getvalue().encode())


def log_line(epoch: int, epochs: int, row: dict) -> str:
    """One fixed-width line per epoch (airbench style), easy to diff between runs."""
    if row["val_loss"] is None:  # --val-size 0: no validation images
        val = "val loss      - acc       -"
    else:
        val = f"val loss {row['val_loss']:.4f} acc {100 * row['val_acc']:6.2f}%"
    return (
        f"epoch {epoch:>3}/{epochs:<3} | train loss {row['train_loss']:.4f} acc {100 * row['train_acc']:6.2f}% "
        f"| {val} "
        f"| {row['epoch_seconds']:6.1f}s {row['images_per_s']:>7.0f} img/s"
    )


Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def get_augment(cfg: TrainConfig) -> Augment | None:
    """The batch augmentation for this run, or None."""
    if not cfg.augment:
        return None
    from inkdigit.training.augment import augment_batch  # only runs that augment pay for importing it

    return augment_batch


def saved_config(run_dir: str | os.PathLike) -> dict:
    """A run dir's config.json, with any setting added since filled in as that run had it."""
    config = json.loads((Path(run_dir) / "config.json").read_text())
    # Runs made before --clean-epochs augmented every epoch; runs made before --engine trained with torch.
    config["settings"] = {"clean_epochs": 0, "engine": "torch", **config["settings"]}
    config.setdefault("engine", config["settings"]["engine"])  # the step it used ('auto' resolved)
    return config


def saved_settings(run_dir: str | os.PathLike) -> dict:
    """The settings in a run dir's config.json (`saved_config`'s "settings")."""
    return saved_config(run_dir)["settings"]


def choose_engine(cfg: TrainConfig, device: torch.device, log: Callable[[str], None]) -> str:
    """'fused' (the paper net's C step) or 'torch' for a resolved cfg; TrainError if 'fused' cannot be had."""
    if cfg.engine == "torch":
        return "torch"
    from inkdigit.training.fused import kernel as paper_kernel

    why = paper_kernel.unsupported(cfg, device)
    if why is None:
        try:
            paper_kernel.library()
            return "fused"
        except paper_kernel.KernelError as e:
            why = str(e)
            if cfg.engine == "auto":  # the recipe could have used it: say why it does not
                log(f"note: the fused paper step is unavailable ({why}); training with torch")
    if cfg.engine == "fused":
        raise TrainError(f"--engine fused: {why}")
    return "torch"


@functools.lru_cache(maxsize=1)
def _default_threads() -> int:
    """torch's own thread count, as first seen (before any run of ours changed it)."""
    return torch.get_num_threads()


def train(
    cfg: TrainConfig,
    out: str | os.PathLike,
    *,
    resume: bool = False,
    data_dir: str | os.PathLike | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
    on_epoch_end: Callable[[int, nn.Module], None] | None = None,
) -> dict:
    """Train per `cfg` into run dir `out`; returns the final metrics dict (also saved as metrics.json).

    `on_epoch_end(epoch, eval_model)` runs after each epoch's validation (benchmarks snapshot weights there).
    """
    out = Path(out)
    ckpt_path = out / "checkpoint.pt"
    if resume:
        if not (out / "config.json").is_file() or not ckpt_path.is_file():
            raise TrainError(f"{out}: nothing to resume (no config.json and checkpoint.pt)")
        config = saved_config(out)
        saved = config["settings"]
        if cfg.epochs is not None and cfg.epochs != saved["epochs"]:
            saved["epochs"] = cfg.epochs  # resuming may extend a run; all other settings stay as saved
        # ...and so does the step it trained with ('auto' could pick another one on this machine)
        saved["engine"] = config["engine"]
        cfg = TrainConfig(**saved)
    elif (out / "model.pt").exists() or ckpt_path.exists():
        raise TrainError(f"{out} already holds a run: use --resume to continue it, or another --out")
    cfg = cfg.resolved()

    device = pick_device(cfg.device)
    # No thread count in the recipe means all the cores we may use: set it either way, since an earlier run
    # in this process (a 1-thread recipe, a benchmark over several models) may have changed torch's setting.
    default_threads = _default_threads()  # read first, before any run of ours has changed the setting
    torch.set_num_threads(cfg.threads or default_threads)
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)

    images, labels = load(cfg.dataset, "train", data_dir)
    test_images, test_labels = load(cfg.dataset, "test", data_dir)
    tr_idx, va_idx = split_train_val(len(images), cfg.val_size, seed=0)  # the split is fixed across seeds
    if cfg.dry_run:  # a few batches on a small slice: a smoke test of the whole pipeline
        tr_idx, va_idx = tr_idx[: cfg.batch_size * 4], va_idx[:256]
        test_images, test_labels = test_images[:256], test_labels[:256]
        cfg.epochs = min(cfg.epochs, 1)
        cfg.clean_epochs = 0  # the one epoch exercises augmentation too
    x_tr, y_tr = to_tensor(images[tr_idx], device), torch.from_numpy(labels[tr_idx]).to(device)
    x_va, y_va = to_tensor(images[va_idx], device), torch.from_numpy(labels[va_idx]).to(device)

    engine = choose_engine(cfg, device, log)
    model = build_model(cfg.model).to(device)
    if device.type == "cpu" and engine == "torch":
        model = model.to(memory_format=torch.channels_last)
    opt = make_optimizer(cfg, model)
    steps_per_epoch = math.ceil(len(x_tr) / cfg.batch_size)
    sched = make_schedule(cfg, opt, steps_per_epoch)
    ema = EMA(model, cfg.ema) if cfg.ema else None
    augment = get_augment(cfg)
    gen = torch.Generator(device="cpu").manual_seed(cfg.seed)

    history: list[dict] = []
    start_epoch = 0
    if resume:
        ck = torch.load(ckpt_path, map_location=device, weights_only=True)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        if sched is not None and ck.get("scheduler"):
            sched.load_state_dict(ck["scheduler"])
        if ema is not None and ck.get("ema"):
            ema.model.load_state_dict(ck["ema"])
        gen.set_state(ck["gen_state"])
        torch.set_rng_state(ck["torch_rng"])
        history, start_epoch = ck["history"], ck["epoch"]
        log(f"resuming {out} after epoch {start_epoch}/{cfg.epochs}")
    else:
        out.mkdir(parents=True, exist_ok=True)
    fused = None
    if engine == "fused":
        from inkdigit.training.fused.kernel import KernelError, PaperStep

        try:
            fused = PaperStep(model, opt, x_tr, y_tr, seed=cfg.seed, batch_size=cfg.batch_size,
                              threads=torch.get_num_threads(), label_smoothing=cfg.label_smoothing)
        except KernelError as e:  # e.g. a checkpoint whose optimiser state is not the kernel's layout
            raise TrainError(f"--engine fused: {e}") from None
    meta = {"settings": dataclasses.asdict(cfg), "provenance": provenance(), "device": str(device),
            "engine": engine,
            "threads": torch.get_num_threads(), "parameters": count_parameters(model),
            "train_size": len(x_tr), "val_size": len(x_va)}
    write_json(out / "config.json", meta)
    log(f"{cfg.model}: {meta['parameters']:,} parameters | {len(x_tr):,} train / {len(x_va):,} val | "
        f"{cfg.epochs} epochs × batch {cfg.batch_size} | {cfg.optimizer} lr {cfg.lr:g} | {device} "
        f"{torch.get_num_threads()} threads | {engine} step")

    from tqdm import tqdm

    loss_fn = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)

    def epoch_sums() -> tuple[float, float]:
        """(summed loss, number right) of the epoch so far: the fused step keeps them, torch's on the device."""
        return (float(fused.sums[0]), float(fused.sums[1])) if fused is not None else \
            (loss_sum.item(), correct.item())

    started = time.perf_counter()
    try:
        with sigterm_as_interrupt():
            for epoch in range(start_epoch, cfg.epochs):
                model.train()
                # --clean-epochs: the last epochs see the digits as they are (MNIST's test digits are clean).
                # Not in any recipe: on 2 CPU cores it did not raise accuracy (docs/experiments.md).
                augment_now = augment if epoch < cfg.epochs - cfg.clean_epochs else None
                t0 = time.perf_counter()
                perm = torch.randperm(len(x_tr), generator=gen).to(device)
                seen, loss_sum, correct = 0, torch.zeros((), device=device), torch.zeros((), device=device)
                if fused is not None:
                    fused.sums[:] = 0.0  # the kernel adds each batch's summed loss and number right here
                bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False,
                           disable=not progress, unit="batch", mininterval=0.5, file=sys.stderr)
                for step in bar:
                    idx = perm[step * cfg.batch_size : (step + 1) * cfg.batch_size]
                    if fused is not None:  # forward, backward and Adam in one call
                        fused(idx, None if augment_now is None else augment_now(x_tr[idx], gen).contiguous())
                    else:
                        xb, yb = x_tr[idx], y_tr[idx]
                        if augment_now is not None:
                            xb = augment_now(xb, gen)
                        logits = model(xb)
                        loss = loss_fn(logits, yb)
                        opt.zero_grad(set_to_none=True)
                        loss.backward()
                        opt.step()
                        # Accumulate on-device: a .item() per step would force a sync every batch.
                        with torch.no_grad():
                            loss_sum += loss.detach() * len(yb)
                            correct += (logits.argmax(1) == yb).sum()
                    if sched is not None:
                        sched.step()
                    if ema is not None:
                        ema.update(epoch * steps_per_epoch + step)
                    seen += len(idx)
                    if progress and step % 50 == 0:
                        el = time.perf_counter() - t0
                        sums = epoch_sums()
                        bar.set_postfix(loss=f"{sums[0] / seen:.4f}", acc=f"{sums[1] / seen:.4f}",
                                        img_s=f"{seen / max(el, 1e-9):.0f}", refresh=False)
                bar.close()
                secs = time.perf_counter() - t0
                if fused is not None:
                    fused.sync()
                train_loss, train_right = epoch_sums()
                eval_model = ema.model if ema is not None else model
                # --val-size 0 has no validation images: null in metrics.json (strict JSON), empty in the CSV.
                val = [round(v, 6) for v in evaluate_split(eval_model, x_va, y_va)] if len(x_va) else [None, None]
                row = {"epoch": epoch + 1, "train_loss": round(train_loss / seen, 6),
                       "train_acc": round(train_right / seen, 6), "val_loss": val[0],
                       "val_acc": val[1], "epoch_seconds": round(secs, 3),
                       "images_per_s": round(seen / secs, 1), "lr": opt.param_groups[0]["lr"]}
                history.append(row)
                log(log_line(epoch + 1, cfg.epochs, row))
                if on_epoch_end is not None:
                    on_epoch_end(epoch + 1, eval_model)
                save_torch_atomic({
                    "model": model.state_dict(), "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict() if sched is not None else None,
                    "ema": ema.model.state_dict() if ema is not None else None,
                    "gen_state": gen.get_state(), "torch_rng": torch.get_rng_state(),
                    "epoch": epoch + 1, "history": history,
                }, ckpt_path)
                write_history(out / "history.csv", history)
    except KeyboardInterrupt:
        done = history[-1]["epoch"] if history else 0
        raise TrainError(f"interrupted after epoch {done}/{cfg.epochs}; continue with: "
                         f"inkdigit train --resume --out {out}") from None

    final = ema.model if ema is not None else model
    # The test set is touched once, here, after all training decisions were made on validation data.
    x_te, y_te = to_tensor(test_images, device), torch.from_numpy(test_labels).to(device)
    test_loss, test_acc = evaluate_split(final, x_te, y_te)
    train_seconds = round(sum(r["epoch_seconds"] for r in history), 3)
    metrics = {"model": cfg.model, "epochs": history, "test_loss": round(test_loss, 6),
               "test_accuracy": round(test_acc, 6), "test_size": len(x_te), "train_seconds": train_seconds,
               "wall_seconds_this_session": round(time.perf_counter() - started, 3)}
    sd = {k: v.contiguous() for k, v in final.state_dict().items()}
    save_torch_atomic(sd, out / "model.pt")
    write_json(out / "metrics.json", metrics)
    log(f"test accuracy {100 * test_acc:.2f}% (loss {test_loss:.4f}) | training {train_seconds:.1f}s | {out}")
    if cfg.target_accuracy is not None and test_acc < cfg.target_accuracy and not cfg.dry_run:
        raise TrainError(f"test accuracy {100 * test_acc:.2f}% is below the target "
                         f"{100 * cfg.target_accuracy:.2f}% (model saved in {out})")
    return metrics


def load_run(run_dir: str | os.PathLike) -> tuple[nn.Module, dict, dict]:
    """(model in eval mode on CPU, config.json dict, metrics.json dict or {}) for a finished run dir."""
    run = Path(run_dir)
    if not run.is_dir():
        raise TrainError(f"{run}: no such run directory")
    try:
        config = json.loads((run / "config.json").read_text())
        settings = config["settings"]
    except (OSError, ValueError, KeyError) as e:
        raise TrainError(f"{run}: unreadable config.json ({e.__class__.__name__})") from None
    if not (run / "model.pt").is_file():
        raise TrainError(f"{run}: no model.pt (training not finished? resume with --resume)")
    try:
        model = build_model(settings["model"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a corrupt file's pickle warnings add nothing to the error below
            state = torch.load(run / "model.pt", map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except Exception as e:  # a corrupt or foreign file: report it in one line
        raise TrainError(f"{run}/model.pt: cannot load weights ({str(e).splitlines()[0][:200]})") from None
    metrics_path = run / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    return model.eval(), config, metrics

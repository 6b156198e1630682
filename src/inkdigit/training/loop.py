"""Train a registered network on MNIST: the whole dataset in memory as tensors, one log line per epoch.

`train` reads top to bottom: the settings (the recipe's, or a resumed run's), the data, the model with its
optimiser, schedule, EMA and step (torch or the fused C step: `steps`), the epochs, then the test set, once.
What it writes into the run directory, and how a run is read back, is in `runs`.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from inkdigit.charsets import get_charset
from inkdigit.data import load, split_train_val
from inkdigit.data.fonts import font_paths
from inkdigit.data.handwriting import font_digit_set, font_sides
from inkdigit.errors import TrainError
from inkdigit.provenance import provenance
from inkdigit.signals import sigterm_as_interrupt
from inkdigit.training import runs
from inkdigit.training.config import TrainConfig
from inkdigit.training.distributed import World
from inkdigit.training.nets import build_model, count_parameters
from inkdigit.training.optim import EMA, make_optimizer, make_schedule
from inkdigit.training.recipes import FONTS_ONLY
from inkdigit.training.steps import Step, choose_engine, make_step, prepare_model
from inkdigit.training.tensors import evaluate_split, split_sums, to_tensor

Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


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
    Under torchrun each process runs this (`distributed`); only rank 0 writes files, logs and calls back.
    """
    out = Path(out)
    world = World.from_env()
    if world.distributed and not resume:  # each process can tell by itself: stop before any networking
        world.check(cfg.resolved())
    if not world.is_main:
        log, progress, on_epoch_end = _silent, False, None
    with world.joined(out):
        return _train(world, cfg, out, resume=resume, data_dir=data_dir, progress=progress, log=log,
                      on_epoch_end=on_epoch_end)


def _train(world: World, cfg: TrainConfig, out: Path, *, resume: bool, data_dir: str | os.PathLike | None,
           progress: bool, log: Callable[[str], None], on_epoch_end: Callable[[int, nn.Module], None] | None
           ) -> dict:
    """`train` in this process, once its world is joined."""
    cfg = world.from_rank0(runs.run_settings, cfg, out, resume)
    world.check(cfg)
    if cfg.dry_run:  # a few batches on a small slice (`load_data`): a smoke test of the whole pipeline
        cfg = dataclasses.replace(cfg, epochs=min(cfg.epochs, 1), clean_epochs=0)  # the one epoch augments too
    device = world.device(cfg.device)
    set_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    (x_tr, y_tr), (x_va, y_va), (test_images, test_labels) = load_data(cfg, data_dir, device, log)

    engine = choose_engine(cfg, device, log, processes=world.size)
    net = build_model(cfg.model, num_classes=len(get_charset(cfg.charset).labels))
    # A fine-tuning run starts from another run's weights; a resumed one, from its own checkpoint (below). Either
    # way config.json says which run they came from.
    start = world.from_rank0(runs.saved_config, out).get("init") if resume else None
    if cfg.init_from and not resume:
        weights, start = world.from_rank0(runs.start_weights, cfg)
        net.load_state_dict(weights)
    model, trained = world.wrap(prepare_model(net.to(device), engine, device), device)
    opt = make_optimizer(cfg, model)
    steps_per_epoch = world.steps_per_epoch(len(x_tr), cfg.batch_size)
    sched = make_schedule(cfg, opt, steps_per_epoch)
    ema = EMA(model, cfg.ema) if cfg.ema else None
    gen = torch.Generator(device="cpu").manual_seed(cfg.seed)
    # What a checkpoint holds besides the epoch and the history: all that --resume needs to go on bit for bit.
    state = dict(model=model, opt=opt, sched=sched, ema=ema.model if ema is not None else None, gen=gen)
    done, history = (runs.restore_checkpoint(out, world.from_rank0(runs.read_checkpoint, out), **state)
                     if resume else (0, []))
    if resume:
        log(f"resuming {out} after epoch {done}/{cfg.epochs}")
    step = make_step(engine, trained, opt, x_tr, y_tr, cfg)
    config = {"settings": dataclasses.asdict(cfg), "provenance": provenance(), "device": str(device),
              "engine": engine, "threads": torch.get_num_threads(), "parameters": count_parameters(model),
              "train_size": len(x_tr), "val_size": len(x_va), "world_size": world.size}
    if start is not None:
        config["init"] = start
    if world.is_main:
        runs.write_config(out, config)
    log(header_line(cfg, config))

    augment = get_augment(cfg)
    eval_model = ema.model if ema is not None else model
    started = time.perf_counter()
    try:
        with sigterm_as_interrupt():
            for epoch in range(done, cfg.epochs):
                # --clean-epochs: the last epochs see the digits as they are (MNIST's test digits are clean).
                augment_now = augment if epoch < cfg.epochs - cfg.clean_epochs else None
                seen, secs = train_epoch(step, x_tr, cfg.batch_size, gen=gen, augment=augment_now, sched=sched,
                                         ema=ema, first_step=epoch * steps_per_epoch, progress=progress,
                                         desc=f"epoch {epoch + 1}/{cfg.epochs}", world=world,
                                         aug_gen=world.epoch_generator(gen, cfg.seed, epoch))
                *sums, seen = world.all_sum((*step.sums(), seen))
                val = evaluate(world, eval_model, x_va, y_va) if len(x_va) else None  # None: --val-size 0
                history.append(epoch_row(epoch + 1, sums, seen, secs, val, lr=opt.param_groups[0]["lr"]))
                log(log_line(epoch + 1, cfg.epochs, history[-1]))
                if on_epoch_end is not None:
                    on_epoch_end(epoch + 1, eval_model)
                if world.is_main:
                    runs.save_checkpoint(out, epoch + 1, history, **state)
                done = epoch + 1  # what the interruption message names: the epoch a resume goes on after
    except KeyboardInterrupt:
        raise TrainError(f"interrupted after epoch {done}/{cfg.epochs}; continue with: "
                         f"{world.resume_command(out)}") from None

    # The test set is touched once, here, after all training decisions were made on validation data.
    x_te, y_te = to_tensor(test_images, device), torch.from_numpy(test_labels).to(device)
    test_loss, test_acc = evaluate(world, eval_model, x_te, y_te)
    train_seconds = round(sum(r["epoch_seconds"] for r in history), 3)
    metrics = {"model": cfg.model, "epochs": history, "test_loss": round(test_loss, 6),
               "test_accuracy": round(test_acc, 6), "test_size": len(x_te), "train_seconds": train_seconds,
               "wall_seconds_this_session": round(time.perf_counter() - started, 3)}
    if world.is_main:
        runs.save_model(out, eval_model, metrics)
    log(f"test accuracy {100 * test_acc:.2f}% (loss {test_loss:.4f}) | training {train_seconds:.1f}s | {out}")
    if cfg.target_accuracy is not None and test_acc < cfg.target_accuracy and not cfg.dry_run:
        raise TrainError(f"test accuracy {100 * test_acc:.2f}% is below the target "
                         f"{100 * cfg.target_accuracy:.2f}% (model saved in {out})")
    return metrics


def _silent(line: str) -> None:
    """The log of every process but rank 0."""


def evaluate(world: World, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(mean loss, accuracy) of `model` on (x, y), which must have rows; under torchrun each process
    evaluates its share of the rows with rank 0's weights and buffers, and the sums are added."""
    if not world.distributed:
        return evaluate_split(model, x, y)
    world.sync_buffers(model)
    part = world.part(len(x))
    loss_sum, right = world.all_sum(split_sums(model, x[part], y[part]))
    return loss_sum / len(x), right / len(x)


def load_data(cfg: TrainConfig, data_dir: str | os.PathLike | None, device: torch.device,
              log: Callable[[str], None] = print
              ) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor],
                         tuple[np.ndarray, np.ndarray]]:
    """((x, y) train and (x, y) validation tensors on `device`, (images, labels) test arrays); a dry run's
    are a slice. The validation split is the same for every seed. A run that draws fonts (a character set,
    or `--dataset fonts`) gets its font glyphs from `chardata`, split by font."""
    if cfg.draws_fonts():
        from inkdigit.training.chardata import font_run_data

        (x_tr, y_tr), (x_va, y_va), test = font_run_data(cfg, data_dir, log)
        if cfg.dry_run:
            x_tr, y_tr = x_tr[: cfg.batch_size * 4], y_tr[: cfg.batch_size * 4]
        return ((to_tensor(x_tr, device), torch.from_numpy(y_tr).to(device)),
                (to_tensor(x_va, device), torch.from_numpy(y_va).to(device)), test)
    images, labels = load(cfg.dataset, "train", data_dir)
    test_images, test_labels = load(cfg.dataset, "test", data_dir)
    tr_idx, va_idx = split_train_val(len(images), cfg.val_size, seed=0)
    if cfg.dry_run:
        tr_idx, va_idx = tr_idx[: cfg.batch_size * 4], va_idx[:256]
        test_images, test_labels = test_images[:256], test_labels[:256]
    x_tr, y_tr = images[tr_idx], labels[tr_idx]
    if cfg.font_digits:  # validation and test stay MNIST's: the fonts widen the styles the net has seen
        # Never the validation fonts, by which the line readers' rules are set (benchmarks/text_lines.py).
        fonts = font_paths(font_sides(cfg.val_fonts, cfg.font_families or "training")[0], data_dir)
        n = min(cfg.font_digits, 64) if cfg.dry_run else cfg.font_digits
        x_font, y_font = font_digit_set(fonts, n, seed=cfg.seed)
        x_tr, y_tr = np.concatenate([x_tr, x_font]), np.concatenate([y_tr, y_font])
    x_tr, y_tr = to_tensor(x_tr, device), torch.from_numpy(y_tr).to(device)
    x_va, y_va = to_tensor(images[va_idx], device), torch.from_numpy(labels[va_idx]).to(device)
    return (x_tr, y_tr), (x_va, y_va), (test_images, test_labels)


def train_epoch(step: Step, x: torch.Tensor, batch_size: int, *, gen: torch.Generator, augment: Augment | None,
                sched: torch.optim.lr_scheduler.LRScheduler | None, ema: EMA | None, first_step: int,
                progress: bool, desc: str, world: World, aug_gen: torch.Generator) -> tuple[int, float]:
    """One pass over the training images x in a fresh random order drawn from `gen`; returns (images seen,
    seconds). Under torchrun this process trains on its share of each global batch (`World.shard`), augmented
    with `aug_gen` (for one process, `gen` itself). The step keeps the epoch's loss and accuracy (`step.sums()`)."""
    t0 = time.perf_counter()
    order = torch.randperm(len(x), generator=gen).to(x.device)
    step.start_epoch()
    seen = 0
    bar = tqdm(range(world.steps_per_epoch(len(x), batch_size)), desc=desc, leave=False, disable=not progress,
               unit="batch", mininterval=0.5, file=sys.stderr)
    for i in bar:
        idx = world.shard(order[i * batch_size : (i + 1) * batch_size])
        step(idx, None if augment is None else augment(x[idx], aug_gen))
        if sched is not None:
            sched.step()
        if ema is not None:
            ema.update(first_step + i)
        seen += len(idx)
        if progress and i % 50 == 0:  # this process's loss and accuracy; the speed of all of them
            loss_sum, right = step.sums()
            bar.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{right / seen:.4f}",
                            img_s=f"{seen * world.size / max(time.perf_counter() - t0, 1e-9):.0f}", refresh=False)
    bar.close()
    secs = time.perf_counter() - t0
    step.end_epoch()
    return seen, secs


def get_augment(cfg: TrainConfig) -> Augment | None:
    """The batch augmentation for this run, or None."""
    if not cfg.augment:
        return None
    from inkdigit.training.augment import augment_batch, scaled  # only runs that augment pay for importing it

    if cfg.augment_strength in (None, 1.0) and not cfg.pen_lifts:
        return augment_batch
    params = scaled(cfg.augment_strength or 1.0)
    return functools.partial(augment_batch, params=dataclasses.replace(params, lift=cfg.pen_lifts or 0.0))


def epoch_row(epoch: int, train_sums: tuple[float, float] | list[float], seen: float, secs: float,
              val: tuple[float, float] | None, lr: float) -> dict:
    """history.csv's row for an epoch: (summed loss, number right) of its `seen` training images, and
    (loss, accuracy) on the validation images, None when there are none."""
    loss_sum, right = train_sums
    # --val-size 0 has no validation images: null in metrics.json (strict JSON), empty in the CSV.
    val_loss, val_acc = (None, None) if val is None else (round(val[0], 6), round(val[1], 6))
    return {"epoch": epoch, "train_loss": round(loss_sum / seen, 6), "train_acc": round(right / seen, 6),
            "val_loss": val_loss, "val_acc": val_acc, "epoch_seconds": round(secs, 3),
            "images_per_s": round(seen / secs, 1), "lr": lr}


def header_line(cfg: TrainConfig, config: dict) -> str:
    """The line a run starts with: what trains on what, how, and where (`config` is config.json's dict)."""
    world = config["world_size"]
    processes = f" × {world} processes ({cfg.batch_size // world} images each)" if world > 1 else ""
    mnist = cfg.dataset != FONTS_ONLY and "0" in get_charset(cfg.charset).labels
    what = f"{cfg.model} ({cfg.charset}: fonts{' and MNIST' if mnist else ''})" if cfg.draws_fonts() else cfg.model
    return (f"{what}: {config['parameters']:,} parameters | {config['train_size']:,} train / "
            f"{config['val_size']:,} val | {cfg.epochs} epochs × batch {cfg.batch_size} | {cfg.optimizer} "
            f"lr {cfg.lr:g} | {config['device']} {config['threads']} threads{processes} | {config['engine']} step")


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


def set_threads(threads: int | None) -> None:
    """torch's CPU thread count for this run: `threads`, or None for all the cores it would use by itself."""
    # Set either way: an earlier run in this process (a 1-thread recipe, a benchmark over several models) may
    # have changed torch's setting. The default is read first, before any run of ours has changed it.
    default = _default_threads()
    torch.set_num_threads(threads or default)


@functools.lru_cache(maxsize=1)
def _default_threads() -> int:
    """torch's own thread count, as first seen (before any run of ours changed it)."""
    return torch.get_num_threads()

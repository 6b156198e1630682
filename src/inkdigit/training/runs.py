"""A run directory: where a run's settings come from, and every file it writes (each atomically) or reads back.

  config.json   the exact settings, package version and git commit
  checkpoint.pt weights + optimiser + RNG state after the last finished epoch (what --resume reads)
  history.csv   one row per epoch
  model.pt      final weights only (a state_dict, never a pickled object)
  metrics.json  per-epoch train/val numbers and the final test accuracy (the test set is touched once, at the end)
"""

from __future__ import annotations

import csv
import io
import json
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from inkdigit.charsets import get_charset
from inkdigit.errors import TrainError
from inkdigit.fsutil import write_atomic, write_json
from inkdigit.training.config import TrainConfig
from inkdigit.training.nets import build_model

CHECKPOINT = "checkpoint.pt"


def run_settings(cfg: TrainConfig, out: Path, resume: bool) -> TrainConfig:
    """The resolved settings of the run in `out`: `cfg` for a new run; for a resumed one those it started with,
    its epochs raised or lowered to cfg.epochs when given. TrainError if `out` holds a run (new) or none (resume)."""
    if out.exists() and not out.is_dir():
        raise TrainError(f"{out} is a file, not a folder: pass --out a new folder (or a run folder with --resume)")
    if not resume:
        if (out / "model.pt").exists() or (out / CHECKPOINT).exists():
            raise TrainError(f"{out} already holds a run: use --resume to continue it, or another --out")
        return cfg.resolved()
    if not (out / "config.json").is_file() or not (out / CHECKPOINT).is_file():
        raise TrainError(f"{out}: nothing to resume (no config.json and checkpoint.pt)")
    try:
        config = saved_config(out)
        saved = config["settings"]
        if cfg.epochs is not None:
            saved["epochs"] = cfg.epochs  # resuming may extend a run; all other settings stay as saved
        saved["engine"] = config["engine"]  # ...and so does its step ('auto' could pick another one here)
        return TrainConfig(**saved).resolved()
    except TrainError:
        raise
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:  # truncated, edited or foreign JSON
        raise TrainError(f"{out / 'config.json'}: unreadable ({_reason(e)}): restore it, or train anew with "
                         "another --out") from None


def _reason(e: BaseException) -> str:
    """An exception as a short phrase for a one-line error."""
    text = (str(e).splitlines() or [""])[0][:200]
    return f"{e.__class__.__name__}: {text}" if text else e.__class__.__name__


def saved_config(run_dir: str | os.PathLike) -> dict:
    """A run dir's config.json, with any setting added since filled in as that run had it."""
    config = json.loads((Path(run_dir) / "config.json").read_text())
    # Runs made before --clean-epochs augmented every epoch; runs made before --engine trained with torch;
    # runs made before --font-digits trained on MNIST alone; runs made before --charset read the ten digits;
    # runs made before font_families drew from the "training" list; runs made before --pen-lifts had none.
    config["settings"] = {"clean_epochs": 0, "engine": "torch", "font_digits": 0, "charset": "digits",
                          "font_families": "training", "pen_lifts": 0.0, **config["settings"]}
    config["settings"].pop("extra", None)  # an unused setting that older runs saved (always {})
    config.setdefault("engine", config["settings"]["engine"])  # the step it used ('auto' resolved)
    return config


def saved_settings(run_dir: str | os.PathLike) -> dict:
    """The settings in a run dir's config.json (`saved_config`'s "settings")."""
    return saved_config(run_dir)["settings"]


def write_config(out: Path, config: dict) -> None:
    """config.json: the run's settings and what it ran on."""
    write_json(out / "config.json", config)


def save_checkpoint(out: Path, epoch: int, history: list[dict], *, model: nn.Module, opt: torch.optim.Optimizer,
                    sched: torch.optim.lr_scheduler.LRScheduler | None, ema: nn.Module | None,
                    gen: torch.Generator) -> None:
    """history.csv, then checkpoint.pt after `epoch` epochs: all that --resume needs to go on bit for bit.
    The checkpoint comes last, so that once this returns a resume goes on after `epoch`."""
    write_history(out / "history.csv", history)
    save_torch_atomic({
        "model": model.state_dict(), "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict() if sched is not None else None,
        "ema": ema.state_dict() if ema is not None else None,
        "gen_state": gen.get_state(), "torch_rng": torch.get_rng_state(),
        "epoch": epoch, "history": history,
    }, out / CHECKPOINT)


def read_checkpoint(out: Path) -> dict:
    """checkpoint.pt's contents, its tensors on the CPU (`restore_checkpoint` copies them onto the model's
    device; under torchrun rank 0 reads it and sends it to the others); TrainError (one line) if unreadable."""
    path = out / CHECKPOINT
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a corrupt file's pickle warnings add nothing to the error below
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many kinds for a bad file (RuntimeError, UnpicklingError, EOFError...)
        raise _unreadable(path, e) from None


def restore_checkpoint(out: Path, ck: dict, *, model: nn.Module, opt: torch.optim.Optimizer,
                       sched: torch.optim.lr_scheduler.LRScheduler | None, ema: nn.Module | None,
                       gen: torch.Generator) -> tuple[int, list[dict]]:
    """`read_checkpoint`'s contents (of the run in `out`) into the given objects and torch's RNG;
    returns (epoch, history). TrainError (one line) if they do not fit (another model, an edited file)."""
    try:
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        if sched is not None and ck.get("scheduler"):
            sched.load_state_dict(ck["scheduler"])
        if ema is not None and ck.get("ema"):
            ema.load_state_dict(ck["ema"])
        gen.set_state(ck["gen_state"])
        torch.set_rng_state(ck["torch_rng"])
        return ck["epoch"], ck["history"]
    except Exception as e:
        raise _unreadable(out / CHECKPOINT, e) from None


def _unreadable(path: Path, e: Exception) -> TrainError:
    return TrainError(f"{path}: cannot be read ({_reason(e)}): it is truncated or corrupt; train anew with "
                      "another --out (a kill never leaves it half-written, so something else changed it)")


def save_model(out: Path, model: nn.Module, metrics: dict) -> None:
    """model.pt (the final weights, contiguous) and then metrics.json: a run with metrics.json is complete."""
    save_torch_atomic({k: v.contiguous() for k, v in model.state_dict().items()}, out / "model.pt")
    write_json(out / "metrics.json", metrics)


def load_run(run_dir: str | os.PathLike) -> tuple[nn.Module, dict, dict]:
    """(model in eval mode on CPU, config.json dict, metrics.json dict or {}) for a finished run dir."""
    run = Path(run_dir)
    if not run.is_dir():
        raise TrainError(f"{run}: no such run directory")
    try:
        config = saved_config(run)  # settings added since filled in as the run had them
        settings = config["settings"]
    except (OSError, ValueError, KeyError) as e:
        raise TrainError(f"{run}: unreadable config.json ({e.__class__.__name__})") from None
    if not (run / "model.pt").is_file():
        raise TrainError(f"{run}: no model.pt (training not finished? resume with --resume)")
    try:
        model = build_model(settings["model"], num_classes=len(get_charset(settings.get("charset", "digits")).labels))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a corrupt file's pickle warnings add nothing to the error below
            state = torch.load(run / "model.pt", map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except Exception as e:  # a corrupt or foreign file: report it in one line
        raise TrainError(f"{run}/model.pt: cannot load weights ({str(e).splitlines()[0][:200]})") from None
    metrics_path = run / "metrics.json"
    try:
        metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    except (OSError, ValueError) as e:
        raise TrainError(f"{metrics_path}: unreadable ({e.__class__.__name__}); delete it to export the "
                         "run without its metrics, or train again") from None
    return model.eval(), config, metrics


def start_weights(cfg: TrainConfig) -> tuple[dict[str, torch.Tensor], dict]:
    """The weights a run starts from when it fine-tunes (`cfg.init_from`: a finished run of the same model and
    labels), and what made them: that run's folder, settings and provenance (kept in the new run's config.json)."""
    assert cfg.init_from is not None
    model, config, metrics = load_run(cfg.init_from)
    settings = config["settings"]
    theirs, ours = (settings["model"], settings.get("charset", "digits")), (cfg.model, cfg.charset)
    if theirs != ours:
        raise TrainError(f"--init-from {cfg.init_from}: a {theirs[0]} run on {theirs[1]}, but this run trains "
                         f"{ours[0]} on {ours[1]}")
    made = {"run": str(cfg.init_from), "settings": settings, "provenance": config.get("provenance"),
            "train_seconds": metrics.get("train_seconds")}
    return model.state_dict(), made


def write_history(path: Path, history: list[dict]) -> None:
    """history.csv, written atomically."""
    if not history:
        return
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(history[0]))
    writer.writeheader()
    writer.writerows(history)
    write_atomic(path, buf.getvalue().encode())


def save_torch_atomic(obj: dict, path: Path) -> None:
    """torch.save into a temp file then rename: a kill mid-write never leaves a broken checkpoint."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    write_atomic(path, buf.getvalue())

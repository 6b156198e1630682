"""Evaluate a finished run on the MNIST test set: metrics, plots and a report.md that links them.

Writes into RUN_DIR/report/: metrics.json, confusion.png, errors.png (misclassified digits with true vs
predicted and confidence), curves.png (training history), calibration.png (reliability diagram) and
report.md. All numbers come from one pass over the test set.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inkdigit.fsutil import make_dir, write_atomic


@dataclass
class Report:
    """What `evaluate_run` measured and where it wrote it."""

    run_dir: Path
    out: Path
    model: str
    accuracy: float
    ece: float
    per_class: list[dict]
    top_confusions: list[dict]

    def summary(self) -> str:
        lines = [f"{self.model}: test accuracy {100 * self.accuracy:.2f}%  ECE {100 * self.ece:.2f}%",
                 "class  precision  recall     f1  support"]
        lines += [f"{c['class']:>5}  {c['precision']:9.4f}  {c['recall']:6.4f}  {c['f1']:5.4f}  {c['support']:7d}"
                  for c in self.per_class]
        if self.top_confusions:
            lines.append("most confused: " + ", ".join(
                f"{c['true']}→{c['predicted']} ×{c['count']}" for c in self.top_confusions[:5]))
        lines.append(f"report: {self.out / 'report.md'}")
        return "\n".join(lines)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, k: int = 10) -> np.ndarray:
    """k×k counts, rows = true class, columns = predicted class."""
    return np.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k)


def per_class_metrics(cm: np.ndarray) -> list[dict]:
    """Precision, recall, F1 and support per class from a confusion matrix."""
    tp = np.diag(cm).astype(float)
    pred, true = cm.sum(0).astype(float), cm.sum(1).astype(float)
    prec = np.divide(tp, pred, out=np.zeros_like(tp), where=pred > 0)
    rec = np.divide(tp, true, out=np.zeros_like(tp), where=true > 0)
    f1 = np.divide(2 * prec * rec, prec + rec, out=np.zeros_like(tp), where=(prec + rec) > 0)
    return [{"class": i, "precision": round(float(prec[i]), 4), "recall": round(float(rec[i]), 4),
             "f1": round(float(f1[i]), 4), "support": int(true[i])} for i in range(len(cm))]


def calibration(probs: np.ndarray, y: np.ndarray, bins: int = 15) -> tuple[float, list[dict]]:
    """Expected calibration error and per-bin (confidence, accuracy, count) for a reliability diagram."""
    conf, pred = probs.max(1), probs.argmax(1)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1]), 0, bins - 1)
    rows, ece = [], 0.0
    for b in range(bins):
        m = which == b
        n = int(m.sum())
        if n:
            acc, c = float((pred[m] == y[m]).mean()), float(conf[m].mean())
            ece += n / len(y) * abs(acc - c)
            rows.append({"lo": float(edges[b]), "hi": float(edges[b + 1]), "confidence": c, "accuracy": acc,
                         "count": n})
    return ece, rows


def top_confusions(cm: np.ndarray, n: int = 10) -> list[dict]:
    """The n most frequent (true, predicted) mistakes."""
    off = cm.copy()
    np.fill_diagonal(off, 0)
    order = np.argsort(off, axis=None)[::-1][:n]
    return [{"true": int(i // cm.shape[1]), "predicted": int(i % cm.shape[1]), "count": int(off.flat[i])}
            for i in order if off.flat[i] > 0]


def _save_fig(fig, path: Path) -> None:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    write_atomic(path, buf.getvalue())


def plot_confusion(cm: np.ndarray, path: Path, title: str) -> None:
    """Confusion matrix heat map with counts, axis labels and a colour bar."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    fig, ax = plt.subplots(figsize=(7, 6))
    im = ax.imshow(cm + 1, cmap="Blues", norm=LogNorm(vmin=1, vmax=cm.max() + 1))
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            if cm[i, j]:
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if cm[i, j] > cm.max() / 8 else "black")
    ax.set_xticks(range(10))
    ax.set_yticks(range(10))
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, label="images (log scale, +1)")
    _save_fig(fig, path)
    plt.close(fig)


def plot_errors(images: np.ndarray, y: np.ndarray, probs: np.ndarray, path: Path, limit: int = 64) -> int:
    """Gallery of misclassified test digits, most confident mistakes first; returns how many were shown."""
    import matplotlib.pyplot as plt

    pred, conf = probs.argmax(1), probs.max(1)
    wrong = np.flatnonzero(pred != y)
    wrong = wrong[np.argsort(-conf[wrong])][:limit]
    cols = 8
    rows = max(1, int(np.ceil(len(wrong) / cols)))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.3, rows * 1.55), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, wrong):
        ax.imshow(images[i], cmap="gray_r", vmin=0, vmax=255)
        ax.set_title(f"true {y[i]} → {pred[i]}\n{100 * conf[i]:.0f}%", fontsize=8, color="firebrick")
    fig.suptitle(f"Misclassified test digits ({len(wrong)} most confident of {int((pred != y).sum())})")
    _save_fig(fig, path)
    plt.close(fig)
    return len(wrong)


def plot_curves(history: list[dict], path: Path) -> None:
    """Loss and accuracy per epoch, train vs validation."""
    import matplotlib.pyplot as plt

    ep = [r["epoch"] for r in history]
    has_val = any(r.get("val_loss") is not None for r in history)  # a --val-size 0 run has none
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
    a1.plot(ep, [r["train_loss"] for r in history], "o-", label="train")
    if has_val:
        a1.plot(ep, [r["val_loss"] for r in history], "s-", label="validation")
    a1.set_xlabel("epoch")
    a1.set_ylabel("cross-entropy loss")
    a1.set_title("Loss")
    a1.legend()
    a2.plot(ep, [100 * r["train_acc"] for r in history], "o-", label="train")
    if has_val:
        a2.plot(ep, [100 * r["val_acc"] for r in history], "s-", label="validation")
    a2.set_xlabel("epoch")
    a2.set_ylabel("accuracy (%)")
    a2.set_title("Accuracy")
    a2.legend()
    for a in (a1, a2):
        a.grid(alpha=0.3)
    _save_fig(fig, path)
    plt.close(fig)


def plot_calibration(rows: list[dict], ece: float, path: Path) -> None:
    """Reliability diagram: accuracy vs confidence per bin, with the diagonal of perfect calibration."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    centers = [(r["lo"] + r["hi"]) / 2 for r in rows]
    width = rows[0]["hi"] - rows[0]["lo"] if rows else 0.1
    ax.bar(centers, [r["accuracy"] for r in rows], width=width * 0.9, color="tab:blue", alpha=0.8,
           label="accuracy in bin")
    ax.plot([0, 1], [0, 1], "k--", label="perfect calibration")
    ax.set_xlabel("confidence (max probability)")
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(f"Reliability diagram (ECE {100 * ece:.2f}%)")
    ax.legend(loc="upper left")
    _save_fig(fig, path)
    plt.close(fig)


def _history_from_csv(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with path.open() as f:
        # An empty cell is a missing value (a --val-size 0 run has no validation columns to fill).
        return [{k: float(v) if v else None for k, v in row.items()} for row in csv.DictReader(f)]


def evaluate_run(run_dir: str | os.PathLike, *, data_dir: str | os.PathLike | None = None,
                 out: str | os.PathLike | None = None) -> Report:
    """Evaluate RUN_DIR's model on the test set and write the report folder; returns a Report."""
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import torch

    from inkdigit.data import load
    from inkdigit.training.export import Probabilities, set_temperature
    from inkdigit.training.runs import load_run
    from inkdigit.training.tensors import predict_logits, to_tensor

    run = Path(run_dir)
    model, config, metrics = load_run(run)
    name = config["settings"]["model"]
    images, y = load(config["settings"].get("dataset", "mnist"), "test", data_dir)
    # The probabilities `inkdigit export` ships: softmax(logits / T), T fitted on the validation split.
    scaling = Probabilities([model])
    fitted = set_temperature(scaling, [config["settings"]], data_dir)
    with torch.no_grad():
        logits = predict_logits(model, to_tensor(images, torch.device("cpu")))
        raw = torch.softmax(logits, 1).numpy()
        probs = torch.softmax(logits / scaling.temperature, 1).numpy()
    pred = probs.argmax(1)
    cm = confusion_matrix(y, pred)
    acc = float((pred == y).mean())
    ece, bins = calibration(probs, y)
    ece_raw, _ = calibration(raw, y)
    per_class = per_class_metrics(cm)
    confusions = top_confusions(cm)
    out_dir = Path(out) if out else run / "report"
    make_dir(out_dir)

    plot_confusion(cm, out_dir / "confusion.png", f"{name}: confusion matrix (test, {100 * acc:.2f}%)")
    shown = plot_errors(images, y, probs, out_dir / "errors.png")
    history = metrics.get("epochs") or _history_from_csv(run / "history.csv")
    if history:
        plot_curves(history, out_dir / "curves.png")
    plot_calibration(bins, ece, out_dir / "calibration.png")

    result = {"model": name, "test_accuracy": acc, "test_errors": int((pred != y).sum()), "ece": ece,
              "ece_as_trained": ece_raw, "temperature": scaling.temperature, "calibration": fitted,
              "per_class": per_class, "top_confusions": confusions, "calibration_bins": bins,
              "confusion_matrix": cm.tolist()}
    write_atomic(out_dir / "metrics.json", (json.dumps(result, indent=2) + "\n").encode())

    s = config["settings"]
    md = [f"# Evaluation: `{name}` ({run})", "",
          f"- **Test accuracy: {100 * acc:.2f}%** ({int((pred != y).sum())} errors in {len(y):,} images)",
          (f"- Expected calibration error: {100 * ece:.2f}% with the temperature `inkdigit export` fits on the "
           f"validation split (T = {scaling.temperature:g}); {100 * ece_raw:.2f}% as trained" if fitted else
           f"- Expected calibration error: {100 * ece:.2f}% (no validation split to fit a temperature on)"),
          f"- Trained {s['epochs']} epochs, batch {s['batch_size']}, {s['optimizer']} lr {s['lr']}, "
          f"seed {s['seed']}; code {config['provenance'].get('git_commit') or 'unknown'}, "
          f"inkdigit {config['provenance'].get('inkdigit_version')}",
          "", "## Per class", "", "| digit | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    md += [f"| {c['class']} | {c['precision']:.4f} | {c['recall']:.4f} | {c['f1']:.4f} | {c['support']} |"
           for c in per_class]
    md += ["", "## Most frequent confusions", "", "| true | predicted | count |", "|---|---|---|"]
    md += [f"| {c['true']} | {c['predicted']} | {c['count']} |" for c in confusions]
    md += ["", "## Confusion matrix", "", "![confusion matrix](confusion.png)", "",
           f"## Misclassified digits ({shown} shown, most confident first)", "", "![errors](errors.png)", ""]
    if history:
        md += ["## Training curves", "", "![training curves](curves.png)", ""]
    md += ["## Calibration", "", "With the exported temperature. Bars below the diagonal mean over-confidence.", "",
           "![reliability diagram](calibration.png)", ""]
    write_atomic(out_dir / "report.md", "\n".join(md).encode())
    return Report(run, out_dir, name, acc, ece, per_class, confusions)

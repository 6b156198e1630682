"""Export trained runs to one ONNX file (softmax inside; several runs = one averaged ensemble graph).

`--tta` adds test-time augmentation to the graph: the net reads each image rotated by -6° and by +6° and
the two answers are averaged (one set of weights, twice the compute per image).

The probabilities are calibrated by one temperature fitted on the runs' validation images (temperature
scaling), so a confidence of 0.9 means right about 9 times in 10; `--no-calibrate` keeps them as trained.

`--half` stores the weights in 16-bit floats (half the file; the graph casts them back and computes in 32-bit
floats, so only the weights' rounding changes the answers): what lets the three-net letters model stay within
2 MB.

The file carries its own metadata (`metadata_props["inkdigit"]`, JSON): model name, labels, input spec,
preprocessing version, test accuracy, training settings and package version, so that a user of the
.onnx file alone knows what it is. Every export is checked against torch on 1,000 test images.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from inkdigit.errors import ExportError
from inkdigit.fsutil import write_atomic

OPSET = 18
INPUT_NAME, OUTPUT_NAME = "image", "probabilities"
PARITY_TOL = 1e-4
# `half` stores weights of at least this many values in 16-bit floats (biases and the like stay 32-bit: they
# weigh nothing).
HALF_FROM = 64
# The views `--tta` reads, in degrees (0 would be the image as given). Chosen on the validation split over 9
# resnet-small runs: these two gained as much as 3-9 views of shifts, rotations and zooms, at the least
# compute (docs/experiments.md).
TTA_ROTATIONS = (-6.0, 6.0)
# The settings that decide a font run's validation and test sets (training/chardata.py): members of an ensemble
# share them.
FONT_SIDE_SETTINGS = ("charset", "dataset", "val_fonts", "font_families")


def rotation_grid(degrees: float, size: int = 28) -> torch.Tensor:
    """The `grid_sample` grid [1,size,size,2] that rotates a [N,1,size,size] image about its centre."""
    a = math.radians(degrees)
    theta = torch.tensor([[[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0]]])
    return F.affine_grid(theta, [1, 1, size, size], align_corners=False)



class Probabilities(nn.Module):
    """Class probabilities of one net, or the average of several (an ensemble) and/or of several views of
    the image (`rotations` in degrees, 0 = as given: test-time augmentation), sharpened or softened by a
    temperature: softmax(logits / T) for one net and one plain view, softmax(log(mean of the softmaxes) / T)
    otherwise. T = 1 leaves them as trained; any T > 0 keeps every answer (the order of the classes)."""

    def __init__(self, nets: list[nn.Module], temperature: float = 1.0, rotations: tuple[float, ...] = (0.0,)
                 ) -> None:
        super().__init__()
        if not rotations:
            raise ValueError("rotations: at least one view (0.0 = the image as given)")
        self.nets = nn.ModuleList(nets)
        self.temperature = temperature
        self.rotations = tuple(float(a) for a in rotations)
        grids = [rotation_grid(a) for a in self.rotations]
        self.register_buffer("grids", torch.cat(grids), persistent=False)

    def views(self, x: torch.Tensor) -> torch.Tensor:
        """[N,1,28,28] → every view of every image, view by view: [len(rotations)·N,1,28,28]."""
        n = x.shape[0]
        views = [x if a == 0.0 else F.grid_sample(x, self.grids[i:i + 1].expand(n, -1, -1, -1), align_corners=False)
                 for i, a in enumerate(self.rotations)]
        return views[0] if len(views) == 1 else torch.cat(views)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.temperature
        if len(self.nets) == 1 and self.rotations == (0.0,):
            logits = self.nets[0](x)
            return torch.softmax(logits if t == 1.0 else logits / t, dim=1)
        views = self.views(x)  # all views in one batch: one pass of each net instead of one per view
        probs = torch.stack([torch.softmax(net(views), dim=1) for net in self.nets]).mean(0)
        probs = probs.reshape(len(self.rotations), x.shape[0], -1).mean(0)
        return probs if t == 1.0 else torch.softmax(torch.log(probs) / t, dim=1)


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> tuple[float, float, float]:
    """The temperature T minimising the cross-entropy of softmax(logits / T) (Guo et al. 2017, temperature
    scaling); returns (T, loss at T=1, loss at T). A golden-section search over log T in [1/20, 20]."""

    def loss(log_t: float) -> float:
        return float(torch.nn.functional.cross_entropy(logits / math.exp(log_t), labels))

    lo, hi = math.log(0.05), math.log(20.0)
    g = (math.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = loss(a), loss(b)
    for _ in range(60):  # the interval shrinks by 0.618 per step: far below 1e-6 in log T
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = loss(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = loss(b)
    t = round(math.exp((lo + hi) / 2), 4)
    return t, loss(0.0), loss(math.log(t))


def set_temperature(module: Probabilities, settings: list[dict], data_dir: str | os.PathLike | None = None
              ) -> dict | None:
    """Fit `module.temperature` on the runs' validation images (never on test images) and set it.

    Label smoothing and heavy augmentation leave a net under-confident (a clean digit at ~90%); one
    scalar fixes that without changing any answer. Returns {"temperature", "val_images", "val_nll_before",
    "val_nll_after"}, or None (temperature left at 1) when the runs share no validation images.
    """
    from inkdigit.data import load, split_train_val
    from inkdigit.training.tensors import predict_logits, to_tensor

    if _draws_fonts(settings[0]):  # its validation fonts' glyphs (training/chardata.py)
        from inkdigit.training.chardata import font_val_data

        images, labels = font_val_data(settings[0], data_dir)
        shared = np.arange(len(images))
    else:
        images, labels = load(settings[0].get("dataset", "mnist"), "train", data_dir)
        shared = None  # images held out by every run (their splits differ only if their val sizes do)
        for st in settings:
            _, val = split_train_val(len(images), st.get("val_size", 5000), seed=0)
            shared = val if shared is None else np.intersect1d(shared, val)
    if shared is None or len(shared) == 0:
        return None
    x = to_tensor(images[shared], torch.device("cpu"))
    module.temperature = 1.0
    # log of the probabilities: for one net these are its logits up to a constant per row, which softmax
    # ignores, so fitting on them fits softmax(logits / T).
    z = torch.log(predict_logits(module, x))
    t, before, after = fit_temperature(z, torch.from_numpy(labels[shared]))
    module.temperature = t
    return {"temperature": t, "val_images": len(shared), "val_nll_before": round(before, 5),
            "val_nll_after": round(after, 5)}


def to_onnx_bytes(module: nn.Module, shape: tuple[int, int, int, int] = (1, 1, 28, 28)) -> bytes:
    """Serialise `module` ([N,1,28,28] float, or `shape`'s picture size → [N,classes]) to ONNX bytes with a
    dynamic batch axis."""
    module = module.eval().to(memory_format=torch.contiguous_format)
    example = torch.zeros(2, *shape[1:])
    onnx_log = logging.getLogger("torch.onnx")
    level = onnx_log.level
    onnx_log.setLevel(logging.ERROR)  # it warns about torchvision ops we never use
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")  # the exporter's deprecation chatter is not the user's concern
            program = torch.onnx.export(
                module, (example,), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                dynamic_shapes=({0: torch.export.Dim("batch")},), opset_version=OPSET, dynamo=True,
                verbose=False, optimize=True,
            )
    finally:
        onnx_log.setLevel(level)
    return program.model_proto.SerializeToString()


def store_half(onnx_bytes: bytes) -> bytes:
    """The same graph with every 32-bit float weight stored as a 16-bit float and cast back to 32 bits where the
    graph starts (ONNX Runtime folds the casts when it loads the file, so reading costs what it did)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load_from_string(onnx_bytes)
    graph = model.graph
    kept, casts = [], []
    for init in graph.initializer:
        w = numpy_helper.to_array(init)
        if init.data_type != TensorProto.FLOAT or w.size < HALF_FROM:
            kept.append(init)
            continue
        half = numpy_helper.from_array(w.astype(np.float16), f"{init.name}.half")
        kept.append(half)
        casts.append(helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT))
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    return model.SerializeToString()


def onnx_probabilities(onnx_bytes: bytes, images: np.ndarray) -> np.ndarray:
    """What ONNX Runtime answers for `images` (uint8 [N,28,28]) with this graph: probabilities [N,classes]."""
    import onnxruntime as ort

    sess = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    x = images.astype(np.float32)[:, None] / 255.0
    return np.concatenate([sess.run([OUTPUT_NAME], {INPUT_NAME: x[i : i + 1000]})[0] for i in range(0, len(x), 1000)])


def _draws_fonts(settings: dict) -> bool:
    """Whether a run trained on font glyphs (a character set, or `--dataset fonts`): its validation and test
    images are then drawn (training/chardata.py), not MNIST's."""
    from inkdigit.training.recipes import FONTS_ONLY

    return settings.get("charset", "digits") != "digits" or settings.get("dataset") == FONTS_ONLY


def run_labels(settings: dict) -> list[str]:
    """A run's label list: its `charset` setting's labels (inkdigit.charsets), else the ten digits."""
    from inkdigit.charsets import get_charset

    charset = settings.get("charset")
    return list(get_charset(charset).labels) if charset else [str(d) for d in range(10)]


def attach_metadata(onnx_bytes: bytes, meta: dict) -> bytes:
    """Return the model with `meta` stored as JSON in metadata_props (plus a few plain keys)."""
    import onnx

    model = onnx.load_from_string(onnx_bytes)
    del model.metadata_props[:]
    labels = meta["labels"]
    if not labels or not all(isinstance(x, str) and x for x in labels) or len(set(labels)) != len(labels):
        raise ExportError(f"labels must be distinct non-empty strings, not {labels!r}"[:200])
    # `labels` as a JSON list, so any label (a comma, a space) survives; inference.Predictor reads it.
    props = {"inkdigit": json.dumps(meta, sort_keys=True), "model_name": meta["name"],
             "labels": json.dumps(labels, ensure_ascii=False), "preprocess_version": meta["preprocess_version"]}
    for k, v in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
    model.producer_name = "inkdigit"
    model.doc_string = meta.get("description", "")
    onnx.checker.check_model(model)
    return model.SerializeToString()


def parity_check(module: nn.Module, onnx_bytes: bytes, images: np.ndarray) -> float:
    """Max |torch - ONNX Runtime| over `images` (uint8 [N,28,28]); raises ExportError above PARITY_TOL."""
    with torch.no_grad():
        ref = module(torch.from_numpy(images.astype(np.float32)[:, None] / 255.0)).numpy()
    got = onnx_probabilities(onnx_bytes, images)
    diff = float(np.abs(ref - got).max())
    if not diff <= PARITY_TOL:
        raise ExportError(f"ONNX Runtime and torch disagree by {diff:.2e} (> {PARITY_TOL:g})")
    return diff


def _font_description(settings: dict) -> str:
    """A font run's model in words: its character set, its net and its data."""
    from inkdigit.charsets import get_charset
    from inkdigit.training.recipes import FONTS_ONLY

    charset = get_charset(settings["charset"])
    source = "handwriting fonts only" if settings.get("dataset") == FONTS_ONLY else (
        "handwriting fonts and MNIST's digits" if "0" in charset.labels else "handwriting fonts")
    return f"{charset.name}: {charset.description}; {settings['model']} trained on {source}"


def export_runs(run_dirs: list[str | os.PathLike], out: str | os.PathLike, *, name: str | None = None,
                check: bool = True, data_dir: str | os.PathLike | None = None, calibrate: bool = True,
                tta: bool = False, labels: Sequence[str] | None = None, half: bool = False) -> Path:
    """Export one run (or several, averaged) to `out` (.onnx), with metadata; returns the path.

    `labels`: the model's label list, output i = labels[i] (default: the runs' `charset` setting's labels,
    see inkdigit.charsets, or the ten digits).

    `calibrate`: fit a temperature on the runs' validation images (`set_temperature`), so the probabilities
    mean what they say; the answers are the same either way. `tta`: average over the `TTA_ROTATIONS` views
    of each image inside the graph. `half`: store the weights in 16-bit floats (`store_half`); the parity check
    is then made on the 32-bit graph, and the test accuracy and the half graph's largest difference from it
    are measured on the graph that is written.
    """
    from inkdigit import __version__
    from inkdigit.provenance import provenance
    from inkdigit.training.runs import load_run
    from inkdigit.training.tensors import predict_logits, to_tensor
    from inkdigit.vision.preprocess import PREPROCESS_VERSION

    out = Path(out)
    if out.suffix != ".onnx":
        raise ExportError(f"{out}: the output file must end in .onnx")
    loaded = [load_run(r) for r in run_dirs]
    nets = [m for m, _, _ in loaded]
    models = {c["settings"]["model"] for _, c, _ in loaded}
    if len(models) > 1 and name is None:
        raise ExportError(f"runs of different models ({', '.join(sorted(models))}): give --name")
    first = loaded[0][1]["settings"]
    charsets = {c["settings"].get("charset", "digits") for _, c, _ in loaded}
    if len(charsets) > 1:
        raise ExportError("runs of different character sets: export them one by one")
    # Font runs average only where they held out the same fonts: the temperature is fitted on the first run's
    # validation fonts, which no member may have trained on, and the test fonts must be the same for all.
    sides = {json.dumps({k: c["settings"].get(k) for k in FONT_SIDE_SETTINGS}, sort_keys=True) for _, c, _ in loaded}
    if _draws_fonts(first) and len(sides) > 1:
        raise ExportError("font runs with different fonts or data (" + ", ".join(FONT_SIDE_SETTINGS)
                          + "): an ensemble needs the same validation and test fonts; export them one by one")
    charset = first.get("charset", "digits")
    base = first["model"]
    default_name = charset if charset != "digits" else base  # a charset's model is known by its charset
    name = name or (default_name if len(nets) == 1 or charset != "digits" else f"{base}-ensemble{len(nets)}")
    module = Probabilities(nets, rotations=TTA_ROTATIONS if tta else (0.0,)).eval()
    calibration = set_temperature(module, [c["settings"] for _, c, _ in loaded], data_dir) if calibrate else None
    onnx_bytes = to_onnx_bytes(module)

    accs = [m.get("test_accuracy") for _, _, m in loaded]
    labels = list(labels) if labels is not None else run_labels(loaded[0][1]["settings"])
    meta = {
        "name": name,
        "charset": charset,
        "description": (_font_description(first) if _draws_fonts(first) else
                        f"{base}: the paper's CNN" if base == "paper" else base)
        + (f", ensemble of {len(nets)} (averaged probabilities)" if len(nets) > 1 else "")
        + (", test-time augmentation (" + " and ".join(f"{a:+g}°" for a in TTA_ROTATIONS) + " views averaged)"
           if tta else ""),
        "labels": labels,
        "input": {"name": INPUT_NAME, "shape": ["batch", 1, 28, 28], "dtype": "float32", "range": [0, 1],
                  "convention": "white ink on black, digit in a 20x20 box, centre of mass at the centre"},
        "output": {"name": OUTPUT_NAME, "shape": ["batch", len(labels)], "meaning": "class probabilities"},
        "preprocess_version": PREPROCESS_VERSION,
        "test_accuracy": None,
        "member_test_accuracy": accs,
        "parameters": sum(p.numel() for p in module.parameters()),
        "training": [{"run": str(r), "settings": c["settings"], "engine": c.get("engine", "torch"),
                      "provenance": c.get("provenance"), "train_seconds": m.get("train_seconds"),
                      **({"init": c["init"]} if "init" in c else {})}
                     for r, (_, c, m) in zip(run_dirs, loaded)],
        "calibration": calibration,
        "test_time_augmentation": {"rotations_deg": list(TTA_ROTATIONS)} if tta else None,
        "inkdigit_version": __version__,
        "export": provenance(),
    }
    if _draws_fonts(first):  # the benchmark fonts' glyphs (MNIST's test set for the fonts-only digits)
        from inkdigit.training.chardata import font_test_data, test_set_name

        test_images, test_labels = font_test_data(first, data_dir)
        meta["test_set"] = test_set_name(first)
    else:
        from inkdigit.data import load

        test_images, test_labels = load(first.get("dataset", "mnist"), "test", data_dir)
    cpu = torch.device("cpu")
    outputs = predict_logits(module, to_tensor(test_images[:1], cpu)).shape[1]
    if outputs != len(labels):
        raise ExportError(f"the net has {outputs} outputs but {len(labels)} labels")
    if check:
        meta["parity_max_abs_diff"] = parity_check(module, onnx_bytes, test_images[:1000])
    if half:  # the test accuracy is the written graph's
        written = store_half(onnx_bytes)
        probs = onnx_probabilities(written, test_images)
        meta["weights_dtype"] = "float16"
        meta["half_max_abs_diff"] = float(np.abs(probs - onnx_probabilities(onnx_bytes, test_images)).max())
        onnx_bytes = written
    else:
        probs = predict_logits(module, to_tensor(test_images, cpu)).numpy()  # probabilities here
    meta["test_accuracy"] = round(float((probs.argmax(1) == test_labels).mean()), 6)
    write_atomic(out, attach_metadata(onnx_bytes, meta))
    return out

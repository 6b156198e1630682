"""Read digits, letters and symbols with an exported model on ONNX Runtime + NumPy + Pillow. Never imports torch.

    >>> p = Predictor.load()                 # the bundled default model
    >>> p.predict("seven.png").label
    7
    >>> p.predict_number("year.png").text
    '2026'
    >>> letters = Predictor.load(charset_model("letters"))
    >>> letters.read_line("word.png").text
    'WORD'
    >>> read_math(Predictor.load(charset_model("math")), "sum.png").message
    '12+7 = 19'
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from inkdigit.charsets import CHARSETS, KINDS, Charset, kind_of, mask_kinds
from inkdigit.errors import CharsetError, ExpressionError, ModelNotFoundError
from inkdigit.vision.encode import png_data_url
from inkdigit.vision.lattice import DIGIT_RULES, LineRules, Syntax, line_rules
from inkdigit.vision.preprocess import preprocess

BUNDLED_DIR = Path(__file__).resolve().parent / "weights"
# The bundled model of each character set but the digits (whose models are weights/*.onnx): chars/<name>.onnx.
CHARSET_DIR = BUNDLED_DIR / "chars"
PLAIN_DIR = BUNDLED_DIR / "plain"  # single-view exports of the bundled TTA models, for reading lines
# The first bundled model in this list is the default for predict, the API and both GUIs.
DEFAULT_ORDER = ("resnet-small", "paper")
DEFAULT_MIN_CONFIDENCE = 0.6
# Readings of a number kept: the best and the alternatives offered beside it.
NUMBER_READINGS = 3
DIGITS = [str(d) for d in range(10)]  # the labels of a model whose metadata names none
# An other-kind reading of a confusable character ("O" for "0") is reported when its probability is at least
# the best's divided by this: within a factor of 5, a person should see both.
CONFUSABLE_FACTOR = 5.0


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)



def bundled_models() -> dict[str, Path]:
    """Bundled model name → .onnx path."""
    return {p.stem: p for p in sorted(BUNDLED_DIR.glob("*.onnx"))}


def default_model_name() -> str:
    """Name of the bundled model used when none is asked for."""
    bundled = bundled_models()
    for name in DEFAULT_ORDER:
        if name in bundled:
            return name
    if bundled:
        return next(iter(bundled))
    raise ModelNotFoundError(f"no bundled models in {BUNDLED_DIR}: run `make models`")


def charset_model(name: str) -> Path:
    """The bundled model of a character set ("digits": the default digit model); ModelNotFoundError (one line)
    for an unknown set or one whose model is not installed."""
    if name not in CHARSETS:
        raise ModelNotFoundError(f"unknown character set {name!r} (known: {', '.join(CHARSETS)})")
    if name == "digits":
        return resolve_model(None)
    path = CHARSET_DIR / f"{name}.onnx"
    if not path.is_file():
        raise ModelNotFoundError(f"no model for the {name!r} character set: {path} is missing (run `make models`)")
    return path


def parse_kinds(kinds: str | Any | None) -> frozenset[str] | None:
    """Kinds of character to allow ("digit,letter", or an iterable of them) → a set, None for all; CharsetError
    (one line) for an unknown kind."""
    if kinds is None:
        return None
    names = [k.strip() for k in kinds.split(",")] if isinstance(kinds, str) else [str(k) for k in kinds]
    chosen = frozenset(k for k in names if k)
    unknown = sorted(chosen - set(KINDS))
    if unknown or not chosen:
        raise CharsetError(f"unknown kind {', '.join(unknown) or repr(kinds)}: use {', '.join(KINDS)}")
    return chosen


def resolve_model(name_or_path: str | os.PathLike | None) -> Path:
    """A bundled name, or a path to an .onnx file → the file's path; raises ModelNotFoundError."""
    if name_or_path is None or name_or_path == "":
        name_or_path = default_model_name()
    bundled = bundled_models()
    if str(name_or_path) in bundled:
        return bundled[str(name_or_path)]
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    known = ", ".join(bundled) or "none"
    raise ModelNotFoundError(f"model {str(name_or_path)!r} not found: not a bundled model ({known}) "
                             f"nor an .onnx file")


@lru_cache(maxsize=32)
def _read_metadata(path: str, mtime_ns: int) -> dict:
    import onnxruntime as ort

    return _session_metadata(ort.InferenceSession(path, providers=["CPUExecutionProvider"]))


def _session_metadata(session: Any) -> dict:
    try:
        meta = json.loads(session.get_modelmeta().custom_metadata_map.get("inkdigit", "{}"))
    except ValueError:
        return {}
    return meta if isinstance(meta, dict) else {}


def model_labels(session: Any, metadata: dict, path: Path) -> list[str]:
    """The model's label list: output i is the probability of labels[i] (see `inkdigit.charsets`).

    From the inkdigit metadata, else the file's plain `labels` key (a JSON list; older exports wrote the digits
    comma-separated), else the ten digits: every digit model, bundled or foreign, reads as before. Raises
    ModelNotFoundError when the list is malformed or its length is not the model's number of outputs."""
    labels: Any = metadata.get("labels")
    if labels is None:
        plain = session.get_modelmeta().custom_metadata_map.get("labels")
        if plain:
            try:
                labels = json.loads(plain)
            except ValueError:
                labels = plain.split(",")
    if labels is None:
        labels = DIGITS
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) and x for x in labels) \
            or len(set(labels)) != len(labels):
        raise ModelNotFoundError(f"{path}: its metadata's labels are not a list of distinct non-empty strings")
    width = session.get_outputs()[0].shape[-1]
    if isinstance(width, int) and width != len(labels):
        raise ModelNotFoundError(f"{path}: {width} outputs but {len(labels)} labels"
                                 + (" (no labels in its metadata: the ten digits assumed)" if labels is DIGITS else ""))
    return list(labels)


@lru_cache(maxsize=1)
def whole_digit_verifier() -> Predictor | None:
    """The bundled whole-digit verifier (see inkdigit.training.verifier) that reading a number uses with any
    recogniser, loaded once per process; None when the installation has none."""
    path = BUNDLED_DIR / "verifier" / "whole-digit.onnx"
    return Predictor(path, threads=1) if path.is_file() else None


@lru_cache(maxsize=1)
def whole_char_verifier() -> Predictor | None:
    """The bundled whole-character verifier that reading a line of any other label set (letters, symbols) uses,
    loaded once per process; None when the installation has none."""
    path = BUNDLED_DIR / "verifier" / "whole-char.onnx"
    return Predictor(path, threads=1) if path.is_file() else None


@lru_cache(maxsize=1)
def pair_reader() -> Any:
    """The bundled pair reader (see inkdigit.training.pairs) that reading a number with a digit model uses: a
    function from pictures float32 [N,28,56] to probabilities [N,101] ("00".."99", not a pair), loaded once per
    process; None when the installation has none."""
    path = BUNDLED_DIR / "pair" / "pair-digits.onnx"
    if not path.is_file():
        return None
    session = onnx_session(path, threads=1)
    name, out = session.get_inputs()[0].name, session.get_outputs()[0].name

    def read(x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(np.asarray(x, np.float32)[:, None])
        return session.run([out], {name: x})[0] if len(x) else np.zeros((0, 101), np.float32)

    return read


def onnx_session(path: Path, threads: int | None = None) -> Any:
    """An onnxruntime session on the CPU for a small convnet; raises ModelNotFoundError for a file it cannot load."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    # Small convnets: more threads than cores only adds contention; 1 thread suits a busy server.
    opts.intra_op_num_threads = threads or min(2, usable_cores())
    opts.inter_op_num_threads = 1
    # Idle ORT workers otherwise spin for a while after each run, stealing the core preprocessing needs.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # ORT raises its own types for unreadable/corrupt files
        raise ModelNotFoundError(f"{path}: not a loadable ONNX model ({str(e).splitlines()[0][:160]})") from None


def model_metadata(path: str | os.PathLike) -> dict:
    """The inkdigit metadata stored in an .onnx file ({} for a foreign file)."""
    p = Path(path)
    return dict(_read_metadata(str(p), p.stat().st_mtime_ns))


def available_models() -> list[dict]:
    """Bundled models: name, path, description, test_accuracy, parameters and whether it is the default."""
    default = default_model_name() if bundled_models() else None
    rows = []
    for name, path in bundled_models().items():
        meta = model_metadata(path)
        rows.append({"name": name, "path": str(path), "description": meta.get("description", ""),
                     "test_accuracy": meta.get("test_accuracy"), "parameters": meta.get("parameters"),
                     "default": name == default})
    return rows


@dataclass
class Prediction:
    """One character: its label, confidence, all the probabilities, the top k and the model's 28x28 input.

    `label` and the top k's are output indices (for a digit model, the digit itself: the API's int fields);
    `text` is the label's character from the model's label list ("7", "A", "×")."""

    label: int
    confidence: float
    probabilities: list[float]
    top_k: list[tuple[int, float]]
    unsure: bool
    image: np.ndarray = field(repr=False)
    text: str = ""

    def __post_init__(self) -> None:
        if not self.text:  # built without a label list: a digit model's index is its digit
            self.text = str(self.label)

    def to_dict(self, preview: bool = False) -> dict[str, Any]:
        d: dict[str, Any] = {
            "label": self.label, "confidence": round(self.confidence, 6),
            "probabilities": [round(p, 6) for p in self.probabilities],
            "top_k": [{"label": k, "probability": round(p, 6)} for k, p in self.top_k], "unsure": self.unsure,
        }
        if preview:
            d["preview_png"] = png_data_url(self.image)
        return d


@dataclass
class NumberPrediction:
    """A written number: the string, overall confidence (product of digits'), and each digit with its box.

    `alternatives` are the next best readings, (text, confidence) each, best first: other ways to split the
    ink or read a digit, for a page to offer ("58 · or 528?") when the best is not sure.
    """

    text: str
    confidence: float
    digits: list[Prediction]
    boxes: list[tuple[int, int, int, int]]
    alternatives: list[tuple[str, float]] = field(default_factory=list)

    @property
    def unsure(self) -> bool:
        return any(d.unsure for d in self.digits)

    def to_dict(self, preview: bool = False) -> dict[str, Any]:
        return {"text": self.text, "confidence": round(self.confidence, 6), "unsure": self.unsure,
                "digits": [dict(d.to_dict(preview), box=list(b)) for d, b in zip(self.digits, self.boxes)],
                "alternatives": [{"text": t, "confidence": round(c, 6)} for t, c in self.alternatives]}


class Predictor:
    """An ONNX model plus the shared preprocessing: images in, predictions out."""

    def __init__(self, path: str | os.PathLike, *, min_confidence: float = DEFAULT_MIN_CONFIDENCE,
                 threads: int | None = None) -> None:
        self.path = Path(path)
        self.session = onnx_session(self.path, threads)
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        shape = inputs[0].shape
        if len(inputs) != 1 or len(shape) != 4 or list(shape[1:]) != [1, 28, 28]:
            raise ModelNotFoundError(f"{self.path}: expects input {shape}, not [N,1,28,28]")
        self._input, self._output = inputs[0].name, outputs[0].name
        # From this session: a second one just to read the metadata would double the start-up cost.
        self.metadata = _session_metadata(self.session)
        self.name: str = self.metadata.get("name") or self.path.stem
        self.labels: list[str] = model_labels(self.session, self.metadata, self.path)
        self.charset: Charset = _charset_of(self.metadata, self.labels)
        self.min_confidence = min_confidence
        self._threads = threads
        self._line_scorer: Predictor | None = None

    @classmethod
    def load(cls, name_or_path: str | os.PathLike | None = None, *,
             min_confidence: float = DEFAULT_MIN_CONFIDENCE, threads: int | None = None) -> Predictor:
        """A bundled model by name (None = default) or an .onnx path; raises ModelNotFoundError."""
        return cls(resolve_model(name_or_path), min_confidence=min_confidence, threads=threads)

    @property
    def test_accuracy(self) -> float | None:
        return self.metadata.get("test_accuracy")

    def predict_arrays(self, x: np.ndarray) -> np.ndarray:
        """Preprocessed inputs float32 [N,28,28] (or [N,1,28,28]) → probabilities [N,10]."""
        x = np.asarray(x, dtype=np.float32)
        if x.ndim == 2:
            x = x[None]
        if x.ndim == 3:
            x = x[:, None]
        if len(x) == 0:
            return np.zeros((0, len(self.labels)), np.float32)
        return self.session.run([self._output], {self._input: np.ascontiguousarray(x)})[0]

    def prediction(self, probs: np.ndarray, image: np.ndarray, top_k: int = 3) -> Prediction:
        """Wrap one row of probabilities (and the 28x28 input it came from) as a Prediction."""
        return self.predictions(np.asarray(probs)[None], [image], top_k)[0]

    def predictions(self, probs: np.ndarray, images: Any, top_k: int = 3) -> list[Prediction]:
        """Wrap probabilities [N,10] (and the N inputs they came from) as Predictions, in one pass."""
        k = max(1, min(top_k, probs.shape[1]))
        # Whole-batch sorting and conversion: per-row NumPy calls would cost more than the model itself.
        orders = np.argsort(-probs, axis=1, kind="stable")[:, :k].tolist()
        out = []
        for row, order, image in zip(probs.tolist(), orders, images):
            conf = row[order[0]]
            out.append(Prediction(label=order[0], confidence=conf, probabilities=row,
                                  top_k=[(j, row[j]) for j in order], unsure=conf < self.min_confidence,
                                  image=image, text=self.labels[order[0]]))
        return out

    def predict(self, image: Any, top_k: int = 3, *, kinds: Any = None) -> Prediction:
        """Read one character (a digit, for a digit model) from anything `preprocess` accepts; raises ImageError /
        NoInkError. `kinds` ("digit", "letter", "symbol": a set, or a comma-separated string) restricts the answer
        to those kinds of label (see `charsets.mask_kinds`); CharsetError for an unknown kind or one the model's
        set has none of."""
        allowed = parse_kinds(kinds)
        x = preprocess(image)
        probs = self.predict_arrays(x)
        return self.prediction(self.masked(probs, allowed)[0] if allowed else probs[0], x, top_k)

    def masked(self, probs: np.ndarray, kinds: frozenset[str]) -> np.ndarray:
        """Probabilities [N,K] with every label of a kind not in `kinds` at 0, rows renormalised."""
        try:
            return mask_kinds(self.charset, probs, kinds)
        except ValueError as e:
            raise CharsetError(str(e)) from None

    def predict_many(self, images: list[Any], top_k: int = 3) -> list[Prediction]:
        """Read many single-digit images in one batched model call."""
        xs = np.stack([preprocess(im) for im in images]) if len(images) else np.zeros((0, 28, 28), np.float32)
        probs = self.predict_arrays(xs)
        return self.predictions(probs, xs, top_k)

    def predict_number(self, image: Any, top_k: int = 3, *, atoms: list[np.ndarray] | None = None
                       ) -> NumberPrediction:
        """Read a written number (digits side by side), left to right; the model decides which ink is one
        digit (see vision/segment.py). `atoms`: boolean masks over the picture, one per group of strokes that
        belongs to one character (never split). Raises NoInkError when blank, ImageError when unreadable."""
        return self._read_line(image, top_k, atoms, self.line_scorer().predict_arrays, whole_digit_verifier(),
                               DIGIT_RULES)

    def read_line(self, image: Any, top_k: int = 3, *, atoms: list[np.ndarray] | None = None, kinds: Any = None,
                  syntax: Syntax | None = None) -> NumberPrediction:
        """Read a line of characters (a word, an expression, a number), left to right: `predict_number` for any
        label list. The geometry follows the labels (`vision.lattice.line_rules`: symbols of any size, wider
        letters, dots kept); the whole-digit verifier joins in only for a digit model. `kinds` restricts every
        character as in `predict`; `syntax` is a grammar the line follows (`read_math` gives arithmetic's), which
        readings that break it pay for. Raises NoInkError when blank, ImageError when nothing reads."""
        allowed = parse_kinds(kinds)
        scorer = self.line_scorer()
        score = scorer.predict_arrays
        if allowed is not None:
            self.masked(np.ones((1, len(self.labels)), np.float32), allowed)  # an impossible `kinds` fails first

            def score(x: np.ndarray) -> np.ndarray:
                return self.masked(scorer.predict_arrays(x), allowed)

        rules = line_rules(self.labels, allowed)
        # Each verifier learnt what one whole character of its kind looks like: digits where only digits are read.
        check = whole_digit_verifier() if rules is DIGIT_RULES else whole_char_verifier()
        return self._read_line(image, top_k, atoms, score, check, rules, syntax)

    def line_scorer(self) -> Predictor:
        """The model that scores the candidates of a line: this one, or for a bundled model with test-time
        augmentation its single-view export (weights/plain/, the same run's weights), which reads written numbers
        as well at half the cost (docs/experiments.md)."""
        if self._line_scorer is None:
            self._line_scorer = self
            twin = PLAIN_DIR / self.path.name
            if self.metadata.get("test_time_augmentation") and self.path.parent == BUNDLED_DIR and twin.is_file():
                plain = Predictor(twin, min_confidence=self.min_confidence, threads=self._threads)
                if plain.metadata.get("training") == self.metadata.get("training") and plain.labels == self.labels:
                    self._line_scorer = plain
        return self._line_scorer

    def _read_line(self, image: Any, top_k: int, atoms: list[np.ndarray] | None, score: Any,
                   check: Predictor | None, rules: LineRules, syntax: Syntax | None = None) -> NumberPrediction:
        from inkdigit.vision.segment import read_number

        # The pair reader reads two touching digits at once: where only the ten digits are read.
        pair = pair_reader() if rules is DIGIT_RULES and self.labels == DIGITS else None
        readings = read_number(image, score, n_best=NUMBER_READINGS, atoms=atoms,
                               verify=check.predict_arrays if check is not None else None, rules=rules,
                               syntax=syntax, pair=pair)
        best = readings[0]
        xs = np.stack([p.image for p in best.pieces])
        number = self._number(self.predictions(best.probabilities, xs, top_k), [p.box for p in best.pieces])
        # An alternative's confidence is the best's scaled by how likely it is relative to the best (from its
        # digits' probabilities and its split of the ink), so it is never above the best's.
        number.alternatives = [(self._text(r.labels), number.confidence * r.likelihood) for r in readings[1:]]
        return number

    def read_pieces(self, pieces: list, top_k: int = 3) -> NumberPrediction:
        """Classify given DigitPieces (one digit each, left to right) in one model call → NumberPrediction."""
        xs = np.stack([p.image for p in pieces])
        return self._number(self.predictions(self.predict_arrays(xs), xs, top_k), [p.box for p in pieces])

    def _number(self, preds: list[Prediction], boxes: list) -> NumberPrediction:
        text = "".join(self.labels[p.label] for p in preds)
        conf = float(np.prod([p.confidence for p in preds]))
        return NumberPrediction(text=text, confidence=conf, digits=preds, boxes=[tuple(b) for b in boxes])

    def _text(self, labels: list[int]) -> str:
        return "".join(self.labels[c] for c in labels)

    def confusables(self, pred: Prediction) -> list[tuple[str, float]]:
        """Readings of another kind that look like the answer ("O" for "0" in alnum) and are at least
        1/CONFUSABLE_FACTOR as likely, most likely first; [] for a set without such pairs."""
        kind = kind_of(pred.text)
        found = []
        for other in self.charset.confusable_with(pred.text):
            if kind_of(other) != kind and other in self.labels:
                p = pred.probabilities[self.labels.index(other)]
                if p > 0 and p * CONFUSABLE_FACTOR >= pred.confidence:
                    found.append((other, p))
        return sorted(found, key=lambda t: -t[1])

    def char_answer(self, pred: Prediction, preview: bool = False) -> dict[str, Any]:
        """One character as the API and the CLI answer it: its text, kind, confidence, top k and confusables."""
        d: dict[str, Any] = {
            "text": pred.text, "kind": kind_of(pred.text), "confidence": round(pred.confidence, 6),
            "unsure": pred.unsure, "top_k": self._texts(pred.top_k),
            "confusable": [{"text": t, "probability": round(p, 6)} for t, p in self.confusables(pred)],
        }
        if preview:
            d["preview_png"] = png_data_url(pred.image)
        return d

    def line_answer(self, line: NumberPrediction, preview: bool = False) -> dict[str, Any]:
        """A read line as the API and the CLI answer it: text, confidence, each character with its box (and, with
        `preview`, the 28x28 picture the model read it from)."""
        chars = []
        for p, b in zip(line.digits, line.boxes):
            char = {"text": p.text, "confidence": round(p.confidence, 6), "unsure": p.unsure,
                    "top_k": self._texts(p.top_k), "box": list(b)}
            if preview:
                char["preview_png"] = png_data_url(p.image)
            chars.append(char)
        return {"text": line.text, "confidence": round(line.confidence, 6), "unsure": line.unsure, "chars": chars,
                "alternatives": [{"text": t, "confidence": round(c, 6)} for t, c in line.alternatives]}

    def _texts(self, top_k: list[tuple[int, float]]) -> list[dict[str, Any]]:
        return [{"text": self.labels[k], "probability": round(p, 6)} for k, p in top_k]


@dataclass
class MathReading:
    """A written line of arithmetic: what was read, and what it evaluates to (see `read_math`)."""

    line: NumberPrediction
    expression: str  # the symbols read, as evaluated
    value: str | None  # the left side's value as shown ("19", "3.5", "≈0.3333333333"); None when it fails
    holds: bool | None  # for "a=b": whether it is true; None when there is nothing to check or it fails
    message: str  # one line: "12+7 = 19", "2+2=5 is false: 2+2 = 4", or what is wrong ("division by zero ...")
    ok: bool  # whether the line evaluated

    def to_dict(self) -> dict[str, Any]:
        return {"expression": self.expression, "value": self.value, "holds": self.holds, "message": self.message,
                "ok": self.ok}


def read_math(predictor: Predictor, image: Any, *, atoms: list[np.ndarray] | None = None, top_k: int = 3
              ) -> MathReading:
    """Read a written line with a math model (`Predictor.read_line`) and evaluate it (`inkdigit.mathexpr`,
    never Python's eval). A line that was read but does not evaluate ("7÷0", "2+") is a MathReading with `ok`
    False and the evaluator's message; blank or unreadable ink raises NoInkError / ImageError as reading does."""
    from inkdigit.mathexpr import ArithmeticSyntax, evaluate

    # The grammar joins the reading: of two readings the ink allows, the one that is arithmetic wins.
    line = predictor.read_line(image, top_k, atoms=atoms, syntax=ArithmeticSyntax(predictor.labels))
    try:
        ev = evaluate(line.text)
    except ExpressionError as e:
        return MathReading(line, line.text, None, None, str(e), False)
    return MathReading(line, ev.expression, ev.shown, ev.holds, ev.text, True)


def _charset_of(metadata: dict, labels: list[str]) -> Charset:
    """The character set a model reads: the one its metadata names, or any whose labels are the model's; else a
    set made of its labels (a foreign model)."""
    named = metadata.get("charset")
    known = [CHARSETS[named]] if isinstance(named, str) and named in CHARSETS else []
    for charset in known + list(CHARSETS.values()):
        if list(charset.labels) == labels:
            return charset
    return Charset(str(named or "custom"), "the model's own labels", tuple(labels))


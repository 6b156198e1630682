"""The character sets a model can read, as plain data: labels in the model's order, what each stands for.

    >>> get_charset("letters").labels[:3]
    ('A', 'B', 'C')
    >>> get_charset("alnum").label_of("c"), get_charset("alnum").label_of("a")
    ('C', 'a')

A model's label list (in its ONNX metadata) is one of these `labels` tuples; index i of the model's output
is the probability of `labels[i]`. Each label stands for one or more written characters (its `forms`):

- `digits`: 0-9, as MNIST.
- `letters`: A-Z, upper and lower case merged, so "A" stands for "A" and "a". EMNIST "letters" labels its
  26 classes 1..26 (its mapping file: `1 65 97` = A and a, ... `26 90 122`); there is no class 0. We number
  them from 0: EMNIST label k is our index k-1 (`inkdigit.data.emnist` does this on loading).
- `alnum`: EMNIST "balanced"'s 47 classes in EMNIST's own order (its labels 0..46 are our indices): 0-9,
  A-Z, then the lower-case letters that look unlike their capitals, a b d e f g h n q r t. The other lower
  case letters are merged into their capitals (c is "C", l is "L", o is "O", ...), as EMNIST does.
- `math`: the digits and + − × ÷ = ( ) . - the minus is U+2212; "-" (and "*", "/") are accepted as input
  aliases by `canonical`, never drawn or answered.

Torch-free and I/O-free: the recognition side, the data side and training all read it.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

DIGIT, LETTER, SYMBOL = "digit", "letter", "symbol"
KINDS = (DIGIT, LETTER, SYMBOL)
MINUS = "\u2212"  # the math minus; "-" is only its typed alias
# Characters that look alike in handwriting. A model asked for one kind (digits only, letters only) must not
# answer with the other kind (`mask_kinds`); an alnum reading shows both when they are close.
CONFUSABLE_GROUPS: tuple[tuple[str, ...], ...] = (("0", "O"), ("1", "I", "l"), ("5", "S"), ("2", "Z"),
                                                  ("9", "g", "q"))
# Typed stand-ins a person may use for the math symbols (keyboards have no ×, ÷ or −).
INPUT_ALIASES: Mapping[str, str] = {"-": MINUS, "*": "×", "/": "÷"}
EMNIST_BALANCED_LOWER = "abdefghnqrt"


def get_charset(name: str) -> Charset:
    """A character set by name; KeyError (one line, with the known names) for an unknown one."""
    try:
        return CHARSETS[name]
    except KeyError:
        raise KeyError(f"unknown character set {name!r} (known: {', '.join(CHARSETS)})") from None


def kind_of(label: str) -> str:
    """The kind of a label: DIGIT for 0-9, LETTER for a letter (either case), SYMBOL for anything else."""
    if len(label) == 1 and label in string.digits:
        return DIGIT
    return LETTER if label.isalpha() else SYMBOL


@dataclass(frozen=True)
class Charset:
    """A named, ordered label list; `forms[label]` are the written characters the label stands for."""

    name: str
    description: str
    labels: tuple[str, ...]
    forms: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    emnist_split: str | None = None  # the EMNIST split whose classes are exactly these labels, if any

    def __post_init__(self) -> None:
        if len(set(self.labels)) != len(self.labels):
            raise ValueError(f"charset {self.name}: repeated labels")
        written = [c for label in self.labels for c in self.forms_of(label)]
        if len(set(written)) != len(written):
            raise ValueError(f"charset {self.name}: a character stands for two labels")

    def forms_of(self, label: str) -> tuple[str, ...]:
        """The characters `label` stands for (itself unless merged: letters' "A" is ("A", "a"))."""
        return self.forms.get(label, (label,))

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kind of each label, in label order."""
        return tuple(kind_of(label) for label in self.labels)

    def label_of(self, char: str) -> str | None:
        """The label that stands for a written or typed character ("a" → "A" in letters, "-" → "−" in math), or
        None when this set cannot read it."""
        for candidate in dict.fromkeys((char, canonical(char))):
            for label in self.labels:
                if candidate in self.forms_of(label):
                    return label
        return None

    def index_of(self, char: str) -> int | None:
        """The model output index for a character (see `label_of`), or None."""
        label = self.label_of(char)
        return None if label is None else self.labels.index(label)

    def confusable_with(self, label: str) -> tuple[str, ...]:
        """The other labels of this set that look like `label` in handwriting (through any of its forms)."""
        groups = self.confusable_groups()
        return tuple(other for group in groups if label in group for other in group if other != label)

    def confusable_groups(self) -> list[tuple[str, ...]]:
        """`CONFUSABLE_GROUPS` as this set's labels: the groups with at least two labels here."""
        out = []
        for group in CONFUSABLE_GROUPS:
            labels = tuple(dict.fromkeys(lab for c in group if (lab := self.label_of(c)) is not None))
            if len(labels) >= 2:
                out.append(labels)
        return out


def canonical(char: str) -> str:
    """A typed character as the label it stands in for ("-" → "−", "*" → "×", "/" → "÷"), else itself."""
    return INPUT_ALIASES.get(char, char)


def allowed_mask(charset: Charset, kinds: Iterable[str]) -> np.ndarray:
    """Boolean [len(labels)]: the labels of the allowed kinds. ValueError for an unknown kind, or when none of
    the set's labels is of an allowed kind (a letters-only mode over the digits set)."""
    kinds = set(kinds)
    unknown = kinds - set(KINDS)
    if unknown:
        raise ValueError(f"unknown kind {', '.join(sorted(unknown))} (use {', '.join(KINDS)})")
    mask = np.array([k in kinds for k in charset.kinds], bool)
    if not mask.any():
        raise ValueError(f"character set {charset.name!r} has no {' or '.join(sorted(kinds)) or 'allowed'} labels")
    return mask


def mask_kinds(charset: Charset, probabilities: np.ndarray, kinds: Iterable[str]) -> np.ndarray:
    """Probabilities ([K] or [N,K], K = the set's labels) with every label of another kind at 0 and each row
    renormalised over what is left, so a digits-only or letters-only mode never answers with the other kind.

    A row with no probability left on the allowed labels becomes uniform over them (it then says "not sure")."""
    mask = allowed_mask(charset, kinds)
    p = np.asarray(probabilities)
    if p.shape[-1:] != mask.shape:
        raise ValueError(f"{p.shape[-1:]} probabilities for the {len(mask)} labels of {charset.name!r}")
    kept = np.where(mask, p.astype(np.float64), 0.0)
    total = kept.sum(axis=-1, keepdims=True)
    out = np.where(total > 0, kept / np.where(total > 0, total, 1.0), mask / mask.sum())
    return out.astype(p.dtype if p.dtype.kind == "f" else np.float64)


def _merged(capitals: Sequence[str], keep_lower: str = "") -> dict[str, tuple[str, ...]]:
    """Capital → (capital, lower) for each capital whose lower case is not a label of its own."""
    return {c: (c, c.lower()) for c in capitals if c.lower() not in keep_lower}


_DIGITS = tuple(string.digits)
_UPPER = tuple(string.ascii_uppercase)

CHARSETS: dict[str, Charset] = {c.name: c for c in (
    Charset("digits", "the ten digits (MNIST)", _DIGITS, emnist_split="digits"),
    Charset("letters", "A-Z, upper and lower case merged (EMNIST letters)", _UPPER, _merged(_UPPER),
            emnist_split="letters"),
    Charset("alnum", "digits, A-Z and a b d e f g h n q r t (EMNIST balanced's 47 classes)",
            _DIGITS + _UPPER + tuple(EMNIST_BALANCED_LOWER), _merged(_UPPER, EMNIST_BALANCED_LOWER),
            emnist_split="balanced"),
    Charset("math", "the digits and + − × ÷ = ( ) .", _DIGITS + ("+", MINUS, "×", "÷", "=", "(", ")", ".")),
)}

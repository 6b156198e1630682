"""Random lines of text to draw in the handwriting fonts: words of letters, arithmetic, mixed letters and digits.

The benchmarks (`benchmarks/text_lines.py`) read them back, and the whole-character verifier
(`training/verifier.py --chars`) learns from the segmenter's cuts of them. Every function takes the caller's
`numpy` generator, so the same generator state gives the same line.

    >>> import numpy as np
    >>> random_word(np.random.default_rng(0), 5)
    'WQNHI'
"""

from __future__ import annotations

import numpy as np

from inkdigit.charsets import MINUS
from inkdigit.errors import ExpressionError
from inkdigit.mathexpr import evaluate

LETTERS = "abcdefghijklmnopqrstuvwxyz"
OPERATORS = ("+", MINUS, "×", "÷")
# alnum's lower-case letters that are classes of their own (EMNIST balanced); the rest are drawn as capitals.
ALNUM_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabdefghnqrt"


def random_word(rng: np.random.Generator, length: int | None = None) -> str:
    """3-8 random letters a-z (or `length`), in upper, lower or capitalised case, a third each."""
    n = length or int(rng.integers(3, 9))
    word = "".join(LETTERS[int(k)] for k in rng.integers(0, 26, n))
    case = int(rng.integers(0, 3))
    return word.upper() if case == 0 else word.capitalize() if case == 1 else word


def random_expression(rng: np.random.Generator) -> str:
    """A well-formed expression of 3-9 math symbols that evaluates: 2-3 numbers of 1-3 digits (some with a
    decimal point, no leading zeros), the operators + − × ÷ between them, some in brackets, a third ending in
    "="."""
    while True:  # draw until one is 3-9 symbols long and evaluates
        equals = rng.random() < 1 / 3
        parts: list[str] = []
        for k in range(int(rng.integers(2, 4))):
            if k:
                parts.append(OPERATORS[int(rng.integers(0, 4))])
            digits = "".join(str(int(d)) for d in rng.integers(0, 10, int(rng.integers(1, 4))))
            number = str(int(digits)) if len(digits) > 1 else digits  # no leading zeros
            if rng.random() < 0.15 and len(number) >= 2:
                cut = int(rng.integers(1, len(number)))
                number = number[:cut] + "." + number[cut:]
            parts.append(number)
        if len(parts) >= 5 and rng.random() < 0.3:
            parts[0], parts[2] = "(" + parts[0], parts[2] + ")"
        text = "".join(parts) + ("=" if equals else "")
        if 3 <= len(text) <= 9:
            try:
                evaluate(text)
            except ExpressionError:  # a division by zero
                continue
            return text


def random_alnum(rng: np.random.Generator) -> str:
    """3-8 characters of the alnum set's written forms (digits, capitals, its own lower-case letters) at random:
    codes and labels such as "B7q2"."""
    n = int(rng.integers(3, 9))
    return "".join(ALNUM_CHARS[int(k)] for k in rng.integers(0, len(ALNUM_CHARS), n))

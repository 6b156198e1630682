"""Evaluate a line of written arithmetic, as read by the math model: "12+7=" → 19. Never Python's eval.

    >>> evaluate("12+7=").shown
    '19'
    >>> evaluate("7÷2").shown
    '3.5'
    >>> evaluate("2+2=5").holds
    False

The symbols are the `math` character set's: digits, `.`, `+ − × ÷`, `( )` and `=`; "-", "*" and "/" are
accepted as typed stand-ins for − × ÷, and spaces are ignored. The grammar, read by recursive descent:

    line    := expr [ "=" [ expr ] ]
    expr    := term { ("+" | "−") term }
    term    := factor { ("×" | "÷") factor }
    factor  := "−" factor | number | "(" expr ")"
    number  := digits [ "." digits ] | "." digits

What a line means:
- `12+7` or `12+7=`: the value of the left side (a trailing "=" asks for the result).
- `2+2=4`: a claim, checked: `holds` is True or False, and `value` is still the left side's value.
- No implied multiplication: "2(3)" is an error saying an operator is missing, as is a bare "=5".

Arithmetic is exact (fractions.Fraction): a result is shown as an integer, or as a decimal when it has at
most 12 decimal places (3.5, 0.125), else rounded to 10 significant digits and marked not exact (≈0.3333333333).
Negative numbers are shown with the math minus "−".

Bounds: a line has at most MAX_SYMBOLS symbols, and any intermediate value whose numerator or denominator
has more than MAX_DIGITS digits is refused, so no line costs more than microseconds. There is no power
operator, so nothing grows faster than the symbols allow.

Errors are `ExpressionError`, one line saying what is wrong and at which symbol (counted from 1, spaces not
counted), for a page or the CLI to show as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext
from fractions import Fraction

from inkdigit.charsets import INPUT_ALIASES, MINUS
from inkdigit.errors import ExpressionError

MAX_SYMBOLS = 64
MAX_DIGITS = 40
EXACT_PLACES = 12
SHOWN_DIGITS = 10
OPERATORS = ("+", MINUS, "×", "÷")
SYMBOLS = "0123456789.+" + MINUS + "×÷=()"


def evaluate(line: str | Sequence[str]) -> Evaluation:
    """Evaluate a written line (a string, or the list of labels a model read); raises ExpressionError."""
    symbols = _symbols(line)
    tokens = _tokens(symbols)
    equals = [t for t in tokens if t.kind == "="]
    if len(equals) > 1:
        raise ExpressionError(f"more than one '=' (the second is at symbol {equals[1].at})")
    if equals and equals[0] is tokens[0]:
        raise ExpressionError("nothing before '=': write the expression first")
    left_tokens = tokens[: tokens.index(equals[0])] if equals else tokens
    right_tokens = tokens[tokens.index(equals[0]) + 1:] if equals else []
    value = _Parser(left_tokens, before_end="=" if equals else None).parse()
    claimed = _Parser(right_tokens).parse() if right_tokens else None
    return Evaluation(expression="".join(symbols), value=value, claimed=claimed)


# How a next symbol fits the line so far (ArithmeticSyntax.step): it fits, it is legal but seldom written, or it
# breaks the grammar.
FITS, UNUSUAL, BREAKS = 0, 1, 2


class ArithmeticSyntax:
    """The grammar above as a machine that reads a line one symbol at a time, for a reader choosing among
    readings of the ink (`vision.lattice.best_paths`): how well each next symbol fits the symbols before it, so
    "6+572" is preferred to "6−+572" where the ink allows both. It agrees with `evaluate`: a line whose every
    step and whose `end` are FITS or UNUSUAL is one that `evaluate` parses (tests/test_mathexpr.py). UNUSUAL is
    what is legal but seldom written: a minus straight after another operator ("5+−3"), a number that starts
    with its point (".5").

    A state is (last, depth, dot, equals): what the last symbol was ("start", "num", ".", "op", "(", ")", "="),
    the brackets open, whether the number being written has its point, whether "=" was written. A step that
    breaks the grammar still moves to the state that symbol would give, so the rest of the line is judged too.
    """

    def __init__(self, labels: Sequence[str]) -> None:
        self.symbols = [INPUT_ALIASES.get(label, label) for label in labels]

    def start(self) -> tuple[str, int, bool, bool]:
        return ("start", 0, False, False)

    def step(self, state: tuple[str, int, bool, bool], label: int) -> tuple[tuple[str, int, bool, bool], int]:
        """(the state after the symbol of `label`, FITS / UNUSUAL / BREAKS)."""
        last, depth, dot, equals = state
        s = self.symbols[label]
        operand = last in ("start", "op", "(", "=")  # a number, "(" or a minus sign must come next
        if s.isdigit():
            return ("num", depth, dot and last in ("num", "."), equals), BREAKS if last == ")" else FITS
        if s == ".":
            fault = BREAKS if last in (".", ")") or (last == "num" and dot) else UNUSUAL if operand else FITS
            return (".", depth, True, equals), fault
        if s == MINUS:
            fault = BREAKS if last == "." else UNUSUAL if last == "op" else FITS
            return ("op", depth, False, equals), fault
        if s in OPERATORS:
            return ("op", depth, False, equals), FITS if last in ("num", ")") else BREAKS
        if s == "(":
            return ("(", depth + 1, False, equals), FITS if operand else BREAKS
        if s == ")":
            return (")", max(0, depth - 1), False, equals), FITS if last in ("num", ")") and depth else BREAKS
        if s == "=":
            fits = last in ("num", ")") and not depth and not equals
            return ("=", depth, False, True), FITS if fits else BREAKS
        return state, BREAKS  # not an arithmetic symbol

    def end(self, state: tuple[str, int, bool, bool]) -> int:
        """FITS when the line may end here, else BREAKS."""
        last, depth, _, _ = state
        return FITS if last in ("num", ")", "=") and not depth else BREAKS


@dataclass(frozen=True)
class Evaluation:
    """A line's value (exact), and for "a=b" the claimed right side and whether it holds."""

    expression: str
    value: Fraction
    claimed: Fraction | None = None

    @property
    def shown(self) -> str:
        """The value as a person reads it: "19", "3.5", "−2", "≈0.3333333333"."""
        text, exact = format_number(self.value)
        return text if exact else "≈" + text

    @property
    def exact(self) -> bool:
        return format_number(self.value)[1]

    @property
    def holds(self) -> bool | None:
        """For a line with both sides ("2+2=4"): whether they are equal; None when there is nothing to check."""
        return None if self.claimed is None else self.value == self.claimed

    @property
    def text(self) -> str:
        """One line for a page: "12+7 = 19", "1÷3 ≈ 0.3333333333", "2+2=4 is true", "2+2=5 is false: 2+2 = 4"."""
        left = self.expression.split("=")[0]
        number, exact = format_number(self.value)
        result = f"{left} {'=' if exact else '≈'} {number}"
        if self.holds is None:
            return result
        return f"{self.expression} is true" if self.holds else f"{self.expression} is false: {result}"


def format_number(value: Fraction) -> tuple[str, bool]:
    """(text, exact): an integer, a decimal of at most EXACT_PLACES places, or SHOWN_DIGITS significant
    digits (exact False). The minus is "−"."""
    sign = MINUS if value < 0 else ""
    value = abs(value)
    places = _decimal_places(value.denominator)
    if places is not None and places <= EXACT_PLACES:
        digits = str(value.numerator * 10**places // value.denominator).rjust(places + 1, "0")
        whole, frac = (digits[:-places], digits[-places:]) if places else (digits, "")
        return sign + whole + ("." + frac if frac else ""), True
    with localcontext() as ctx:
        ctx.prec = max(SHOWN_DIGITS, len(str(value.numerator // value.denominator)))
        text = format(Decimal(value.numerator) / Decimal(value.denominator), "f")
    return sign + (text.rstrip("0").rstrip(".") if "." in text else text), False


def _decimal_places(denominator: int) -> int | None:
    """Decimal places of p/denominator (in lowest terms) when it terminates (only 2s and 5s), else None."""
    twos = fives = 0
    while denominator % 2 == 0:
        denominator //= 2
        twos += 1
    while denominator % 5 == 0:
        denominator //= 5
        fives += 1
    return max(twos, fives) if denominator == 1 else None


def _symbols(line: str | Sequence[str]) -> list[str]:
    """The line as single symbols, typed aliases made the math set's own, spaces dropped; checks length and
    that every symbol is arithmetic."""
    raw = list(line) if isinstance(line, str) else [s for label in line for s in label]
    symbols = [INPUT_ALIASES.get(s, s) for s in raw if not s.isspace()]
    if not symbols:
        raise ExpressionError("nothing to evaluate: the line is empty")
    if len(symbols) > MAX_SYMBOLS:
        raise ExpressionError(f"the line has {len(symbols)} symbols; at most {MAX_SYMBOLS} are evaluated")
    for i, s in enumerate(symbols, 1):
        if s not in SYMBOLS:
            raise ExpressionError(f"{s!r} at symbol {i} is not arithmetic (use 0-9 . + − × ÷ ( ) =)")
    return symbols


@dataclass(frozen=True)
class _Token:
    kind: str  # "num", an operator, "(", ")" or "="
    text: str
    at: int  # the position of its first symbol, from 1
    value: Fraction | None = None


def _tokens(symbols: list[str]) -> list[_Token]:
    """Numbers (digits with at most one ".", and a digit after it) and single-symbol tokens."""
    out: list[_Token] = []
    i = 0
    while i < len(symbols):
        s = symbols[i]
        if s.isdigit() or s == ".":
            j = i
            while j < len(symbols) and (symbols[j].isdigit() or symbols[j] == "."):
                j += 1
            out.append(_number(symbols[i:j], i + 1))
            i = j
        else:
            out.append(_Token(s, s, i + 1))
            i += 1
    return out


def _number(chars: list[str], at: int) -> _Token:
    text = "".join(chars)
    dots = [k for k, c in enumerate(chars) if c == "."]
    if len(dots) > 1:
        raise ExpressionError(f"the number {text!r} at symbol {at} has a second '.' (at symbol {at + dots[1]})")
    if text == ".":
        raise ExpressionError(f"a '.' with no digits at symbol {at}")
    if text.endswith("."):
        raise ExpressionError(f"the number {text!r} at symbol {at} ends with '.': a digit is missing after it")
    whole, _, frac = text.partition(".")
    return _Token("num", text, at, Fraction(int(whole or "0") * 10 ** len(frac) + int(frac or "0"), 10 ** len(frac)))


class _Parser:
    """Recursive descent over one side of the line; every operation checks the digit bound."""

    def __init__(self, tokens: list[_Token], before_end: str | None = None) -> None:
        self.tokens = tokens
        self.pos = 0
        self.end = before_end  # what follows this side ("=" or None), for the messages

    def parse(self) -> Fraction:
        value = self.expr()
        if self.pos < len(self.tokens):
            t = self.tokens[self.pos]
            if t.kind == ")":
                raise ExpressionError(f"')' at symbol {t.at} has no '(' to close")
            prev = self.tokens[self.pos - 1]
            raise ExpressionError(f"an operator is missing between {prev.text!r} and {t.text!r} at symbol {t.at}")
        return value

    def expr(self) -> Fraction:
        value = self.term()
        while self._peek() in ("+", MINUS):
            op = self._next()
            right = self.term()
            value = _bounded(value + right if op.kind == "+" else value - right, op)
        return value

    def term(self) -> Fraction:
        value = self.factor()
        while self._peek() in ("×", "÷"):
            op = self._next()
            right = self.factor()
            if op.kind == "÷" and right == 0:
                raise ExpressionError(f"division by zero at symbol {op.at}")
            value = _bounded(value * right if op.kind == "×" else value / right, op)
        return value

    def factor(self) -> Fraction:
        if self.pos >= len(self.tokens):
            raise self._missing_at_end()
        t = self._next()
        if t.kind == "num":
            assert t.value is not None
            return _bounded(t.value, t)
        if t.kind == MINUS:
            return -self.factor()
        if t.kind == "(":
            if self._peek() == ")":
                raise ExpressionError(f"empty brackets '()' at symbol {t.at}")
            value = self.expr()
            if self._peek() != ")":
                if self.pos >= len(self.tokens):
                    raise ExpressionError(f"unclosed '(' at symbol {t.at}: a ')' is missing")
                nxt = self.tokens[self.pos]
                raise ExpressionError(f"an operator is missing before {nxt.text!r} at symbol {nxt.at}")
            self._next()
            return value
        if t.kind == ")" and self.pos == 1:
            raise ExpressionError(f"')' at symbol {t.at} has no '(' to close")
        if self.pos == 1:
            raise ExpressionError(f"the expression starts with {t.text!r}: a number is missing before it")
        prev = self.tokens[self.pos - 2]
        raise ExpressionError(f"{t.text!r} at symbol {t.at} follows {prev.text!r}: a number is missing between them")

    def _missing_at_end(self) -> ExpressionError:
        last = self.tokens[-1]  # never empty: evaluate() parses no empty side
        where = f" before {self.end!r}" if self.end else ""
        return ExpressionError(f"the expression ends after {last.text!r}{where}: a number is missing")

    def _peek(self) -> str | None:
        return self.tokens[self.pos].kind if self.pos < len(self.tokens) else None

    def _next(self) -> _Token:
        t = self.tokens[self.pos]
        self.pos += 1
        return t


def _bounded(value: Fraction, where: _Token) -> Fraction:
    limit = 10 ** MAX_DIGITS
    if abs(value.numerator) >= limit or value.denominator >= limit:
        raise ExpressionError(f"the value at symbol {where.at} has more than {MAX_DIGITS} digits: too large to show")
    return value

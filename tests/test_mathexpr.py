"""The math evaluator: what a written line means, its exact arithmetic, and each one-line error."""

from __future__ import annotations

import itertools
import random
from fractions import Fraction
from pathlib import Path

import pytest

from inkdigit import mathexpr
from inkdigit.errors import ExpressionError, InkdigitError
from inkdigit.mathexpr import MAX_DIGITS, MAX_SYMBOLS, evaluate, format_number


@pytest.mark.parametrize(("line", "shown"), [
    ("12+7=", "19"),
    ("12+7", "19"),
    ("3×(4−1)", "9"),
    ("7÷2", "3.5"),
    ("1.5×2", "3"),
    ("−3+5", "2"),
    ("3−5", "−2"),
    ("2×−3", "−6"),
    ("−(2+3)×2", "−10"),
    ("2+3×4", "14"),  # × before +
    ("(2+3)×4", "20"),
    ("8÷4÷2", "1"),  # left to right
    ("8−4−2", "2"),
    ("10÷8", "1.25"),
    (".5+.25", "0.75"),
    ("0.1+0.2", "0.3"),  # exact, not 0.30000000000000004
    ("1÷1024", "0.0009765625"),
    ("1÷3", "≈0.3333333333"),
    ("2÷3", "≈0.6666666667"),
    ("1÷3000", "≈0.0003333333333"),
    ("007+1", "8"),
    ("((((1))))", "1"),
    ("0×5", "0"),
])
def test_a_line_has_the_value_a_person_expects(line, shown):
    assert evaluate(line).shown == shown


def test_typed_aliases_spaces_and_a_list_of_labels_are_read_as_the_math_symbols():
    assert evaluate("3 - 5 * 4 / 2").shown == "−7"
    assert evaluate(["1", "2", "+", "7", "="]).shown == "19"
    assert evaluate("3-1").expression == "3−1"


def test_a_claim_is_checked_and_the_value_is_still_the_left_side():
    true, false = evaluate("2+2=4"), evaluate("2+2=5")
    assert (true.holds, false.holds) == (True, False)
    assert false.value == 4 and false.shown == "4"
    assert true.text == "2+2=4 is true"
    assert false.text == "2+2=5 is false: 2+2 = 4"
    assert evaluate("4=2+2").holds is True
    assert evaluate("1÷2=0.5").holds is True
    assert evaluate("12+7=").holds is None and evaluate("12+7=").text == "12+7 = 19"
    assert evaluate("1÷3").text == "1÷3 ≈ 0.3333333333"


@pytest.mark.parametrize(("line", "message"), [
    ("7÷0", "division by zero at symbol 2"),
    ("7÷(1−1)", "division by zero at symbol 2"),
    ("12+", "the expression ends after '+': a number is missing"),
    ("12+=", "the expression ends after '+' before '=': a number is missing"),
    ("((1)", "unclosed '(' at symbol 1: a ')' is missing"),
    ("(1))", "')' at symbol 4 has no '(' to close"),
    (")", "')' at symbol 1 has no '(' to close"),
    ("()", "empty brackets '()' at symbol 1"),
    ("1..2", "the number '1..2' at symbol 1 has a second '.' (at symbol 3)"),
    ("1.", "the number '1.' at symbol 1 ends with '.': a digit is missing after it"),
    ("1+.", "a '.' with no digits at symbol 3"),
    ("=5", "nothing before '=': write the expression first"),
    ("=", "nothing before '='"),
    ("1=2=3", "more than one '=' (the second is at symbol 4)"),
    ("2(3)", "an operator is missing between '2' and '(' at symbol 2"),
    ("(1)2", "an operator is missing between ')' and '2' at symbol 4"),
    ("(1(2))", "an operator is missing before '(' at symbol 3"),
    ("×2", "the expression starts with '×': a number is missing before it"),
    ("+2", "the expression starts with '+'"),
    ("1+×2", "'×' at symbol 3 follows '+': a number is missing between them"),
    ("1+)", "')' at symbol 3 follows '+'"),
    ("a+1", "'a' at symbol 1 is not arithmetic"),
    ("", "nothing to evaluate: the line is empty"),
    ("   ", "nothing to evaluate"),
])
def test_a_malformed_line_says_what_is_wrong_and_where(line, message):
    with pytest.raises(ExpressionError) as caught:
        evaluate(line)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
    assert isinstance(caught.value, InkdigitError) and isinstance(caught.value, ValueError)


def test_the_work_is_bounded_by_the_line_length_and_the_digits_of_any_value():
    with pytest.raises(ExpressionError, match=f"65 symbols; at most {MAX_SYMBOLS}"):
        evaluate("1" * 65)
    assert evaluate("1" * MAX_DIGITS).value == int("1" * MAX_DIGITS)
    with pytest.raises(ExpressionError, match=f"more than {MAX_DIGITS} digits"):
        evaluate("1" * (MAX_DIGITS + 1))
    with pytest.raises(ExpressionError, match=f"value at symbol 42 has more than {MAX_DIGITS} digits"):
        evaluate("99999999999999999999×99999999999999999999×9")
    with pytest.raises(ExpressionError, match="digits"):  # a denominator grows as well
        evaluate("1÷" + "÷".join(["99999999"] * 6))
    deep = "(" * 31 + "1" + ")" * 31
    assert evaluate(deep).shown == "1"
    assert evaluate("−" * 63 + "1").shown == "−1"


def test_no_python_eval_is_reachable(monkeypatch):
    import builtins

    def refuse(*_a, **_k):
        raise AssertionError("eval called")

    monkeypatch.setattr(builtins, "eval", refuse)
    monkeypatch.setattr(builtins, "exec", refuse)
    assert evaluate("2×(3+4)=").shown == "14"
    assert "eval(" not in Path(mathexpr.__file__).read_text(encoding="utf-8")


@pytest.mark.parametrize(("value", "text", "exact"), [
    (Fraction(5), "5", True), (Fraction(-7, 2), "−3.5", True), (Fraction(1, 8), "0.125", True),
    (Fraction(1, 2**13), "≈", False), (Fraction(10**30 + 1, 7), "142857142857142857142857142857", False),
    (Fraction(-1, 3), "−0.3333333333", False),
])
def test_numbers_are_shown_exactly_when_short_else_to_ten_significant_digits(value, text, exact):
    got, got_exact = format_number(value)
    assert got_exact is exact
    if text != "≈":
        assert got == text
    else:
        assert got.startswith("0.0001220703")


def _random_expression(rng: random.Random, depth: int) -> tuple[str, Fraction]:
    """A random expression and its value, computed independently of the parser (on Fractions)."""
    if depth == 0 or rng.random() < 0.3:
        n = rng.randint(0, 999)
        return str(n), Fraction(n)
    left, a = _random_expression(rng, depth - 1)
    right, b = _random_expression(rng, depth - 1)
    op = rng.choice("+−×÷")
    if op == "÷" and b == 0:
        op = "+"
    value = {"+": a + b, "−": a - b, "×": a * b, "÷": a / b if b else 0}[op]
    return f"({left}){op}({right})", value


def test_random_bracketed_expressions_match_fraction_arithmetic():
    rng = random.Random(7)
    checked = 0
    for _ in range(300):
        text, value = _random_expression(rng, 3)
        if len(text) > MAX_SYMBOLS:
            continue
        try:
            got = evaluate(text).value
        except ExpressionError as e:
            assert "digits" in str(e)
            continue
        assert got == value, text
        checked += 1
    assert checked > 100


def _syntax_verdict(syntax: mathexpr.ArithmeticSyntax, line: str) -> int:
    """The worst verdict of any step of `line` and of its end."""
    state, worst = syntax.start(), mathexpr.FITS
    for symbol in line:
        state, verdict = syntax.step(state, syntax.symbols.index(symbol))
        worst = max(worst, verdict)
    return max(worst, syntax.end(state))


def test_the_reading_grammar_accepts_exactly_the_lines_the_evaluator_parses():
    # Every line of up to 5 symbols over every kind of symbol ("1" stands for any digit, so no division by zero).
    syntax = mathexpr.ArithmeticSyntax(list(mathexpr.SYMBOLS))
    alphabet = "1." + "".join(mathexpr.OPERATORS) + "=()"
    checked = 0
    for length in range(1, 6):
        for line in map("".join, itertools.product(alphabet, repeat=length)):
            try:
                evaluate(line)
                parses = True
            except ExpressionError:
                parses = False
            assert (_syntax_verdict(syntax, line) < mathexpr.BREAKS) == parses, line
            checked += parses
    assert checked > 250  # of the 66,429 lines, 282 parse


@pytest.mark.parametrize(("line", "verdict"), [("12+7=", mathexpr.FITS), ("−3+(−2)", mathexpr.FITS),
                                               ("5+−3", mathexpr.UNUSUAL), (".5×2", mathexpr.UNUSUAL),
                                               ("6−+5", mathexpr.BREAKS), ("(4+7", mathexpr.BREAKS),
                                               ("2(3)", mathexpr.BREAKS), ("1.2.3", mathexpr.BREAKS)])
def test_the_reading_grammar_tells_unusual_lines_from_broken_ones(line, verdict):
    assert _syntax_verdict(mathexpr.ArithmeticSyntax(list(mathexpr.SYMBOLS)), line) == verdict

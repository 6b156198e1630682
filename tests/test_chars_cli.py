"""`inkdigit predict --charset ... [--text]`: single characters of any set, lines, sums evaluated; the errors
are one line with a non-zero exit, and the digit modes' output is what it was."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from test_chars_reading import ink  # sibling test module: the tests' folder is on sys.path

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "inkdigit", "predict", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)


def one_line_error(r: subprocess.CompletedProcess) -> str:
    assert r.returncode != 0, r.stdout
    assert "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    return lines[0]


@pytest.fixture(scope="module")
def pictures(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("chars")
    out = {}
    for name, text in {"a": "A", "k": "K", "word": "CAT", "sum": "12+7=", "claim": "2+2=5", "zero": "7÷0",
                       "unfinished": "12+", "seven": "7", "number": "2026"}.items():
        path = folder / f"{name}.png"
        ink(text).save(path)
        out[name] = str(path)
    return out


def test_single_letters_as_a_table_and_as_json(pictures) -> None:
    r = run("--charset", "letters", pictures["a"], pictures["k"])
    assert r.returncode == 0, r.stderr
    head, *rows = r.stdout.splitlines()
    assert head.split()[:3] == ["file", "char", "conf"]
    assert [row.split()[1] for row in rows] == ["A", "K"]
    r = run("--charset", "alnum", "--json", pictures["a"])
    answer = json.loads(r.stdout)
    assert r.returncode == 0 and answer["text"] == "A" and answer["kind"] == "letter"
    assert answer["charset"] == "alnum" and isinstance(answer["confusable"], list)
    assert {"text", "probability"} == set(answer["top_k"][0])


def test_a_line_of_letters_with_text(pictures) -> None:
    r = run("--charset", "letters", "--text", pictures["word"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[1].split()[1] == "CAT"
    r = run("--charset", "letters", "--text", "--json", pictures["word"])
    answer = json.loads(r.stdout)
    assert answer["text"] == "CAT" and [c["text"] for c in answer["chars"]] == ["C", "A", "T"]
    assert all(len(c["box"]) == 4 for c in answer["chars"])


def test_math_text_is_evaluated(pictures) -> None:
    r = run("--charset", "math", "--text", pictures["sum"], pictures["claim"])
    assert r.returncode == 0, r.stderr
    rows = r.stdout.splitlines()[1:]
    assert rows[0].split()[1] == "12+7=" and rows[0].endswith("12+7 = 19")
    assert rows[1].endswith("2+2=5 is false: 2+2 = 4")
    answer = json.loads(run("--charset", "math", "--text", "--json", pictures["sum"]).stdout)
    assert (answer["expression"], answer["value"], answer["ok"], answer["holds"]) == ("12+7=", "19", True, None)


@pytest.mark.parametrize(("name", "words"), [("zero", ["7÷0", "division by zero"]),
                                             ("unfinished", ["12+", "a number is missing"])])
def test_a_sum_that_does_not_evaluate_is_one_line_and_exit_1(pictures, name: str, words: list[str]) -> None:
    r = run("--charset", "math", "--text", pictures[name])
    line = one_line_error(r)
    assert r.returncode == 1 and line.startswith("inkdigit: error: ") and all(w in line for w in words)
    r = run("--charset", "math", "--text", "--json", pictures[name])
    assert r.returncode == 1 and json.loads(r.stdout)["ok"] is False  # the line read is still reported


def test_a_good_and_a_bad_sum_together_exit_1_and_print_the_good_one(pictures) -> None:
    r = run("--charset", "math", "--text", pictures["sum"], pictures["zero"])
    assert r.returncode == 1 and "12+7 = 19" in r.stdout and "division by zero" in r.stderr


@pytest.mark.parametrize(("args", "words"), [
    (["--charset", "greek"], ["unknown character set 'greek'", "letters"]),
    (["--charset", "letters", "--model", "paper"], ["--model or --charset"]),
    (["--text", "--number"], ["--number or --text"]),
])
def test_bad_combinations_are_one_line(pictures, args: list[str], words: list[str]) -> None:
    line = one_line_error(run(*args, pictures["a"]))
    assert all(w in line for w in words), line


def test_the_digit_modes_answer_as_before(pictures) -> None:
    r = run("--json", pictures["seven"])
    answer = json.loads(r.stdout)
    assert r.returncode == 0 and isinstance(answer["label"], int) and len(answer["probabilities"]) == 10
    assert "text" not in answer and "kind" not in answer
    r = run("--number", pictures["number"])
    assert r.returncode == 0 and r.stdout.splitlines()[0].split()[1] == "number"
    r = run("--charset", "digits", "--text", "--json", pictures["number"])
    assert r.returncode == 0 and json.loads(r.stdout)["text"] == "2026"

"""The `inkdigit` command as a user runs it: errors are one line and non-zero, predict prints what it read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str, stdin: bytes | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "inkdigit", *args], input=stdin, capture_output=True,
                          cwd=ROOT, env=env, timeout=300)


def one_line_error(r: subprocess.CompletedProcess, code: int = 1) -> str:
    err = r.stderr.decode()
    assert r.returncode == code, err
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("args", [
    ["train", "--epochs", "many"], ["train", "--optimizer", "lbfgs"], ["predict"], ["nope"],
    ["evaluate"], ["export", "runs/x"], ["serve", "--port", "http"],
])
def test_bad_flags_exit_2_with_one_line(args):
    line = one_line_error(run(*args), code=2)
    assert "error:" in line and "--help" in line


def test_help_shows_defaults():
    out = run("train", "--help").stdout.decode()
    assert "--batch-size" in out and "--dry-run" in out and "(default: 0)" in out


def test_an_unknown_font_family_list_is_one_line(tmp_path):
    line = one_line_error(run("train", "--charset", "letters", "--font-families", "everything",
                              "--out", str(tmp_path / "r")))
    assert "unknown font family list 'everything'" in line and "training-57" in line
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_missing_data_says_fetch(tmp_path):
    line = one_line_error(run("train", "--data-dir", str(tmp_path), "--out", str(tmp_path / "r")))
    assert "inkdigit fetch" in line


def test_fetch_with_nothing_reachable_fails_clearly(tmp_path):
    r = run("fetch", "--data-dir", str(tmp_path), "--mirror", "http://127.0.0.1:9/", "--no-npm", "--timeout", "1")
    err = r.stderr.decode()
    assert r.returncode == 1 and "Traceback" not in err
    assert "could not get mnist" in err and "127.0.0.1:9" in err and str(tmp_path / "mnist") in err


@pytest.mark.slow
def test_unreadable_run_dirs(tmp_path):
    assert "no such run directory" in one_line_error(run("evaluate", str(tmp_path / "missing")))
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text("{not json")
    assert "config.json" in one_line_error(run("evaluate", str(bad)))
    (bad / "config.json").write_text(json.dumps({"settings": {"model": "paper"}}))
    assert "no model.pt" in one_line_error(run("export", str(bad), "--out", str(tmp_path / "x.onnx")))
    (bad / "model.pt").write_bytes(b"\x80garbage")
    assert "cannot load weights" in one_line_error(run("evaluate", str(bad)))
    import torch

    from inkdigit.training.nets import build_model

    torch.save(build_model("paper").state_dict(), bad / "model.pt")
    (bad / "metrics.json").write_text("{cut off by a full disk")
    assert "metrics.json: unreadable" in one_line_error(run("export", str(bad), "--out", str(tmp_path / "x.onnx")))


@pytest.mark.slow
def test_dry_run_trains_and_writes_a_run(tmp_path):
    r = run("train", "--dry-run", "--no-progress", "--out", str(tmp_path / "dry"), "--threads", "1")
    assert r.returncode == 0, r.stderr.decode()
    out = r.stdout.decode()
    assert "epoch   1/1" in out and "test accuracy" in out
    assert (tmp_path / "dry" / "model.pt").is_file()


# --- predict -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def digit_files(tmp_path_factory, mnist_test):
    """Canvas-like PNGs of MNIST test digits (black on white, 280x280) plus their labels."""
    images, labels = mnist_test
    folder = tmp_path_factory.mktemp("digits")
    picks = [0, 1, 2, 3, 4]  # labels 7 2 1 0 4
    for i in picks:
        Image.fromarray(255 - images[i]).resize((280, 280), Image.Resampling.BILINEAR).save(folder / f"d{i}.png")
    return folder, [int(labels[i]) for i in picks]


def test_predict_table_json_and_folder(digit_files):
    folder, labels = digit_files
    r = run("predict", str(folder / "d0.png"))
    assert r.returncode == 0, r.stderr.decode()
    lines = r.stdout.decode().splitlines()
    assert lines[0].split()[:3] == ["file", "digit", "conf"]
    assert lines[1].split()[1] == "7"
    r = run("predict", str(folder), "--json", "--top-k", "2")
    rows = [json.loads(ln) for ln in r.stdout.decode().splitlines()]
    assert [row["label"] for row in rows] == labels
    assert all(len(row["top_k"]) == 2 and abs(sum(row["probabilities"]) - 1) < 1e-4 for row in rows)


def test_predict_reads_stdin(digit_files):
    folder, _ = digit_files
    r = run("predict", "-", "--json", stdin=(folder / "d2.png").read_bytes())
    assert r.returncode == 0 and json.loads(r.stdout)["label"] == 1


def test_predict_reports_bad_files_and_still_reads_the_rest(digit_files, tmp_path):
    folder, _ = digit_files
    (tmp_path / "junk.png").write_bytes(b"not an image")
    Image.new("L", (100, 100), 255).save(tmp_path / "blank.png")
    r = run("predict", str(folder / "d0.png"), str(tmp_path / "junk.png"), str(tmp_path / "blank.png"),
            str(tmp_path / "missing.png"), "--json")
    assert r.returncode == 1
    errs = r.stderr.decode().splitlines()
    assert len(errs) == 3 and all(e.startswith("inkdigit: error: ") for e in errs)
    assert any("junk.png" in e for e in errs) and any("missing.png" in e and "no such file" in e for e in errs)
    assert any("blank.png" in e for e in errs)
    assert [json.loads(ln)["label"] for ln in r.stdout.decode().splitlines()] == [7]


def test_predict_refuses_an_eps_file_in_one_line(digit_files, tmp_path):
    folder, _ = digit_files
    eps = tmp_path / "drawing.eps"
    eps.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 64\nnewpath 10 10 moveto 54 54 lineto stroke\n")
    line = one_line_error(run("predict", str(eps)))
    assert line.startswith("inkdigit: error: ") and "drawing.eps" in line and "EPS" in line and "PNG" in line
    r = run("predict", str(eps), str(folder / "d0.png"), "--json")  # the other files are still read
    assert r.returncode == 1 and len(r.stderr.decode().splitlines()) == 1
    assert [json.loads(ln)["label"] for ln in r.stdout.decode().splitlines()] == [7]


def test_predict_large_folder_in_order_with_errors(mnist_test, tmp_path):
    """A folder big enough to be read by worker processes: every file reported once, in name order, with
    the right labels, and a broken file named on stderr while the rest are read."""
    images, labels = mnist_test
    n = 600
    for i in range(n):
        Image.fromarray(images[i]).save(tmp_path / f"{i:04d}.png")
    (tmp_path / "0300b.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    r = run("predict", str(tmp_path), "--json", "--model", "paper")
    stderr = r.stderr.decode()
    assert r.returncode == 1, stderr
    errs = stderr.splitlines()
    assert len(errs) == 1 and "0300b.png" in errs[0], stderr
    rows = [json.loads(ln) for ln in r.stdout.decode().splitlines()]
    assert [row["file"] for row in rows] == [str(tmp_path / f"{i:04d}.png") for i in range(n)]
    assert np.mean([row["label"] for row in rows] == labels[:n]) > 0.97


def test_predict_number_and_unsure_flag(digit_files, mnist_test, tmp_path):
    images, labels = mnist_test
    row = np.concatenate([np.pad(255 - images[i], 8, constant_values=255) for i in (0, 1, 2)], axis=1)
    Image.fromarray(row).resize((row.shape[1] * 5, row.shape[0] * 5)).save(tmp_path / "n.png")
    r = run("predict", str(tmp_path / "n.png"), "--number", "--json")
    assert r.returncode == 0, r.stderr.decode()
    res = json.loads(r.stdout)
    assert res["text"] == "721" and len(res["digits"]) == 3
    assert res["digits"][0]["box"][0] < res["digits"][1]["box"][0] < res["digits"][2]["box"][0]
    folder, _ = digit_files
    r = run("predict", str(folder / "d0.png"), "--min-confidence", "1.0")
    assert "not sure" in r.stdout.decode()
    assert "--min-confidence" in one_line_error(run("predict", str(folder / "d0.png"), "--min-confidence", "7"))


def test_predict_dev_zero_is_one_line_and_the_rest_is_read(digit_files):
    """/dev/zero reports a size of 0 and never ends: it must be refused at the size limit, not read to OOM."""
    folder, _ = digit_files
    r = subprocess.run([sys.executable, "-m", "inkdigit", "predict", "/dev/zero", str(folder / "d0.png"), "--json"],
                       capture_output=True, cwd=ROOT, timeout=60)
    line = one_line_error(r)
    assert line.startswith("inkdigit: error: /dev/zero: ") and "over 256 MiB" in line
    assert [json.loads(ln)["label"] for ln in r.stdout.decode().splitlines()] == [7]


def test_predict_endless_stdin_stops_at_the_limit():
    """`cat /dev/zero | inkdigit predict -` ends with one line instead of reading until memory runs out."""
    proc = subprocess.Popen([sys.executable, "-m", "inkdigit", "predict", "-"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)

    def feed() -> None:  # zeros until the reader goes away
        zeros = bytes(1 << 20)
        try:
            while True:
                proc.stdin.write(zeros)
        except (BrokenPipeError, ValueError, OSError):
            pass

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    try:
        proc.wait(timeout=60)  # not communicate(): it would close stdin, ending the stream
    finally:
        proc.kill()
        writer.join(timeout=10)
    r = subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout.read(), proc.stderr.read())
    for f in (proc.stdin, proc.stdout, proc.stderr):
        f.close()
    assert one_line_error(r) == "inkdigit: error: -: stdin is over 256 MiB"


def test_predict_folder_with_a_symlink_loop(digit_files, tmp_path):
    """A symlink loop in a folder is one error line naming it; the good file next to it is still read."""
    folder, _ = digit_files
    (tmp_path / "good.png").write_bytes((folder / "d0.png").read_bytes())
    os.symlink("b.lnk", tmp_path / "a.png")  # a.png -> b.lnk -> a.png
    os.symlink("a.png", tmp_path / "b.lnk")
    r = run("predict", str(tmp_path), "--json")
    line = one_line_error(r)
    assert line.startswith(f"inkdigit: error: {tmp_path / 'a.png'}: ") and "symbolic links" in line
    assert [json.loads(ln)["label"] for ln in r.stdout.decode().splitlines()] == [7]
    line = one_line_error(run("predict", str(tmp_path / "a.png")))  # the loop named itself
    assert line.startswith(f"inkdigit: error: {tmp_path / 'a.png'}: ")


def test_a_folder_that_cannot_be_listed_is_one_error(tmp_path, monkeypatch):
    from inkdigit.cli import reading

    def denied(path):
        raise PermissionError(13, "Permission denied", path)

    (tmp_path / "x.png").write_bytes(b"")
    monkeypatch.setattr(reading.os, "scandir", denied)  # as root, chmod 000 would not stop the listing
    assert list(reading.expand_inputs([str(tmp_path), str(tmp_path / "x.png")])) == [
        (str(tmp_path), "Permission denied"), (str(tmp_path / "x.png"), None)]


def test_predict_unknown_model():
    line = one_line_error(run("predict", "x.png", "--model", "no-such-model"))
    assert "no-such-model" in line and "paper" in line


def test_a_ctrl_c_during_a_commands_imports_is_held_until_they_finish(monkeypatch, capsys):
    import os
    import signal

    from inkdigit import cli

    events: list[str] = []

    def import_module(name: str) -> None:
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl+C lands in the middle of importing torch/FastAPI/...
        events.append(f"imported {name}")

    monkeypatch.setattr(cli.importlib, "import_module", import_module)
    monkeypatch.setattr(cli.fetch, "run", lambda args: events.append("ran fetch"))
    assert cli.main(["fetch"]) == 130
    assert events == ["imported inkdigit.data"]  # the import finished; the command never started
    assert capsys.readouterr().err.strip() == "inkdigit: interrupted"


def test_a_ctrl_c_that_a_library_wrapped_is_still_interrupted(monkeypatch, capsys):
    from inkdigit import cli

    def wrapped(args):  # what class creation does to a KeyboardInterrupt inside __set_name__
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as e:
            raise RuntimeError("Error calling __set_name__") from e

    monkeypatch.setattr(cli.fetch, "run", wrapped)
    assert cli.main(["fetch"]) == 130
    assert capsys.readouterr().err.strip() == "inkdigit: interrupted"


def test_gui_without_tk_is_one_line(tmp_path):
    # A Python without Tk: `import tkinter` fails as it does there.
    (tmp_path / "tkinter.py").write_text("raise ModuleNotFoundError(\"No module named '_tkinter'\", name='_tkinter')\n")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    line = one_line_error(run("gui", env=env))
    assert line == "inkdigit: error: the desktop app needs Tk for Python (Debian: apt install python3-tk)"


def test_train_out_an_existing_file_is_one_line(tmp_path):
    out = tmp_path / "notes.txt"
    out.write_text("keep me")
    line = one_line_error(run("train", "--data-dir", str(tmp_path), "--out", str(out)))
    assert str(out) in line and "not a folder" in line
    assert out.read_text() == "keep me"


def test_fetch_with_inkdigit_data_a_file_is_one_line(tmp_path):
    a_file = tmp_path / "data"
    a_file.write_text("not a folder")
    env = {**os.environ, "INKDIGIT_DATA": str(a_file)}
    line = one_line_error(run("fetch", "--mirror", "http://127.0.0.1:9/", "--no-npm", "--timeout", "1", env=env))
    assert str(a_file) in line and "INKDIGIT_DATA" in line

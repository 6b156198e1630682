"""Desktop app under a real X server (Xvfb): draw with mouse events, check what the window shows.

Needs the Debian packages xvfb and xdotool; without them these tests fail (never skip) and say so.
Screenshots land in test-output/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import gc
import math
import os
import subprocess
import sys
import time
import tkinter as tk
from collections.abc import Iterator
from pathlib import Path

import displays  # scripts/displays.py: Xvfb, shared with the screenshot script
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageGrab

from inkdigit.gui import present
from inkdigit.gui.app import InkDigitApp
from inkdigit.inference import Predictor

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "test-output"
SRC = REPO / "src"

Points = list[tuple[float, float]]


# ---------------------------------------------------------------- shapes, in page units ([0,1] both ways)
def one() -> list[Points]:
    """A '1': one slightly slanted vertical line."""
    return [[(0.52 - 0.03 * t, 0.20 + 0.60 * t) for t in np.linspace(0, 1, 16)]]


def seven() -> list[Points]:
    """A '7': a top bar then a long diagonal, in one stroke."""
    top = [(0.40 + 0.22 * t, 0.24) for t in np.linspace(0, 1, 10)]
    stem = [(0.62 - 0.13 * t, 0.24 + 0.54 * t) for t in np.linspace(0.05, 1, 16)]
    return [top + stem]


def zero() -> list[Points]:
    """A '0': a tall ellipse, closed with a little overlap as people draw it."""
    return [[(0.5 + 0.11 * math.sin(a), 0.5 - 0.30 * math.cos(a)) for a in np.linspace(0, 2.1 * math.pi, 40)]]


def shifted(strokes: list[Points], du: float, scale: float = 1.0) -> list[Points]:
    """The same strokes moved sideways by du and scaled about the page centre (for writing numbers)."""
    return [[(0.5 + (u - 0.5) * scale + du, 0.5 + (v - 0.5) * scale) for u, v in s] for s in strokes]


SHAPES = {"1": one, "7": seven, "0": zero}


# ---------------------------------------------------------------- fixtures
@pytest.fixture(autouse=True)
def _free_tk_in_this_thread() -> Iterator[None]:
    """Tk objects must be freed by the thread that made them: a Tcl interpreter that the garbage collector
    finds later, in another thread (an API test client's), aborts the whole test process."""
    yield
    gc.collect()


def _require(name: str, package: str) -> str:
    try:
        return displays.tool(name, package)
    except displays.DisplayError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def predictor() -> Predictor:
    """The real predictor with the bundled paper model."""
    return Predictor.load("paper")


@pytest.fixture
def app(xdisplay: str, predictor: Predictor) -> Iterator[InkDigitApp]:
    """The app in this process on its own Tk root, mapped and laid out."""
    root = tk.Tk(className="inkdigit")
    application = InkDigitApp(root, predictor=predictor)
    root.geometry("+0+0")
    _settle(root)
    yield application
    root.destroy()


def _settle(root: tk.Tk, seconds: float = 0.0) -> None:
    """Pump Tk until the window is mapped and laid out (and optionally a little longer)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        root.update()
        if root.winfo_ismapped() and root.winfo_width() > 200:
            break
        time.sleep(0.01)
    end = time.monotonic() + seconds
    while True:
        root.update()
        if time.monotonic() >= end:
            break
        time.sleep(0.01)


def draw(app: InkDigitApp, strokes: list[Points]) -> None:
    """Draw strokes with Tk mouse events on the canvas: press, motion with button 1 held, release."""
    canvas = app.canvas
    for stroke in strokes:
        pts = [app.sheet.page_to_canvas(u, v) for u, v in stroke]
        x, y = pts[0]
        canvas.event_generate("<ButtonPress-1>", x=round(x), y=round(y), button=1)
        for x, y in pts[1:]:
            canvas.event_generate("<B1-Motion>", x=round(x), y=round(y), state=0x100)
        canvas.event_generate("<ButtonRelease-1>", x=round(x), y=round(y), button=1, state=0x100)
        app.root.update()  # runs the read queued with after_idle on stroke end


def press_key(app: InkDigitApp, sequence: str) -> None:
    """A key press delivered the way a keyboard does: to the focused window."""
    app.root.focus_force()
    app.root.update()
    app.root.event_generate(sequence)
    app.root.update()


def screenshot(root: tk.Tk, display: str, name: str) -> Image.Image:
    """Grab the window from the X server (what a person would see) and save it under test-output/."""
    root.update()
    x, y, w, h = root.winfo_rootx(), root.winfo_rooty(), root.winfo_width(), root.winfo_height()
    shot = ImageGrab.grab(bbox=(x, y, x + w, y + h), xdisplay=display)
    OUT.mkdir(exist_ok=True)
    shot.save(OUT / name)
    return shot


def answer(app: InkDigitApp) -> str:
    """The big answer exactly as the label shows it."""
    return str(app.answer_label.cget("text")).strip()


def detail(app: InkDigitApp) -> str:
    return str(app.detail_label.cget("text"))


# ---------------------------------------------------------------- drawing and reading
@pytest.mark.parametrize("digit", sorted(SHAPES))
def test_drawn_digit_is_read_on_stroke_end(app: InkDigitApp, digit: str) -> None:
    draw(app, SHAPES[digit]())
    assert answer(app) == digit, detail(app)
    assert "%" in detail(app)
    assert app.root.title() == f"inkdigit — {digit}"
    assert app.status_text()[1] is False


def test_strokes_go_to_an_in_memory_image_not_a_screen_grab(app: InkDigitApp, xdisplay: str) -> None:
    draw(app, one())
    # The ink image has a fixed resolution independent of the window, with black ink on white.
    ink = np.asarray(app.sheet.ink_image)
    assert ink.shape == (480, 640)
    assert ink.min() == 0 and np.median(ink) == 255
    # And the same stroke is on screen: the middle of the drawn line is dark in a real X screenshot.
    shot = screenshot(app.root, xdisplay, "gui-one.png").convert("L")
    x, y = app.sheet.page_to_canvas(0.505, 0.5)
    cx, cy = (
        app.canvas.winfo_rootx() - app.root.winfo_rootx(),
        app.canvas.winfo_rooty() - app.root.winfo_rooty(),
    )
    assert shot.getpixel((round(cx + x), round(cy + y))) < 80
    assert shot.getpixel((round(cx + app.sheet.page_to_canvas(0.1, 0.5)[0]), round(cy + y))) > 200


def test_the_sheet_is_read_as_strokes_like_the_api_reads_them(app: InkDigitApp, monkeypatch) -> None:
    """The model reads the sheet's strokes painted by the pen of the web page and the API: same answer as the API."""
    from fastapi.testclient import TestClient

    from inkdigit.server.app import create_app
    from inkdigit.vision import strokes

    painted: list[strokes.Drawing] = []
    paint = strokes.render
    monkeypatch.setattr(strokes, "render", lambda drawing: painted.append(drawing) or paint(drawing))
    draw(app, seven())
    assert answer(app) == "7"
    (drawing,) = painted  # read once, at the stroke's end, from the strokes themselves
    (stroke,) = app.sheet.strokes
    assert (drawing.width, drawing.height) == (640, 480)
    assert np.allclose(drawing.strokes[0], [(u * 640, v * 480) for u, v in stroke.points])
    assert drawing.brushes == (pytest.approx(stroke.width * 480),)
    with TestClient(create_app("paper")) as client:
        api = client.post("/api/predict", json=app.sheet.strokes_json()).json()
    assert api["label"] == 7 and present.percent(api["confidence"]) in detail(app)


def test_read_shows_probability_bars_and_model_input(app: InkDigitApp) -> None:
    draw(app, seven())
    bar_texts = [app.bars.itemcget(i, "text") for i in app.bars.find_all() if app.bars.type(i) == "text"]
    assert [t for t in bar_texts if "%" in t or t == "–"], bar_texts
    assert str(app.bars_caption.cget("text")) == "CLASS PROBABILITIES"
    # The 28x28 preview is the model's real input, shown at 4x.
    image = app.preview.cget("image")
    assert image and int(app.root.call("image", "width", image)) == 112


def test_blank_canvas_shows_no_answer(app: InkDigitApp) -> None:
    app.read_button.invoke()
    press_key(app, "<Return>")
    assert answer(app) == ""
    assert detail(app) == "Draw a digit"
    assert app.status_text() == ("", False)


def test_undo_and_clear(app: InkDigitApp) -> None:
    draw(app, one())
    assert answer(app) == "1"
    draw(app, [[(0.40, 0.30), (0.62, 0.30)], [(0.40, 0.75), (0.62, 0.75)]])  # two bars: no longer a 1
    assert len(app.sheet.strokes) == 3
    press_key(app, "<Control-z>")
    press_key(app, "<Control-z>")
    assert len(app.sheet.strokes) == 1
    assert answer(app) == "1"
    press_key(app, "<Escape>")
    assert app.sheet.strokes == []
    assert answer(app) == "" and detail(app) == "Draw a digit"
    assert not app.canvas.find_withtag("ink")


def test_resize_keeps_the_drawing(app: InkDigitApp) -> None:
    draw(app, zero())
    before = list(app.sheet.strokes[0].points)
    app.root.geometry("900x700")
    _settle(app.root, 0.1)
    assert app.canvas.winfo_width() < 700
    assert app.sheet.strokes[0].points == before
    (item,) = app.canvas.find_withtag("ink")
    xs = app.canvas.coords(item)[0::2]
    x0, _, pw, _ = app.sheet.page_rect()
    assert x0 <= min(xs) and max(xs) <= x0 + pw  # redrawn at the new scale, inside the smaller sheet
    app.read()
    assert answer(app) == "0"


def test_resize_in_the_middle_of_a_stroke(app: InkDigitApp) -> None:
    canvas, sheet = app.canvas, app.sheet
    x, y = sheet.page_to_canvas(0.5, 0.2)
    canvas.event_generate("<ButtonPress-1>", x=round(x), y=round(y), button=1)
    x, y = sheet.page_to_canvas(0.5, 0.4)
    canvas.event_generate("<B1-Motion>", x=round(x), y=round(y), state=0x100)
    app.root.geometry("950x690")
    _settle(app.root, 0.1)
    for v in (0.6, 0.8):
        x, y = sheet.page_to_canvas(0.5, v)
        canvas.event_generate("<B1-Motion>", x=round(x), y=round(y), state=0x100)
    canvas.event_generate("<ButtonRelease-1>", x=round(x), y=round(y), button=1, state=0x100)
    app.root.update()
    line = [i for i in canvas.find_withtag("ink") if canvas.type(i) == "line"]
    assert len(line) == 1 and len(canvas.coords(line[0])) == 2 * len(sheet.strokes[0].points) >= 8
    assert answer(app) == "1"


def test_window_is_on_screen_before_the_model_loads(xdisplay: str, monkeypatch) -> None:
    seen: list[bool] = []
    real_load = Predictor.load

    def load(*args: object, **kwargs: object) -> Predictor:
        seen.append(bool(root.winfo_viewable()) and bool(application.canvas.find_all()))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(Predictor, "load", load)
    root = tk.Tk(className="inkdigit")
    try:
        application = InkDigitApp(root, model="paper")
        assert application.predictor is None  # nothing slow before the first paint
        _settle(root, 0.3)
        assert seen == [True]
        assert application.predictor is not None
        assert "paper" in str(application.model_info.cget("text"))
    finally:
        root.destroy()


def test_bad_model_flag_still_opens_the_window_with_the_error(xdisplay: str) -> None:
    root = tk.Tk(className="inkdigit")
    try:
        application = InkDigitApp(root, model="no-such-model")
        _settle(root, 0.3)
        message, is_error = application.status_text()
        assert is_error and "no-such-model" in message
        assert str(application.model_info.cget("text")) == "No model loaded"
        draw(application, one())
        assert application.shown.error and "No model loaded" in detail(application)
    finally:
        root.destroy()


def test_number_mode_reads_a_number_with_a_box_per_digit(app: InkDigitApp, xdisplay: str) -> None:
    press_key(app, "<KeyPress-n>")
    assert app.number_mode.get() is True
    draw(app, shifted(one(), -0.15, 0.8) + shifted(seven(), 0.12, 0.8))
    assert answer(app) == "17", detail(app)
    assert app.root.title() == "inkdigit — 17"
    assert str(app.bars_caption.cget("text")) == "CONFIDENCE PER DIGIT"
    boxes = [i for i in app.canvas.find_withtag("box") if app.canvas.type(i) == "text"]
    assert [app.canvas.itemcget(i, "text") for i in boxes] == ["1", "7"]
    screenshot(app.root, xdisplay, "gui-number.png")
    press_key(app, "<KeyPress-n>")
    app.root.update()
    assert app.number_mode.get() is False
    assert not app.canvas.find_withtag("box")


def test_unsure_answer_is_marked(xdisplay: str) -> None:
    root = tk.Tk(className="inkdigit")
    try:
        strict = Predictor.load("paper", min_confidence=0.9999999)
        application = InkDigitApp(root, predictor=strict)
        root.geometry("+0+0")
        _settle(root)
        # Two crossing strokes: no digit, so the model cannot be that sure.
        draw(application, [[(0.35, 0.25), (0.65, 0.75)], [(0.65, 0.25), (0.35, 0.75)]])
        assert application.shown.unsure
        assert detail(application).startswith("Not sure")
    finally:
        root.destroy()


# ---------------------------------------------------------------- files and errors
def _digit_png(path: Path, digit: str) -> Path:
    """A photo-like digit: dark ink on light paper, drawn with PIL from the same shapes."""
    img = Image.new("L", (300, 300), 235)
    pen = ImageDraw.Draw(img)
    for stroke in SHAPES[digit]():
        pts = [(u * 300, v * 300) for u, v in stroke]
        pen.line(pts, fill=20, width=24, joint="curve")
        for x, y in (pts[0], pts[-1]):
            pen.ellipse((x - 12, y - 12, x + 12, y + 12), fill=20)
    img.save(path)
    return path


def test_open_image_shows_and_reads_it(app: InkDigitApp, tmp_path: Path, xdisplay: str) -> None:
    assert app.open_image(_digit_png(tmp_path / "seven.png", "7")) is True
    app.root.update()
    assert answer(app) == "7", detail(app)
    assert app.canvas.find_withtag("opened")
    assert "seven.png" in app.status_text()[0]
    screenshot(app.root, xdisplay, "gui-open.png")
    # Drawing afterwards starts a fresh sheet instead of mixing ink into the photo.
    draw(app, one())
    assert not app.canvas.find_withtag("opened")
    assert answer(app) == "1"


def test_ctrl_o_opens_the_picked_file(app: InkDigitApp, tmp_path: Path, monkeypatch) -> None:
    path = _digit_png(tmp_path / "zero.png", "0")
    monkeypatch.setattr("inkdigit.gui.app.filedialog.askopenfilename", lambda **_kw: str(path))
    press_key(app, "<Control-o>")
    assert answer(app) == "0"
    press_key(app, "<Delete>")
    assert answer(app) == "" and not app.canvas.find_withtag("opened")


def test_open_an_mnist_test_digit(app: InkDigitApp, tmp_path: Path, mnist_test) -> None:
    images, labels = mnist_test
    path = tmp_path / "mnist-0.png"
    Image.fromarray(images[0]).save(path)  # white on black, 28x28: shown as crisp pixels, read as is
    assert app.open_image(path) is True
    assert answer(app) == str(labels[0])


def test_brush_size_control(app: InkDigitApp) -> None:
    app.brush_scale.set(2)
    draw(app, one())
    thin = app.sheet.strokes[-1].width
    app.brush_scale.set(9)
    draw(app, shifted(one(), 0.2))
    assert app.sheet.strokes[-1].width > 3 * thin
    (_, item) = app.canvas.find_withtag("ink")[-2:]
    assert float(app.canvas.itemcget(item, "width")) > 20  # the thick line is thick on screen too
    assert app.canvas.itemcget(item, "capstyle") == "round"


def test_unreadable_file_is_an_error_in_the_window(app: InkDigitApp, tmp_path: Path) -> None:
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"this is not a picture")
    assert app.open_image(bad) is False
    message, is_error = app.status_text()
    assert is_error and "broken.png" in message
    assert "Traceback" not in message and "\n" not in message
    assert str(app.status.cget("foreground")) == "#dc2626"
    assert app.open_image(tmp_path / "missing.png") is False
    assert "missing.png" in app.status_text()[0]


def test_missing_or_broken_model_is_an_error_in_the_window(app: InkDigitApp, tmp_path: Path) -> None:
    assert app.load_model(str(tmp_path / "nope.onnx")) is False
    message, is_error = app.status_text()
    assert is_error and "nope.onnx" in message
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00garbage")
    assert app.load_model(str(junk)) is False
    assert app.status_text()[1]
    draw(app, one())  # the model that was loaded keeps working
    assert answer(app) == "1"


def test_model_menu_and_status_bar(app: InkDigitApp) -> None:
    info = str(app.model_info.cget("text"))
    assert "paper" in info and "test accuracy" in info and "%" in info
    menu = app.model_menu["menu"]
    labels = [menu.entrycget(i, "label") for i in range(menu.index("end") + 1)]
    assert "paper" in labels


def test_callback_errors_are_shown_in_the_window(app: InkDigitApp) -> None:
    app.root.after(0, lambda: 1 / 0)
    _settle(app.root, 0.05)
    message, is_error = app.status_text()
    assert is_error and "ZeroDivisionError" in message
    assert app.last_traceback and "Traceback" in app.last_traceback


# ---------------------------------------------------------------- the real program
def _env(display: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), env.get("PYTHONPATH", "")) if p)
    if display:
        env["DISPLAY"] = display
    return env


def _xdotool(*args: str) -> str:
    return subprocess.run(
        [_require("xdotool", "xdotool"), *args], capture_output=True, text=True, timeout=20, check=True
    ).stdout.strip()


@pytest.mark.slow
def test_real_program_reads_a_mouse_drag(xdisplay: str) -> None:
    """`python -m inkdigit gui` in its own process, driven by xdotool's synthesised mouse."""
    _require("xdotool", "xdotool")
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "inkdigit", "gui", "--model", "paper"],
        env=_env(xdisplay),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wid = ""
        while not wid and time.monotonic() - started < 15:
            if proc.poll() is not None:
                pytest.fail(f"the app exited with {proc.returncode}: {proc.stderr.read()}", pytrace=False)
            found = subprocess.run(
                ["xdotool", "search", "--onlyvisible", "--name", "^inkdigit$"], capture_output=True, text=True
            )
            wid = found.stdout.split()[0] if found.stdout.split() else ""
            time.sleep(0.05)
        startup = time.monotonic() - started
        assert wid, "the window did not appear within 15 s"
        assert startup < 5, f"window took {startup:.1f} s to appear"
        geometry = dict(
            line.split("=")
            for line in _xdotool("getwindowgeometry", "--shell", wid).splitlines()
            if "=" in line
        )
        x, y, w, h = (int(geometry[k]) for k in ("X", "Y", "WIDTH", "HEIGHT"))
        # No waiting for the model: a drawing made while it loads is read as soon as it is there.
        # A '1': a vertical drag in the middle of the drawing sheet (left part of the window).
        cx = x + round(0.33 * w)
        ys = [y + round(h * f) for f in np.linspace(0.30, 0.75, 14)]
        moves: list[str] = ["mousemove", str(cx), str(ys[0]), "mousedown", "1"]
        for i, yy in enumerate(ys[1:]):
            moves += ["mousemove", str(cx - i // 5), str(yy), "sleep", "0.01"]
        moves += ["mouseup", "1"]
        _xdotool(*moves)
        title = ""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            title = _xdotool("getwindowname", wid)
            if title != "inkdigit":
                break
            time.sleep(0.05)
        shot = ImageGrab.grab(bbox=(x, y, x + w, y + h), xdisplay=xdisplay)
        OUT.mkdir(exist_ok=True)
        shot.save(OUT / "gui-real-program.png")
        assert title == "inkdigit — 1"
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert "Traceback" not in err, err


def test_without_a_display_it_says_so_in_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "inkdigit.gui"], env=_env(None), capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert result.stderr.strip() == "no display: set DISPLAY or run on a desktop"
    assert "Traceback" not in result.stderr


def test_gui_does_not_import_torch() -> None:
    code = "import sys, inkdigit.gui.app; print('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], env=_env(None), capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "False"

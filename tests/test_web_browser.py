"""The web page in a real browser: Debian's Chromium (headless) driven by Playwright against `inkdigit serve`.

Digits are drawn the way people draw them, as strokes of mouse moves or finger touches, and the test checks
what the page shows. Without chromium these tests FAIL (never skip) and say what to install.
Screenshots of each test land in test-output/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import base64
import io
import json
import math
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import Browser, Page

from inkdigit.vision.strokes import parse, render
from web_page import record_reads, settled, shown

pytestmark = pytest.mark.slow  # make test-fast skips this file; make test runs it

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "test-output"

Stroke = list[tuple[float, float]]


# ---------------------------------------------------------------- digits as strokes, in page units [0,1]


def _ellipse(cx: float, cy: float, rx: float, ry: float, n: int = 14) -> Stroke:
    return [
        (cx + rx * math.sin(2 * math.pi * i / n), cy - ry * math.cos(2 * math.pi * i / n))
        for i in range(n + 1)
    ]


# Control points of each digit as a person writes it (smoothed with a Catmull-Rom spline when drawn).
DIGITS: dict[int, list[Stroke]] = {
    0: [_ellipse(0.5, 0.5, 0.19, 0.3)],
    1: [[(0.55, 0.2), (0.51, 0.5), (0.47, 0.8)]],
    2: [[(0.3, 0.34), (0.36, 0.24), (0.5, 0.19), (0.63, 0.24), (0.68, 0.36), (0.62, 0.5), (0.5, 0.62),
         (0.3, 0.79), (0.5, 0.79), (0.72, 0.79)]],
    3: [[(0.3, 0.26), (0.45, 0.19), (0.6, 0.21), (0.67, 0.31), (0.62, 0.43), (0.47, 0.48), (0.62, 0.53),
         (0.69, 0.65), (0.63, 0.77), (0.48, 0.81), (0.3, 0.76)]],
    4: [[(0.36, 0.2), (0.32, 0.4), (0.29, 0.58), (0.5, 0.58), (0.72, 0.58)],
        [(0.62, 0.24), (0.62, 0.55), (0.62, 0.82)]],
    5: [[(0.68, 0.21), (0.5, 0.21), (0.36, 0.21), (0.34, 0.35), (0.33, 0.48), (0.48, 0.43), (0.63, 0.48),
         (0.69, 0.62), (0.64, 0.75), (0.5, 0.81), (0.32, 0.76)]],
    6: [[(0.64, 0.2), (0.5, 0.3), (0.4, 0.45), (0.35, 0.6), (0.38, 0.74), (0.5, 0.81), (0.62, 0.75),
         (0.66, 0.62), (0.58, 0.52), (0.46, 0.52), (0.37, 0.6)]],
    7: [[(0.28, 0.22), (0.5, 0.22), (0.72, 0.22), (0.6, 0.45), (0.45, 0.8)]],
    8: [[(0.62, 0.27), (0.5, 0.19), (0.37, 0.25), (0.38, 0.38), (0.5, 0.47), (0.64, 0.57), (0.65, 0.72),
         (0.5, 0.81), (0.35, 0.72), (0.37, 0.57), (0.5, 0.47), (0.62, 0.38), (0.62, 0.27)]],
    9: [[(0.64, 0.32), (0.55, 0.2), (0.4, 0.22), (0.35, 0.35), (0.42, 0.46), (0.56, 0.45), (0.64, 0.32),
         (0.63, 0.55), (0.6, 0.82)]],
}  # fmt: skip


def smooth(points: Stroke, per: int = 2) -> Stroke:
    """A Catmull-Rom spline through ``points``: the dense, curved path a hand would take."""
    pts = [points[0], *points, points[-1]]
    out: Stroke = []
    for i in range(1, len(pts) - 2):
        p0, p1, p2, p3 = pts[i - 1], pts[i], pts[i + 1], pts[i + 2]
        for k in range(per):
            t = k / per
            out.append(
                tuple(  # type: ignore[arg-type]
                    0.5
                    * (
                        2 * p1[j]
                        + (p2[j] - p0[j]) * t
                        + (2 * p0[j] - 5 * p1[j] + 4 * p2[j] - p3[j]) * t * t
                        + (3 * p1[j] - p0[j] - 3 * p2[j] + p3[j]) * t**3
                    )
                    for j in range(2)
                )
            )
    out.append(points[-1])
    return out


def placed(strokes: list[Stroke], cx: float, scale: float) -> list[Stroke]:
    """Strokes shrunk by ``scale`` about the centre and moved so their centre is at x = cx (numbers)."""
    return [[(cx + (x - 0.5) * scale, 0.5 + (y - 0.5) * scale) for x, y in s] for s in strokes]


# ---------------------------------------------------------------- fixtures


# ---------------------------------------------------------------- helpers


def pad_box(page: Page) -> dict:
    box = page.locator("#pad").bounding_box()
    assert box is not None
    return box


def draw_mouse(page: Page, strokes: list[Stroke]) -> None:
    """Draw strokes with the mouse: press, many small moves along the curve, release."""
    box = pad_box(page)
    for stroke in strokes:
        path = [(box["x"] + u * box["width"], box["y"] + v * box["height"]) for u, v in smooth(stroke)]
        page.mouse.move(*path[0])
        page.mouse.down()
        for x, y in path[1:]:
            page.mouse.move(x, y)
        page.mouse.up()


def draw_touch(page: Page, strokes: list[Stroke]) -> None:
    """Draw strokes with a finger: CDP touch events, so the page sees pointerType 'touch'."""
    box = pad_box(page)
    cdp = page.context.new_cdp_session(page)
    for stroke in strokes:
        path = [(box["x"] + u * box["width"], box["y"] + v * box["height"]) for u, v in smooth(stroke)]
        cdp.send(
            "Input.dispatchTouchEvent",
            {"type": "touchStart", "touchPoints": [{"x": path[0][0], "y": path[0][1]}]},
        )
        for x, y in path[1:]:
            cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()


def decode_png(data_url: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data_url.partition(",")[2]))).convert("L"))


# ---------------------------------------------------------------- tests


def test_blank_canvas_shows_no_digit(page: Page) -> None:
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    page.wait_for_timeout(300)
    assert shown(page) == ("?", "Draw something")
    assert page.locator("#answer").get_attribute("data-state") == "empty"
    assert page.locator("#undo").is_disabled() and page.locator("#clear").is_disabled()
    assert posts == []  # nothing is sent for an empty canvas


def test_mouse_drawn_digits_are_read(page: Page) -> None:
    for digit, strokes in DIGITS.items():
        page.keyboard.press("Escape")
        draw_mouse(page, strokes)
        answer = settled(page)
        assert answer is not None and answer["label"] == digit, (digit, answer and answer["top_k"])
        big, verdict = shown(page)
        assert big == str(digit) and str(digit) in verdict
        assert page.locator("#bars li.top .digit").inner_text() == str(digit)
        # "What the model sees": the 28x28 input is shown as an image.
        assert page.locator("#stage-final img").get_attribute("src").startswith("data:image/png")
        OUT.mkdir(exist_ok=True)
        page.screenshot(path=str(OUT / f"web-digit-{digit}.png"))
    assert "percent" in page.locator("#live").inner_text() or page.locator("#live").inner_text().startswith(
        "Reads"
    )


def test_live_reading_while_drawing_is_throttled(page: Page) -> None:
    """Answers arrive during a stroke, never two requests at once, and at most one per ~150 ms."""
    page.evaluate(
        """() => { const log = window.fetchLog = [], real = window.fetch; let open = 0;
             window.fetch = (...a) => { open++; log.push([performance.now(), open]);
               return real(...a).finally(() => { open--; }); }; }"""
    )
    box = pad_box(page)
    path = [
        (box["x"] + u * box["width"], box["y"] + v * box["height"]) for u, v in smooth(DIGITS[2][0], per=12)
    ]
    page.mouse.move(*path[0])
    page.mouse.down()
    seen_during_stroke = False
    for i, (x, y) in enumerate(path[1:]):
        page.mouse.move(x, y)
        if i % 10 == 9:
            page.wait_for_timeout(60)
            seen_during_stroke = (
                seen_during_stroke or page.locator("#answer").get_attribute("data-state") != "empty"
            )
    page.mouse.up()
    answer = settled(page)
    assert seen_during_stroke, "no answer was shown before the stroke ended"
    assert answer is not None and answer["label"] == 2
    log = page.evaluate("() => window.fetchLog")
    assert len(log) >= 3
    assert max(n for _, n in log) == 1  # never more than one request in flight
    gaps = [b[0] - a[0] for a, b in zip(log, log[1:], strict=False)]
    assert min(gaps[:-1] or [1000]) >= 145, gaps  # throttled; the final read at pen-up may come sooner


def test_touch_drawing_on_a_phone(browser: Browser, live_url: str) -> None:
    context = browser.new_context(
        viewport={"width": 360, "height": 740}, device_scale_factor=3, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    page.goto(live_url)
    page.wait_for_function("() => window.inkdigit !== undefined")
    pointer_types: list[str] = []
    page.expose_function("notePointer", lambda t: pointer_types.append(t))
    page.evaluate(
        "() => document.getElementById('pad')"
        ".addEventListener('pointerdown', e => notePointer(e.pointerType))"
    )
    box = pad_box(page)
    assert box["width"] >= 300 and box["x"] >= 0 and box["x"] + box["width"] <= 360  # fills a 360 px screen
    # Crisp on a high-DPI screen: the canvas has 3 backing pixels per CSS pixel.
    backing = page.evaluate("() => document.getElementById('pad').width")
    assert abs(backing - round(box["width"] * 3)) <= 3
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 360  # no sideways scrolling

    draw_touch(page, DIGITS[3])
    answer = settled(page)
    assert pointer_types and set(pointer_types) == {"touch"}
    assert answer is not None and answer["label"] == 3
    assert shown(page)[0] == "3"
    assert page.evaluate("() => window.scrollY") == 0  # drawing did not scroll the page
    OUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUT / "web-test_touch_drawing_on_a_phone.png"), full_page=True)
    context.close()


def test_number_mode_reads_digits_side_by_side(page: Page) -> None:
    page.locator("#mode-number").click()
    assert page.locator("#mode-number").get_attribute("aria-pressed") == "true"
    strokes = [s for i, d in enumerate((2, 0, 4, 7)) for s in placed(DIGITS[d], 0.14 + 0.24 * i, 0.34)]
    draw_mouse(page, strokes)
    answer = settled(page)
    assert answer is not None and answer["text"] == "2047", answer and answer["text"]
    assert page.locator("#big").inner_text() == "2047"
    assert page.locator("#chips li").count() == 4
    # Each digit's box is drawn over the canvas: the overlay has ink near each digit's centre column.
    boxes = [d["box"] for d in answer["digits"]]
    assert [b[0] for b in boxes] == sorted(b[0] for b in boxes)
    painted = page.evaluate(
        """(xs) => { const c = document.getElementById('overlay'), g = c.getContext('2d');
                     const d = g.getImageData(0, 0, c.width, c.height).data;
                     return xs.map(x => { let n = 0; const col = Math.round(x * c.width);
                       for (let y = 0; y < c.height; y++) n += d[(y * c.width + col) * 4 + 3] > 0;
                       return n; }); }""",
        [(b[0] + b[2]) / 2 / 560 for b in boxes],
    )
    assert all(n > 0 for n in painted), painted


def test_undo_and_clear(page: Page) -> None:
    draw_mouse(page, DIGITS[7])
    assert settled(page)["label"] == 7
    draw_mouse(page, [[(0.85, 0.85), (0.9, 0.9)]])  # a stray mark
    settled(page)
    assert page.evaluate("() => window.inkdigit.strokeCount") == 2
    page.locator("#undo").click()
    answer = settled(page)
    assert page.evaluate("() => window.inkdigit.strokeCount") == 1
    assert answer["label"] == 7 and shown(page)[0] == "7"
    page.locator("#clear").click()
    settled(page)
    assert page.evaluate("() => window.inkdigit.strokeCount") == 0
    assert shown(page) == ("?", "Draw something")
    # Nothing is left on the canvas.
    assert (
        page.evaluate(
            "() => { const c = document.getElementById('pad'); const d = c.getContext('2d')"
            ".getImageData(0, 0, c.width, c.height).data; return d.some(v => v !== 0); }"
        )
        is False
    )


def test_keyboard_shortcuts_and_focus(page: Page) -> None:
    draw_mouse(page, DIGITS[4])
    assert settled(page)["label"] == 4
    page.keyboard.press("Control+z")  # the 4's second stroke
    settled(page)
    assert page.evaluate("() => window.inkdigit.strokeCount") == 1
    page.keyboard.press("Control+z")
    settled(page)
    assert shown(page) == ("?", "Draw something")
    page.keyboard.press("Control+Shift+z")  # redo, twice
    page.keyboard.press("Control+Shift+z")
    assert settled(page)["label"] == 4
    page.keyboard.press("Escape")
    settled(page)
    assert shown(page)[0] == "?"
    page.keyboard.press("n")
    assert page.locator("#mode-number").get_attribute("aria-pressed") == "true"
    page.keyboard.press("n")
    assert page.locator("#mode-digit").get_attribute("aria-pressed") == "true"
    page.keyboard.press("]")
    assert page.locator("#brush").input_value() == "22"
    # Every control is reachable with Tab and shows where the focus is.
    draw_mouse(page, DIGITS[1])
    settled(page)
    page.locator(".skip").focus()  # start at the top of the page
    reached = set()
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement === document.body"):
            break  # went round the whole page
        reached.add(
            page.evaluate("() => document.activeElement.id || document.activeElement.textContent.trim()")
        )
        outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
        assert outline != "none", page.evaluate("() => document.activeElement.outerHTML.slice(0, 80)")
    assert {"pad", "undo", "clear", "brush", "file", "mode-digit", "mode-number", "theme"} <= reached, reached


def test_upload_an_image_file(page: Page, tmp_path: Path) -> None:
    """A photo-like PNG (dark ink on grey paper, off-centre, any size) picked with the file input."""
    img = Image.new("L", (420, 300), 200)
    pen = ImageDraw.Draw(img)
    pts = [(150 + 120 * u, 40 + 220 * v) for u, v in smooth(DIGITS[3][0])]
    pen.line(pts, fill=30, width=14, joint="curve")
    path = tmp_path / "three.png"
    img.save(path)
    reads = record_reads(page)
    page.set_input_files("#file", str(path))
    answer = settled(page)
    assert answer is not None and answer["label"] == 3
    assert reads[-1].headers["content-type"] == "image/png"  # an opened file is sent as it is, not as strokes
    assert shown(page)[0] == "3"
    page.locator("#clear").click()
    settled(page)
    assert shown(page)[0] == "?"

    # Dropping the file on the canvas reads it too.
    data = base64.b64encode(path.read_bytes()).decode()
    transfer = page.evaluate_handle(
        """(b64) => { const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
                      const dt = new DataTransfer();
                      dt.items.add(new File([bytes], 'three.png', {type: 'image/png'}));
                      return dt; }""",
        data,
    )
    page.dispatch_event("#pad-wrap", "dragenter", {"dataTransfer": transfer})
    assert "dragging" in (page.locator("#pad-wrap").get_attribute("class") or "")
    page.dispatch_event("#pad-wrap", "drop", {"dataTransfer": transfer})
    answer = settled(page)
    assert answer is not None and answer["label"] == 3
    assert "dragging" not in (page.locator("#pad-wrap").get_attribute("class") or "")


def test_theme_toggle_and_model_picker(page: Page) -> None:
    html = page.locator("html")
    before = html.get_attribute("data-theme")
    page.locator("#theme").click()
    after = html.get_attribute("data-theme")
    assert {before, after} == {"light", "dark"}
    page.reload()
    assert html.get_attribute("data-theme") == after  # the choice is remembered
    page.wait_for_function("() => document.querySelectorAll('#model option').length > 0")
    options = page.locator("#model option").all_inner_texts()
    assert any(o.startswith("paper") for o in options)
    draw_mouse(page, DIGITS[0])
    assert settled(page)["label"] == 0


def test_api_docs_page_renders_offline(page: Page, live_url: str) -> None:
    page.goto(live_url + "docs")
    page.wait_for_selector("details.op")
    paths = page.locator("details.op .path").all_inner_texts()
    assert {"/api/predict", "/api/predict/number", "/api/predict/batch", "/api/models", "/healthz"} <= set(
        paths
    )
    predict = page.locator("#post-api-predict").text_content() or ""
    assert '"strokes":[[' in predict and "brush" in predict  # a drawing as strokes: its fields and an example
    models = page.locator("#get-api-models")
    models.locator("summary").click()
    models.get_by_role("button", name="Send").click()  # "try it" calls the live API
    page.wait_for_function(
        "() => document.querySelector('#get-api-models pre').textContent.startsWith('HTTP 200')"
    )
    assert '"default"' in models.locator("pre").inner_text()


def test_confidence_is_worded_without_rounding_up_to_100(page: Page) -> None:
    """A calibrated model is often 99.x% sure: shown with a decimal, and never as a "100%" it did not say."""
    for confidence, text in ((0.99973, "> 99.9% sure"), (0.9934, "99.3% sure"), (0.874, "87% sure")):
        probs = [(1 - confidence) / 9] * 10
        probs[3] = confidence
        answer = {"label": 3, "confidence": confidence, "probabilities": probs, "unsure": False,
                  "model": "paper", "top_k": [{"label": 3, "probability": confidence}]}
        page.route("**/api/predict?*", lambda route, _request, a=answer: route.fulfill(json=a))
        page.keyboard.press("Escape")
        draw_mouse(page, DIGITS[3])
        settled(page)
        assert shown(page)[0] == "3" and page.locator("#sub").inner_text().startswith(text)
        page.unroute("**/api/predict?*")


def test_unsure_answers_and_server_errors_are_explained(page: Page) -> None:
    """The server's "unsure" becomes "Not sure"; a 4xx answer is shown as a message, not a digit."""
    probs = [0.02, 0.01, 0.01, 0.05, 0.41, 0.02, 0.01, 0.02, 0.02, 0.43]
    unsure = {
        "label": 9, "confidence": 0.43, "probabilities": probs, "unsure": True, "model": "paper",
        "elapsed_ms": 1.0, "top_k": [{"label": 9, "probability": 0.43}, {"label": 4, "probability": 0.41}],
    }  # fmt: skip
    page.route("**/api/predict?*", lambda route: route.fulfill(json=unsure))
    draw_mouse(page, DIGITS[4])
    settled(page)
    big, verdict = shown(page)
    assert (big, verdict) == ("9", "Not sure")
    assert page.locator("#answer").get_attribute("data-state") == "unsure"
    assert "9 or 4" in page.locator("#sub").inner_text()
    page.screenshot(path=str(OUT / "web-unsure.png"))

    page.unroute("**/api/predict?*")
    error = {"error": "could not decode image: broken"}
    page.route("**/api/predict?*", lambda route: route.fulfill(status=422, json=error))
    draw_mouse(page, [[(0.8, 0.2), (0.85, 0.3)]])
    settled(page)
    assert shown(page) == ("!", "Can't read that")
    assert "could not decode" in page.locator("#sub").inner_text()


# ---------------------------------------------------------------- strokes: what the page sends


def test_a_drawing_is_sent_as_its_strokes(page: Page, live_url: str) -> None:
    """The page sends the strokes it recorded (JSON), not a picture; the server paints them as the page did."""
    reads = record_reads(page)
    draw_mouse(page, DIGITS[4])
    answer = settled(page)
    assert answer is not None and answer["label"] == 4
    sent = reads[-1]
    assert sent.headers["content-type"] == "application/json"
    doc = json.loads(sent.post_data or "")
    assert set(doc) == {"strokes", "width", "height", "brush"}
    assert (doc["width"], doc["height"], doc["brush"]) == (280, 280, 20)  # the page's canvas and pen
    assert len(doc["strokes"]) == 2 and all(len(s) >= 5 for s in doc["strokes"])
    # The points are where the mouse went: the 4's second stroke runs down x = 0.62 of the canvas.
    xs = [x for x, _ in doc["strokes"][1]]
    assert all(abs(x - 0.62 * 280) < 4 for x in xs)

    # What the server paints from them is what the page drew on its canvas, pixel for pixel nearly.
    painted = render(parse(doc)).image
    canvas = decode_png(page.evaluate("() => window.inkdigit.picture()"))
    assert canvas.shape == painted.shape == (280, 280)
    ours, theirs = painted < 128, canvas < 128
    assert (ours & theirs).sum() / (ours | theirs).sum() > 0.95  # 0.97-0.99 measured for the ten digits
    assert np.abs(painted.astype(int) - canvas).mean() < 2  # grey levels of 255; about 0.4 measured
    # And the model reads the canvas's own picture the same way.
    as_png = httpx.post(live_url + "api/predict", content=base64.b64decode(
        page.evaluate("() => window.inkdigit.picture()").partition(",")[2]), headers={"Content-Type": "image/png"})
    assert as_png.json()["label"] == 4


def test_number_mode_sends_strokes_on_its_larger_canvas(page: Page) -> None:
    page.locator("#mode-number").click()
    reads = record_reads(page)
    draw_mouse(page, [s for i, d in enumerate((5, 8)) for s in placed(DIGITS[d], 0.3 + 0.4 * i, 0.45)])
    answer = settled(page)
    assert answer is not None and answer["text"] == "58"
    doc = json.loads(reads[-1].post_data or "")
    assert reads[-1].url.split("?")[0].endswith("/api/predict/number")
    assert (doc["width"], doc["brush"], len(doc["strokes"])) == (560, 24, 2)  # the number pen: 12 px of 280


def test_drawing_over_an_opened_image_sends_both_as_one_picture(page: Page, tmp_path: Path) -> None:
    path = tmp_path / "paper.png"
    Image.new("L", (200, 200), 230).save(path)
    page.set_input_files("#file", str(path))
    settled(page)
    reads = record_reads(page)
    draw_mouse(page, DIGITS[1])
    settled(page)
    assert reads and all(r.headers["content-type"] == "image/png" for r in reads)


def test_other_readings_of_a_number_are_offered(page: Page) -> None:
    """When the server offers another way to cut the number, the page says so under the answer."""
    digit = {"label": 5, "confidence": 0.9, "probabilities": [0.01] * 10, "unsure": False,
             "top_k": [{"label": 5, "probability": 0.9}], "box": [10, 10, 50, 60]}
    number = {"text": "58", "confidence": 0.8, "unsure": False, "model": "paper", "elapsed_ms": 1.0,
              "digits": [digit, {**digit, "label": 8, "box": [60, 10, 100, 60]}]}
    page.locator("#mode-number").click()
    offered = [{"text": t, "confidence": p} for t, p in (("528", 0.1), ("58", 0.05), ("7", 1e-4))]
    answers = [{**number, "alternatives": offered}, number]  # the second answer has no alternatives at all
    page.route("**/api/predict/number?*", lambda route: route.fulfill(json=answers[0]))
    draw_mouse(page, placed(DIGITS[5], 0.3, 0.45))
    settled(page)
    assert page.locator("#big").inner_text() == "58"
    assert page.locator("#alts").inner_text() == "58 · or 528?"  # not itself, nor the unlikely "7"
    page.screenshot(path=str(OUT / "web-alternatives.png"))
    answers.pop(0)
    draw_mouse(page, placed(DIGITS[8], 0.7, 0.45))
    settled(page)
    assert page.locator("#big").inner_text() == "58" and page.locator("#alts").is_hidden()

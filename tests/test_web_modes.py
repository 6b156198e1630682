"""The page's five modes (Digit · Number · Letter · Text · Math) in a real browser: Debian's Chromium (headless)
driven by Playwright against `inkdigit serve`, as tests/test_web_browser.py drives the digit modes.

A letter, a word and a sum are written with the mouse in a benchmark handwriting font (tests/font_ink.py: no
model is trained on it), and the test checks what a person sees. Without chromium, or without the bundled
letters, alnum and math models, these tests FAIL (never skip) and say why. Screenshots land in test-output/.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, Page, Request

from font_ink import Stroke, pen_strokes
from web_page import record_reads, settled, shown

pytestmark = pytest.mark.slow  # make test-fast skips this file; make test runs it

OUTPUT = Path(__file__).resolve().parents[1] / "test-output"
FONT = "kalam"  # a benchmark family: no model trained on it
LETTER_PEN, LINE_PEN = 20 / 280, 12 / 280  # the page's pens (Letter; Text and Math) as fractions of the pad


def written(text: str, pen: float, box: tuple[float, float, float, float]) -> list[Stroke]:
    """`text` in the benchmark font as strokes in pad units, for the page's pen of that mode."""
    return pen_strokes(text, family=FONT, canvas=(560, 560), brush=pen * 560, box=box)


# ---------------------------------------------------------------- fixtures and helpers


def draw_mouse(page: Page, strokes: list[Stroke]) -> None:
    """Draw strokes with the mouse: press, a move to each point, release."""
    box = page.locator("#pad").bounding_box()
    assert box is not None
    for stroke in strokes:
        path = [(box["x"] + u * box["width"], box["y"] + v * box["height"]) for u, v in stroke]
        page.mouse.move(*path[0])
        page.mouse.down()
        for x, y in path[1:]:
            page.mouse.move(x, y)
        page.mouse.up()


def route_of(read: Request) -> tuple[str, dict[str, list[str]]]:
    parts = urlsplit(read.url)
    return parts.path, parse_qs(parts.query)


def pressed(page: Page) -> list[str]:
    """The modes whose switcher button is on."""
    return page.eval_on_selector_all("#modes button[aria-pressed=true]", "bs => bs.map(b => b.textContent)")


def overlay_ink_at(page: Page, xs: list[float]) -> list[int]:
    """How many pixels of each overlay column (at pad fractions xs) the boxes painted."""
    return page.evaluate(
        """(xs) => { const c = document.getElementById('overlay'), g = c.getContext('2d');
                     const d = g.getImageData(0, 0, c.width, c.height).data;
                     return xs.map(x => { let n = 0; const col = Math.round(x * c.width);
                       for (let y = 0; y < c.height; y++) n += d[(y * c.width + col) * 4 + 3] > 0;
                       return n; }); }""",
        xs,
    )


# ---------------------------------------------------------------- the modes, end to end


def test_letter_mode_reads_a_written_letter(page: Page) -> None:
    page.locator("#mode-letter").click()
    assert pressed(page) == ["Letter"] and page.url.endswith("#mode=letter")
    assert page.locator("#pad-title-text").inner_text() == "Draw a letter"
    assert page.locator("#model-picker").is_hidden()  # the digit model picker has no say here
    reads = record_reads(page)
    draw_mouse(page, written("A", LETTER_PEN, (0.2, 0.2, 0.8, 0.8)))
    answer = settled(page)
    assert answer is not None and answer["text"] == "A", answer
    assert shown(page) == ("A", "It's an A")
    top = page.locator("#topk li b").all_inner_texts()
    assert top[0] == "A" and len(top) == 5  # the five likeliest letters, best first
    assert page.locator("#topk li.top .pct").inner_text().endswith("%")
    assert page.locator("#stage-final img").get_attribute("src").startswith("data:image/png")  # what it saw
    path, query = route_of(reads[-1])
    assert path == "/api/predict/char" and query["charset"] == ["letters"] and query["preview"] == ["true"]
    doc = json.loads(reads[-1].post_data or "")
    assert reads[-1].headers["content-type"] == "application/json" and (doc["width"], doc["brush"]) == (280, 20)
    assert "letters" in page.locator("#model-line").inner_text()


def test_text_mode_opened_from_a_link_reads_a_written_word(page: Page, live_url: str) -> None:
    page.goto(live_url + "#mode=text")
    page.wait_for_function("() => window.inkdigit && window.inkdigit.mode === 'text'")
    assert pressed(page) == ["Text"] and page.locator("#charset").input_value() == "alnum"
    reads = record_reads(page)
    draw_mouse(page, written("CAT", LINE_PEN, (0.1, 0.3, 0.9, 0.7)))
    answer = settled(page)
    assert answer is not None and answer["text"] == "CAT", answer
    assert page.locator("#big").inner_text() == "CAT"
    assert page.locator("#chips li b").all_inner_texts() == ["C", "A", "T"]
    path, query = route_of(reads[-1])
    assert path == "/api/predict/text" and query["charset"] == ["alnum"]
    assert json.loads(reads[-1].post_data or "")["width"] == 560  # a line is sent on the larger canvas
    painted = overlay_ink_at(page, [(c["box"][0] + c["box"][2]) / 2 / 560 for c in answer["chars"]])
    assert all(n > 0 for n in painted), painted  # a box over each letter

    page.locator("#charset").select_option("letters")  # the same ink, read as letters only
    answer = settled(page)
    assert page.url.endswith("#mode=text&charset=letters")
    assert route_of(reads[-1])[1]["charset"] == ["letters"] and answer["text"] == "CAT"


def test_math_mode_works_out_a_written_sum(page: Page) -> None:
    page.keyboard.press("m")
    assert pressed(page) == ["Math"] and page.url.endswith("#mode=math")
    reads = record_reads(page)
    draw_mouse(page, written("12+7=", LINE_PEN, (0.05, 0.35, 0.95, 0.65)))
    answer = settled(page)
    assert answer is not None and answer["text"] == "12+7=", answer
    assert page.locator("#big").inner_text() == "12+7="
    assert page.locator("#mathline").inner_text() == "12+7 = 19"
    assert page.locator("#mathline").get_attribute("data-ok") == "true"
    assert route_of(reads[-1])[0] == "/api/predict/math"
    assert page.locator("#chips li").count() == 5
    page.wait_for_function("() => document.getElementById('live').textContent.includes('12+7 = 19')")

    # A line that was read but does not work out: the evaluator's words, not an error.
    unworkable = {**answer, "text": "7÷0", "expression": "7÷0", "value": None, "holds": None, "ok": False,
                  "message": "cannot divide by zero", "chars": answer["chars"][:3], "alternatives": []}
    page.route("**/api/predict/math?*", lambda route: route.fulfill(json=unworkable))
    draw_mouse(page, [[(0.9, 0.9), (0.92, 0.92)]])
    settled(page)
    assert page.locator("#big").inner_text() == "7÷0"
    assert page.locator("#mathline").inner_text() == "cannot divide by zero"
    assert page.locator("#mathline").get_attribute("data-ok") == "false"
    assert page.locator("#answer").get_attribute("data-state") != "error"


# ---------------------------------------------------------------- the switcher and what the modes share


def test_modes_switch_by_keyboard_and_fit_a_phone(browser: Browser, live_url: str) -> None:
    context = browser.new_context(
        viewport={"width": 360, "height": 740}, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    try:
        page.goto(live_url + "#mode=letter")
        page.wait_for_function("() => window.inkdigit && window.inkdigit.mode === 'letter'")
        buttons = page.locator("#modes button")
        boxes = [buttons.nth(i).bounding_box() for i in range(buttons.count())]
        assert [b is not None and b["x"] >= 0 and b["x"] + b["width"] <= 360 for b in boxes] == [True] * 5
        assert all(b["height"] >= 40 for b in boxes)  # a finger's target
        assert page.eval_on_selector_all("#modes button", "bs => bs.every(b => b.scrollWidth <= b.clientWidth)")
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 360  # no sideways scrolling
        page.locator("#mode-math").tap()
        assert pressed(page) == ["Math"] and page.url.endswith("#mode=math")
        page.screenshot(path=str(OUTPUT / "web-modes-phone.png"))
        page.locator("#mode-math").focus()  # arrow keys walk the switcher, as in a tab list
        page.keyboard.press("ArrowLeft")
        assert pressed(page) == ["Text"] and page.evaluate("() => document.activeElement.id") == "mode-text"
        assert page.locator("#charset-picker").is_visible()
        page.keyboard.press("Home")
        assert pressed(page) == ["Digit"] and urlsplit(page.url).fragment == ""  # the plain address
        assert page.locator("#charset-picker").is_hidden()
    finally:
        context.close()


def test_a_line_offers_other_readings_and_says_which_letter_is_unsure(page: Page) -> None:
    """As the Number mode does: "CAT · or CXT?", and an unsure character names its runner-up."""
    def char(text: str, box: list[int], second: str, p: float) -> dict:
        return {"text": text, "confidence": p, "unsure": p < 0.6, "box": box,
                "top_k": [{"text": text, "probability": p}, {"text": second, "probability": 1 - p}]}

    reading = {
        "text": "CAT", "confidence": 0.4, "unsure": True, "charset": "alnum", "model": "alnum", "elapsed_ms": 3.0,
        "chars": [char("C", [60, 200, 160, 330], "G", 0.95), char("A", [220, 200, 320, 330], "X", 0.45),
                  char("T", [380, 200, 480, 330], "Y", 0.93)],
        "alternatives": [{"text": "CXT", "confidence": 0.3}, {"text": "C4T", "confidence": 0.001}],
    }  # fmt: skip
    page.route("**/api/predict/text?*", lambda route: route.fulfill(json=reading))
    page.locator("#mode-text").click()
    draw_mouse(page, [[(0.2, 0.5), (0.8, 0.5)]])
    settled(page)
    assert shown(page) == ("CAT", "Not sure about every character")
    assert page.locator("#alts").inner_text() == "CAT · or CXT?"  # not the unlikely C4T
    assert page.locator("#chips li.unsure b").all_inner_texts() == ["A"]
    assert page.locator("#chips li.unsure .or").inner_text() == "or X"

    page.unroute("**/api/predict/text?*")
    missing = {"error": "no model for the 'alnum' character set: alnum.onnx is missing"}
    page.route("**/api/predict/text?*", lambda route: route.fulfill(status=503, json=missing))
    draw_mouse(page, [[(0.2, 0.8), (0.3, 0.8)]])
    settled(page)
    assert shown(page) == ("!", "That reader is not available")
    assert "alnum.onnx is missing" in page.locator("#sub").inner_text()

"""Screenshots of the web app for the README: starts `inkdigit serve`, draws in headless Chromium, saves PNGs.

    python scripts/screenshot_web.py            # docs/img/web.png, web-phone.png, web-number.png

Needs Debian's chromium (apt-get install chromium) and the playwright Python package.
"""

from __future__ import annotations

import argparse
import math
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
from displays import CHROMIUM_ARGS, DisplayError, chromium  # sibling script: its folder is first on sys.path
from playwright.sync_api import Page, sync_playwright

REPO = Path(__file__).resolve().parents[1]
Stroke = list[tuple[float, float]]

# Control points in page units [0,1]; drawn through a Catmull-Rom spline like a hand would.
TWO: list[Stroke] = [
    [(0.3, 0.34), (0.36, 0.24), (0.5, 0.19), (0.63, 0.24), (0.68, 0.36), (0.62, 0.5), (0.5, 0.62),
     (0.3, 0.79), (0.5, 0.79), (0.72, 0.79)]
]  # fmt: skip
FIVE: list[Stroke] = [
    [(0.68, 0.21), (0.5, 0.21), (0.36, 0.21), (0.34, 0.35), (0.33, 0.48), (0.48, 0.43), (0.63, 0.48),
     (0.69, 0.62), (0.64, 0.75), (0.5, 0.81), (0.32, 0.76)]
]  # fmt: skip
SEVEN: list[Stroke] = [[(0.28, 0.22), (0.5, 0.22), (0.72, 0.22), (0.6, 0.45), (0.45, 0.8)]]
ONE: list[Stroke] = [[(0.55, 0.2), (0.51, 0.5), (0.47, 0.8)]]
ZERO: list[Stroke] = [
    [(0.5 + 0.19 * math.sin(a / 14 * math.pi), 0.5 - 0.3 * math.cos(a / 14 * math.pi)) for a in range(29)]
]


def smooth(points: Stroke, per: int = 5) -> Stroke:
    """Catmull-Rom spline through the control points."""
    pts = [points[0], *points, points[-1]]
    out: Stroke = []
    for i in range(1, len(pts) - 2):
        p0, p1, p2, p3 = pts[i - 1], pts[i], pts[i + 1], pts[i + 2]
        for k in range(per):
            t = k / per
            x, y = (
                0.5
                * (
                    2 * p1[j]
                    + (p2[j] - p0[j]) * t
                    + (2 * p0[j] - 5 * p1[j] + 4 * p2[j] - p3[j]) * t * t
                    + (3 * p1[j] - p0[j] - 3 * p2[j] + p3[j]) * t**3
                )
                for j in range(2)
            )
            out.append((x, y))
    out.append(points[-1])
    return out


def placed(strokes: list[Stroke], cx: float, scale: float) -> list[Stroke]:
    """Strokes shrunk about the centre and moved to x = cx (to write a number)."""
    return [[(cx + (x - 0.5) * scale, 0.5 + (y - 0.5) * scale) for x, y in s] for s in strokes]


def start_server() -> tuple[subprocess.Popen, str]:
    """`serve()` with the bundled model on a free loopback port; returns the process and its URL."""
    code = "from inkdigit.server.start import serve; serve('127.0.0.1', 0, None, 1, [])"
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env={"PYTHONPATH": str(REPO / "src")}
    )
    line = proc.stdout.readline() if proc.stdout else ""
    match = re.search(r"http://127\.0\.0\.1:\d+/", line)
    if not match:
        proc.kill()
        raise SystemExit(f"server did not start: {line!r}")
    url = match.group(0)
    for _ in range(200):
        try:
            httpx.get(url + "healthz", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.1)
    return proc, url


def draw(page: Page, strokes: list[Stroke], touch: bool = False) -> None:
    """Draw strokes with the mouse (or a finger) and wait for the page's answer."""
    box = page.locator("#pad").bounding_box()
    assert box is not None
    cdp = page.context.new_cdp_session(page) if touch else None
    for stroke in strokes:
        path = [(box["x"] + u * box["width"], box["y"] + v * box["height"]) for u, v in smooth(stroke)]
        if cdp is not None:
            points = [{"x": x, "y": y} for x, y in path]
            cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [points[0]]})
            for p in points[1:]:
                cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [p]})
            cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        else:
            page.mouse.move(*path[0])
            page.mouse.down()
            for x, y in path[1:]:
                page.mouse.move(x, y, steps=2)
            page.mouse.up()
    page.wait_for_function("() => window.inkdigit.idle && window.inkdigit.lastAnswer", timeout=20_000)
    page.wait_for_timeout(400)  # let the bars finish their transition


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "img", help="folder for the PNGs")
    args = parser.parse_args()
    try:
        exe = chromium()
    except DisplayError as exc:
        raise SystemExit(str(exc)) from None
    args.out.mkdir(parents=True, exist_ok=True)
    proc, url = start_server()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)

            ctx = browser.new_context(viewport={"width": 1280, "height": 800}, color_scheme="light")
            page = ctx.new_page()
            page.goto(url)
            draw(page, TWO)
            page.screenshot(path=str(args.out / "web.png"))
            ctx.close()

            ctx = browser.new_context(viewport={"width": 1280, "height": 800}, color_scheme="dark")
            page = ctx.new_page()
            page.goto(url)
            page.locator("#mode-number").click()
            strokes = [
                s for i, d in enumerate((SEVEN, ONE, FIVE, ZERO)) for s in placed(d, 0.14 + 0.24 * i, 0.34)
            ]
            draw(page, strokes)
            page.screenshot(path=str(args.out / "web-number.png"))
            ctx.close()

            ctx = browser.new_context(
                viewport={"width": 360, "height": 740}, device_scale_factor=2, is_mobile=True, has_touch=True
            )
            page = ctx.new_page()
            page.goto(url)
            draw(page, SEVEN, touch=True)
            page.screenshot(path=str(args.out / "web-phone.png"))
            ctx.close()
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    for name in ("web.png", "web-number.png", "web-phone.png"):
        print(args.out / name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

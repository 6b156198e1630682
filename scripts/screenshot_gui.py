"""Take the README screenshot of the desktop app: start Xvfb, draw a digit with mouse events, save a PNG.

Usage: python scripts/screenshot_gui.py [--out docs/img/gui.png] [--model NAME] [--number]
Needs Xvfb (Debian package `xvfb`).
"""

from __future__ import annotations

import argparse
import math
import os
import time
import tkinter as tk
from pathlib import Path

from displays import DisplayError, start_xvfb  # sibling script: its folder is first on sys.path
from PIL import ImageGrab

REPO = Path(__file__).resolve().parents[1]


def seven() -> list[list[tuple[float, float]]]:
    """A handwritten-looking 7 in page units, as one stroke."""
    top = [(0.40 + 0.22 * t, 0.24 - 0.02 * math.sin(math.pi * t)) for t in (i / 12 for i in range(13))]
    stem = [(0.62 - 0.13 * t, 0.24 + 0.54 * t**0.95) for t in (i / 20 for i in range(1, 21))]
    return [top + stem]


def forty_two() -> list[list[tuple[float, float]]]:
    """'42' in page units: three strokes for the 4, one for the 2."""
    four_a = [(0.30 - 0.10 * t, 0.25 + 0.30 * t) for t in (i / 10 for i in range(11))]
    four_b = [(0.20 + 0.20 * t, 0.55) for t in (i / 8 for i in range(9))]
    four_c = [(0.35, 0.38 + 0.40 * t) for t in (i / 10 for i in range(11))]
    two = [
        (0.56 + 0.10 * math.cos(a), 0.36 + 0.11 * math.sin(a))
        for a in (math.pi + i * 1.25 * math.pi / 14 for i in range(15))
    ]
    two += [(0.66 - 0.13 * t, 0.45 + 0.30 * t) for t in (i / 10 for i in range(1, 11))]
    two += [(0.53 + 0.18 * t, 0.76) for t in (i / 8 for i in range(1, 9))]
    return [four_a, four_b, four_c, two]


def draw(app, strokes: list[list[tuple[float, float]]]) -> None:
    """Draw strokes with real Tk mouse events on the sheet."""
    canvas = app.canvas
    for stroke in strokes:
        pts = [app.sheet.page_to_canvas(u, v) for u, v in stroke]
        x, y = pts[0]
        canvas.event_generate("<ButtonPress-1>", x=int(x), y=int(y), button=1)
        for x, y in pts[1:]:
            canvas.event_generate("<B1-Motion>", x=int(x), y=int(y), state=0x100)
            app.root.update_idletasks()
        canvas.event_generate("<ButtonRelease-1>", x=int(x), y=int(y), button=1)
        app.root.update()


def main() -> int:
    """Render the app with a digit on it and save the window as a PNG."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "docs" / "img" / "gui.png"))
    parser.add_argument("--model", default=None)
    parser.add_argument("--number", action="store_true", help="number mode, write '42'")
    args = parser.parse_args()

    try:
        xvfb, display = start_xvfb()
    except DisplayError as exc:
        raise SystemExit(str(exc)) from None
    os.environ["DISPLAY"] = display
    try:
        from inkdigit.gui.app import InkDigitApp

        root = tk.Tk(className="inkdigit")
        app = InkDigitApp(root, model=args.model)
        for _ in range(20):  # let the window map and the model load
            root.update()
            time.sleep(0.02)
        if args.number:
            app.toggle_number_mode()
        draw(app, forty_two() if args.number else seven())
        for _ in range(10):
            root.update()
            time.sleep(0.02)
        x, y = root.winfo_rootx(), root.winfo_rooty()
        w, h = root.winfo_width(), root.winfo_height()
        shot = ImageGrab.grab(bbox=(x, y, x + w, y + h), xdisplay=display)
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        shot.save(out)
        print(f"{out}: {app.shown.answer!r} {app.shown.detail!r}")
        root.destroy()
    finally:
        xvfb.terminate()
        xvfb.wait(5)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

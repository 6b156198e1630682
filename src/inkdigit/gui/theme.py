"""Look of the desktop app: colours, fonts and a flat, light ttk theme (clam, recoloured)."""

from __future__ import annotations

import base64
import io
import tkinter as tk
from tkinter import font as tkfont
from tkinter import ttk

from PIL import Image

BG = "#f3f4f6"
CARD = "#ffffff"
CANVAS_BG = "#e5e7eb"
SHADOW = "#d5d9df"
BORDER = "#d1d5db"
INK = "#111827"
TEXT = "#1f2937"
MUTED = "#6b7280"
HINT = "#c3c8d0"
ACCENT = "#2563eb"
ACCENT_DARK = "#1d4ed8"
ACCENT_LIGHT = "#dbeafe"
HOVER = "#f1f5f9"
WARN = "#d97706"
ERROR = "#dc2626"
TRACK = "#eef0f3"
BAR = "#c7cdd6"
STATUS_BG = "#e9ebef"

FAMILIES = ("Inter", "Segoe UI", "SF Pro Text", "Helvetica Neue", "Cantarell", "DejaVu Sans", "Arial")


def pick_family(root: tk.Misc) -> str:
    """The first pleasant sans-serif family this Tk has, else Tk's default."""
    have = set(tkfont.families(root))
    for family in FAMILIES:
        if family in have:
            return family
    return str(tkfont.nametofont("TkDefaultFont", root).actual("family"))


def png_photo(image: Image.Image, master: tk.Misc) -> tk.PhotoImage:
    """A Tk photo from a PIL image via PNG (Tk 8.6 reads PNG itself, so PIL's ImageTk is not needed)."""
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return tk.PhotoImage(master=master, data=base64.b64encode(buf.getvalue()))


def apply_theme(root: tk.Tk) -> dict[str, tkfont.Font]:
    """Style every ttk widget of `root` and return the named fonts the window uses."""
    family = pick_family(root)
    for name in ("TkDefaultFont", "TkTextFont", "TkMenuFont"):
        tkfont.nametofont(name, root).configure(family=family, size=10)

    def font(size: int, bold: bool = False) -> tkfont.Font:
        return tkfont.Font(root, family=family, size=size, weight="bold" if bold else "normal")

    fonts = {
        "title": font(16, True),
        "subtitle": font(10),
        "caption": font(9, True),
        "answer": font(80, True),
        "detail": font(12),
        "result": font(18, True),  # a sum's result line
        "bar": font(10),
        "bar_bold": font(10, True),
        "hint": font(18),
        "small": font(9),
    }
    root.configure(background=BG)
    style = ttk.Style(root)
    style.theme_use("clam")
    flat = {
        "background": CARD,
        "bordercolor": BORDER,
        "lightcolor": CARD,
        "darkcolor": CARD,
        "relief": "flat",
    }
    style.configure(".", background=BG, foreground=TEXT, font=(family, 10))
    style.configure("TFrame", background=BG)
    style.configure("Card.TFrame", background=CARD, relief="flat")
    style.configure("TLabel", background=BG, foreground=TEXT)
    style.configure("Caption.TLabel", background=CARD, foreground=MUTED, font=fonts["caption"])
    style.configure("Title.TLabel", font=fonts["title"])
    style.configure("Subtitle.TLabel", foreground=MUTED, font=fonts["subtitle"])
    style.configure("Help.TLabel", foreground=MUTED, font=fonts["small"])
    style.configure("Status.TFrame", background=STATUS_BG)
    style.configure("Status.TLabel", background=STATUS_BG, foreground=MUTED, font=fonts["small"])
    style.configure("TButton", padding=(12, 6), width=-7, focusthickness=0, **flat)
    style.map("TButton", background=[("pressed", CANVAS_BG), ("active", HOVER)])
    style.configure(
        "Accent.TButton",
        background=ACCENT,
        foreground="white",
        bordercolor=ACCENT,
        lightcolor=ACCENT,
        darkcolor=ACCENT,
    )
    style.map("Accent.TButton", background=[("pressed", ACCENT_DARK), ("active", ACCENT_DARK)])
    # The mode selector's buttons look like buttons and light up while on.
    style.configure("Toggle.Toolbutton", padding=(12, 6), **flat)
    style.map(
        "Toggle.Toolbutton",
        background=[("selected", ACCENT_LIGHT), ("active", HOVER)],
        foreground=[("selected", ACCENT_DARK)],
        bordercolor=[("selected", ACCENT)],
        lightcolor=[("selected", ACCENT_LIGHT)],
        darkcolor=[("selected", ACCENT_LIGHT)],
    )
    style.configure("TMenubutton", padding=(10, 5), arrowcolor=MUTED, **flat)
    style.map("TMenubutton", background=[("active", HOVER)])
    # Text mode's character set picker: a flat field like the model menu.
    style.configure("TCombobox", padding=(8, 4), arrowcolor=MUTED, **flat)
    style.map(
        "TCombobox",
        fieldbackground=[("readonly", CARD)],
        selectbackground=[("readonly", CARD)],
        selectforeground=[("readonly", TEXT)],
        background=[("active", HOVER)],
    )
    style.configure(
        "Horizontal.TScale",
        gripcount=0,
        background=ACCENT,
        troughcolor="#dbe3f3",
        bordercolor=BG,
        lightcolor=ACCENT,
        darkcolor=ACCENT,
    )
    return fonts

"""The desktop app's window: its widgets laid out, and a `Shown` or a status line put onto them.

Header with the mode selector and the model menu, toolbar, the drawing sheet beside the result card, help line,
status bar. What
the widgets do when used is the app's business (`Commands`); what they show is decided in `present`.
"""

from __future__ import annotations

import tkinter as tk
from tkinter import ttk
from typing import Protocol

from inkdigit.gui import present
from inkdigit.gui.card import BAR_ROW, PREVIEW, draw_bars, preview_photo
from inkdigit.gui.sheet import Sheet
from inkdigit.gui.theme import ACCENT, CARD, ERROR, INK, MUTED, WARN, apply_theme

HELP = (
    "Draw with the mouse · Enter read · Ctrl+Z undo · Esc/Delete clear · D N L T M digit, number, letter, text, "
    "math · Ctrl+O open image"
)
BRUSH_MIN, BRUSH_MAX, BRUSH_DEFAULT = 1, 10, 6
BRUSH_STEP = 0.012  # brush width per step as a fraction of page height; 6 gives an MNIST-like stroke
CARD_WIDTH = 300  # px; the result card keeps this width and the sheet takes the rest


class Commands(Protocol):
    """What the window's buttons, menu, slider and sheet call."""

    def read(self) -> None: ...
    def undo(self) -> None: ...
    def clear(self) -> None: ...
    def ask_open(self) -> None: ...
    def pick_model(self, label: str) -> None: ...
    def mode_changed(self) -> None: ...
    def set_mode(self, name: str) -> None: ...
    def toggle_number_mode(self) -> None: ...
    def stroke_started(self) -> None: ...
    def schedule_read(self) -> None: ...


class Window:
    """The widgets of the app's window, and how a result, the mode and a status line appear on them."""

    def __init__(self, root: tk.Tk, commands: Commands, model_label: str) -> None:
        self.root = root
        self.mode = tk.StringVar(master=root, value="digit")  # a name of present.READ_MODES
        self.number_mode = tk.BooleanVar(master=root, value=False)  # mode == "number", for the N toggle's callers
        self.text_charset = tk.StringVar(master=root, value=next(iter(present.TEXT_CHARSETS.values())))
        self.brush = tk.IntVar(master=root, value=BRUSH_DEFAULT)
        self.model_var = tk.StringVar(master=root, value=model_label)
        self.shown = present.Shown()
        self._status_is_error = False
        self._preview_photo: tk.PhotoImage | None = None
        root.title(present.TITLE)
        root.geometry("1100x720")
        root.minsize(880, 680)  # below this the result card no longer fits
        self.fonts = apply_theme(root)
        root.columnconfigure(0, weight=1)
        root.rowconfigure(2, weight=1)
        self._build_header(model_label, commands)
        self._build_toolbar(commands)
        body = ttk.Frame(root, padding=(18, 0, 18, 0))
        body.grid(row=2, column=0, sticky="nsew")
        body.columnconfigure(0, weight=1)
        body.rowconfigure(0, weight=1)
        self.canvas = tk.Canvas(body)
        self.canvas.grid(row=0, column=0, sticky="nsew")
        self.sheet = Sheet(self.canvas, self.fonts, commands.stroke_started, commands.schedule_read)
        self.sheet.brush = self.brush.get() * BRUSH_STEP
        self._build_card(body)
        ttk.Label(root, text=HELP, style="Help.TLabel", padding=(18, 8, 18, 6)).grid(row=3, column=0, sticky="w")
        self._build_status_bar()
        self._bind_keys(commands)
        self.show_mode(present.MODES[False])

    # ---------------------------------------------------------------- building
    def _build_header(self, model_label: str, commands: Commands) -> None:
        header = ttk.Frame(self.root, padding=(18, 14, 18, 4))
        header.grid(row=0, column=0, sticky="ew")
        header.columnconfigure(1, weight=1)
        ttk.Label(header, text=present.TITLE, style="Title.TLabel").grid(row=0, column=0, sticky="w")
        self._build_modes(header, commands).grid(row=0, column=1, sticky="w", padx=(18, 0))
        ttk.Label(header, text="Model", style="Subtitle.TLabel").grid(row=0, column=2, padx=(0, 8))
        self.model_menu = ttk.OptionMenu(
            header, self.model_var, model_label, model_label, command=commands.pick_model
        )
        self.model_menu.grid(row=0, column=3, sticky="e")

    def _build_modes(self, parent: ttk.Frame, commands: Commands) -> ttk.Frame:
        """The mode selector: a button per mode, lit while on; Text's character set beside it while Text is on."""
        modes = ttk.Frame(parent)
        self.mode_buttons: dict[str, ttk.Radiobutton] = {}
        for column, (name, mode) in enumerate(present.READ_MODES.items()):
            button = ttk.Radiobutton(
                modes, text=mode.label, value=name, variable=self.mode, command=commands.mode_changed,
                style="Toggle.Toolbutton",
            )
            button.grid(row=0, column=column)
            self.mode_buttons[name] = button
        self.charset_box = ttk.Combobox(
            modes, textvariable=self.text_charset, values=list(present.TEXT_CHARSETS.values()),
            state="readonly", width=16,
        )
        self.charset_box.bind("<<ComboboxSelected>>", lambda _e: commands.mode_changed())
        return modes

    def _build_toolbar(self, commands: Commands) -> None:
        """Read, Undo, Clear, Open image on the left; brush size on the right."""
        bar = ttk.Frame(self.root, padding=(18, 6, 18, 8))
        bar.grid(row=1, column=0, sticky="ew")
        self.read_button = ttk.Button(bar, text="Read", style="Accent.TButton", command=commands.read)
        self.read_button.pack(side="left")
        self.undo_button = ttk.Button(bar, text="Undo", command=commands.undo)
        self.undo_button.pack(side="left", padx=(8, 0))
        self.clear_button = ttk.Button(bar, text="Clear", command=commands.clear)
        self.clear_button.pack(side="left", padx=(8, 0))
        ttk.Button(bar, text="Open image…", command=commands.ask_open).pack(side="left", padx=(8, 0))
        self.brush_label = ttk.Label(bar, width=2, anchor="e", text=str(self.brush.get()))
        self.brush_label.pack(side="right")
        self.brush_scale = ttk.Scale(
            bar,
            from_=BRUSH_MIN,
            to=BRUSH_MAX,
            orient="horizontal",
            length=110,
            command=self._on_brush,
            value=self.brush.get(),
        )
        self.brush_scale.pack(side="right", padx=(6, 6))
        ttk.Label(bar, text="Brush").pack(side="right")

    def _build_card(self, parent: ttk.Frame) -> None:
        """The result card: big answer beside the 28x28 the model saw, the confidence, the bars, a tip."""
        card = ttk.Frame(parent, style="Card.TFrame", padding=(20, 16, 20, 16))
        card.grid(row=0, column=1, sticky="ns", padx=(16, 0))
        card.columnconfigure(0, weight=1)
        ttk.Label(card, text="ANSWER", style="Caption.TLabel").grid(row=0, column=0, sticky="w")
        ttk.Label(card, text="MODEL SEES", style="Caption.TLabel").grid(row=0, column=1, sticky="w")
        # A fixed-size box, so a long number in a smaller font does not make the card jump.
        answer_box = tk.Frame(card, background=CARD, width=CARD_WIDTH - PREVIEW - 16, height=PREVIEW + 8)
        answer_box.grid(row=1, column=0, sticky="nsew", padx=(0, 16))
        answer_box.pack_propagate(False)
        self.answer_label = tk.Label(
            answer_box, text=" ", font=self.fonts["answer"], background=CARD, foreground=INK, anchor="w"
        )
        self.answer_label.pack(fill="both", expand=True)
        self.preview = tk.Label(card, background=CARD, borderwidth=0)
        self.preview.grid(row=1, column=1, sticky="n", pady=(6, 0))
        self.detail_label = self._wrapped_label(card, "detail")
        self.detail_label.grid(row=2, column=0, columnspan=2, sticky="ew", pady=(2, 12))
        # A sum's result line (Math mode); out of the layout otherwise.
        self.result_label = self._wrapped_label(card, "result")
        self.result_label.grid(row=3, column=0, columnspan=2, sticky="ew", pady=(0, 12))
        self.result_label.grid_remove()
        self.bars_caption = ttk.Label(card, text=present.CLASS_CAPTION, style="Caption.TLabel")
        self.bars_caption.grid(row=4, column=0, columnspan=2, sticky="w")
        self.bars = tk.Canvas(card, width=CARD_WIDTH, height=10 * BAR_ROW + 6, background=CARD)
        self.bars.configure(highlightthickness=0)
        self.bars.grid(row=5, column=0, columnspan=2, sticky="w", pady=(6, 0))
        card.rowconfigure(6, weight=1)
        self.tip = self._wrapped_label(card, "small")
        self.tip.grid(row=6, column=0, columnspan=2, sticky="sew")

    def _wrapped_label(self, card: ttk.Frame, font: str) -> tk.Label:
        return tk.Label(
            card,
            text="",
            font=self.fonts[font],
            background=CARD,
            foreground=MUTED,
            anchor="w",
            justify="left",
            wraplength=CARD_WIDTH - 10,  # narrower than the bars, so the card never changes width
        )

    def _build_status_bar(self) -> None:
        status = ttk.Frame(self.root, style="Status.TFrame", padding=(18, 5))
        status.grid(row=4, column=0, sticky="ew")
        status.columnconfigure(1, weight=1)
        self.model_info = ttk.Label(status, style="Status.TLabel", text="")
        self.model_info.grid(row=0, column=0, sticky="w")
        self.status = ttk.Label(status, style="Status.TLabel", text="", anchor="e")
        self.status.grid(row=0, column=1, sticky="e")

    def _bind_keys(self, commands: Commands) -> None:
        """Keyboard shortcuts, as the help line lists them."""
        keys = {
            ("<Escape>", "<Delete>"): commands.clear,
            ("<Control-z>", "<Control-Z>"): commands.undo,
            ("<Control-o>", "<Control-O>"): commands.ask_open,
            ("<Return>", "<KP_Enter>"): commands.read,
            ("<KeyPress-n>", "<KeyPress-N>"): commands.toggle_number_mode,
        }
        for sequences, command in keys.items():
            for seq in sequences:
                self.root.bind(seq, lambda _e, c=command: c())
        for key, name in (("d", "digit"), ("l", "letter"), ("t", "text"), ("m", "math")):
            for seq in (f"<KeyPress-{key}>", f"<KeyPress-{key.upper()}>"):
                self.root.bind(seq, lambda _e, n=name: commands.set_mode(n))

    def _on_brush(self, value: str) -> None:
        self.brush.set(round(float(value)))
        self.brush_label.configure(text=str(self.brush.get()))
        self.sheet.brush = self.brush.get() * BRUSH_STEP

    # ---------------------------------------------------------------- showing
    def show(self, shown: present.Shown) -> None:
        """Put a result (or a blank or an error) on the card, the sheet, the title and the status bar."""
        self.shown = shown
        self.fonts["answer"].configure(size=shown.answer_size)
        self.answer_label.configure(text=shown.answer or " ", foreground=WARN if shown.unsure else INK)
        detail_colour = ERROR if shown.error else WARN if shown.unsure else MUTED
        self.detail_label.configure(text=shown.detail, foreground=detail_colour)
        self.result_label.configure(text=shown.result, foreground=ACCENT if shown.result_ok else WARN)
        if shown.result:
            self.result_label.grid()
        else:
            self.result_label.grid_remove()
        self.root.title(shown.title)
        self.bars_caption.configure(text=shown.caption)
        draw_bars(self.bars, shown.bars, self.fonts)
        self._preview_photo = preview_photo(shown.images, self.root)
        self.preview.configure(image=self._preview_photo)
        self.sheet.set_boxes(shown.boxes)
        status = present.next_status(shown, *self.status_text())
        if status != self.status_text():
            self.set_status(*status)

    def show_mode(self, mode: present.Mode) -> None:
        """The sheet's hint and the card's tip for a mode, Text's charset picker; boxes of the other mode go."""
        self.sheet.hint = mode.hint
        self.tip.configure(text=mode.tip)
        if mode is present.READ_MODES["text"]:
            self.charset_box.grid(row=0, column=len(present.READ_MODES), padx=(10, 0))
        else:
            self.charset_box.grid_remove()
        self.sheet.boxes = []
        self.sheet.redraw()

    def set_status(self, message: str, error: bool = False) -> None:
        """The status bar's message, in red for an error."""
        self.status.configure(text=message, foreground=ERROR if error else MUTED)
        self._status_is_error = error and bool(message)

    def status_text(self) -> tuple[str, bool]:
        """The status bar's message and whether it is shown as an error."""
        return str(self.status.cget("text")), self._status_is_error

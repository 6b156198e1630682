"""The model menu's entries: the bundled models, plus --model or a ready-made predictor, and which is current."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from inkdigit.gui import present

if TYPE_CHECKING:
    from inkdigit.inference import Predictor


@dataclass
class Menu:
    """Menu label -> what to hand Predictor.load, the label to start with, and why the list may be short."""

    choices: dict[str, str]
    label: str
    error: str | None = None

    @property
    def labels(self) -> list[str]:
        """The entries to list; an empty menu still shows the current label."""
        return list(self.choices) or [self.label]


def model_menu(model: str | None, predictor: Predictor | None) -> Menu:
    """The menu for `--model` (or a given predictor), without loading anything; never raises."""
    from inkdigit.inference import available_models  # numpy and the model files: only once the window shows

    error = None
    try:
        bundled = available_models()
    except Exception as exc:  # a broken models folder must not keep the window from opening
        bundled, error = [], present.list_failed(exc)
    choices = present.menu_choices([str(m["name"]) for m in bundled], model)
    if predictor is not None:
        label = present.predictor_label(choices, getattr(predictor, "path", None), predictor.name)
        choices.setdefault(label, label)
    else:
        default = next((str(m["name"]) for m in bundled if m.get("default")), None)
        label = present.start_label(choices, model, default)
    return Menu(choices, label, error)

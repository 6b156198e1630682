"""The models a server can answer with: the default one loaded at start-up, others loaded on first use."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from inkdigit.server.errors import UnknownModelError


class ModelRegistry:
    """Loaded predictors keyed by name; one ONNX Runtime session per model, created once and shared."""

    def __init__(
        self,
        default: str | None,
        loader: Callable[[str | None], Any] | None = None,
        lister: Callable[[], list[dict]] | None = None,
    ) -> None:
        if loader is None or lister is None:
            from inkdigit import inference

            # One ONNX Runtime thread per session: each server process reads one image at a time on one core.
            loader = loader or (lambda name: inference.Predictor.load(name, threads=1))
            lister = lister or inference.available_models
        self._loader = loader
        self._lister = lister
        self._lock = threading.Lock()
        # Loading the default here (not on first request) makes a bad --model fail before the server starts.
        self.default = loader(default)
        self._loaded: dict[str, Any] = {self.default.name: self.default}

    def catalogue(self) -> list[dict]:
        """Models a client may ask for: the bundled ones, plus the start-up model if it came from a path."""
        default_name = self.default.name
        entries = []
        for info in self._lister():
            entries.append(
                {
                    "name": info["name"],
                    "description": info.get("description", ""),
                    "test_accuracy": info.get("test_accuracy"),
                    "default": info["name"] == default_name,
                    "loaded": info["name"] in self._loaded,
                }
            )
        if not any(e["name"] == default_name for e in entries):
            meta = getattr(self.default, "metadata", {}) or {}
            entries.insert(
                0,
                {
                    "name": default_name,
                    "description": str(meta.get("description", "model given at start-up")),
                    "test_accuracy": meta.get("test_accuracy"),
                    "default": True,
                    "loaded": True,
                },
            )
        return entries

    def get(self, name: str | None) -> Any:
        """The predictor for ``name`` (default when empty); UnknownModelError for names not in the catalogue."""
        if not name or name == self.default.name:
            return self.default
        predictor = self._loaded.get(name)
        if predictor is not None:
            return predictor
        known = [e["name"] for e in self.catalogue()]
        # Only catalogue names: a query parameter must never make the server open an arbitrary file path.
        if name not in known:
            raise UnknownModelError(f"unknown model {name!r}; available: {', '.join(known)}")
        with self._lock:
            predictor = self._loaded.get(name)
            if predictor is None:
                predictor = self._loader(name)
                self._loaded[name] = predictor
        return predictor

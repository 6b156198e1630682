"""The models a server can answer with: the default one loaded at start-up, others loaded on first use.

A server process started with ``keep_trying`` (uvicorn's worker processes: see start.py) does not die when its
default model's file does not load, which would only have the supervisor start another one that fails the
same way: it serves, answers 503 with the reason, logs each failed try, and tries again after 1, 2, 4 ... up
to 60 seconds, so a file put right comes back without a restart.

The models of the character sets (letters, alnum, math: `inference.charset_model`) load on first use; "digits"
is the default model. A set whose model is not installed is a 503 naming the missing file.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from inkdigit.errors import ModelNotFoundError, one_line
from inkdigit.server.errors import CharsetUnavailableError, ModelUnavailableError, UnknownModelError

FIRST_RETRY_S = 1.0
MAX_RETRY_S = 60.0
log = logging.getLogger("uvicorn.error")  # the logger uvicorn's settings show (start.py: warnings and up)


def _load_for_serving(name: str | None) -> Any:
    """A default model, one ONNX Runtime thread per session, with the whole-digit verifier, the pair reader and
    the model that scores a number's candidates (`Predictor.line_scorer`): all load here, off the event loop, not
    on a worker's first number request."""
    from inkdigit import inference

    predictor = inference.Predictor.load(name, threads=1)
    predictor.line_scorer()
    inference.whole_digit_verifier()
    inference.pair_reader()
    return predictor


def _load_charset(name: str) -> Any:
    """A character set's model, with the whole-character verifier that reading its lines also needs (both load
    together, on first use, not on the request after)."""
    from inkdigit import inference

    predictor = inference.Predictor(inference.charset_model(name), threads=1)
    inference.whole_char_verifier()
    return predictor


def retry_delay(failures: int) -> float:
    """Seconds between the ``failures``-th failed load in a row and the next try: 1, 2, 4, ... at most 60."""
    return min(MAX_RETRY_S, FIRST_RETRY_S * 2.0 ** max(0, failures - 1))


class ModelRegistry:
    """Loaded predictors keyed by name; one ONNX Runtime session per model, created once and shared."""

    def __init__(
        self,
        default: str | None,
        loader: Callable[[str | None], Any] | None = None,
        lister: Callable[[], list[dict]] | None = None,
        *,
        keep_trying: bool = False,
        clock: Callable[[], float] = time.monotonic,
        charset_loader: Callable[[str], Any] | None = None,
    ) -> None:
        from inkdigit import inference

        # A character set's model by set name ("digits" is never asked: it is the default model).
        self._charset_loader = charset_loader or _load_charset
        self._charsets: dict[str, Any] = {}
        if loader is None or lister is None:

            if keep_trying and loader is None:
                # A name that is neither a bundled model nor a file is a wrong setting, not a broken file: the
                # process fails to start (start.py stops the server with one line) instead of waiting for it.
                inference.resolve_model(default)
            # One ONNX Runtime thread per session: each server process reads one image at a time on one core.
            loader = loader or _load_for_serving
            lister = lister or inference.available_models
        self._loader = loader
        self._lister = lister
        self._clock = clock
        self._source = default
        self._lock = threading.Lock()
        self._loaded: dict[str, Any] = {}
        self._default: Any = None
        self._failures = 0
        self._next_try = 0.0
        self._reason = ""
        if not keep_trying:
            # Loading the default here (not on first request) makes a bad --model fail before the server starts.
            self._set_default(loader(default))
            return
        with contextlib.suppress(ModelUnavailableError):  # logged; answered with 503 until a try loads it
            self.load_default()

    @property
    def ready(self) -> bool:
        """Whether the default model is loaded (no request needs to try loading it)."""
        return self._default is not None

    @property
    def default(self) -> Any:
        """The default predictor; ModelUnavailableError while its file does not load (see `load_default`)."""
        return self._default if self._default is not None else self.load_default()

    def load_default(self) -> Any:
        """The default predictor, trying to load it again if the back-off time has passed; otherwise, or if
        that try fails too, ModelUnavailableError with the reason. Loading takes a while: not on an event loop.
        """
        with self._lock:
            if self._default is not None:
                return self._default
            now = self._clock()
            if now < self._next_try:
                raise self._unavailable(self._next_try - now)
            try:
                predictor = self._loader(self._source)
            except Exception as exc:
                self._failures += 1
                self._reason = one_line(exc)
                delay = retry_delay(self._failures)
                self._next_try = now + delay
                log.error("model unavailable (try %d): %s; next try in %g s", self._failures, self._reason, delay)
                raise self._unavailable(delay) from None
            if self._failures:
                log.warning("model %r loaded after %d failed tries; serving again", predictor.name, self._failures)
            self._set_default(predictor)
            return predictor

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
        """The predictor for ``name`` (default when empty); UnknownModelError for names not in the catalogue,
        ModelUnavailableError while the default does not load."""
        default = self.default
        if not name or name == default.name:
            return default
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

    def charset(self, name: str) -> Any:
        """The predictor of a character set ("digits": the default model), loaded on first use (not on an event
        loop: it takes a while); CharsetUnavailableError (503) when the set's model is missing or broken."""
        if name == "digits":
            return self.default
        predictor = self._charsets.get(name)
        if predictor is not None:
            return predictor
        with self._lock:
            predictor = self._charsets.get(name)
            if predictor is None:
                try:
                    predictor = self._charset_loader(name)
                except ModelNotFoundError as exc:
                    raise CharsetUnavailableError(f"the {name!r} character set is unavailable: {one_line(exc)}"
                                                  ) from None
                self._charsets[name] = predictor
        return predictor

    def charset_ready(self, name: str) -> bool:
        """Whether `charset(name)` answers without loading anything."""
        return name in self._charsets or (name == "digits" and self.ready)

    def _set_default(self, predictor: Any) -> None:
        self._loaded[predictor.name] = predictor
        self._default = predictor
        self._failures = 0

    def _unavailable(self, wait: float) -> ModelUnavailableError:
        return ModelUnavailableError(f"model unavailable: {self._reason}; next try in {math.ceil(wait)} s", wait)

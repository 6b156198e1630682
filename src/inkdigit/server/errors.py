"""Every error answer of the API, in one place: which failure gets which HTTP status and message.

A failure a client caused becomes ``{"error": "one line"}`` with a 4xx status, and one the server cannot help now
(its model does not load, a request's work ran past its deadline) the same with a 503; anything not in the map
is a bug and stays a 500. The routes' exception handlers (`add_handlers`) and the batch endpoint's per-file
results (`status_of`, `message_of`) read the same map, so the same failure gets the same answer.
"""

from __future__ import annotations

import json
import math

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from PIL.Image import DecompressionBombError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.routing import Match

from inkdigit.errors import (
    CharsetError,
    ExpressionError,
    ImageError,
    ImageTooLargeError,
    ModelNotFoundError,
    StrokesError,
    StrokesTooLargeError,
    UnsupportedImageError,
    one_line,
)


class RequestError(Exception):
    """A request the API refuses before reading any image; the message is one line, sent as it is."""


class BadBodyError(RequestError):
    """The body holds no usable image (empty, bad JSON, bad data URL, bad multipart)."""


class UnsupportedMediaTypeError(RequestError):
    """The body, a multipart file or a data URL is not of an image media type."""


class BodyTooLargeError(RequestError):
    """The body or one file of it is over the server's size limit."""


class UnknownModelError(RequestError):
    """A request names a model that is not in the server's catalogue."""


class TooMuchWorkError(RequestError):
    """A request asks for more work than one request may: a batch whose images hold too many pixels."""


class UnavailableError(RequestError):
    """The server cannot do the work now; ``retry_after`` (seconds), when set, goes out as Retry-After."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ModelUnavailableError(UnavailableError):
    """The server's model file does not load (it is tried again with back-off, see registry.py)."""


class DeadlineError(UnavailableError):
    """A request's work ran past its deadline (see work.py)."""


class CharsetUnavailableError(UnavailableError):
    """A character set's model is not installed, or does not load (see registry.py)."""


# Exception kind → status. A kind not listed here takes the status of its nearest listed base class.
STATUSES: dict[type[BaseException], int] = {
    BadBodyError: 422,
    UnsupportedMediaTypeError: 415,
    BodyTooLargeError: 413,
    UnknownModelError: 404,
    TooMuchWorkError: 413,
    UnavailableError: 503,
    ModelNotFoundError: 404,  # the model a name points to cannot be loaded
    ImageError: 422,  # undecodable, too small, blank (NoInkError)
    ImageTooLargeError: 413,
    UnsupportedImageError: 415,  # a picture, but in a format not on the decoder's allow-list (EPS, PSD, ICO, ...)
    StrokesError: 422,  # a drawing's strokes: wrong nesting, not numbers, NaN, far off the canvas
    StrokesTooLargeError: 413,  # too many strokes or points, too large a canvas
    DecompressionBombError: 413,  # Pillow's own refusal, should a decoder path raise it unwrapped
    RequestValidationError: 422,  # a bad query parameter
    CharsetError: 422,  # an unknown kind of character, or one the character set has none of
    ExpressionError: 422,  # a line that does not evaluate, where it is an error (/api/predict/math answers 200)
}


def status_of(exc: BaseException) -> int | None:
    """The HTTP status for a failure a client caused, or None for anything else (a bug: 500)."""
    if isinstance(exc, HTTPException):  # Starlette's own answers: unknown path 404, wrong method 405
        return exc.status_code
    for kind in type(exc).__mro__:
        if kind in STATUSES:
            return STATUSES[kind]
    return None


def message_of(exc: BaseException) -> str:
    """The one-line message sent for ``exc``."""
    if isinstance(exc, RequestError):
        return str(exc)
    if isinstance(exc, RequestValidationError):
        return _validation_message(exc)
    if isinstance(exc, HTTPException):
        return exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
    return one_line(exc)


def error_body(message: str) -> bytes:
    """The bytes of every error answer: compact JSON ``{"error": message}``."""
    return json.dumps({"error": message}, separators=(",", ":")).encode()


def answer(exc: BaseException) -> tuple[int, bytes] | None:
    """(status, body) of the error answer for ``exc``, or None if it is no client's doing."""
    status = status_of(exc)
    return None if status is None else (status, error_body(message_of(exc)))


def headers_of(request: Request, exc: BaseException) -> dict[str, str]:
    """The headers an error answer carries besides its content type: those of Starlette's own answers, and
    on a 405 an ``Allow`` that RFC 9110 requires to list every method the path answers.

    Starlette's 405 names only the methods of the first route at that path; a path served by several routes
    (a GET and its HEAD twin, say) would lose the others, so the list is made from every route that matches.
    """
    headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else {}
    if isinstance(exc, UnavailableError) and exc.retry_after is not None:
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    if status_of(exc) == 405:
        methods: set[str] = set()
        for route in request.app.router.routes:
            if route.matches(request.scope)[0] is not Match.NONE:  # PARTIAL: the path matches, the method not
                methods |= getattr(route, "methods", None) or set()
        headers = {k: v for k, v in headers.items() if k.lower() != "allow"}
        headers["Allow"] = ", ".join(sorted(methods))
    return headers


def add_handlers(app: FastAPI) -> None:
    """Make the app answer every mapped failure raised in a route with its error answer."""

    async def handle(request: Request, exc: Exception) -> Response:
        found = answer(exc)
        if found is None:  # cannot happen for the kinds registered below; re-raise keeps it a 500
            raise exc
        status, body = found
        return Response(content=body, status_code=status, media_type="application/json",
                        headers=headers_of(request, exc))

    async def gone(request: Request, exc: Exception) -> Response:
        # The client hung up (mid-body, or mid-batch: work.py stops there): no one reads this answer, and it
        # is no bug, so it must not become a 500 with a traceback in the log. 499 is nginx's "client closed".
        return Response(status_code=499)

    async def bug(request: Request, exc: Exception) -> Response:
        # Anything unmapped is a bug: Starlette's outermost middleware answers with this and still re-raises the
        # exception, so uvicorn logs its traceback; the client gets the API's error shape, not text/plain.
        return Response(content=error_body("internal server error"), status_code=500, media_type="application/json")

    # Starlette finds a handler through the exception's class hierarchy, like status_of.
    for kind in (*STATUSES, HTTPException):
        app.add_exception_handler(kind, handle)
    app.add_exception_handler(ClientDisconnect, gone)
    app.add_exception_handler(Exception, bug)  # Starlette gives this one to ServerErrorMiddleware


def _validation_message(exc: RequestValidationError) -> str:
    """One line naming each bad parameter and why, e.g. ``top_k: Input should be less than ...``."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "body", "path"))
        parts.append(f"{where or 'request'}: {err.get('msg', 'invalid')}")
    return "bad parameters: " + "; ".join(parts)

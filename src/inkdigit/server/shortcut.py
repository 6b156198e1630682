"""The reading endpoints' common case answered in plain ASGI, before FastAPI's routing and parameter parsing.

An image posted as the raw body to /api/predict or /api/predict/number, with at most `model`, `top_k` and
`preview` in plain form, gets the same answer the FastAPI route gives, for ~0.2 ms of server CPU instead of
~0.55 ms (docs/speed.md): a sixth of a request's whole cost. Anything else, and any request whose reading
fails, goes to the app itself (the body read so far is handed on), so every error answer, header and
limit stays defined in one place: the routes and their handlers in app.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from inkdigit.server import work
from inkdigit.server.bodies import is_image_type, media_type
from inkdigit.server.registry import ModelRegistry

JOBS = {"/api/predict": work.predict, "/api/predict/number": work.predict_number}
# Only spellings whose meaning is beyond doubt; the route's own parsing handles every other one.
_TOP_K = re.compile(r"10|[1-9]")
_BOOLEANS = {"true": True, "false": False, "1": True, "0": False}


def plain_options(query: bytes) -> tuple[str | None, int, bool] | None:
    """(model, top_k, preview) from a query string in plain form, or None to leave it to the route."""
    model, top_k, preview = None, 3, False
    try:
        pairs = parse_qsl(query.decode("ascii"), keep_blank_values=True, strict_parsing=bool(query))
    except (UnicodeDecodeError, ValueError):
        return None
    if len({key for key, _ in pairs}) != len(pairs):
        return None  # a repeated parameter
    for key, value in pairs:
        if key == "model" and 0 < len(value) <= 200:
            model = value
        elif key == "top_k" and _TOP_K.fullmatch(value):
            top_k = int(value)
        elif key == "preview" and value in _BOOLEANS:
            preview = _BOOLEANS[value]
        else:
            return None
    return model, top_k, preview


class Shortcut:
    """ASGI middleware: answers the common reading requests itself, hands everything else to `app`."""

    def __init__(self, app: ASGIApp, registry: ModelRegistry, max_bytes: int, cors: bool) -> None:
        self.app, self.registry, self.max_bytes, self.cors = app, registry, max_bytes, cors

    def _job(self, scope: Scope) -> tuple[Callable[..., dict], tuple[str | None, int, bool]] | None:
        """The job and its options if this request may take the shortcut, else None."""
        job = JOBS.get(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        if job is None:
            return None
        headers = dict(scope["headers"])
        if self.cors and b"origin" in headers:
            return None  # the app's CORS middleware adds its headers to these
        if not is_image_type(media_type(headers.get(b"content-type", b"").decode("latin-1"))):
            return None  # multipart, JSON, wrong types: the route reads or refuses them
        if b"transfer-encoding" in headers or not headers.get(b"content-length", b"").isdigit():
            return None
        if int(headers[b"content-length"]) > self.max_bytes:
            return None  # the route answers 413
        options = plain_options(scope.get("query_string", b""))
        return None if options is None else (job, options)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self._job(scope)
        if found is None:
            return await self.app(scope, receive, send)
        job, options = found
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return await self.app(scope, _replay(chunks, message, receive), send)
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            more = message.get("more_body", False)
            if size > self.max_bytes:  # more than it declared: the route refuses it
                return await self.app(scope, _replay(chunks, None, receive, more), send)
        response = None
        if size:  # an empty body is the route's to refuse
            try:
                response = work.json_bytes(job(self.registry, b"".join(chunks), *options))
            except Exception:  # a bad image, an unknown model: the route answers it, as it always has
                response = None
        if response is None:
            return await self.app(scope, _replay(chunks, None, receive, False), send)
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-length", str(len(response)).encode()), (b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": response})


def _replay(chunks: list[bytes], pending: Message | None, receive: Receive, more: bool = True) -> Receive:
    """A `receive` that first gives back the body read so far, then whatever the client sends next."""
    queue: list[Message] = [{"type": "http.request", "body": c, "more_body": True} for c in chunks]
    if queue:
        queue[-1]["more_body"] = more
    if pending is not None:
        queue.append(pending)

    async def replayed() -> Message:
        return queue.pop(0) if queue else await receive()

    return replayed

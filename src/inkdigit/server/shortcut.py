"""The reading endpoints' common case answered in plain ASGI, before FastAPI's routing and parameter parsing.

An image posted as the raw body to /api/predict or /api/predict/number, with at most `model`, `top_k` and
`preview` in plain form, gets the same answer the FastAPI route gives, for ~0.2 ms of server CPU instead of
~0.55 ms (docs/speed.md): a sixth of a request's whole cost. The options are parsed by `options.plain_options`
(the routes' limits), a failed reading is answered from the routes' own error map (`errors.answer`), and
anything else (multipart, JSON, odd spellings, a body over the limit) goes to the app with the body read so
far handed on.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from inkdigit.server import errors, work
from inkdigit.server.bodies import is_image_type, media_type
from inkdigit.server.options import ReadOptions, plain_options
from inkdigit.server.registry import ModelRegistry

JOBS = {"/api/predict": work.predict, "/api/predict/number": work.predict_number}


class Shortcut:
    """ASGI middleware: answers the common reading requests itself, hands everything else to `app`."""

    def __init__(self, app: ASGIApp, registry: ModelRegistry, max_bytes: int, cors: bool) -> None:
        self.app, self.registry, self.max_bytes, self.cors = app, registry, max_bytes, cors

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
        if not size:  # an empty body is the route's to refuse
            return await self.app(scope, _replay(chunks, None, receive, False), send)
        try:
            status, body = 200, work.json_bytes(job(self.registry, b"".join(chunks), *options))
        except Exception as exc:
            failed = errors.answer(exc)
            if failed is None:
                raise  # a bug: a 500, as in the route
            status, body = failed
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})

    def _job(self, scope: Scope) -> tuple[Callable[..., dict], ReadOptions] | None:
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

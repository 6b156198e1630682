"""The HTTP connection layer of `inkdigit serve`: uvicorn's h11 protocol with the limits a server facing
hostile clients needs, and JSON answers for the requests it refuses before the app sees them.

- The request line and headers must fit in ``config.h11_max_incomplete_event_size`` bytes (h11's own
  limit; `start.py` sets MAX_HEAD_BYTES): a longer head is refused as soon as that much of it has arrived
  (or when it arrived whole in one read), 414 when the request line alone is longer, 431 otherwise. Any
  other malformed request is a 400.
- A request must arrive in time: its head within HEAD_TIMEOUT seconds of the connection (or of the
  previous answer on it), its body without a BODY_TIMEOUT-second stall and, after BODY_TIMEOUT seconds, at
  MIN_BODY_RATE bytes a second on average; otherwise 408 and the connection closes. uvicorn itself only
  times out a connection idle between requests.
- Every refusal is closed lingeringly, as nginx does: the answer is sent, our side is shut, and what the
  client still sends is read and dropped for at most LINGER_SECONDS or LINGER_BYTES before the socket
  closes. Closing with unread bytes makes the kernel reset the connection, and a client that sends its
  whole request before reading (Python's urllib) then loses the answer to the reset. `LingeringClose` does
  the same for the app's own answers given before the body was read (a 413 from Content-Length).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import anyio
import h11
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import STATUS_PHRASES, H11Protocol

from inkdigit.errors import one_line
from inkdigit.server.errors import error_body

MAX_HEAD_BYTES = 16 * 1024  # request line + headers (h11's own default limit)
HEAD_TIMEOUT = 10.0  # seconds for a request line and headers to arrive
BODY_TIMEOUT = 30.0  # seconds a body may go without a byte arriving
# Bytes per second a body must average once it has taken BODY_TIMEOUT seconds: a client trickling a few bytes
# a second never stalls, but would hold a connection (and its worker's memory) for hours. 1 KiB/s is far
# below any real connection and ends a trickle after BODY_TIMEOUT.
MIN_BODY_RATE = 1024.0
LINGER_SECONDS = 5.0  # the longest a refused request's remaining bytes are read and dropped
LINGER_BYTES = 32 * 1024 * 1024  # and the most bytes: enough for an upload a few times the 5 MB limit


class HTTPProtocol(H11Protocol):
    """uvicorn's H11Protocol with a head limit that answers in JSON, request timeouts and lingering close.

    Pass the class as uvicorn's ``http=`` (`uvicorn --http inkdigit.server.protocol:HTTPProtocol`).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.logger.addFilter(_answered_refusals)  # once: a logger keeps one copy of a filter
        self.conn: _LimitedConnection = _LimitedConnection(self.config.h11_max_incomplete_event_size or MAX_HEAD_BYTES)
        self.app = LingeringClose(self.app)
        self._timer: asyncio.TimerHandle | None = None
        self._timer_kind = ""
        self._lingering = False
        self._dropped = 0
        self._body_since: float | None = None  # when the current request's body began to arrive
        self._body_bytes = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm("head", HEAD_TIMEOUT, self._head_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            self._dropped += len(data)
            if self._dropped > LINGER_BYTES:
                self.transport.close()
            return
        if self._body_since is not None:
            self._body_bytes += len(data)
        super().data_received(data)
        self._watch()
        self._check_body_rate()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch()

    def send_400_response(self, msg: str) -> None:
        """Answer a request h11 refused (uvicorn calls this for every h11 RemoteProtocolError)."""
        self.refuse(*self.conn.refusal)

    def refuse(self, status: int, message: str) -> None:
        """Answer ``status`` with ``{"error": message}`` and close lingeringly; if the app's answer is under
        way, nothing else may be sent: close at once."""
        if self.conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            self.transport.close()
            return
        body = error_body(message)
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                   (b"connection", b"close")]
        answer = (h11.Response(status_code=status, headers=headers, reason=STATUS_PHRASES[status]),
                  h11.Data(data=body), h11.EndOfMessage())
        self.transport.write(b"".join(self.conn.send(event) or b"" for event in answer))
        self._close_lingering()

    def shutdown(self) -> None:
        if self._lingering:  # refused: nothing is left to finish (uvicorn would wait for a refused body's app)
            self.transport.close()
        else:
            super().shutdown()

    def _close_lingering(self) -> None:
        """Shut our side (the client sees the end of the answer), drop what still arrives, close at the bounds
        or when the client closes (uvicorn's eof_received lets the transport close itself)."""
        if self.transport.is_closing():
            return
        self._lingering = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.flow.resume_reading()
        self._arm("linger", LINGER_SECONDS, self.transport.close)

    def _watch(self) -> None:
        """Keep the one timer that fits where the request is: its head arriving, its body arriving, or none."""
        if self._lingering or self.transport.is_closing():
            return
        state = self.conn.their_state
        if state is h11.IDLE:
            if self._timer_kind != "head":  # from the first byte on; a trickle of bytes does not extend it
                self._arm("head", HEAD_TIMEOUT, self._head_timeout)
        elif state is h11.SEND_BODY:
            if self._body_since is None:
                self._body_since, self._body_bytes = self.loop.time(), 0
            self._arm("body", BODY_TIMEOUT, self._body_timeout)  # each arrival is progress
        else:
            self._disarm()
        if state is not h11.SEND_BODY:
            self._body_since = None

    def _check_body_rate(self) -> None:
        """Refuse a body that has arrived for BODY_TIMEOUT seconds at under MIN_BODY_RATE bytes a second."""
        if self._body_since is None or self._lingering or self.transport.is_closing() or self.flow.read_paused:
            return
        elapsed = self.loop.time() - self._body_since
        if elapsed > BODY_TIMEOUT and self._body_bytes < MIN_BODY_RATE * elapsed:
            rate = self._body_bytes / elapsed
            self.refuse(408, f"request timeout: the body is arriving at {rate:.0f} bytes/s, under the "
                             f"{MIN_BODY_RATE:g} bytes/s a body must average")

    def _head_timeout(self) -> None:
        self._timer, self._timer_kind = None, ""
        if self.conn.their_state is not h11.IDLE or self.transport.is_closing():
            return
        if not self.conn.trailing_data[0]:  # idle, not a single byte: close quietly, as uvicorn's keep-alive
            self.transport.close()
            return
        self.refuse(408, f"request timeout: the request line and headers did not arrive within {HEAD_TIMEOUT:g} s")

    def _body_timeout(self) -> None:
        self._timer, self._timer_kind = None, ""
        if self.conn.their_state is not h11.SEND_BODY or self.transport.is_closing():
            return
        if self.flow.read_paused:  # the app is not reading: the wait is ours, not the client's
            self._arm("body", BODY_TIMEOUT, self._body_timeout)
            return
        self.refuse(408, f"request timeout: no part of the body arrived for {BODY_TIMEOUT:g} s")

    def _arm(self, kind: str, seconds: float, callback: Callable[[], None]) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, callback)
        self._timer_kind = kind

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timer_kind = None, ""


def _answered_refusals(record: logging.LogRecord) -> bool:
    """Drop uvicorn's line for each request h11 refused: it is answered with its own JSON 4xx here, and under an
    attack (one refused 50 MB header after another) one line per request would flood the log and the disk."""
    return record.getMessage() != "Invalid HTTP request received."


class LingeringClose:
    """ASGI middleware: an answer given before the request's body was read closes the connection, after
    reading and dropping the rest of the body for at most LINGER_SECONDS or LINGER_BYTES.

    The answer goes out whole at once (its Content-Length tells the client it is complete); only its end is
    held back while the rest of the body is drained through ``receive``, so that the connection does not close
    on unread bytes. A client that asked ``Expect: 100-continue`` and was not told to continue sends no body:
    nothing is drained.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length", b"0").strip()
        body_done = b"transfer-encoding" not in headers and (not declared.isdigit() or int(declared) == 0)
        expects_continue = headers.get(b"expect", b"").lower() == b"100-continue"
        asked = False
        lingering = False

        async def receive_body() -> Message:
            nonlocal asked, body_done
            asked = True
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        async def send_answer(message: Message) -> None:
            nonlocal lingering
            if message["type"] == "http.response.start" and not body_done:
                lingering = True
                message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            elif lingering and message["type"] == "http.response.body" and not message.get("more_body", False):
                await send({**message, "more_body": True})
                if asked or not expects_continue:
                    await _drain(receive_body, lambda: body_done)
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app(scope, receive_body, send_answer)


async def _drain(receive: Receive, done: Callable[[], bool]) -> None:
    """Read and drop request body messages until the body ends or a bound is reached."""
    dropped = 0
    with anyio.move_on_after(LINGER_SECONDS):
        while not done() and dropped <= LINGER_BYTES:
            dropped += len((await receive()).get("body", b""))


class _LimitedConnection(h11.Connection):
    """An h11 server connection that also refuses a head over the limit that arrived whole (h11 only limits
    one still incomplete), and keeps the answer for the request it refused: uvicorn catches h11's error and
    calls `send_400_response` without it."""

    def __init__(self, limit: int) -> None:
        super().__init__(h11.SERVER, max_incomplete_event_size=limit)
        self.limit = limit
        self.refusal = (400, "bad HTTP request")

    def next_event(self) -> Any:
        try:
            event = super().next_event()
        except h11.RemoteProtocolError as exc:
            if exc.error_status_hint == 431:  # h11's own limit: the head is still incomplete
                unread, _ = self.trailing_data
                self.refusal = self._too_large(b"\n" not in unread.lstrip(b"\r\n"))
            else:
                self.refusal = (400, f"bad HTTP request: {one_line(exc)[:200]}")  # h11 quotes the bytes
            raise
        if type(event) is h11.Request and _head_size(event) > self.limit:
            self.refusal = self._too_large(len(event.target) > self.limit)
            raise h11.RemoteProtocolError(self.refusal[1], error_status_hint=self.refusal[0])
        return event

    def _too_large(self, long_line: bool) -> tuple[int, str]:
        limit = f"the request line and headers must fit in {self.limit / 1024:g} KiB"
        return (414, f"URL too long: {limit}") if long_line else (431, f"request headers too large: {limit}")


def _head_size(request: h11.Request) -> int:
    """The bytes of a request's line and headers (give or take the spaces h11 strips)."""
    line = len(request.method) + len(request.target) + len(request.http_version) + 8
    return line + sum(len(name) + len(value) + 4 for name, value in request.headers) + 2

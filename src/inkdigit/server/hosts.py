"""Which Host headers the server answers to: a page on another site can otherwise reach a server on this
machine's loopback address by DNS rebinding (its name re-pointed at 127.0.0.1), so a loopback server
answers only to the loopback names unless told otherwise.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from inkdigit.errors import ServeError
from inkdigit.server.errors import error_body

ANY_HOST = "*"
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
_PASSED = "inkdigit.trusted_host"  # set in the scope of a request the check let through


def allowed_hosts(given: Iterable[str] | None, loopback: bool, bound: str) -> list[str]:
    """The hosts a server answers to: ``given`` (None: not given) in the form Starlette compares; by default
    the loopback names and the address it is bound to when ``loopback``, any host otherwise.

    Raises ServeError for a name with a port or a wildcard other than ``*`` and ``*.domain``.
    """
    if given is None:
        return list(dict.fromkeys([*LOOPBACK_HOSTS, host_form(bound)])) if loopback else [ANY_HOST]
    hosts = [host_form(h) for h in given if h.strip()]
    for host in hosts:
        if ":" in host and not host.startswith("["):
            raise ServeError(f"--allowed-hosts takes names without a port (got {host!r})")
        if ANY_HOST in host[1:] or (host.startswith(ANY_HOST) and host != ANY_HOST and not host.startswith("*.")):
            raise ServeError(f"--allowed-hosts: a wildcard must be '*' or like '*.example.com' (got {host!r})")
    if not hosts:
        raise ServeError("--allowed-hosts names no host ('*' allows any)")
    return hosts


def host_form(host: str) -> str:
    """``host`` as it is compared with a Host header: lower case, an IPv6 address in brackets."""
    host = host.strip().lower()
    try:
        if ipaddress.ip_address(host.strip("[]")).version == 6:
            return f"[{host.strip('[]')}]"
    except ValueError:
        pass
    return host


class HostCheck(TrustedHostMiddleware):
    """Starlette's TrustedHostMiddleware with its refusal answered like every API error: 400 with
    ``{"error": ...}`` instead of a text/plain "Invalid host header"."""

    def __init__(self, app: ASGIApp, allowed_hosts: Iterable[str]) -> None:
        self.inner = app
        super().__init__(self._passed, allowed_hosts=list(allowed_hosts), www_redirect=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.allow_any or scope["type"] != "http":
            await self.inner(scope, receive, send)
            return

        async def send_refusal(message: Message) -> None:
            if scope.get(_PASSED):  # the app's own answer
                await send(message)
            elif message["type"] == "http.response.start":
                body = self._refusal(scope)
                await send({"type": "http.response.start", "status": 400, "headers": [
                    (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})

        await super().__call__(scope, receive, send_refusal)

    def _refusal(self, scope: Scope) -> bytes:
        host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")[:100]
        return error_body(f"Host {host!r} is not allowed: this server answers to {', '.join(self.allowed_hosts)} "
                          "(inkdigit serve --allowed-hosts names others)")

    async def _passed(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[_PASSED] = True
        await self.inner(scope, receive, send)

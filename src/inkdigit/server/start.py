"""`inkdigit serve`: check the settings, take the port, and run the app in this process or in worker processes
that this one hands the connections to (supervise.py).
"""

from __future__ import annotations

import ipaddress
import socket
import sys

from inkdigit.errors import ServeError
from inkdigit.server import supervise
from inkdigit.server.app import create_app

MAX_WORKERS = 64
LISTEN_BACKLOG = 2048


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    model: str | None = None,
    workers: int | None = None,
    cors_origins: list[str] | None = None,
    *,
    shortcut: bool = True,
) -> None:
    """Run the web app until interrupted. Raises ModelNotFoundError or ServeError before listening.

    ``workers``: processes that serve requests, each a whole server with its own models (None: one per core,
    at most 8; 0 or 1: this process alone). ``shortcut=False`` sends every request through FastAPI's routing
    (same answers, more CPU: benchmarks/serve_load.py compares the two).
    """
    import uvicorn

    from inkdigit import inference

    if workers is not None and not 0 <= workers <= MAX_WORKERS:
        raise ServeError(f"--workers must be between 0 and {MAX_WORKERS} (got {workers})")
    if workers is not None and workers > 1 and not supervise.supported():
        raise ServeError("--workers above 1 needs Unix sockets, which this system lacks; use --workers 1")
    processes = supervise.default_processes() if workers is None else workers
    origins = list(cors_origins or [])
    # A bad --model fails here, before the port is taken. With worker processes only its name is resolved
    # here (a file that is no model makes the workers fail, which supervise reports as one line).
    app = None
    if processes > 1:
        inference.resolve_model(model)
    else:
        app = create_app(model, origins, shortcut=shortcut)
    sock = bind(host, port)
    port = sock.getsockname()[1]
    if not is_loopback(host):
        print(
            f"warning: serving on {host} makes the app reachable from other machines; it has no login",
            file=sys.stderr,
        )
    url = server_url(host, port)

    def announce(name: str) -> None:
        print(f"inkdigit: serving {url} with model {name!r} (API docs at {url}docs); Ctrl+C stops", flush=True)

    try:
        if app is None:
            sock.listen(LISTEN_BACKLOG)
            try:
                supervise.supervise(sock, processes, model, origins, announce, shortcut=shortcut)
            except supervise.WorkerStartError as exc:
                raise ServeError(f"cannot start the server: {exc}") from None
        else:
            announce(app.state.registry.default.name)
            uvicorn.Server(supervise.uvicorn_config(app)).run(sockets=[sock])
    finally:
        sock.close()


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """Bind the listening socket ourselves: a taken port becomes a one-line ServeError, port 0 a real port."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise ServeError(f"cannot serve on {host}: {exc.strerror}") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def server_url(host: str, port: int) -> str:
    """The URL people open for ``host``:``port`` (an IPv6 address in brackets)."""
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{shown}:{port}/"

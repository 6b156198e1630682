"""`inkdigit serve`: check the settings and the model, take the port, then serve the app in this process or
in uvicorn's worker processes (its standard supervisor starts them and replaces one that dies).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import socket
import sys
from typing import Any

from fastapi import FastAPI

from inkdigit.errors import ServeError, one_line
from inkdigit.inference import resolve_model, usable_cores
from inkdigit.server.app import create_app
from inkdigit.server.hosts import allowed_hosts as hosts_to_allow
from inkdigit.server.protocol import MAX_HEAD_BYTES, HTTPProtocol
from inkdigit.signals import interrupt_not_inherited

MAX_WORKERS = 64
MAX_PORT = 65535  # 0 asks the system for any free port
DEFAULT_MAX_WORKERS = 8
LISTEN_BACKLOG = 2048
# How every server process runs the app: quiet (errors only), no access log, no Server header, a stop that
# waits at most 5 s for requests still in progress, and the HTTP layer of protocol.py: h11 with a 16 KiB
# limit on a request's head, request timeouts and lingering close (uvicorn's httptools protocol has no
# limit on a head's size, and parses a huge one slowly).
UVICORN_SETTINGS: dict[str, Any] = {
    "log_level": "warning", "access_log": False, "server_header": False, "timeout_graceful_shutdown": 5,
    "http": HTTPProtocol, "h11_max_incomplete_event_size": MAX_HEAD_BYTES,
}
# uvicorn starts each worker as a fresh interpreter that builds its app by calling `worker_app`; these
# environment variables carry `serve`'s settings to it (uvicorn's own command line can use them too:
# `INKDIGIT_SERVE_MODEL=paper uvicorn --factory inkdigit.server.start:worker_app --workers 4
# --http inkdigit.server.protocol:HTTPProtocol`).
WORKER_APP = "inkdigit.server.start:worker_app"
MODEL_ENV = "INKDIGIT_SERVE_MODEL"  # bundled model name or .onnx path; unset or empty: the default model
CORS_ENV = "INKDIGIT_SERVE_CORS_ORIGINS"  # origins CORS allows, as a JSON list of strings; unset: CORS off
HOSTS_ENV = "INKDIGIT_SERVE_ALLOWED_HOSTS"  # Host headers answered, as a JSON list of strings; unset: any


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    model: str | None = None,
    workers: int | None = None,
    cors_origins: list[str] | None = None,
    allowed_hosts: list[str] | None = None,
) -> None:
    """Run the web app until interrupted (Ctrl+C or SIGTERM). Raises ModelNotFoundError or ServeError before
    listening.

    ``workers``: processes that serve requests, each a whole server with its own models (None: one per core,
    at most 8; 0 or 1: this process alone). ``allowed_hosts``: the Host headers answered (None: the loopback
    names on a loopback address, any host otherwise; see hosts.py).
    """
    import uvicorn

    # The socket layer would take a port over 65535 modulo 65536 (70000 → 4464) and serve on the wrong one.
    if not 0 <= port <= MAX_PORT:
        raise ServeError(f"--port must be between 0 and {MAX_PORT} (got {port})")
    if workers is not None and not 0 <= workers <= MAX_WORKERS:
        raise ServeError(f"--workers must be between 0 and {MAX_WORKERS} (got {workers})")
    processes = default_workers() if workers is None else workers
    origins = list(cors_origins or [])
    hosts = hosts_to_allow(allowed_hosts, is_loopback(host), host)
    # A bad --model fails here, before the port is taken: one error line, not a traceback from every worker.
    app = create_app(model, origins, allowed_hosts=hosts) if processes < 2 else None
    name = app.state.registry.default.name if app is not None else check_model(model)
    sock = bind(host, port)
    try:
        sock.listen(LISTEN_BACKLOG)  # from here on connections wait in the queue until a server process is up
        if not is_loopback(host):
            print(f"warning: serving on {host} makes the app reachable from other machines; it has no login",
                  file=sys.stderr)
        url = server_url(host, sock.getsockname()[1])
        print(f"inkdigit: serving {url} with model {name!r} (API docs at {url}docs); Ctrl+C stops", flush=True)
        if app is not None:
            uvicorn.Server(uvicorn.Config(app, **UVICORN_SETTINGS)).run(sockets=[sock])
        else:
            run_workers(sock, processes, model, origins, hosts)
    finally:
        sock.close()


def run_workers(sock: socket.socket, count: int, model: str | None, cors_origins: list[str],
                allowed_hosts: list[str]) -> None:
    """Serve the listening ``sock`` with ``count`` uvicorn worker processes until Ctrl+C or SIGTERM."""
    import uvicorn
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors import Multiprocess

    os.environ[MODEL_ENV] = model or ""
    os.environ[CORS_ENV] = json.dumps(cors_origins)
    os.environ[HOSTS_ENV] = json.dumps(allowed_hosts)
    config = uvicorn.Config(WORKER_APP, factory=True, workers=count, **UVICORN_SETTINGS)
    supervisor = Multiprocess(config, sockets=[sock])
    with interrupt_not_inherited():  # the supervisor alone answers Ctrl+C: a worker mid-import would print a traceback
        supervisor.run()
    # uvicorn stops every worker when one exits with STARTUP_FAILURE (its app cannot be built); say so.
    if any(process.exitcode == STARTUP_FAILURE for process in supervisor.processes):
        raise ServeError("a server process could not start (its error is above)")


def check_model(model: str | None) -> str:
    """The name of the model the workers will load, after loading it once in a short-lived process.

    A name that resolves to nothing is a ModelNotFoundError here; a file that does not load is a ServeError
    with the loader's one line. The load runs in a child so that this process, which only supervises the
    workers, does not keep a model's memory (an ONNX Runtime session is not given back when freed).
    """
    import subprocess

    resolve_model(model)
    code = ("import sys\nfrom inkdigit.errors import one_line\nfrom inkdigit.server.registry import "
            "ModelRegistry\ntry:\n    print(ModelRegistry(sys.argv[1] or None).default.name)\n"
            "except Exception as exc:\n    sys.exit(one_line(exc))")
    child = subprocess.run([sys.executable, "-c", code, model or ""], capture_output=True, text=True)
    if child.returncode:
        lines = child.stderr.strip().splitlines() or [f"exit code {child.returncode}"]
        raise ServeError(f"cannot load the model: {lines[-1]}")
    return child.stdout.strip()


def worker_app() -> FastAPI:
    """The app of one worker process, with the model, CORS origins and hosts of `MODEL_ENV`, `CORS_ENV` and
    `HOSTS_ENV`."""
    from uvicorn.config import STARTUP_FAILURE

    try:
        # keep_trying: a model file that stops loading after `serve` checked it (replaced, corrupted) is
        # answered with 503 and tried again with back-off (registry.py), not a worker that dies on every start.
        return create_app(os.environ.get(MODEL_ENV) or None, json.loads(os.environ.get(CORS_ENV) or "[]"),
                          keep_trying=True, allowed_hosts=json.loads(os.environ.get(HOSTS_ENV) or '["*"]'))
    except Exception as exc:
        # A wrong setting (a model name that is no model): a replacement would fail the same way, and exiting
        # with STARTUP_FAILURE makes uvicorn stop the server instead of restarting this worker again and again.
        logging.getLogger("uvicorn.error").error("cannot start a server process: %s", one_line(exc))
        sys.exit(STARTUP_FAILURE)


def default_workers() -> int:
    """Worker processes `serve` starts by default: one per core, at most 8; none (this process alone) on one
    core."""
    cores = usable_cores()
    return 0 if cores < 2 else min(cores, DEFAULT_MAX_WORKERS)


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
    # An IPv6 address may come in the brackets of a URL ([::1]); the resolver takes it bare.
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        family, kind, proto, _, address = socket.getaddrinfo(bare, port, type=socket.SOCK_STREAM)[0]
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

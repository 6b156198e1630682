"""FastAPI app: the drawing page, the JSON API for reading digits and numbers, and ``serve()`` for the CLI."""

from __future__ import annotations

import ipaddress
import json
import socket
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any, NamedTuple

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from inkdigit.errors import ServeError
from inkdigit.server import schemas, work
from inkdigit.server.bodies import ApiError, read_batch, read_image
from inkdigit.server.registry import ModelRegistry
from inkdigit.server.shortcut import Shortcut

STATIC_DIR = Path(__file__).resolve().parent / "static"
DEFAULT_MAX_BYTES = 5_000_000
DEFAULT_MAX_BATCH_BYTES = 25_000_000
# The page and the docs load nothing from other hosts; the policy makes a stray CDN link fail loudly.
PAGE_CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)



class ReadOptions(NamedTuple):
    """The query parameters every read endpoint takes, in the order the work functions take them."""

    model: str | None
    top_k: int
    preview: bool


async def read_options(
    model: str | None = Query(None, description=schemas.MODEL_PARAM, max_length=200),
    top_k: int = Query(3, ge=1, le=10, description=schemas.TOP_K_PARAM),
    preview: bool = Query(False, description=schemas.PREVIEW_PARAM),
) -> ReadOptions:
    # async on purpose: FastAPI runs a plain `def` dependency in its thread pool, and that hand-over to a
    # thread and back cost the event loop more CPU than the rest of the request (docs/speed.md).
    return ReadOptions(model, top_k, preview)


ReadOptionsParam = Annotated[ReadOptions, Depends(read_options)]


def json_response(payload: Any, status: int = 200) -> Response:
    """A compact JSON answer."""
    return Response(content=work.json_bytes(payload), status_code=status, media_type="application/json")


def error_response(status: int, message: str) -> Response:
    """The shape of every error answer: ``{"error": "one line"}``."""
    return json_response({"error": message}, status)


def _validation_message(exc: RequestValidationError) -> str:
    """One line naming each bad parameter and why, e.g. ``top_k: Input should be less than ...``."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "body", "path"))
        parts.append(f"{where or 'request'}: {err.get('msg', 'invalid')}")
    return "bad parameters: " + "; ".join(parts)


def _add_error_handlers(app: FastAPI) -> None:
    """Map every failure to ``{"error"}`` with a 4xx status; a failed request never stops the server."""

    from inkdigit import inference
    from inkdigit.vision import preprocess

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> Response:
        return error_response(exc.status, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _bad_params(_: Request, exc: RequestValidationError) -> Response:
        return error_response(422, _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        return error_response(exc.status_code, message)

    @app.exception_handler(preprocess.ImageError)
    async def _image_error(_: Request, exc: preprocess.ImageError) -> Response:
        return error_response(work.image_error_status(exc) or 422, work.one_line(exc))

    @app.exception_handler(inference.ModelNotFoundError)
    async def _no_model(_: Request, exc: Exception) -> Response:
        return error_response(404, work.one_line(exc))


def create_app(
    model: str | None = None,
    cors_origins: Iterable[str] = (),
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES,
    loader: Callable[[str | None], Any] | None = None,
    lister: Callable[[], list[dict]] | None = None,
    shortcut: bool = True,
) -> FastAPI:
    """Build the app and load ``model`` (name or path; None = default) now, so a bad one fails here.

    Images are read in the event loop itself: a request's work (~2 ms) holds the GIL anyway, and handing it
    to a thread cost more CPU than it saved; `serve` uses more cores by running several such processes.
    ``loader``/``lister`` replace ``Predictor.load``/``available_models`` (tests inject fakes with them).
    ``shortcut``: answer plain image posts before FastAPI's routing (same answers, less CPU; see shortcut.py).
    """
    from inkdigit import __version__

    registry = ModelRegistry(model, loader=loader, lister=lister)

    app = FastAPI(
        title="inkdigit",
        version=__version__,
        summary="Read handwritten digits and numbers with a small MNIST CNN.",
        description=schemas.API_DESCRIPTION,
        docs_url=None,  # FastAPI's built-in docs pull Swagger UI from a CDN; /docs below is local
        redoc_url=None,
        openapi_tags=schemas.TAGS,
    )
    app.state.registry = registry
    app.state.max_bytes = max_bytes
    origins = [o for o in cors_origins if o]
    if origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST"], allow_headers=["*"]
        )
    if shortcut:  # added last, so it sees each request first
        app.add_middleware(Shortcut, registry=registry, max_bytes=max_bytes, cors=bool(origins))
    _add_error_handlers(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    def page(name: str) -> Response:
        return FileResponse(
            STATIC_DIR / name,
            media_type="text/html",
            headers={"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-cache"},
        )

    @app.get("/", include_in_schema=False)
    async def index() -> Response:
        return page("index.html")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> Response:
        return page("docs.html")

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml")

    @app.get(
        "/healthz",
        tags=["service"],
        summary="Liveness check",
        response_model=schemas.Health,
        description="Answers 200 while the server runs and its default model is loaded.",
    )
    async def healthz() -> Response:
        return json_response({"status": "ok", "model": registry.default.name, "version": __version__})

    @app.get(
        "/api/models",
        tags=["models"],
        summary="List the models",
        response_model=schemas.ModelList,
        description="The models this server can read with (pass one as `?model=`); "
        "`default` marks the one used when no model is named.",
    )
    async def models() -> Response:
        return json_response({"default": registry.default.name, "models": registry.catalogue()})

    @app.post(
        "/api/predict",
        tags=["read"],
        summary="Read one digit",
        response_model=schemas.PredictionOut,
        responses=schemas.ERROR_RESPONSES,
        openapi_extra=schemas.image_body("The image of one handwritten digit."),
        description=schemas.PREDICT_DESCRIPTION,
    )
    async def predict(
        request: Request,
        options: ReadOptionsParam,
    ) -> Response:
        data = await read_image(request, max_bytes)
        return json_response(work.predict(registry, data, *options))

    @app.post(
        "/api/predict/number",
        tags=["read"],
        summary="Read a number (several digits side by side)",
        response_model=schemas.NumberOut,
        responses=schemas.ERROR_RESPONSES,
        openapi_extra=schemas.image_body("An image of digits written side by side, left to right."),
        description=schemas.NUMBER_DESCRIPTION,
    )
    async def predict_number(
        request: Request,
        options: ReadOptionsParam,
    ) -> Response:
        data = await read_image(request, max_bytes)
        return json_response(work.predict_number(registry, data, *options))

    @app.post(
        "/api/predict/batch",
        tags=["read"],
        summary="Read many images, one digit each",
        response_model=schemas.BatchOut,
        responses=schemas.ERROR_RESPONSES,
        openapi_extra=schemas.BATCH_BODY,
        description=schemas.BATCH_DESCRIPTION,
    )
    async def predict_batch(
        request: Request,
        options: ReadOptionsParam,
    ) -> Response:
        uploads = await read_batch(request, max_bytes, max_batch_bytes)
        return json_response(work.predict_batch(registry, uploads, *options))

    return app


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _bind(host: str, port: int) -> socket.socket:
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


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{shown}:{port}/"


def uvicorn_config(app: FastAPI) -> Any:
    """How every server process runs the app: quiet (errors only), no access log, no Server header."""
    import uvicorn

    return uvicorn.Config(app, log_level="warning", access_log=False, server_header=False)


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    model: str | None = None,
    workers: int | None = None,
    cors_origins: list[str] | None = None,
) -> None:
    """Run the web app until interrupted. Raises ModelNotFoundError or ServeError before listening.

    ``workers``: processes that serve requests, each a whole server with its own models (None: one per core,
    at most 8; 0 or 1: this process alone).
    """
    import uvicorn

    from inkdigit import inference
    from inkdigit.server import supervise

    if workers is not None and not 0 <= workers <= 64:
        raise ServeError(f"--workers must be between 0 and 64 (got {workers})")
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
        app = create_app(model, origins)
    sock = _bind(host, port)
    port = sock.getsockname()[1]
    if not is_loopback(host):
        print(
            f"warning: serving on {host} makes the app reachable from other machines; it has no login",
            file=sys.stderr,
        )
    url = _url(host, port)

    def announce(name: str) -> None:
        print(f"inkdigit: serving {url} with model {name!r} (API docs at {url}docs); Ctrl+C stops", flush=True)

    try:
        if app is None:
            sock.listen(2048)
            try:
                supervise.supervise(sock, processes, model, origins, announce)
            except supervise.WorkerStartError as exc:
                raise ServeError(f"cannot start the server: {exc}") from None
        else:
            announce(app.state.registry.default.name)
            uvicorn.Server(uvicorn_config(app)).run(sockets=[sock])
    finally:
        sock.close()

"""The FastAPI app: the drawing page, its API docs, and the JSON API for reading digits and numbers, and
characters of any set (letters, alnum, math), lines of them, and sums to evaluate.

Starting server processes is `start.py`'s job; what each failure answers is `errors.py`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio.to_thread
from fastapi import Depends, FastAPI, Query, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles

from inkdigit.charsets import CHARSETS, KINDS
from inkdigit.server import errors, memory, schemas, work
from inkdigit.server.bodies import read_batch, read_input
from inkdigit.server.hosts import ANY_HOST, HostCheck
from inkdigit.server.options import (
    PREVIEW_DEFAULT,
    PREVIEW_PARAM,
    TOP_K_DEFAULT,
    TOP_K_MAX,
    TOP_K_MIN,
    TOP_K_PARAM,
    ReadOptions,
    read_options,
)
from inkdigit.server.registry import ModelRegistry

STATIC_DIR = Path(__file__).resolve().parent / "static"
DEFAULT_MAX_BYTES = 5_000_000
DEFAULT_MAX_BATCH_BYTES = 25_000_000
# The page and the docs load nothing from other hosts; the policy makes a stray CDN link fail loudly.
PAGE_CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)

ReadOptionsParam = Annotated[ReadOptions, Depends(read_options)]
# The character routes' parameters: an unknown charset is a 422 naming the known ones (FastAPI's check).
CharsetName = Literal[tuple(CHARSETS)]  # type: ignore[valid-type]
CHARSET_PARAM = "The character set to read with (`GET /api/charsets`): " + ", ".join(CHARSETS) + "."
KINDS_PARAM = (f"Only answer with these kinds of character, comma-separated ({', '.join(KINDS)}); all of the "
               "set's when left out.")
TopK = Annotated[int, Query(ge=TOP_K_MIN, le=TOP_K_MAX, description=TOP_K_PARAM)]
Kinds = Annotated[str | None, Query(description=KINDS_PARAM, max_length=64)]


def create_app(
    model: str | None = None,
    cors_origins: Iterable[str] = (),
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES,
    loader: Callable[[str | None], Any] | None = None,
    lister: Callable[[], list[dict]] | None = None,
    keep_trying: bool = False,
    allowed_hosts: Iterable[str] = (ANY_HOST,),
    charset_loader: Callable[[str], Any] | None = None,
) -> FastAPI:
    """Build the app and load ``model`` (name or path; None = default) now, so a bad one fails here.

    Images are read on the event loop, one at a time (work.py): handing them to threads cost more CPU than it
    saved; `serve` uses more cores by running several such processes. ``keep_trying``: a default model whose
    file does not load is answered with 503 and tried again with back-off instead of failing here (registry.py;
    uvicorn's worker processes). ``loader``/``lister`` replace ``Predictor.load``/``available_models`` (tests
    inject fakes); ``charset_loader`` replaces loading a character set's bundled model by its name.
    ``allowed_hosts``: the Host headers answered, any other is a 400 (hosts.py; ``"*"``: any).
    """
    from inkdigit import __version__

    registry = ModelRegistry(model, loader=loader, lister=lister, keep_trying=keep_trying,
                             charset_loader=charset_loader)

    app = FastAPI(
        title="inkdigit",
        version=__version__,
        summary="Read handwritten digits and numbers with a small MNIST CNN.",
        description=schemas.API_DESCRIPTION,
        docs_url=None,  # FastAPI's built-in docs pull Swagger UI from a CDN; /docs below is local
        redoc_url=None,
        openapi_tags=schemas.TAGS,
        lifespan=memory.lifespan,  # gives the memory of large pictures back to the system (memory.py)
    )
    app.state.registry = registry
    app.state.max_bytes = max_bytes
    origins = [o for o in cors_origins if o]
    if origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST"], allow_headers=["*"]
        )
    app.add_middleware(HostCheck, allowed_hosts=allowed_hosts)  # added last: checked first (hosts.py)
    errors.add_handlers(app)
    _add_pages(app)
    _add_api(app, registry, max_bytes, max_batch_bytes)
    _add_char_api(app, registry, max_bytes)
    _answer_head(app)
    return app


def _answer_head(app: FastAPI) -> None:
    """Make every GET route answer HEAD too (RFC 9110: a server that answers GET should answer HEAD), as
    Starlette's plain routes and mounts already do but FastAPI's do not.

    Each gets a HEAD twin with the same endpoint, so the same headers; the server sends no body for HEAD. The
    twin is left out of the OpenAPI document, where it would repeat the GET operation and its operation id.
    """
    for route in list(app.router.routes):
        if isinstance(route, APIRoute) and "GET" in route.methods and "HEAD" not in route.methods:
            app.router.add_api_route(
                route.path, route.endpoint, methods=["HEAD"], name=route.name, include_in_schema=False,
                response_class=route.response_class,
            )


def _add_pages(app: FastAPI) -> None:
    """The drawing page, the API docs page and their static files (none of them in the OpenAPI document)."""
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


def _add_api(app: FastAPI, registry: ModelRegistry, max_bytes: int, max_batch_bytes: int) -> None:
    """The JSON endpoints; each documents the answer model its bytes follow (tests/test_server_schemas.py)."""
    from inkdigit import __version__

    @app.get(
        "/healthz",
        tags=["service"],
        summary="Liveness check",
        response_model=schemas.Health,
        responses=schemas.UNAVAILABLE_RESPONSE,
        description="Answers 200 while the server runs and its default model is loaded; 503 with the reason "
        "while the model's file does not load (the server tries it again after 1, 2, 4 ... 60 s).",
    )
    async def healthz() -> Response:
        await model_ready(registry)
        return json_response({"status": "ok", "model": registry.default.name, "version": __version__})

    @app.get(
        "/api/models",
        tags=["models"],
        summary="List the models",
        response_model=schemas.ModelList,
        responses=schemas.UNAVAILABLE_RESPONSE,
        description="The models this server can read with (pass one as `?model=`); "
        "`default` marks the one used when no model is named.",
    )
    async def models() -> Response:
        await model_ready(registry)
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
        source = await read_input(request, max_bytes)
        await model_ready(registry)
        return json_response(work.predict(registry, source, *options))

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
        source = await read_input(request, max_bytes)
        await model_ready(registry)
        return json_response(work.predict_number(registry, source, *options))

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
        await model_ready(registry)
        return json_response(await work.predict_batch(request, registry, uploads, *options))


def _add_char_api(app: FastAPI, registry: ModelRegistry, max_bytes: int) -> None:
    """The routes for characters of any set. Each returns its answer model (schemas.py), which FastAPI checks
    and documents; fields sent only sometimes (`preview_png`) are left out when not set."""

    @app.get(
        "/api/charsets",
        tags=["characters"],
        summary="List the character sets",
        response_model=schemas.CharsetList,
        responses=schemas.UNAVAILABLE_RESPONSE,
        description=schemas.CHARSETS_DESCRIPTION,
    )
    async def charsets() -> schemas.CharsetList:
        await model_ready(registry)
        return schemas.CharsetList(**await anyio.to_thread.run_sync(work.charsets, registry))

    @app.post(
        "/api/predict/char",
        tags=["characters"],
        summary="Read one character (a letter, a digit or a symbol)",
        response_model=schemas.CharOut,
        response_model_exclude_unset=True,
        responses=schemas.CHAR_ERROR_RESPONSES,
        openapi_extra=schemas.image_body("The image of one handwritten character."),
        description=schemas.CHAR_DESCRIPTION,
    )
    async def predict_char(
        request: Request,
        charset: Annotated[CharsetName, Query(description=CHARSET_PARAM)] = "letters",
        top_k: TopK = TOP_K_DEFAULT,
        preview: bool = Query(PREVIEW_DEFAULT, description=PREVIEW_PARAM),
        kinds: Kinds = None,
    ) -> schemas.CharOut:
        source = await read_input(request, max_bytes)
        predictor = await charset_ready(registry, charset)
        return schemas.CharOut(**work.predict_char(predictor, source, charset, top_k, preview, kinds))

    @app.post(
        "/api/predict/text",
        tags=["characters"],
        summary="Read a line of characters (a word, a code, an expression)",
        response_model=schemas.TextOut,
        response_model_exclude_unset=True,
        responses=schemas.CHAR_ERROR_RESPONSES,
        openapi_extra=schemas.image_body("An image of characters written side by side, left to right."),
        description=schemas.TEXT_DESCRIPTION,
    )
    async def predict_text(
        request: Request,
        charset: Annotated[CharsetName, Query(description=CHARSET_PARAM)] = "alnum",
        top_k: TopK = TOP_K_DEFAULT,
        preview: bool = Query(PREVIEW_DEFAULT, description=PREVIEW_PARAM),
        kinds: Kinds = None,
    ) -> schemas.TextOut:
        source = await read_input(request, max_bytes)
        predictor = await charset_ready(registry, charset)
        return schemas.TextOut(**work.predict_text(predictor, source, charset, top_k, kinds, preview=preview))

    @app.post(
        "/api/predict/math",
        tags=["characters"],
        summary="Read a written sum and evaluate it",
        response_model=schemas.MathOut,
        response_model_exclude_unset=True,
        responses=schemas.CHAR_ERROR_RESPONSES,
        openapi_extra=schemas.image_body("An image of a line of arithmetic (digits and + − × ÷ = ( ) .)."),
        description=schemas.MATH_DESCRIPTION,
    )
    async def predict_math(
        request: Request,
        top_k: TopK = TOP_K_DEFAULT,
        preview: bool = Query(PREVIEW_DEFAULT, description=PREVIEW_PARAM),
    ) -> schemas.MathOut:
        source = await read_input(request, max_bytes)
        predictor = await charset_ready(registry, "math")
        return schemas.MathOut(**work.predict_text(predictor, source, "math", top_k, math=True, preview=preview))


async def charset_ready(registry: ModelRegistry, name: str) -> Any:
    """The predictor of a character set, loading it in a thread the first time (as `model_ready` does)."""
    if name == "digits":
        await model_ready(registry)
    if registry.charset_ready(name):
        return registry.charset(name)
    return await anyio.to_thread.run_sync(registry.charset, name)


async def model_ready(registry: ModelRegistry) -> None:
    """Return once the default model is loaded; ModelUnavailableError (503) while it does not load. A try that
    is due loads it in a thread: loading takes longer than the event loop may wait, and the work that follows
    (work.py) runs on the loop."""
    if not registry.ready:
        await anyio.to_thread.run_sync(registry.load_default)


def json_response(payload: Any) -> Response:
    """A 200 answer of compact JSON (errors are answered by errors.add_handlers)."""
    return Response(content=work.json_bytes(payload), media_type="application/json")

"""Reading what a request asks to read: size-limited streaming, raw/multipart/JSON image bodies, drawings as strokes.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException
from starlette.requests import Request

from inkdigit.errors import StrokesTooLargeError
from inkdigit.server.errors import BadBodyError, BodyTooLargeError, RequestError, UnsupportedMediaTypeError
from inkdigit.vision import strokes
from inkdigit.vision.strokes import Drawing

# Media types we try to decode; everything else under image/ is tried too, except vector formats.
RAW_TYPES = ("application/octet-stream",)
REFUSED_IMAGE_TYPES = ("image/svg+xml",)
ACCEPTED_HINT = (
    'send a PNG/JPEG/GIF/BMP/WebP image as the raw body, multipart form data or JSON {"image": data URL}, '
    'or a drawing as JSON {"strokes": [...], "width": W, "height": H}'
)
MAX_BATCH_FILES = 64
# A drawing within the limits opens no more JSON lists than this (its strokes, each stroke, each point and
# the brush list); counting them first refuses a flood of points before it becomes a million Python lists.
MAX_JSON_LISTS = 2 + strokes.MAX_STROKES + strokes.MAX_POINTS


@dataclass
class Upload:
    """One image taken from a request, with the name the client gave it (if any)."""

    data: bytes
    filename: str | None = None
    error: RequestError | None = None


def media_type(content_type: str | None) -> str:
    """The bare, lower-cased media type of a Content-Type header (``""`` when missing)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_image_type(mtype: str) -> bool:
    """Whether a media type names something we try to decode as a raster image."""
    if mtype in REFUSED_IMAGE_TYPES:
        return False
    return mtype.startswith("image/") or mtype in RAW_TYPES or mtype == ""


def too_large(limit: int, what: str = "image") -> BodyTooLargeError:
    """The refusal of a body or file over ``limit`` bytes."""
    return BodyTooLargeError(f"{what} too large: the limit is {size_text(limit)}")


def size_text(size: int) -> str:
    """``size`` bytes exactly, in the largest unit that divides it: "5 MB", "64 kB", "5,065,536 bytes"."""
    for unit, scale in (("MB", 1_000_000), ("kB", 1_000)):
        if size >= scale and size % scale == 0:
            return f"{size // scale:,} {unit}"
    return f"{size:,} bytes"


async def read_body(request: Request, limit: int, what: str = "image", stated: int | None = None) -> bytes:
    """Read the request body, refusing it as soon as it passes ``limit`` bytes.

    Content-Length is checked first (cheap early refusal) but not trusted: the streamed size counts. The
    refusal states ``stated`` as the limit when given (a multipart body's limit is the file's plus room for
    the form around it, and the file's is the one a person can act on).
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise too_large(stated or limit, what)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(stated or limit, what)
        chunks.append(chunk)
    return b"".join(chunks)


def decode_data_url(text: str, limit: int) -> bytes:
    """Bytes of a ``data:image/...;base64,...`` URL, or of a bare base64 string."""
    payload = text.strip()
    if payload.startswith("data:"):
        header, sep, payload = payload.partition(",")
        if not sep:
            raise BadBodyError("bad data URL: no ',' after the header")
        mtype = media_type(header[5:])
        if not is_image_type(mtype):
            raise UnsupportedMediaTypeError(
                f"unsupported media type in data URL: {mtype or 'none'}; {ACCEPTED_HINT}")
        if ";base64" not in header.lower():
            raise BadBodyError("bad data URL: only base64 data URLs are accepted")
    if len(payload) * 3 // 4 > limit:
        raise too_large(limit)
    try:
        data = base64.b64decode("".join(payload.split()), validate=True)
    except (binascii.Error, ValueError):
        raise BadBodyError("bad data URL: the base64 text does not decode") from None
    return data


def parse_json(body: bytes, limit: int) -> bytes | Drawing:
    """A JSON body: image bytes from ``{"image": "data:image/png;base64,..."}``, or a drawing ``{"strokes": ...}``."""
    if body.count(b"[") > MAX_JSON_LISTS:
        raise StrokesTooLargeError(f"too many points: the limit is {strokes.MAX_POINTS}")
    try:
        doc = json.loads(body)
    except RecursionError:  # the decoder's answer to objects nested thousands deep
        raise BadBodyError("body is not valid JSON: nested too deep") from None
    except (UnicodeDecodeError, ValueError):
        raise BadBodyError("body is not valid JSON") from None
    if isinstance(doc, dict) and "strokes" in doc:
        if "image" in doc:
            raise BadBodyError('send either "image" or "strokes", not both')
        return strokes.parse(doc)
    if not isinstance(doc, dict) or not isinstance(doc.get("image"), str):
        raise BadBodyError('JSON body must be an object with an "image" data URL string or a drawing\'s "strokes"')
    return decode_data_url(doc["image"], limit)


async def parse_form(request: Request, body: bytes) -> list[tuple[str, str | UploadFile]]:
    """Parse an already size-checked multipart body into (field name, value) pairs."""
    sent = False

    async def replay() -> dict:
        # Starlette's parser pulls the body through ``receive``; hand it the bytes we already read.
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    replayed = Request(request.scope, replay)
    try:
        form = await replayed.form(max_files=MAX_BATCH_FILES, max_fields=MAX_BATCH_FILES)
    except MultiPartException as exc:
        raise BadBodyError(f"bad multipart body: {exc.message}") from None
    except Exception as exc:  # starlette turns parser errors into HTTPException(400) inside an app
        detail = getattr(exc, "detail", None) or str(exc) or type(exc).__name__
        raise BadBodyError(f"bad multipart body: {detail}") from None
    return list(form.multi_items())


async def upload_from_part(part: UploadFile, limit: int) -> Upload:
    """Read one multipart file part, checking its declared type and size."""
    name = part.filename
    mtype = media_type(part.content_type)
    if not is_image_type(mtype):
        err = UnsupportedMediaTypeError(
            f"unsupported media type {mtype!r} for {name or 'file'}; {ACCEPTED_HINT}")
        return Upload(b"", name, err)
    if part.size is not None and part.size > limit:
        return Upload(b"", name, too_large(limit))
    data = await part.read(limit + 1)
    if len(data) > limit:
        return Upload(b"", name, too_large(limit))
    if not data:
        return Upload(b"", name, BadBodyError(f"empty file: {name or 'file'}"))
    return Upload(data, name)


async def read_input(request: Request, limit: int) -> bytes | Drawing:
    """What a predict request asks to read: image bytes (raw body, multipart file, JSON data URL) or a drawing."""
    mtype = media_type(request.headers.get("content-type"))
    if not (is_image_type(mtype) or mtype in ("multipart/form-data", "application/json")):
        raise UnsupportedMediaTypeError(f"unsupported media type {mtype!r}; {ACCEPTED_HINT}")
    form_limit = limit + 64 * 1024 if mtype == "multipart/form-data" else limit
    body = await read_body(request, form_limit, "body" if mtype == "application/json" else "image", limit)
    if mtype == "application/json":
        data = parse_json(body, limit)
    elif mtype == "multipart/form-data":
        files = [v for _, v in await parse_form(request, body) if isinstance(v, UploadFile)]
        if not files:
            raise BadBodyError("multipart body has no file part (send the image as field 'file')")
        upload = await upload_from_part(files[0], limit)
        if upload.error is not None:
            raise upload.error
        data = upload.data
    else:
        data = body
    if not data:
        raise BadBodyError(f"empty body: {ACCEPTED_HINT}")
    return data


async def read_batch(request: Request, limit: int, total_limit: int) -> list[Upload]:
    """All file parts of a multipart batch request; a bad file becomes an Upload with ``error`` set."""
    mtype = media_type(request.headers.get("content-type"))
    if mtype != "multipart/form-data":
        raise UnsupportedMediaTypeError(
            f"unsupported media type {mtype!r}; send multipart/form-data with one or more files"
        )
    body = await read_body(request, total_limit, "request")
    uploads = [
        await upload_from_part(v, limit)
        for _, v in await parse_form(request, body)
        if isinstance(v, UploadFile)
    ]
    if not uploads:
        raise BadBodyError("multipart body has no file parts (send images as fields named 'files')")
    return uploads

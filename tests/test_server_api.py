"""HTTP API of `inkdigit serve`: every endpoint, every kind of bad input, and a real server over a socket.

Uses the real bundled model (no fakes): a drawn "7" must come back as 7 through the API.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

import inkdigit
from inkdigit import inference
from inkdigit.errors import ServeError
from inkdigit.server.app import create_app
from inkdigit.server.start import CORS_ENV, MODEL_ENV, is_loopback, serve, worker_app

REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- images


def drawing(strokes: list[list[tuple[float, float]]], side: int = 280, width: int = 20) -> Image.Image:
    """Black strokes on white, like the page's canvas; points in [0,1] page units."""
    img = Image.new("L", (side, side), 255)
    pen = ImageDraw.Draw(img)
    for stroke in strokes:
        pts = [(x * side, y * side) for x, y in stroke]
        pen.line(pts, fill=0, width=width, joint="curve")
        for x, y in (pts[0], pts[-1]):
            pen.ellipse([x - width / 2, y - width / 2, x + width / 2, y + width / 2], fill=0)
    return img


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


SEVEN = [[(0.28, 0.22), (0.72, 0.22), (0.6, 0.45), (0.45, 0.8)]]
ONE = [[(0.55, 0.2), (0.51, 0.5), (0.47, 0.8)]]


def zero_stroke(cx: float = 0.5, scale: float = 1.0) -> list[tuple[float, float]]:
    """A tall ellipse: how people draw a 0."""
    a = np.linspace(0, 2.05 * np.pi, 40)
    return [(cx + 0.19 * scale * np.sin(t), 0.5 - 0.3 * scale * np.cos(t)) for t in a]


def placed(
    strokes: list[list[tuple[float, float]]], cx: float, scale: float
) -> list[list[tuple[float, float]]]:
    """Strokes shrunk by ``scale`` about the centre and moved so their centre is at x = cx."""
    return [[(cx + (x - 0.5) * scale, 0.5 + (y - 0.5) * scale) for x, y in s] for s in strokes]


@pytest.fixture(scope="module")
def seven_png() -> bytes:
    return png(drawing(SEVEN))


@pytest.fixture(scope="module")
def blank_png() -> bytes:
    return png(Image.new("L", (280, 280), 255))


@pytest.fixture(scope="module")
def number_png() -> bytes:
    """ "710" written side by side on a wide canvas."""
    strokes = placed(SEVEN, 0.2, 0.3) + placed(ONE, 0.5, 0.3) + placed([zero_stroke()], 0.8, 0.3)
    return png(drawing(strokes, side=560, width=16))


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    """The app with the real default model; server exceptions are raised, so any 500 fails a test."""
    with TestClient(create_app()) as c:
        yield c


def post_png(client: TestClient | httpx.Client, body: bytes, path: str = "/api/predict") -> httpx.Response:
    """POST raw image bytes the way the page does."""
    return client.post(path, content=body, headers={"Content-Type": "image/png"})


def assert_error(r: httpx.Response, status: int, *words: str) -> None:
    """An error answer: the status, JSON ``{"error": "one line"}``, mentioning ``words``."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error"}
    assert isinstance(body["error"], str) and body["error"] and "\n" not in body["error"]
    for w in words:
        assert w.lower() in body["error"].lower(), body["error"]


# ---------------------------------------------------------------- happy paths


def test_healthz(client: TestClient) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"
    assert r.json()["model"] == inference.default_model_name()


def test_models_lists_bundled_models_with_default(client: TestClient) -> None:
    info = client.get("/api/models").json()
    names = [m["name"] for m in info["models"]]
    assert info["default"] == inference.default_model_name()
    assert set(names) == {m["name"] for m in inference.available_models()}
    default = [m for m in info["models"] if m["default"]]
    assert [m["name"] for m in default] == [info["default"]]
    assert default[0]["loaded"] is True
    assert 0.9 < default[0]["test_accuracy"] <= 1
    assert all("path" not in m for m in info["models"])  # no server file paths leak to clients


def test_drawn_seven_is_read_as_seven(client: TestClient, seven_png: bytes) -> None:
    r = post_png(client, seven_png)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["label"] == 7
    assert body["confidence"] > 0.9 and body["unsure"] is False
    assert len(body["probabilities"]) == 10 and abs(sum(body["probabilities"]) - 1) < 1e-3
    assert body["probabilities"][7] == body["confidence"]
    assert [k["label"] for k in body["top_k"]][0] == 7 and len(body["top_k"]) == 3
    assert body["model"] == inference.default_model_name()
    assert "preview_png" not in body and "stages" not in body


def test_multipart_json_and_raw_bodies_agree(client: TestClient, seven_png: bytes) -> None:
    raw = client.post("/api/predict", content=seven_png, headers={"Content-Type": "application/octet-stream"})
    form = client.post("/api/predict", files={"file": ("seven.png", seven_png, "image/png")})
    url = "data:image/png;base64," + base64.b64encode(seven_png).decode()
    as_json = client.post("/api/predict", json={"image": url})
    bare = client.post("/api/predict", json={"image": base64.b64encode(seven_png).decode()})
    answers = [r.json() for r in (raw, form, as_json, bare)]
    assert all(r.status_code == 200 for r in (raw, form, as_json, bare))
    assert {a["label"] for a in answers} == {7}
    assert len({a["confidence"] for a in answers}) == 1


def test_preview_shows_what_the_model_sees(client: TestClient, seven_png: bytes) -> None:
    body = client.post(
        "/api/predict?preview=true&top_k=5", content=seven_png, headers={"Content-Type": "image/png"}
    ).json()
    assert body["label"] == 7 and len(body["top_k"]) == 5
    header, _, data = body["preview_png"].partition(",")
    assert header == "data:image/png;base64"
    assert Image.open(io.BytesIO(base64.b64decode(data))).size == (28, 28)
    stages = body["stages"]
    w, h = stages["size"]
    x0, y0, x1, y1 = stages["box"]
    assert (w, h) == (280, 280)
    # The ink box hugs the drawn 7 (its strokes span x 0.28..0.72, y 0.22..0.8 of the canvas, pen 20 px).
    assert abs(x0 - 0.28 * 280) <= 14 and abs(x1 - 0.72 * 280) <= 14
    assert abs(y0 - 0.22 * 280) <= 14 and abs(y1 - 0.8 * 280) <= 14
    for key in ("crop", "fit20", "final"):
        assert stages[key].startswith("data:image/png;base64,")
    fit = Image.open(io.BytesIO(base64.b64decode(stages["fit20"].partition(",")[2])))
    assert fit.size == (20, 20)
    # The preview is exactly the model's input, to the nearest grey level.
    from inkdigit.vision.preprocess import preprocess

    shown = np.asarray(Image.open(io.BytesIO(base64.b64decode(data))))
    assert np.array_equal(shown, (np.clip(preprocess(seven_png), 0, 1) * 255 + 0.5).astype(np.uint8))


@pytest.mark.parametrize("shape", [(28, 28), (1, 1), (1, 37), (45, 1), (112, 90)])
def test_preview_pngs_hold_the_exact_pixels(shape: tuple[int, int]) -> None:
    from inkdigit.vision.encode import grey_png

    pixels = np.random.default_rng(sum(shape)).integers(0, 256, shape, dtype=np.uint8)
    decoded = Image.open(io.BytesIO(grey_png(pixels)))
    decoded.load()  # Pillow checks the chunks' CRCs and the zlib stream while decoding
    assert decoded.mode == "L" and decoded.size == shape[::-1]
    assert np.array_equal(np.asarray(decoded), pixels)


def test_number_is_read_left_to_right_with_boxes(client: TestClient, number_png: bytes) -> None:
    r = post_png(client, number_png, "/api/predict/number?preview=true")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["text"] == "710"
    assert [d["label"] for d in body["digits"]] == [7, 1, 0]
    lefts = [d["box"][0] for d in body["digits"]]
    assert lefts == sorted(lefts)
    for d, centre in zip(body["digits"], (0.2, 0.5, 0.8), strict=True):
        x0, y0, x1, y1 = d["box"]
        assert x0 < centre * 560 < x1 and 0 <= y0 < y1 <= 560
        assert d["preview_png"].startswith("data:image/png;base64,")
    assert 0 < body["confidence"] <= 1


def test_batch_reads_each_file_and_reports_bad_ones(
    client: TestClient, seven_png: bytes, blank_png: bytes
) -> None:
    files = [
        ("files", ("seven.png", seven_png, "image/png")),
        ("files", ("junk.png", b"definitely not a png", "image/png")),
        ("files", ("notes.txt", b"hello", "text/plain")),
        ("files", ("blank.png", blank_png, "image/png")),
        ("files", ("again.png", seven_png, "image/png")),
    ]
    r = client.post("/api/predict/batch", files=files)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["filename"] for x in results] == [
        "seven.png",
        "junk.png",
        "notes.txt",
        "blank.png",
        "again.png",
    ]
    assert [x["ok"] for x in results] == [True, False, False, False, True]
    assert results[0]["label"] == 7 and results[4]["label"] == 7
    assert [x.get("status") for x in results[1:4]] == [422, 415, 422]
    assert all(x["error"] and "object at 0x" not in x["error"] for x in results[1:4])
    assert r.json()["count"] == 5


def test_batch_limits_each_file_size() -> None:
    small = create_app(max_bytes=2000)
    with TestClient(small) as c:
        ok = png(drawing(SEVEN, side=56, width=5))
        big = png(Image.effect_noise((200, 200), 80).convert("L"))
        assert len(ok) < 2000 < len(big)
        results = c.post(
            "/api/predict/batch",
            files=[("files", ("a.png", ok, "image/png")), ("files", ("b.png", big, "image/png"))],
        ).json()["results"]
    assert results[0]["ok"] is True
    assert results[1]["ok"] is False and results[1]["status"] == 413


# ---------------------------------------------------------------- bad input: 4xx, never 500


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/pdf", "image/svg+xml", "application/x-www-form-urlencoded"],
)
def test_wrong_media_type_is_415(client: TestClient, seven_png: bytes, content_type: str) -> None:
    assert_error(
        client.post("/api/predict", content=seven_png, headers={"Content-Type": content_type}),
        415,
        content_type,
    )


def test_wrong_type_inside_multipart_and_data_url_is_415(client: TestClient) -> None:
    assert_error(client.post("/api/predict", files={"file": ("a.txt", b"hello", "text/plain")}), 415)
    assert_error(client.post("/api/predict", json={"image": "data:text/plain;base64,aGVsbG8="}), 415)
    assert_error(client.post("/api/predict/batch", content=b"x", headers={"Content-Type": "image/png"}), 415)


def test_too_large_by_content_length_is_413(client: TestClient) -> None:
    body = b"\x89PNG" + b"\0" * 5_000_000
    assert_error(post_png(client, body), 413, "5 MB")


def test_too_large_streamed_body_is_413_and_reading_stops(client: TestClient) -> None:
    """No Content-Length (chunked): the server counts what arrives and stops reading at the limit."""
    received = 0
    sent: list[dict] = []

    async def receive() -> dict:
        nonlocal received
        received += 1
        return {"type": "http.request", "body": b"\0" * 100_000, "more_body": received < 200}  # 20 MB in all

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/predict",
        "raw_path": b"/api/predict",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"image/png")],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 80),
    }
    # In a thread of its own: where a browser test ran first, Playwright's event loop holds this thread's.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, client.app(scope, receive, send)).result()
    assert sent[0]["status"] == 413
    assert json.loads(b"".join(m.get("body", b"") for m in sent[1:]))["error"].startswith("image too large")
    assert received <= 51, f"server read {received} chunks of 100 kB before refusing"


def test_too_large_multipart_file_is_413(client: TestClient) -> None:
    assert_error(
        client.post("/api/predict", files={"file": ("big.png", b"\0" * 5_100_000, "image/png")}), 413
    )


def test_decompression_bomb_is_413(client: TestClient) -> None:
    """A tiny PNG whose header claims 100000x100000 pixels is refused before decoding."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    bomb = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 100_000, 100_000, 1, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\0" * 1000))
        + chunk(b"IEND", b"")
    )
    assert_error(post_png(client, bomb), 413)


@pytest.mark.parametrize(
    ("body", "content_type", "words"),
    [
        (b"this is not an image", "image/png", ["image"]),
        (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "image/png", ["image"]),  # truncated PNG
        (b"", "image/png", ["empty"]),
        (b"{not json", "application/json", ["json"]),
        (b'{"picture": "x"}', "application/json", ["image"]),
        (b'{"image": "data:image/png;base64,@@@"}', "application/json", ["base64"]),
        (b"--b\r\n\r\n", "multipart/form-data; boundary=b", []),
        (b"whatever", "multipart/form-data", ["multipart"]),
    ],
)
def test_undecodable_input_is_422(
    client: TestClient, body: bytes, content_type: str, words: list[str]
) -> None:
    assert_error(
        client.post("/api/predict", content=body, headers={"Content-Type": content_type}), 422, *words
    )


EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 64\nnewpath 10 10 moveto 54 54 lineto stroke showpage\n"


@pytest.mark.parametrize("fmt", ["EPS", "ICO", "SGI"])
def test_pictures_in_formats_off_the_allow_list_are_415(client: TestClient, seven_png: bytes, fmt: str) -> None:
    from inkdigit.server.schemas import BatchOut, ErrorOut

    if fmt == "EPS":
        data = EPS
    else:
        buf = io.BytesIO()
        Image.open(io.BytesIO(seven_png)).convert("RGB").resize((64, 64)).save(buf, fmt)
        data = buf.getvalue()
    r = post_png(client, data)
    assert_error(r, 415, fmt, "PNG", "JPEG", "TIFF")
    ErrorOut.model_validate(r.json())
    url = "data:image/png;base64," + base64.b64encode(data).decode()
    assert_error(client.post("/api/predict", json={"image": url}), 415, fmt)
    r = client.post("/api/predict/batch", files=[("files", ("x.img", data, "image/png"))])
    result = BatchOut.model_validate(r.json()).results[0]
    assert (result.ok, result.status) == (False, 415) and fmt in result.error


def test_blank_and_tiny_images_are_422(client: TestClient, blank_png: bytes) -> None:
    assert_error(post_png(client, blank_png), 422, "ink")
    dark = png(Image.new("L", (100, 100), 0))
    assert_error(post_png(client, dark), 422)
    tiny = png(Image.new("L", (3, 3), 0))
    assert_error(post_png(client, tiny), 422)
    assert_error(post_png(client, blank_png, "/api/predict/number"), 422)


def test_unknown_model_is_404_and_paths_are_not_loaded(client: TestClient, seven_png: bytes) -> None:
    headers = {"Content-Type": "image/png"}
    assert_error(client.post("/api/predict?model=nope", content=seven_png, headers=headers), 404, "nope")
    # A model *file path* is a start-up option only; over HTTP only catalogue names are accepted.
    model_file = inference.resolve_model(None)
    r = client.post("/api/predict", params={"model": str(model_file)}, content=seven_png, headers=headers)
    assert_error(r, 404)
    name = inference.default_model_name()
    assert (
        client.post(f"/api/predict?model={name}", content=seven_png, headers=headers).json()["model"] == name
    )


@pytest.mark.parametrize(
    "query", ["top_k=0", "top_k=11", "top_k=three", "preview=perhaps", "model=" + "x" * 300]
)
def test_bad_parameters_are_422_with_the_error_shape(
    client: TestClient, seven_png: bytes, query: str
) -> None:
    r = client.post(f"/api/predict?{query}", content=seven_png, headers={"Content-Type": "image/png"})
    assert_error(r, 422, query.split("=")[0])


def test_unknown_route_and_method_use_the_error_shape(client: TestClient) -> None:
    assert_error(client.get("/api/nothing"), 404)
    assert_error(client.get("/api/predict"), 405)


@pytest.mark.parametrize(("method", "path", "allow"), [
    ("DELETE", "/api/predict", "POST"),
    ("GET", "/api/predict", "POST"),
    ("PUT", "/api/predict/batch", "POST"),
    ("POST", "/healthz", "GET, HEAD"),
    ("DELETE", "/", "GET, HEAD"),
])
def test_wrong_method_is_405_naming_the_allowed_methods(client: TestClient, method: str, path: str,
                                                        allow: str) -> None:
    r = client.request(method, path)
    assert_error(r, 405)
    assert r.headers["allow"] == allow


@pytest.mark.parametrize("path", ["/", "/docs", "/healthz", "/api/models", "/favicon.ico"])
def test_every_get_route_answers_head(client: TestClient, path: str) -> None:
    got = client.get(path)
    r = client.head(path)
    assert r.status_code == 200, r.headers
    assert r.content == b""
    assert r.headers["content-type"] == got.headers["content-type"]
    assert r.headers["content-length"] == got.headers["content-length"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.binary(max_size=3000),
    kind=st.sampled_from(["image/png", "image/jpeg", "application/octet-stream"]),
)
def test_random_bytes_never_crash_the_server(
    client: TestClient, seven_png: bytes, data: bytes, kind: str
) -> None:
    for body in (data, seven_png[: len(data)]):
        r = client.post("/api/predict", content=body, headers={"Content-Type": kind})
        assert r.status_code in (200, 413, 415, 422), r.text
        assert r.status_code == 200 or set(r.json()) == {"error"}


def test_server_keeps_serving_after_errors(client: TestClient, seven_png: bytes) -> None:
    for body, kind in ((b"junk", "image/png"), (b"x", "text/plain"), (b"", "image/png")):
        client.post("/api/predict", content=body, headers={"Content-Type": kind})
    assert post_png(client, seven_png).json()["label"] == 7


# ---------------------------------------------------------------- drawings sent as strokes


def dense(stroke: list[tuple[float, float]], side: int, step: float = 2.0) -> list[list[float]]:
    """A stroke in canvas pixels with a point every ``step`` pixels, the way pointer events arrive."""
    pts = [(x * side, y * side) for x, y in stroke]
    out = [list(pts[0])]
    for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
        n = max(1, int(np.ceil(np.hypot(x1 - x0, y1 - y0) / step)))
        out += [[x0 + (x1 - x0) * k / n, y0 + (y1 - y0) * k / n] for k in range(1, n + 1)]
    return out


def as_strokes(strokes: list[list[tuple[float, float]]], side: int = 280, width: int = 20) -> dict:
    """The drawing that ``drawing(strokes, side, width)`` paints, as the strokes JSON the page sends."""
    return {"strokes": [dense(s, side) for s in strokes], "width": side, "height": side, "brush": width}


def same_drawing(strokes: list[list[tuple[float, float]]], side: int = 280, width: int = 20) -> tuple[dict, bytes]:
    """One drawing twice: as strokes JSON and as the PNG of the same dense strokes."""
    doc = as_strokes(strokes, side, width)
    return doc, png(drawing([[(x / side, y / side) for x, y in s] for s in doc["strokes"]], side, width))


FOUR = [[(0.36, 0.2), (0.29, 0.58), (0.72, 0.58)], [(0.62, 0.24), (0.62, 0.82)]]
TWO = [[(0.3, 0.34), (0.42, 0.21), (0.6, 0.22), (0.68, 0.36), (0.55, 0.55), (0.3, 0.79), (0.72, 0.79)]]
DIGIT_STROKES = {0: [zero_stroke()], 1: ONE, 2: TWO, 4: FOUR, 7: SEVEN}


@pytest.mark.parametrize("digit", sorted(DIGIT_STROKES))
def test_strokes_read_like_the_png_of_the_same_drawing(client: TestClient, digit: int) -> None:
    doc, picture = same_drawing(DIGIT_STROKES[digit])
    from_strokes = client.post("/api/predict?preview=true", json=doc)
    from_png = post_png(client, picture, "/api/predict?preview=true")
    assert from_strokes.status_code == 200, from_strokes.text
    a, b = from_strokes.json(), from_png.json()
    assert a["label"] == b["label"] == digit
    assert abs(a["confidence"] - b["confidence"]) < 0.05
    assert a["stages"]["size"] == [280, 280]  # the canvas the strokes were drawn on
    assert max(abs(p - q) for p, q in zip(a["stages"]["box"], b["stages"]["box"])) <= 2


def test_a_number_as_strokes_reads_like_its_png_with_boxes_in_canvas_pixels(client: TestClient) -> None:
    number = placed(SEVEN, 0.2, 0.3) + placed(ONE, 0.5, 0.3) + placed([zero_stroke()], 0.8, 0.3)
    doc, picture = same_drawing(number, side=560, width=16)
    a = client.post("/api/predict/number?preview=true", json=doc).json()
    b = post_png(client, picture, "/api/predict/number?preview=true").json()
    assert a["text"] == b["text"] == "710"
    for da, db in zip(a["digits"], b["digits"], strict=True):
        assert max(abs(p - q) for p, q in zip(da["box"], db["box"])) <= 2


def test_strokes_may_carry_times_and_a_pen_per_stroke(client: TestClient) -> None:
    doc = as_strokes(FOUR)
    doc["strokes"] = [[[x, y, 1000 + 8 * i] for i, (x, y) in enumerate(s)] for s in doc["strokes"]]
    doc["brush"] = [22, 18]
    body = client.post("/api/predict", json=doc).json()
    assert body["label"] == 4
    del doc["brush"]  # the app's pen: 7% of the canvas
    assert client.post("/api/predict", json=doc).json()["label"] == 4


def _json(text: str | bytes) -> dict:
    return {"content": text, "headers": {"Content-Type": "application/json"}}


SQUARE = '"width": 280, "height": 280'
BAD_STROKES = [
    (f'{{"strokes": [], {SQUARE}}}', 422, "no strokes"),
    (f'{{"strokes": [[]], {SQUARE}}}', 422, "strokes[0] has no points"),
    (f'{{"strokes": [[[1, NaN]]], {SQUARE}}}', 422, "not finite"),
    (f'{{"strokes": [[[1, Infinity]]], {SQUARE}}}', 422, "not finite"),
    (f'{{"strokes": [[[1, 1e999]]], {SQUARE}}}', 422, "not finite"),
    (f'{{"strokes": [[[1, "2"]]], {SQUARE}}}', 422, "not a number"),
    (f'{{"strokes": [[1, 2]], {SQUARE}}}', 422, "must be a point"),
    (f'{{"strokes": [[[[1, 2]]]], {SQUARE}}}', 422, "must be a point"),
    (f'{{"strokes": {{"a": 1}}, {SQUARE}}}', 422, "must be a list of strokes"),
    (f'{{"strokes": [[[1, 2]]], {SQUARE}, "image": "data:image/png;base64,AA=="}}', 422, "not both"),
    (f'{{"strokes": [[[1, 2]]], {SQUARE}, "pen": 3}}', 422, "unknown field 'pen'"),
    (f'{{"strokes": [[[99999, 2]]], {SQUARE}}}', 422, "far outside"),
    ('{"strokes": [[[1, 2]]], "width": 280}', 422, "missing field 'height'"),
    (f'{{"strokes": [[[1, 2]]], {SQUARE}, "brush": -4}}', 422, "brush"),
    ('{"strokes": [[[1, 2]]], "width": 100000, "height": 280}', 413, "width"),
    ('{"strokes": [' + ",".join(["[[1, 2]]"] * 1001) + f"], {SQUARE}}}", 413, "too many strokes"),
    ('{"strokes": [[' + ",".join(["[1,2]"] * 100_001) + f"]], {SQUARE}}}", 413, "too many points"),
    ('{"strokes": [[' + ",".join(["[1,2]"] * 1_000_000) + f"]], {SQUARE}}}", 413, "too large"),
    ('{"strokes": ' + "[" * 100 + "]" * 100 + f", {SQUARE}}}", 422, "must be a point"),
    ('{"strokes": ' + "[" * 2000 + "]" * 2000 + f", {SQUARE}}}", 422, "nested too deep"),
    ('{"strokes": ' + "[" * 200_000 + "]" * 200_000 + "}", 413, "too many points"),
    ('{"strokes": ' + '{"a": ' * 100_000 + "1" + "}" * 100_000 + "}", 422, "nested too deep"),
    ('{"strokes": [[[1, 2]]', 422, "not valid JSON"),
]


@pytest.mark.parametrize("path", ["/api/predict", "/api/predict/number"])
@pytest.mark.parametrize(("body", "status", "words"), BAD_STROKES, ids=[w for *_, w in BAD_STROKES])
def test_bad_strokes_are_4xx_with_a_clear_message(client: TestClient, path: str, body: str, status: int,
                                                   words: str) -> None:
    assert_error(client.post(path, **_json(body)), status, words)


def test_strokes_entirely_off_the_canvas_are_a_blank_drawing(client: TestClient) -> None:
    assert_error(client.post("/api/predict", json={"strokes": [[[-50, 5], [-20, 5]]], "width": 100,
                                                   "height": 100}), 422, "ink")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    value=st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
        max_leaves=30,
    ),
    side=st.integers(-5, 5000),
)
def test_random_strokes_never_crash_the_server(client: TestClient, value: object, side: int) -> None:
    for doc in ({"strokes": value, "width": side, "height": 280}, {"strokes": [value], "width": 280, "height": 280}):
        r = client.post("/api/predict/number", **_json(json.dumps(doc)))
        assert r.status_code in (200, 413, 422), r.text
        assert r.status_code == 200 or set(r.json()) == {"error"}


# ---------------------------------------------------------------- page, docs, CORS, start-up


def test_page_and_docs_load_nothing_from_other_hosts(client: TestClient) -> None:
    for path in ("/", "/docs"):
        r = client.get(path)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in r.headers["content-security-policy"]
        refs = re.findall(r'(?:src|href)="([^"]+)"', r.text)
        assert refs and not [u for u in refs if "//" in u], refs
        for ref in refs:
            if ref.startswith("/static/"):
                assert client.get(ref).status_code == 200, ref
    assert "canvas" in client.get("/").text


def test_openapi_describes_every_endpoint(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    assert set(paths) >= {
        "/api/predict",
        "/api/predict/number",
        "/api/predict/batch",
        "/api/models",
        "/healthz",
    }
    assert not [path for path, ops in paths.items() if "head" in ops]  # HEAD twins of GETs are not documented
    for path, ops in paths.items():
        for op in ops.values():
            assert op.get("summary") and op.get("description"), path
    predict = paths["/api/predict"]["post"]
    assert {"image/png", "multipart/form-data", "application/json"} <= set(predict["requestBody"]["content"])
    as_json = predict["requestBody"]["content"]["application/json"]
    assert {"image", "strokes"} <= set(as_json["examples"])  # a drawing as strokes is documented with an example
    assert paths["/api/predict/number"]["post"]["requestBody"]["content"]["application/json"] == as_json
    assert {"404", "413", "415", "422"} <= set(predict["responses"])
    assert {p["name"] for p in predict["parameters"]} == {"model", "top_k", "preview"}
    assert all(p.get("description") for p in predict["parameters"])
    assert "multipart/form-data" in paths["/api/predict/batch"]["post"]["requestBody"]["content"]


def test_cors_is_off_unless_origins_are_given(client: TestClient) -> None:
    preflight = {"Origin": "http://example.test", "Access-Control-Request-Method": "POST"}
    assert "access-control-allow-origin" not in client.options("/api/predict", headers=preflight).headers
    with TestClient(create_app(cors_origins=["http://example.test"])) as c:
        r = c.options("/api/predict", headers=preflight)
        assert r.headers["access-control-allow-origin"] == "http://example.test"
        other = c.options("/api/predict", headers={**preflight, "Origin": "http://evil.test"})
        assert "access-control-allow-origin" not in other.headers


def test_bad_model_fails_before_serving() -> None:
    with pytest.raises(inference.ModelNotFoundError, match="nope"):
        create_app("nope")
    for workers in (1, 2):  # this process alone, and worker processes
        with pytest.raises(inference.ModelNotFoundError):
            serve("127.0.0.1", 0, "nope", workers, [])


def test_taken_port_is_a_one_line_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(ServeError, match="cannot listen"):
            serve("127.0.0.1", taken.getsockname()[1], None, 1, [])


def test_bad_worker_count_is_a_one_line_error() -> None:
    with pytest.raises(ServeError, match="--workers"):
        serve("127.0.0.1", 0, None, -1, [])


@pytest.mark.parametrize("port", [70000, 65536, -1])
def test_port_out_of_range_is_a_one_line_error(port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    def bind(host: str, port: int) -> socket.socket:  # so that a port let through fails here, not serves
        raise AssertionError(f"bound port {port}")

    monkeypatch.setattr("inkdigit.server.start.bind", bind)
    with pytest.raises(ServeError, match=re.escape(f"--port must be between 0 and 65535 (got {port})")):
        serve("127.0.0.1", port, None, 1, [])


def test_port_out_of_range_on_the_command_line_exits_1_with_one_line() -> None:
    # Before the check this served on port 4464 (70000 mod 65536) until the timeout killed it.
    try:
        r = subprocess.run([sys.executable, "-m", "inkdigit", "serve", "--port", "70000", "--workers", "1"],
                           capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("serve --port 70000 started serving")
    assert r.returncode == 1, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert "Traceback" not in r.stderr
    assert len(lines) == 1 and "--port must be between 0 and 65535 (got 70000)" in lines[0], r.stderr


def _worker_pids(server_pid: int) -> list[int]:
    """The server's worker processes (its other child is multiprocessing's resource tracker)."""
    kids = Path(f"/proc/{server_pid}/task/{server_pid}/children").read_text().split()
    return [int(k) for k in kids if b"spawn_main" in Path(f"/proc/{k}/cmdline").read_bytes()]


def _read_by(worker: int, workers: list[int], url: str, image: bytes) -> int:
    """The label read on a new connection while every worker but ``worker`` is paused, so that it is
    ``worker`` that accepts and answers it."""
    others = [pid for pid in workers if pid != worker]
    for pid in others:
        os.kill(pid, signal.SIGSTOP)
    try:
        with httpx.Client(base_url=url, timeout=20) as fresh:
            return post_png(fresh, image).json()["label"]
    finally:
        for pid in others:
            os.kill(pid, signal.SIGCONT)


@pytest.mark.slow
def test_workers_serve_every_connection_and_a_dead_one_is_replaced(serve_process, seven_png: bytes) -> None:
    with serve_process("--workers", "2") as (proc, url):
        workers = _worker_pids(proc.pid)
        assert len(workers) == 2
        assert [_read_by(pid, workers, url, seven_png) for pid in workers] == [7, 7]  # each worker serves
        clients = [httpx.Client(base_url=url, timeout=20) for _ in range(4)]
        assert [post_png(c, seven_png).json()["label"] for c in clients] == [7] * 4
        os.kill(workers[0], signal.SIGKILL)  # its connections drop; the other worker and new ones go on
        for _ in range(3):
            with httpx.Client(base_url=url, timeout=20) as fresh:
                assert post_png(fresh, seven_png).json()["label"] == 7
        deadline = time.monotonic() + 60
        while len(now := _worker_pids(proc.pid)) < 2 or workers[0] in now:
            assert time.monotonic() < deadline, f"dead worker not replaced: {now}"
            time.sleep(0.2)
        for c in clients:
            c.close()
        replacement = next(pid for pid in now if pid not in workers)
        assert _read_by(replacement, now, url, seven_png) == 7  # the new one serves too


@pytest.mark.slow
def test_a_stalled_worker_and_idle_connections_do_not_stop_the_other_worker(serve_process, seven_png: bytes
                                                                            ) -> None:
    """Issue 17, item 2: with one worker stopped (as if busy for minutes) and 200 idle connections open, new
    clients are still served by the other: nothing hands connections to a stalled worker."""
    with serve_process("--workers", "2") as (proc, url):
        workers = _worker_pids(proc.pid)
        host, port = url.split("//")[1].rstrip("/").rsplit(":", 1)
        os.kill(workers[0], signal.SIGSTOP)
        idle = []
        try:
            idle = [socket.create_connection((host, int(port)), timeout=5) for _ in range(200)]
            for _ in range(3):
                with httpx.Client(base_url=url, timeout=10) as fresh:
                    assert post_png(fresh, seven_png).json()["label"] == 7
        finally:
            os.kill(workers[0], signal.SIGCONT)
            for s in idle:
                s.close()


@pytest.mark.slow
@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_stopping_the_server_stops_its_workers(serve_process, how: int) -> None:
    with serve_process("--workers", "2") as (proc, _):
        workers = _worker_pids(proc.pid)
        if how == signal.SIGINT:
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl+C in a terminal reaches the whole process group
        else:
            proc.send_signal(signal.SIGTERM)  # a service manager signals the server alone
        assert proc.wait(15) == 0
        _, err = proc.communicate()
        assert "Traceback" not in err, err
        for pid in workers:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)


def test_ctrl_c_while_the_workers_are_still_starting_stops_quietly() -> None:
    """Ctrl+C signals the whole process group; a worker that is still importing must not print a traceback."""
    proc = subprocess.Popen([sys.executable, "-m", "inkdigit", "serve", "--port", "0", "--workers", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={"PYTHONPATH": str(Path(inkdigit.__file__).parents[1]), "PATH": "/usr/bin:/bin"})
    try:
        deadline = time.monotonic() + 60
        while len(_worker_pids(proc.pid)) < 2:  # spawned, and (a moment later) importing the app
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.005)
        workers = _worker_pids(proc.pid)
        time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(30) == 0
        _, err = proc.communicate()
        assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
        for pid in workers:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def test_a_model_the_workers_cannot_load_is_a_one_line_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    out = subprocess.run([sys.executable, "-m", "inkdigit", "serve", "--port", "0", "--workers", "2",
                          "--model", str(broken)], capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "serving" not in out.stdout
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "broken.onnx" in out.stderr or "model" in out.stderr.lower()


def test_worker_processes_build_the_app_serve_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    """uvicorn builds each worker's app with `worker_app`, which takes serve's --model and --cors-origin from
    the environment; a model it cannot load exits with uvicorn's start-up failure code (the server stops)."""
    from uvicorn.config import STARTUP_FAILURE

    monkeypatch.setenv(MODEL_ENV, "paper")
    monkeypatch.setenv(CORS_ENV, json.dumps(["http://example.test"]))
    preflight = {"Origin": "http://example.test", "Access-Control-Request-Method": "POST"}
    with TestClient(worker_app()) as c:
        assert c.get("/healthz").json()["model"] == "paper"
        assert c.options("/api/predict", headers=preflight).headers["access-control-allow-origin"] == \
            "http://example.test"
    monkeypatch.delenv(MODEL_ENV)
    monkeypatch.delenv(CORS_ENV)
    with TestClient(worker_app()) as c:
        assert c.get("/healthz").json()["model"] == inference.default_model_name()
        assert "access-control-allow-origin" not in c.options("/api/predict", headers=preflight).headers
    monkeypatch.setenv(MODEL_ENV, "nope")
    with pytest.raises(SystemExit) as stopped:
        worker_app()
    assert stopped.value.code == STARTUP_FAILURE


def test_loopback_detection() -> None:
    assert (
        is_loopback("127.0.0.1")
        and is_loopback("localhost")
        and is_loopback("::1")
        and is_loopback("127.8.0.1")
    )
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4") and not is_loopback("example.org")


def test_non_loopback_host_prints_a_warning(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    import uvicorn

    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: None)  # bind only, never listen
    serve("0.0.0.0", 0, None, 1, [])
    out, err = capsys.readouterr()
    assert "warning" in err and "0.0.0.0" in err
    assert re.search(r"http://0\.0\.0\.0:\d+/", out)
    serve("127.0.0.1", 0, None, 1, [])
    out, err = capsys.readouterr()
    assert "warning" not in err and re.search(r"http://127\.0\.0\.1:\d+/", out)


# ---------------------------------------------------------------- a real server over a socket


def test_live_server_streamed_oversized_upload_then_keeps_serving(live_url: str, seven_png: bytes) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(100):  # 10 MB, chunked: no Content-Length to trust
            yield b"\0" * 100_000

    with httpx.Client(base_url=live_url, timeout=20) as c:
        r = c.post("/api/predict", content=chunks(), headers={"Content-Type": "image/png"})
        assert_error(r, 413)
        assert c.get("/healthz").status_code == 200
        assert post_png(c, seven_png).json()["label"] == 7


def test_live_server_answers_concurrent_requests(live_url: str, seven_png: bytes) -> None:
    with httpx.Client(base_url=live_url, timeout=30) as c:

        def one(i: int) -> int:
            if i % 5 == 4:
                return c.post(
                    "/api/predict", content=b"junk", headers={"Content-Type": "image/png"}
                ).status_code
            return post_png(c, seven_png).json()["label"]

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(one, range(40)))
    assert answers == [422 if i % 5 == 4 else 7 for i in range(40)]


def test_the_whole_digit_verifier_loads_with_the_model_not_on_the_first_number_request() -> None:
    """Loading it takes ~50 ms: at start-up, not on the event loop of a worker's first number request."""
    inference.whole_digit_verifier.cache_clear()
    create_app()
    assert inference.whole_digit_verifier.cache_info().currsize == 1


def test_the_pair_reader_loads_with_the_model_not_on_the_first_number_request() -> None:
    inference.pair_reader.cache_clear()
    create_app()
    assert inference.pair_reader.cache_info().currsize == 1
    assert inference.pair_reader() is not None, "src/inkdigit/weights/pair/ has no pair reader: run make models"


def test_the_whole_character_verifier_loads_with_a_character_model_not_on_the_request_after() -> None:
    """A line of letters needs the letters model and the whole-character verifier: both load on first use."""
    from inkdigit.server.registry import ModelRegistry

    inference.whole_char_verifier.cache_clear()
    registry = ModelRegistry(None)
    assert inference.whole_char_verifier.cache_info().currsize == 0
    assert registry.charset("letters").labels[0] == "A"
    assert inference.whole_char_verifier.cache_info().currsize == 1

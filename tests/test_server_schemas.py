"""The answer models in server/schemas.py are the truth: every JSON answer the API gives validates against the
model its route declares, with no field the model does not name, and the OpenAPI document names those
models.

The routes send pre-serialised bytes, so FastAPI never checks them against `response_model`: these tests do.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw
from pydantic import BaseModel, ValidationError

from inkdigit.server import errors, schemas
from inkdigit.server.app import create_app
from inkdigit.server.options import TOP_K_MAX, TOP_K_MIN
from inkdigit.vision import strokes

# The model each route declares for its 200 answer; every error answer is ErrorOut.
ROUTE_MODELS: dict[tuple[str, str], type[BaseModel]] = {
    ("/api/predict", "post"): schemas.PredictionOut,
    ("/api/predict/number", "post"): schemas.NumberOut,
    ("/api/predict/batch", "post"): schemas.BatchOut,
    ("/api/models", "get"): schemas.ModelList,
    ("/healthz", "get"): schemas.Health,
}
# The JSON request bodies, documented in the OpenAPI request bodies; every other model is an answer.
REQUEST_MODELS = [schemas.ImageIn, schemas.DrawingIn]
ANSWER_MODELS = [m for m in vars(schemas).values()
                 if isinstance(m, type) and issubclass(m, BaseModel) and m is not BaseModel
                 and m not in REQUEST_MODELS]


# ---------------------------------------------------------------- images and clients


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def canvas(strokes: list[list[tuple[float, float]]], side: int = 280, width: int = 20) -> bytes:
    """Black strokes on white, like the page's canvas; points in [0,1] page units."""
    img = Image.new("L", (side, side), 255)
    pen = ImageDraw.Draw(img)
    for stroke in strokes:
        pen.line([(x * side, y * side) for x, y in stroke], fill=0, width=width, joint="curve")
    return png(img)


def bomb() -> bytes:
    """A tiny PNG whose header claims 100000x100000 pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + \
        chunk(b"IEND", b"")


SEVEN = [[(0.28, 0.22), (0.72, 0.22), (0.6, 0.45), (0.45, 0.8)]]
# "71" side by side on a wide canvas
NUMBER = [[(0.1, 0.35), (0.3, 0.35), (0.25, 0.5), (0.2, 0.65)], [(0.72, 0.3), (0.7, 0.5), (0.68, 0.7)]]
IMAGES = {
    "seven": canvas(SEVEN),
    "number": canvas(NUMBER, side=400, width=16),
    "blank": png(Image.new("L", (280, 280), 255)),
    "tiny": png(Image.new("L", (3, 3), 0)),
    "garbage": b"\x89PNG nope",
    "bomb": bomb(),
    "empty": b"",
}


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    """The app as served, with the bundled default model."""
    with TestClient(create_app()) as c:
        yield c


def check(r: httpx.Response, route: tuple[str, str], status: int) -> dict:
    """The answer has ``status`` and its JSON validates, strictly, against the model it is documented with."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    model = ROUTE_MODELS[route] if status == 200 else schemas.ErrorOut
    model.model_validate(body, strict=True)
    return body


# ---------------------------------------------------------------- every answer against its model

# (query, image, expected status); each is posted as a raw image body, the way the page does
PLAIN_POSTS = [
    ("", "seven", 200),
    ("?preview=true", "seven", 200),
    ("?preview=false", "seven", 200),
    (f"?top_k={TOP_K_MIN}", "seven", 200),
    (f"?top_k={TOP_K_MAX}&preview=1", "seven", 200),
    ("?model=paper&top_k=5&preview=true", "seven", 200),
    ("", "number", 200),
    ("?preview=true", "number", 200),
    ("?model=nope", "seven", 404),
    ("", "blank", 422),
    ("", "tiny", 422),
    ("", "garbage", 422),
    ("", "bomb", 413),
]


@pytest.mark.parametrize("path", ["/api/predict", "/api/predict/number"])
@pytest.mark.parametrize(("query", "image", "status"), PLAIN_POSTS)
def test_plain_image_posts_match_their_model(client: TestClient, path: str, query: str, image: str,
                                             status: int) -> None:
    headers = {"Content-Type": "image/png"}
    body = check(client.post(path + query, content=IMAGES[image], headers=headers), (path, "post"), status)
    if status == 200 and any(f"preview={v}" in query for v in ("true", "1")):
        assert "preview_png" in str(body)  # the sometimes-sent fields were there to be checked


# (method, target, body, content type, expected status) of the other requests
OTHER_REQUESTS = [
    ("POST", "/api/predict?top_k=03&preview=yes", "seven", "image/png", 200),  # pydantic's other spellings
    ("POST", "/api/predict/number?preview=on", "number", "image/png", 200),
    ("POST", "/api/predict", "seven", "application/json", 422),  # not JSON
    ("POST", "/api/predict", "empty", "image/png", 422),
    ("POST", "/api/predict?top_k=0", "seven", "image/png", 422),
    ("POST", f"/api/predict?top_k={TOP_K_MAX + 1}", "seven", "image/png", 422),
    ("POST", "/api/predict?preview=perhaps", "seven", "image/png", 422),
    ("POST", "/api/predict/number?model=" + "x" * 300, "number", "image/png", 422),
    ("POST", "/api/predict", "seven", "text/plain", 415),
    ("POST", "/api/predict/number", "seven", "image/svg+xml", 415),
    ("POST", "/api/predict/batch", "seven", "image/png", 415),
    ("POST", "/api/nothing", "seven", "image/png", 404),
    ("GET", "/api/predict", "empty", "", 405),
    ("DELETE", "/api/predict", "empty", "", 405),
    ("PUT", "/healthz", "empty", "", 405),
    ("GET", "/api/models", "empty", "", 200),
    ("GET", "/healthz", "empty", "", 200),
]


@pytest.mark.parametrize(("method", "target", "image", "ctype", "status"), OTHER_REQUESTS)
def test_other_answers_match_their_model(
    client: TestClient, method: str, target: str, image: str, ctype: str, status: int
) -> None:
    path = target.partition("?")[0]
    route = (path, method.lower()) if (path, method.lower()) in ROUTE_MODELS else ("", "")
    headers = {"Content-Type": ctype} if ctype else {}
    check(client.request(method, target, content=IMAGES[image], headers=headers), route, status)


@pytest.mark.parametrize(("method", "target", "allow"), [
    ("DELETE", "/api/predict", "POST"), ("GET", "/api/predict/number", "POST"), ("PATCH", "/api/models", "GET, HEAD"),
])
def test_405_answers_name_the_allowed_methods(client: TestClient, method: str, target: str, allow: str) -> None:
    r = client.request(method, target)
    check(r, ("", ""), 405)
    assert r.headers["allow"] == allow  # RFC 9110: a 405 lists the methods the target answers


SEVEN_STROKES = {"strokes": [[[x * 280, y * 280] for x, y in SEVEN[0]]], "width": 280, "height": 280, "brush": 20}
NUMBER_STROKES = {"strokes": [[[x * 400, y * 400] for x, y in s] for s in NUMBER], "width": 400, "height": 400,
                  "brush": 16}


@pytest.mark.parametrize("path", ["/api/predict", "/api/predict/number"])
@pytest.mark.parametrize(("query", "drawing", "status"), [
    ("", SEVEN_STROKES, 200),
    ("?preview=true&top_k=5", SEVEN_STROKES, 200),
    ("?preview=true", NUMBER_STROKES, 200),
    ("", {**SEVEN_STROKES, "strokes": []}, 422),
    ("", {**SEVEN_STROKES, "strokes": [[[1, None]]]}, 422),
    ("", {**SEVEN_STROKES, "width": 5000}, 413),
    ("", {**SEVEN_STROKES, "strokes": [[[-100, -100]]]}, 422),  # off the canvas: nothing to read
])
def test_stroke_answers_match_their_model(client: TestClient, path: str, query: str, drawing: dict,
                                          status: int) -> None:
    body = check(client.post(path + query, json=drawing), (path, "post"), status)
    if status == 200 and query:
        assert "preview_png" in str(body)


def test_multipart_json_and_oversized_answers_match_their_model(client: TestClient) -> None:
    route = ("/api/predict", "post")
    seven = IMAGES["seven"]
    check(client.post("/api/predict?preview=true", files={"file": ("seven.png", seven, "image/png")}), route, 200)
    check(client.post("/api/predict", json={"image": "data:image/png;base64,@@@"}), route, 422)
    check(client.post("/api/predict", files={"file": ("a.txt", b"hi", "text/plain")}), route, 415)
    too_big = b"\x89PNG" + b"\0" * 5_000_000
    check(client.post("/api/predict", content=too_big, headers={"Content-Type": "image/png"}), route, 413)
    check(client.post("/api/predict", files={"file": ("big.png", too_big, "image/png")}), route, 413)


@pytest.mark.parametrize("query", ["", "?preview=true&top_k=2"])
def test_batch_answers_match_their_model(client: TestClient, query: str) -> None:
    files = [("files", ("seven.png", IMAGES["seven"], "image/png")),
             ("files", ("junk.png", IMAGES["garbage"], "image/png")),
             ("files", ("notes.txt", b"hello", "text/plain")),
             ("files", ("blank.png", IMAGES["blank"], "image/png")),
             ("files", ("bomb.png", IMAGES["bomb"], "image/png")),
             ("files", ("empty.png", b"", "image/png"))]
    body = check(client.post("/api/predict/batch" + query, files=files), ("/api/predict/batch", "post"), 200)
    assert [item["ok"] for item in body["results"]] == [True, False, False, False, False, False]
    assert [item.get("status") for item in body["results"]] == [None, 422, 415, 422, 413, 422]
    assert ("preview_png" in body["results"][0]) == bool(query)
    check(client.post("/api/predict/batch", files={"nothing": (None, "x")}), ("/api/predict/batch", "post"), 422)


def test_models_and_health_match_their_model(client: TestClient) -> None:
    models = check(client.get("/api/models"), ("/api/models", "get"), 200)
    assert any(m["test_accuracy"] is not None for m in models["models"])
    check(client.get("/healthz"), ("/healthz", "get"), 200)


# ---------------------------------------------------------------- the models themselves and the OpenAPI document


@pytest.mark.parametrize("model", ANSWER_MODELS + REQUEST_MODELS, ids=lambda m: m.__name__)
def test_every_answer_model_refuses_fields_it_does_not_name(model: type[BaseModel]) -> None:
    assert model.model_config.get("extra") == "forbid"
    with pytest.raises(ValidationError, match="extra_forbidden"):
        model.model_validate({"not_a_field": 1})


def test_an_undocumented_field_fails_validation(client: TestClient) -> None:
    """What the checks above rely on: a field sent but not in the model is an error, not ignored."""
    body = client.post("/api/predict", content=IMAGES["seven"], headers={"Content-Type": "image/png"}).json()
    schemas.PredictionOut.model_validate(body, strict=True)
    with pytest.raises(ValidationError, match="extra_forbidden"):
        schemas.PredictionOut.model_validate({**body, "debug": 1}, strict=True)
    with pytest.raises(ValidationError):
        schemas.PredictionOut.model_validate({**body, "label": "7"}, strict=True)  # strict: no coercion


def test_openapi_names_the_answer_models(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()

    def ref(response: dict) -> str:
        return response["content"]["application/json"]["schema"]["$ref"].rpartition("/")[2]

    for (path, method), model in ROUTE_MODELS.items():
        responses = spec["paths"][path][method]["responses"]
        assert ref(responses["200"]) == model.__name__, (path, method)
        for status, response in responses.items():
            if status != "200":
                assert ref(response) == "ErrorOut", (path, status)
        if method == "post":
            assert {"404", "413", "415", "422"} <= set(responses), path
    assert set(errors.STATUSES.values()) <= {int(s) for s in schemas.ERROR_RESPONSES}  # every error is documented
    components = spec["components"]["schemas"]
    for model in ANSWER_MODELS:
        assert components[model.__name__].get("additionalProperties") is False, model.__name__
    # Sometimes-sent fields are documented as optional (not required), not as nullable.
    prediction = components["PredictionOut"]
    assert {"preview_png", "stages"}.isdisjoint(prediction["required"])
    assert prediction["properties"]["preview_png"]["type"] == "string"


def test_the_documented_request_bodies_are_what_the_server_takes(client: TestClient) -> None:
    """The JSON request models and examples in the OpenAPI document agree with what the routes accept."""
    spec = client.get("/openapi.json").json()
    for path in ("/api/predict", "/api/predict/number"):
        content = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        for schema, model in zip(content["schema"]["oneOf"], REQUEST_MODELS, strict=True):
            expected = model.model_json_schema()
            assert schema["title"] == model.__name__ and schema["additionalProperties"] is False
            assert (set(schema["properties"]), schema["required"]) == (set(expected["properties"]),
                                                                        expected["required"])
        examples = {name: e["value"] for name, e in content["examples"].items()}
        schemas.DrawingIn.model_validate(examples["strokes"], strict=True)
        schemas.ImageIn.model_validate(examples["image"], strict=True)
        check(client.post(path, json=examples["strokes"]), (path, "post"), 200)
    drawing = spec["paths"]["/api/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]["oneOf"][1]
    assert drawing["properties"]["strokes"]["maxItems"] == strokes.MAX_STROKES
    assert drawing["properties"]["width"]["maximum"] == strokes.MAX_SIDE
    assert set(drawing["properties"]) == set(strokes.FIELDS)

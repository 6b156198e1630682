"""The character routes of the HTTP API: /api/charsets, /api/predict/char, /api/predict/text and
/api/predict/math, with each body kind (raw image, multipart, JSON data URL, JSON strokes); every answer
validates against its model in server/schemas.py; unknown sets are 422, missing models 503, and hostile input
is refused as on the number route."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel

from inkdigit.charsets import CHARSETS
from inkdigit.errors import ModelNotFoundError
from inkdigit.server import schemas
from inkdigit.server.app import create_app
from test_chars_reading import ink, png  # sibling test module: the tests' folder is on sys.path

ROUTES: dict[str, type[BaseModel]] = {
    "/api/predict/char": schemas.CharOut,
    "/api/predict/text": schemas.TextOut,
    "/api/predict/math": schemas.MathOut,
}


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app()) as c:
        yield c


@pytest.fixture(scope="module")
def pictures() -> dict[str, bytes]:
    return {"a": png(ink("A")), "word": png(ink("CAT")), "sum": png(ink("12+7=")), "zero": png(ink("7÷0")),
            "code": png(ink("B52"))}


def bodies(data: bytes) -> dict[str, dict]:
    """The same image as each kind of image body httpx can send."""
    url = "data:image/png;base64," + base64.b64encode(data).decode()
    return {"raw": {"content": data, "headers": {"content-type": "image/png"}},
            "multipart": {"files": {"file": ("x.png", data, "image/png")}},
            "json": {"json": {"image": url}}}


def valid(r: httpx.Response, model: type[BaseModel]) -> dict:
    assert r.status_code == 200, r.text
    body = r.json()
    model.model_validate(body)  # extra="forbid": no field the schema does not name
    return body


def error(r: httpx.Response, status: int, *words: str) -> str:
    assert r.status_code == status, r.text
    message = r.json()["error"]
    assert set(r.json()) == {"error"} and "\n" not in message and all(w in message for w in words), message
    return message


def test_charsets_lists_every_set_with_its_labels_and_model(client: TestClient) -> None:
    body = valid(client.get("/api/charsets"), schemas.CharsetList)
    assert [c["name"] for c in body["charsets"]] == list(CHARSETS)
    by_name = {c["name"]: c for c in body["charsets"]}
    assert by_name["digits"]["model"] == client.get("/api/models").json()["default"]
    assert by_name["math"]["labels"] == list(CHARSETS["math"].labels)
    assert all(isinstance(c["model"], str) for c in body["charsets"])


@pytest.mark.parametrize("kind", ["raw", "multipart", "json"])
def test_each_route_reads_each_body_kind(client: TestClient, pictures, kind: str) -> None:
    a = valid(client.post("/api/predict/char?charset=letters", **bodies(pictures["a"])[kind]), schemas.CharOut)
    assert (a["text"], a["kind"], a["charset"], a["model"]) == ("A", "letter", "letters", "letters")
    assert "preview_png" not in a and a["top_k"][0]["text"] == "A"
    word = valid(client.post("/api/predict/text?charset=letters", **bodies(pictures["word"])[kind]), schemas.TextOut)
    assert word["text"] == "CAT" and [c["text"] for c in word["chars"]] == ["C", "A", "T"]
    total = valid(client.post("/api/predict/math", **bodies(pictures["sum"])[kind]), schemas.MathOut)
    assert (total["text"], total["expression"], total["value"], total["ok"]) == ("12+7=", "12+7=", "19", True)
    assert total["message"] == "12+7 = 19" and total["holds"] is None and total["charset"] == "math"


def stroke_body(strokes: list[list[tuple[float, float]]], side: int = 280) -> dict:
    return {"json": {"strokes": [[[x * side, y * side] for x, y in s] for s in strokes], "width": side,
                     "height": side, "brush": 12}}


# Pen strokes on a 280 x 280 canvas, in page units: an "L", a "T", then "1+1=" (its "=" two strokes).
L_T = [[(0.15, 0.35), (0.15, 0.6), (0.3, 0.6)], [(0.45, 0.35), (0.65, 0.35)], [(0.55, 0.35), (0.55, 0.6)]]
ONE_PLUS_ONE = [[(0.1, 0.4), (0.1, 0.6)], [(0.2, 0.5), (0.32, 0.5)], [(0.26, 0.44), (0.26, 0.56)],
                [(0.42, 0.4), (0.42, 0.6)], [(0.52, 0.47), (0.64, 0.47)], [(0.52, 0.54), (0.64, 0.54)]]


def test_strokes_are_read_by_their_groups(client: TestClient) -> None:
    one = valid(client.post("/api/predict/char?charset=letters", **stroke_body(L_T[:1])), schemas.CharOut)
    assert one["text"] == "L"
    line = valid(client.post("/api/predict/text?charset=letters", **stroke_body(L_T)), schemas.TextOut)
    assert line["text"] == "LT" and line["chars"][1]["box"][0] > line["chars"][0]["box"][2] - 5
    total = valid(client.post("/api/predict/math", **stroke_body(ONE_PLUS_ONE)), schemas.MathOut)
    assert (total["expression"], total["value"]) == ("1+1=", "2")


def test_preview_and_top_k(client: TestClient, pictures) -> None:
    a = valid(client.post("/api/predict/char?charset=alnum&preview=true&top_k=5", **bodies(pictures["a"])["raw"]),
              schemas.CharOut)
    assert a["preview_png"].startswith("data:image/png;base64,") and len(a["top_k"]) == 5


@pytest.mark.parametrize("path", ["/api/predict/text?charset=letters", "/api/predict/math"])
def test_a_line_previews_what_the_model_saw_of_each_character_only_when_asked(client: TestClient, pictures,
                                                                               path: str) -> None:
    picture = pictures["word" if "text" in path else "sum"]
    model = schemas.TextOut if "text" in path else schemas.MathOut
    shown = valid(client.post(path + ("&" if "?" in path else "?") + "preview=true", **bodies(picture)["raw"]), model)
    plain = valid(client.post(path, **bodies(picture)["raw"]), model)
    assert shown["chars"] and all(c["preview_png"].startswith("data:image/png;base64,") for c in shown["chars"])
    assert all("preview_png" not in c for c in plain["chars"])
    if "math" in path:
        assert "value" in plain and "holds" in plain  # fields that may be null are still sent


def test_kinds_restrict_the_answer(client: TestClient, pictures) -> None:
    for kinds, kind in (("digit", "digit"), ("letter", "letter")):
        r = client.post(f"/api/predict/char?charset=alnum&kinds={kinds}", **bodies(pictures["a"])["raw"])
        a = valid(r, schemas.CharOut)
        assert a["kind"] == kind and a["confusable"] == []
        assert all(CHARSETS["alnum"].labels.index(t["text"]) < 10 for t in a["top_k"]) == (kind == "digit")
    line = valid(client.post("/api/predict/text?charset=alnum&kinds=digit", **bodies(pictures["code"])["raw"]),
                 schemas.TextOut)
    assert line["text"].isdigit()


def test_a_sum_that_does_not_evaluate_is_a_200_with_ok_false(client: TestClient, pictures) -> None:
    r = client.post("/api/predict/math", **bodies(pictures["zero"])["raw"])
    body = valid(r, schemas.MathOut)
    assert body["expression"] == "7÷0" and body["ok"] is False and body["value"] is None
    assert "division by zero" in body["message"]


@pytest.mark.parametrize("path", ["/api/predict/char?charset=greek", "/api/predict/text?charset=greek"])
def test_an_unknown_charset_is_422_naming_the_known_ones(client: TestClient, pictures, path: str) -> None:
    error(client.post(path, **bodies(pictures["a"])["raw"]), 422, "charset", *CHARSETS)


@pytest.mark.parametrize(("query", "words"), [("charset=alnum&kinds=vowel", ["unknown kind vowel"]),
                                              ("charset=letters&kinds=digit", ["no digit labels"]),
                                              ("charset=letters&top_k=11", ["top_k"])])
def test_bad_kinds_and_parameters_are_422(client: TestClient, pictures, query: str, words: list[str]) -> None:
    error(client.post(f"/api/predict/char?{query}", **bodies(pictures["a"])["raw"]), 422, *words)


def test_a_set_whose_model_is_missing_is_503(pictures) -> None:
    def missing(name: str):
        raise ModelNotFoundError(f"no model for the {name!r} character set: chars/{name}.onnx is missing")

    with TestClient(create_app(charset_loader=missing)) as c:
        error(c.post("/api/predict/char?charset=letters", **bodies(pictures["a"])["raw"]), 503, "letters",
              "missing")
        error(c.post("/api/predict/math", **bodies(pictures["sum"])["raw"]), 503, "math")
        assert c.post("/api/predict/char?charset=digits", **bodies(pictures["a"])["raw"]).status_code == 200


@pytest.mark.parametrize("path", list(ROUTES))
def test_hostile_and_blank_input_is_refused_as_on_the_number_route(client: TestClient, dot_grid_png: bytes,
                                                                   path: str) -> None:
    blank = png(ink("A").point(lambda _: 255))
    error(client.post(path, **bodies(blank)["raw"]), 422, "no ink")
    error(client.post(path, content=b"\x89PNG nope", headers={"content-type": "image/png"}), 422)
    error(client.post(path, content=b"x" * 6_000_000, headers={"content-type": "image/png"}), 413, "too large")
    error(client.post(path, content=b"<svg/>", headers={"content-type": "image/svg+xml"}), 415)
    error(client.post(path, json={"strokes": [[[1, "a"]]], "width": 280, "height": 280}), 422)
    if path != "/api/predict/char":  # one character is read as one mark whatever it holds
        error(client.post(path, content=dot_grid_png, headers={"content-type": "image/png"}), 422, "too many")


def test_openapi_documents_the_routes_with_their_models(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path, model in ROUTES.items():
        op = spec["paths"][path]["post"]
        assert op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(model.__name__)
        assert {"422", "503"} <= set(op["responses"])
    char_params = {p["name"] for p in spec["paths"]["/api/predict/char"]["post"]["parameters"]}
    assert char_params == {"charset", "top_k", "preview", "kinds"}
    assert spec["paths"]["/api/charsets"]["get"]["responses"]["200"]["content"]["application/json"]["schema"][
        "$ref"].endswith("CharsetList")


def test_the_digit_routes_are_unchanged(client: TestClient, pictures) -> None:
    r = client.post("/api/predict", **bodies(png(ink("7")))["raw"])
    schemas.PredictionOut.model_validate(r.json())
    assert r.json()["label"] == 7
    schemas.NumberOut.model_validate(client.post("/api/predict/number", **bodies(png(ink("2026")))["raw"]).json())

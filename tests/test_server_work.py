"""Bounded work per request (server/work.py) and a model file that stops loading (server/registry.py).

A batch stops at its deadline with a 503 and at its client's hang-up, a batch over the pixel budget is refused
before any image is read, the event loop answers between a batch's images, and a worker whose model file
does not load answers 503 with the reason, tries again with back-off, and serves once the file is right.
Fake predictors count and hold the work, so every test is about what happened, not how long it took.
"""

from __future__ import annotations

import io
import json
import logging
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw

from inkdigit import inference
from inkdigit.errors import ModelNotFoundError
from inkdigit.server import registry as registry_module
from inkdigit.server import work
from inkdigit.server.app import create_app
from inkdigit.server.errors import ModelUnavailableError
from inkdigit.server.registry import ModelRegistry, retry_delay
from inkdigit.server.start import MODEL_ENV, worker_app

HOLD_S = 10  # longest a fake predictor waits to be let go: a test that goes wrong fails instead of hanging


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


SMALL_PNG = png(Image.new("L", (64, 64), 255))


class FakePrediction:
    def to_dict(self, preview: bool = False) -> dict:
        return {"label": 7, "confidence": 0.9}


class FakePredictor:
    """Counts its reads; each waits ``seconds``, or until ``release`` is set when ``hold`` is."""

    name = "fake"

    def __init__(self, seconds: float = 0.0, hold: bool = False) -> None:
        self.seconds = seconds
        self.calls = 0
        self.started = threading.Event()
        self.release = threading.Event()
        self.hold = hold
        self.on_call: Any = None

    def predict(self, data: Any, top_k: int = 3) -> FakePrediction:
        self.calls += 1
        self.started.set()
        if self.on_call is not None:
            self.on_call(self.calls)
        if self.hold:
            self.release.wait(HOLD_S)
        time.sleep(self.seconds)
        return FakePrediction()


def fake_app(predictor: FakePredictor) -> Any:
    return create_app(loader=lambda name: predictor, lister=lambda: [{"name": "fake"}])


def batch_files(count: int, data: bytes = SMALL_PNG) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("files", (f"{i}.png", data, "image/png")) for i in range(count)]


def assert_error(r: httpx.Response, status: int, *words: str) -> str:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert set(body) == {"error"} and "\n" not in body["error"]
    for word in words:
        assert word in body["error"], body["error"]
    return body["error"]


# ---------------------------------------------------------------- bounded work


def test_a_batch_past_its_deadline_is_a_503_and_reads_no_further(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(work, "DEADLINE_S", 0.3)
    predictor = FakePredictor(seconds=0.1)
    with TestClient(fake_app(predictor)) as client:
        r = client.post("/api/predict/batch", files=batch_files(20))
        message = assert_error(r, 503, "deadline", "of 20 images")
        assert 1 <= predictor.calls < 20
        assert f"after {predictor.calls - 1} of" in message or f"after {predictor.calls} of" in message
        monkeypatch.setattr(work, "DEADLINE_S", 30.0)
        predictor.seconds = 0
        assert client.post("/api/predict/batch", files=batch_files(5)).json()["count"] == 5


def test_a_batch_over_the_pixel_budget_is_refused_before_any_image_is_read() -> None:
    predictor = FakePredictor()
    big = png(Image.new("L", (4096, 4096), 255))  # a header's worth of work to look at: 16.8 Mpx each
    with TestClient(fake_app(predictor)) as client:
        assert_error(client.post("/api/predict/batch", files=batch_files(3, big)), 413, "pixels")
        assert predictor.calls == 0
        assert client.post("/api/predict/batch", files=batch_files(3)).json()["count"] == 3


def test_the_pixel_budget_counts_the_headers_of_allowed_formats_only() -> None:
    assert work.image_pixels(png(Image.new("L", (300, 200), 255))) == 60_000
    assert work.image_pixels(b"\x89PNG nope") == 0  # reading it fails on its own, cheaply
    assert work.image_pixels(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 100000 100000\n") == 0


def test_a_client_that_hangs_up_mid_batch_stops_the_batch() -> None:
    """The client goes away while the second image is read: the third is never read, and no 500 is logged."""
    predictor = FakePredictor()
    gone = threading.Event()
    predictor.on_call = lambda calls: gone.set() if calls == 2 else None
    app = fake_app(predictor)
    request = httpx.Request("POST", "http://test/api/predict/batch", files=batch_files(6))
    body = request.read()
    sent: list[dict] = []

    async def receive() -> dict:
        if not sent:
            sent.append({"type": "body"})
            return {"type": "http.request", "body": body, "more_body": False}
        if not gone.is_set():
            await anyio.sleep_forever()  # Request.is_disconnected polls with a cancelled scope: "not yet"
        return {"type": "http.disconnect"}

    answers: list[dict] = []

    async def send(message: dict) -> None:
        answers.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/api/predict/batch", "raw_path": b"/api/predict/batch", "query_string": b"", "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in request.headers.items()],
        "client": ("127.0.0.1", 1), "server": ("test", 80),
    }
    anyio.run(app, scope, receive, send)
    assert predictor.calls == 2
    assert answers[0]["type"] == "http.response.start" and answers[0]["status"] == 499


def test_the_event_loop_answers_between_the_images_of_a_batch() -> None:
    """A batch of 20 slow images blocks the event loop for one image at a time, never for the whole batch:
    /healthz, sent once the first image is being read, is answered while the batch still has images to read."""
    predictor = FakePredictor(seconds=0.1)
    app = fake_app(predictor)

    async def main() -> tuple[int, int, int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            async with anyio.create_task_group() as tasks:
                batch: list[httpx.Response] = []

                async def read() -> None:
                    batch.append(await client.post("/api/predict/batch", files=batch_files(20)))

                tasks.start_soon(read)
                while not predictor.calls:
                    await anyio.sleep(0.01)
                health = await client.get("/healthz")
                read_by_then = predictor.calls
            return health.status_code, read_by_then, batch[0].json()["count"]

    status, read_by_then, count = anyio.run(main)
    assert status == 200 and count == 20
    assert read_by_then < 20, "the batch held the event loop until it was done"


def test_a_dot_grid_on_the_number_route_is_refused_as_too_many_marks(dot_grid_png: bytes) -> None:
    with TestClient(create_app("paper")) as client:
        r = client.post("/api/predict/number", content=dot_grid_png, headers={"Content-Type": "image/png"})
        assert_error(r, 422, "too many separate marks")


# ---------------------------------------------------------------- a model file that does not load


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_retry_delays_double_from_one_second_up_to_a_minute() -> None:
    assert [retry_delay(n) for n in range(1, 10)] == [1, 2, 4, 8, 16, 32, 60, 60, 60]


def test_a_model_that_does_not_load_is_tried_again_on_the_back_off_schedule() -> None:
    clock = Clock()
    tries: list[float] = []
    good = FakePredictor()

    def loader(name: str | None) -> Any:
        tries.append(clock.now)
        if len(tries) <= 3:
            raise ModelNotFoundError(f"{name}: not a loadable ONNX model (truncated)")
        return good

    registry = ModelRegistry("m.onnx", loader=loader, lister=lambda: [], keep_trying=True, clock=clock)
    assert not registry.ready and tries == [100.0]
    for now in (100.5, 100.99):  # inside the first second: no new try, the reason and the wait
        clock.now = now
        with pytest.raises(ModelUnavailableError, match=r"truncated.*next try in 1 s") as unavailable:
            registry.get(None)
        assert unavailable.value.retry_after == pytest.approx(101 - now)
    clock.now = 101.0
    with pytest.raises(ModelUnavailableError, match="next try in 2 s"):
        registry.get(None)
    clock.now = 102.9
    with pytest.raises(ModelUnavailableError):
        registry.get(None)
    clock.now = 103.0
    with pytest.raises(ModelUnavailableError, match="next try in 4 s"):
        registry.get(None)
    assert tries == [100.0, 101.0, 103.0]
    clock.now = 107.0
    assert registry.get(None) is good and registry.ready
    assert registry.get(None) is good and tries == [100.0, 101.0, 103.0, 107.0]


def test_without_keep_trying_a_model_that_does_not_load_fails_at_once() -> None:
    def loader(name: str | None) -> Any:
        raise ModelNotFoundError("m.onnx: not a loadable ONNX model")

    with pytest.raises(ModelNotFoundError):
        ModelRegistry("m.onnx", loader=loader, lister=lambda: [])
    with pytest.raises(ModelNotFoundError, match="not found"):  # keep_trying or not, a name that is no model
        ModelRegistry("no-such-model", keep_trying=True)


@pytest.fixture
def model_file(tmp_path: Path) -> Iterator[Path]:
    """A copy of the bundled paper model, for a test to break and mend."""
    path = tmp_path / "model.onnx"
    shutil.copyfile(inference.resolve_model("paper"), path)
    yield path


@pytest.fixture
def logged() -> Iterator[list[str]]:
    """The messages logged on uvicorn's error logger, where the server's log lines go."""
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("uvicorn.error")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield lines
    logger.removeHandler(handler)
    logger.setLevel(old_level)


def test_a_worker_whose_model_file_is_broken_serves_503_and_recovers_when_it_is_mended(
    model_file: Path, monkeypatch: pytest.MonkeyPatch, logged: list[str]
) -> None:
    good = model_file.read_bytes()
    model_file.write_bytes(good[: len(good) // 3])  # corrupted after `serve` checked it
    monkeypatch.setenv(MODEL_ENV, str(model_file))
    monkeypatch.setattr(registry_module, "FIRST_RETRY_S", 0.0)  # every request may try again
    with TestClient(worker_app()) as client:  # the worker starts instead of exiting
        health = client.get("/healthz")
        assert_error(health, 503, "model unavailable", "model.onnx", "not a loadable ONNX model")
        assert int(health.headers["retry-after"]) >= 1
        assert_error(client.post("/api/predict", content=SMALL_PNG, headers={"Content-Type": "image/png"}), 503,
                     "model unavailable")
        assert_error(client.post("/api/predict/batch", files=batch_files(2)), 503, "model unavailable")
        assert_error(client.get("/api/models"), 503, "model unavailable")
        assert len(logged) >= 4 and all("model unavailable" in line and "model.onnx" in line for line in logged)

        model_file.write_bytes(good)
        health = client.get("/healthz")
        assert health.status_code == 200 and health.json()["model"] == "paper"
        assert "loaded after" in logged[-1]
        seven = Image.new("L", (280, 280), 255)
        ImageDraw.Draw(seven).line([(78, 62), (202, 62), (168, 126), (126, 224)], fill=0, width=20)
        r = client.post("/api/predict", content=png(seven), headers={"Content-Type": "image/png"})
        assert r.status_code == 200 and r.json()["label"] == 7


def test_a_model_that_does_not_load_at_start_up_is_still_an_error_there(model_file: Path) -> None:
    model_file.write_bytes(b"not a model")
    with pytest.raises(ModelNotFoundError, match="not a loadable ONNX model"):
        create_app(str(model_file))


def test_the_503_answer_names_its_retry_time_in_json(model_file: Path) -> None:
    model_file.write_bytes(b"not a model")
    with TestClient(create_app(str(model_file), keep_trying=True)) as client:
        r = client.get("/healthz")
        assert_error(r, 503, "next try in")
        assert json.loads(r.content) == r.json()


# ---------------------------------------------------------------- memory given back


def test_the_app_gives_freed_memory_back_while_it_serves(monkeypatch: pytest.MonkeyPatch) -> None:
    from inkdigit.server import memory

    trimmed = threading.Event()
    monkeypatch.setattr(memory, "TRIM_EVERY_S", 0.01)
    monkeypatch.setattr(memory, "malloc_trim", lambda: lambda pad: trimmed.set() or 1)
    with TestClient(fake_app(FakePredictor())) as client:
        assert client.get("/healthz").status_code == 200
        assert trimmed.wait(HOLD_S)

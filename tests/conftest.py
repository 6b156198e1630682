"""Shared fixtures: a tiny generated IDX dataset registered under its own name, and the real MNIST."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from inkdigit.data import DATASETS, dataset_dir, idx, load
from inkdigit.data.registry import DatasetFile, DatasetSpec

OUTPUT = Path(__file__).resolve().parents[1] / "test-output"
SRC = Path(__file__).resolve().parents[1] / "src"


def make_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Learnable fake digits: class k is a bright bar at row 2+2k with a little noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n)
    x = (rng.random((n, 28, 28)) * 40).astype(np.uint8)
    for i, k in enumerate(y):
        x[i, 2 + 2 * k : 4 + 2 * k, 4:24] = 255
    return x, y.astype(np.uint8)


def tiny_spec(name: str, arrays: dict[str, np.ndarray], mirrors: tuple[str, ...] = ()) -> DatasetSpec:
    """A DatasetSpec whose pinned checksums match `arrays` (keys: train_images, ...)."""
    names = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
             "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}
    files = {k: DatasetFile(names[k], hashlib.sha256(idx.idx_bytes(a)).hexdigest(), a.shape)
             for k, a in arrays.items()}
    return DatasetSpec(name=name, description="generated", labels=tuple("0123456789"), mirrors=mirrors,
                       npm_package=None, manual_hint="the four files", **files)


def tiny_arrays(n_train: int = 600, n_test: int = 200) -> dict[str, np.ndarray]:
    xtr, ytr = make_images(n_train, 1)
    xte, yte = make_images(n_test, 2)
    return {"train_images": xtr, "train_labels": ytr, "test_images": xte, "test_labels": yte}


@pytest.fixture
def tiny_data(tmp_path, monkeypatch) -> Path:
    """A generated dataset 'tiny' written to a temp data dir, registered for the test; returns the data dir."""
    arrays = tiny_arrays()
    spec = tiny_spec("tiny", arrays)
    monkeypatch.setitem(DATASETS, "tiny", spec)
    data_dir = tmp_path / "data"
    folder = dataset_dir(spec, data_dir)
    for key, f in zip(arrays, spec.files):
        idx.write_idx(folder / f.name, arrays[key])
    return data_dir


@pytest.fixture(scope="session")
def dot_grid_png() -> bytes:
    """The hostile-client issue's reproduction: a 512x512 PNG of a 40x40 grid of dots (1,600 marks), once
    cubic work for the number reader."""
    import io

    from PIL import Image, ImageDraw

    img = Image.new("L", (512, 512), 255)
    pen = ImageDraw.Draw(img)
    for i in range(40):
        for j in range(40):
            x, y = 6 + 12.5 * i, 6 + 12.5 * j
            pen.ellipse((x - 3, y - 3, x + 3, y + 3), fill=0)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="session")
def mnist_test() -> tuple[np.ndarray, np.ndarray]:
    """The real MNIST test set from the cache (make test fetches it first); fails, never skips, without it."""
    return load("mnist", "test")


@pytest.fixture(scope="session")
def output_dir() -> Path:
    """test-output/ in the repo (git-ignored): screenshots and reports a person can look at."""
    OUTPUT.mkdir(exist_ok=True)
    return OUTPUT


@contextlib.contextmanager
def serving(*args: str) -> Iterator[tuple[subprocess.Popen, str]]:
    """`inkdigit serve ARGS` on a free loopback port, in its own process group, once it answers /healthz:
    (process, URL). Stopped with SIGTERM at the end (killed, with its workers, if it does not stop)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "inkdigit", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
        start_new_session=True,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        match = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert match, f"server did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}"
        url = match.group(0)
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(url + "healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def serve_process() -> Callable[..., contextlib.AbstractContextManager[tuple[subprocess.Popen, str]]]:
    """`serving` above, for tests that start servers of their own."""
    return serving


@pytest.fixture(scope="session")
def live_url() -> Iterator[str]:
    """The real server with the bundled default model and two worker processes; its URL."""
    with serving("--workers", "2") as (_, url):
        yield url


# ---------------------------------------------------------------- displays: Xvfb and Chromium (GUI, page tests)


@pytest.fixture(scope="session")
def xdisplay() -> Iterator[str]:
    """A private Xvfb for the session (it picks a free display number); a missing Xvfb fails with the fix."""
    import displays  # scripts/displays.py, shared with the screenshot scripts

    try:
        proc, display = displays.start_xvfb()
    except displays.DisplayError as exc:
        pytest.fail(str(exc), pytrace=False)
    old = os.environ.get("DISPLAY")
    os.environ["DISPLAY"] = display
    yield display
    if old is None:
        os.environ.pop("DISPLAY", None)
    else:
        os.environ["DISPLAY"] = old
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the session; a missing chromium is a failure with the fix in the message."""
    import displays
    from playwright.sync_api import sync_playwright

    try:
        exe = displays.chromium()
    except displays.DisplayError as exc:
        pytest.fail(f"the web page tests need it: {exc}", pytrace=False)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=displays.CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, live_url: str, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A desktop-sized page on the app, screenshotted to test-output/web-<test>.png when the test ends.

    Fails the test on any JavaScript error or any request to another host (the page must work offline).
    """
    # Reduced motion: the page then skips its cosmetic transitions, which keeps software rendering quick.
    context = browser.new_context(
        viewport={"width": 1200, "height": 860}, device_scale_factor=1, reduced_motion="reduce"
    )
    pg = context.new_page()
    problems: list[str] = []
    pg.on("pageerror", lambda e: problems.append(f"error: {e}"))
    pg.on(
        "request",
        lambda r: None if r.url.startswith((live_url, "data:", "blob:")) else problems.append(r.url),
    )
    pg.goto(live_url)
    pg.wait_for_function("() => window.inkdigit !== undefined")
    yield pg
    OUTPUT.mkdir(exist_ok=True)
    if not pg.is_closed():
        pg.screenshot(path=str(OUTPUT / f"web-{request.node.name}.png"))
    context.close()
    assert not problems, f"page errors or requests to other hosts: {problems}"


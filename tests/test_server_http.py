"""`inkdigit serve`'s HTTP layer against careless and hostile clients: a size limit on a request's head, timeouts
for requests that never finish, refusals a client that sends its whole body first can still read, the Host
check against DNS rebinding, IPv6 addresses, and a TIFF's metadata warnings kept out of the log.

Most tests speak raw HTTP over sockets to a real server: the session's `inkdigit serve --workers 2`
(`live_url`), or one run in a thread of this process where a test needs 1-second timeouts.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import select
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from inkdigit import cli
from inkdigit.errors import ServeError
from inkdigit.server import protocol, start
from inkdigit.server.app import create_app
from inkdigit.server.hosts import allowed_hosts

SRC = Path(__file__).resolve().parents[1] / "src"
CLOSE_SECONDS = 10  # "closed within": generous, the timeouts under test are 1 s


def address(url: str) -> tuple[str, int]:
    match = re.match(r"http://\[?([^\]/]+?)\]?:(\d+)/", url)
    assert match, url
    return match.group(1), int(match.group(2))


def exchange(url: str, data: bytes, timeout: float = 30) -> bytes:
    """Send ``data`` on a new connection (all of it, as far as the server lets), then read until it closes."""
    with socket.create_connection(address(url), timeout=timeout) as s:
        with contextlib.suppress(OSError):  # a server that refused early may stop reading
            s.sendall(data)
        return read_all(s)


def read_all(s: socket.socket) -> bytes:
    out = b""
    while chunk := s.recv(65536):
        out += chunk
    return out


def error_answer(raw: bytes, status: int) -> str:
    """The error message of a raw HTTP answer, checking its status and that its body is {"error": one line}."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0].startswith(f"HTTP/1.1 {status} "), raw[:300]
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    assert headers["content-type"] == "application/json", headers
    doc = json.loads(body)
    assert set(doc) == {"error"} and "\n" not in doc["error"], doc
    return doc["error"]


def get(url: str, path: str, host: str, head: bytes = b"") -> bytes:
    return exchange(url, b"GET " + path.encode() + b" HTTP/1.1\r\nHost: " + host.encode() + b"\r\n" + head
                    + b"Connection: close\r\n\r\n")


# ---------------------------------------------------------------- limits on a request's head


def test_a_head_over_16_kib_is_431_with_a_json_body(live_url: str) -> None:
    answer = get(live_url, "/healthz", "localhost", b"X-Big: " + b"a" * 64 * 1024 + b"\r\n")
    assert "16 KiB" in error_answer(answer, 431)


def test_an_overlong_url_is_414_with_a_json_body(live_url: str) -> None:
    answer = get(live_url, "/healthz?q=" + "a" * 64 * 1024, "localhost")
    assert "URL too long" in error_answer(answer, 414)


def test_a_malformed_request_is_400_with_a_json_body(live_url: str) -> None:
    assert "bad HTTP request" in error_answer(exchange(live_url, b"NONSENSE\r\n\r\n"), 400)


def test_a_head_within_the_limit_is_served(live_url: str) -> None:
    answer = get(live_url, "/healthz", "localhost", b"X-Fine: " + b"a" * 12 * 1024 + b"\r\n")
    assert answer.startswith(b"HTTP/1.1 200 ")


# ---------------------------------------------------------------- refusals every client can read


def test_urllib_sending_a_body_over_the_limit_reads_the_413(live_url: str) -> None:
    """urllib sends the whole body before it reads: the server drains it instead of resetting the connection."""
    request = urllib.request.Request(live_url + "api/predict", data=b"\0" * 6_000_000,
                                     headers={"Content-Type": "image/png"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 413
    assert json.loads(refused.value.read()) == {"error": "image too large: the limit is 5 MB"}


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app()) as c:
        yield c


def test_limits_are_stated_in_round_units(client: TestClient) -> None:
    big = ("big.png", b"\0" * 5_100_000, "image/png")
    r = client.post("/api/predict", files={"file": big})
    assert r.status_code == 413 and r.json() == {"error": "image too large: the limit is 5 MB"}
    r = client.post("/api/predict/batch", files=[("files", big)] * 5)
    assert r.status_code == 413 and r.json() == {"error": "request too large: the limit is 25 MB"}


def test_a_bug_is_a_500_with_a_json_body() -> None:
    app = create_app()

    async def boom() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/boom", boom)
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/boom")
    assert r.status_code == 500 and r.headers["content-type"] == "application/json"
    assert r.json() == {"error": "internal server error"}


# ---------------------------------------------------------------- requests that never finish


@contextlib.contextmanager
def server_in_thread(app: object) -> Iterator[str]:
    """`serve`'s uvicorn settings around ``app`` in a thread of this process (so a test can shorten the
    timeouts); uvicorn's log goes to the root logger, where caplog sees it. Yields the URL."""
    sock = start.bind("127.0.0.1", 0)
    sock.listen(16)
    server = uvicorn.Server(uvicorn.Config(app, **{**start.UVICORN_SETTINGS, "log_config": None}))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def test_requests_that_never_finish_are_closed(monkeypatch: pytest.MonkeyPatch,
                                               caplog: pytest.LogCaptureFixture) -> None:
    """Idle after connecting, half a request line, half the headers, half a body: each is closed within the
    timeouts (1 s here), the last three with a 408 the client can read; a stalled upload logs no error."""
    for name in ("HEAD_TIMEOUT", "BODY_TIMEOUT", "LINGER_SECONDS"):
        monkeypatch.setattr(protocol, name, 1.0)
    starts = {
        "idle": b"",
        "half a request line": b"GET /hea",
        "half the headers": b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nAccept: ",
        "half a body": b"POST /api/predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: image/png\r\n"
                       b"Content-Length: 1000\r\n\r\n" + b"\x89PNG" + b"\0" * 100,
    }
    caplog.set_level(logging.WARNING)
    with server_in_thread(create_app()) as url:
        sockets = {what: socket.create_connection(address(url), timeout=CLOSE_SECONDS) for what in starts}
        for what, data in starts.items():
            sockets[what].sendall(data)
        answers = {}
        for what, s in sockets.items():
            with s:
                answers[what] = read_all(s)  # the socket's timeout fails the test if the server keeps it open
    assert answers["idle"] == b""
    for what in ("half a request line", "half the headers"):
        assert "did not arrive within 1 s" in error_answer(answers[what], 408)
    assert "no part of the body arrived for 1 s" in error_answer(answers["half a body"], 408)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


def test_a_body_trickling_in_is_refused_once_it_falls_under_the_minimum_rate(monkeypatch: pytest.MonkeyPatch
                                                                             ) -> None:
    """A few bytes a second never stall the body, but once BODY_TIMEOUT (1 s here) has passed the body must
    average MIN_BODY_RATE: a 4-byte-a-tick trickle is answered 408 and closed, not held open for hours."""
    for name in ("HEAD_TIMEOUT", "BODY_TIMEOUT", "LINGER_SECONDS"):
        monkeypatch.setattr(protocol, name, 1.0)
    monkeypatch.setattr(protocol, "MIN_BODY_RATE", 1000.0)
    with server_in_thread(create_app()) as url, socket.create_connection(address(url), timeout=CLOSE_SECONDS) as s:
        s.sendall(b"POST /api/predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: image/png\r\n"
                  b"Content-Length: 100000\r\n\r\n")
        deadline = time.monotonic() + CLOSE_SECONDS
        # A trickle, well under a second between pieces (never a stall), until the server's answer arrives.
        while not select.select([s], [], [], 0.2)[0]:
            assert time.monotonic() < deadline, "the trickling body was never refused"
            s.sendall(b"\0\0\0\0")
        answer = read_all(s)
    assert "under the 1000 bytes/s a body must average" in error_answer(answer, 408)


# ---------------------------------------------------------------- Host header (DNS rebinding)


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::1]"])
def test_a_loopback_server_answers_to_the_loopback_names(live_url: str, host: str) -> None:
    port = address(live_url)[1]
    assert get(live_url, "/healthz", f"{host}:{port}").startswith(b"HTTP/1.1 200 ")


def test_a_loopback_server_refuses_other_hosts_with_json(live_url: str) -> None:
    """A page on evil.example whose name was re-pointed at 127.0.0.1 reaches the port, but not the app."""
    port = address(live_url)[1]
    message = error_answer(get(live_url, "/api/models", f"evil.example:{port}"), 400)
    assert "evil.example" in message and "--allowed-hosts" in message


def test_allowed_hosts_replace_the_defaults() -> None:
    app = create_app(allowed_hosts=allowed_hosts(["digits.example", "*.lan"], loopback=True, bound="127.0.0.1"))
    with TestClient(app) as c:
        assert c.get("/healthz", headers={"Host": "digits.example:8000"}).status_code == 200
        assert c.get("/healthz", headers={"Host": "pi.lan"}).status_code == 200
        r = c.get("/healthz", headers={"Host": "localhost"})
        assert r.status_code == 400 and set(r.json()) == {"error"}
    with TestClient(create_app(allowed_hosts=allowed_hosts(["*"], loopback=True, bound="::1"))) as c:
        assert c.get("/healthz", headers={"Host": "anything.example"}).status_code == 200


def test_allowed_hosts_defaults_and_mistakes() -> None:
    assert allowed_hosts(None, loopback=True, bound="127.0.0.2") == ["localhost", "127.0.0.1", "[::1]", "127.0.0.2"]
    assert allowed_hosts(None, loopback=True, bound="::1") == ["localhost", "127.0.0.1", "[::1]"]
    assert allowed_hosts(None, loopback=False, bound="0.0.0.0") == ["*"]
    assert allowed_hosts(["::1", "Digits.Example"], loopback=False, bound="::") == ["[::1]", "digits.example"]
    for bad in (["localhost:8000"], ["a.*.example"], ["*example.com"], [""]):
        with pytest.raises(ServeError, match="--allowed-hosts"):
            allowed_hosts(bad, loopback=True, bound="127.0.0.1")


def test_allowed_hosts_flag_reaches_serve(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setattr(start, "serve", lambda *args: calls.append(args))
    assert cli.main(["serve", "--allowed-hosts", "a.example,b.example", "--allowed-hosts", "c.example"]) == 0
    assert cli.main(["serve"]) == 0
    assert calls[0][-1] == ["a.example", "b.example", "c.example"] and calls[1][-1] is None


# ---------------------------------------------------------------- IPv6


@pytest.mark.parametrize("host", ["::1", "[::1]"])
def test_serving_on_the_ipv6_loopback(host: str) -> None:
    assert socket.has_ipv6, "this machine has no IPv6: the test needs the ::1 loopback address"
    args = ["serve", "--host", host, "--port", "0", "--workers", "0"]
    proc = subprocess.Popen([sys.executable, "-m", "inkdigit", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"})
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        match = re.search(r"http://\[::1\]:\d+/", line)
        assert match, f"server did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}"
        deadline = time.monotonic() + 20
        while True:
            try:
                r = httpx.get(match.group(0) + "healthz", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "no answer on ::1"
                time.sleep(0.1)
        assert r.status_code == 200 and r.json()["status"] == "ok"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# ---------------------------------------------------------------- the log


def test_refused_requests_do_not_write_a_log_line_each(caplog: pytest.LogCaptureFixture) -> None:
    """An attacker sending one oversized or malformed head after another gets its JSON 4xx each time, and the
    log stays quiet: a line per refused request would fill it (and the disk) at the attacker's pace."""
    caplog.set_level(logging.DEBUG)
    with server_in_thread(create_app()) as url:
        for head in (b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"a" * 65536 + b"\r\n\r\n",
                     b"NOT HTTP AT ALL\r\n\r\n") * 3:
            with socket.create_connection(address(url), timeout=CLOSE_SECONDS) as s:
                s.sendall(head)
                assert read_all(s).startswith((b"HTTP/1.1 431 ", b"HTTP/1.1 400 "))
    assert "Invalid HTTP request" not in caplog.text


def tiff_with_bad_tags(count: int = 200, side: int = 64) -> bytes:
    """A PackBits TIFF (so libtiff decodes it) of a stroke, with ``count`` private tags whose data would lie
    far past the end of the file: Pillow skips each with a warning."""
    strip = b"".join(bytes([side - 1]) + bytes(0 if x == side // 2 else 255 for x in range(side))
                     for _ in range(side))
    entries = [(256, 3, 1, side), (257, 3, 1, side), (258, 3, 1, 8), (259, 3, 1, 32773), (262, 3, 1, 1),
               (273, 4, 1, 0), (277, 3, 1, 1), (278, 3, 1, side), (279, 4, 1, len(strip))]
    entries += [(40000 + i, 4, 1_000_000, 10_000_000) for i in range(count)]
    strip_at = 8 + 2 + 12 * len(entries) + 4
    out = b"II*\0" + struct.pack("<IH", 8, len(entries))
    for tag, kind, n, value in entries:
        value = strip_at if tag == 273 else value
        out += struct.pack("<HHI", tag, kind, n)
        out += struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value)
    return out + b"\0\0\0\0" + strip


def test_a_tiff_full_of_bad_tags_decodes_without_writing_to_stderr(tmp_path: Path) -> None:
    """In a fresh interpreter, with Python's default warning filters (pytest's own would hide the flood)."""
    path = tmp_path / "tags.tif"
    path.write_bytes(tiff_with_bad_tags())
    code = ("import sys\nfrom inkdigit.vision.decode import to_picture\n"
            "print(to_picture(open(sys.argv[1], 'rb').read(), 4096)[0].size)")
    r = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60,
                       env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0 and r.stdout.strip() == "(64, 64)", r.stderr
    assert r.stderr == ""

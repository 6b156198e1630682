"""Load test of `inkdigit serve`: latency, throughput and server memory under concurrent canvas uploads.

Starts the real server in a subprocess on a free loopback port, then a keep-alive HTTP/1.1 load generator
(raw asyncio sockets, so the client costs little CPU) posts a 280x280 PNG of a drawn digit, the way the
web page does, from --concurrency connections. Bounded by --requests and --max-seconds; all traffic stays
on 127.0.0.1.

    python benchmarks/serve_load.py --requests 20000 --concurrency 8 --max-seconds 120
    python benchmarks/serve_load.py --requests 20000 --concurrency 8 --rate 500   # latency at 500 requests/s

Closed loop (the default), each connection sends its next request as soon as the last is answered, so
the server is saturated and latency = concurrency / throughput (Little's law). Open loop (--rate) offers
a fixed rate and measures latency from when each request was due, the way real traffic sees it.

--new-connections opens a new connection for every request (sent with `Connection: close`), the way one-off
clients do; its latency includes connecting. --rounds repeats the run, each time with a fresh server, one line
each: which worker each keep-alive connection lands on is up to the kernel, so runs differ.

    python benchmarks/serve_load.py --requests 8000 --rounds 3
    python benchmarks/serve_load.py --requests 8000 --rounds 3 --new-connections
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import re
import select
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
START_SECONDS = 120  # longest a server may take to start all its processes
IDLE_SECONDS = 0.5  # a server whose processes use under 5 % of this much CPU time in this long has started
REQUEST_SECONDS = 30  # longest one request may take before the run is called stuck


def canvas_png(side: int = 280, pen: int = 20) -> bytes:
    """A "7" as the page sends it: black anti-aliased strokes on white, side x side PNG."""
    big = 4  # draw 4x larger and shrink: anti-aliased edges like a browser canvas
    img = Image.new("L", (side * big, side * big), 255)
    draw = ImageDraw.Draw(img)
    pts = [(0.28, 0.22), (0.72, 0.22), (0.6, 0.45), (0.45, 0.8)]
    xy = [(x * side * big, y * side * big) for x, y in pts]
    draw.line(xy, fill=0, width=pen * big, joint="curve")
    r = pen * big / 2
    for x, y in (xy[0], xy[-1]):
        draw.ellipse([x - r, y - r, x + r, y + r], fill=0)
    img = img.resize((side, side), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def rss_mib(pid: int) -> float:
    """Resident memory of a process in MiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def children(pid: int) -> list[int]:
    """The child processes of a process (the server's worker processes), Linux /proc."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(c) for c in path.read_text().split()] if path.exists() else []


def tree_rss_mib(pid: int) -> float:
    """RSS of a process plus its children (the server's worker processes and multiprocessing's tracker)."""
    return rss_mib(pid) + sum(rss_mib(child) for child in children(pid))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far (Linux /proc), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> dict[str, float]:
    """CPU seconds of the server process and of its children (the worker processes) together."""
    return {"server": cpu_seconds(pid), "workers": sum(cpu_seconds(child) for child in children(pid)),
            "client": time.process_time()}


def start_server(model: str | None, workers: int | None) -> tuple[subprocess.Popen, str, int, int]:
    """`serve` in a subprocess (its own process group) on 127.0.0.1, once all its processes have loaded their
    models; returns (process, host, port, worker processes: 0 when it serves alone)."""
    from inkdigit.server.start import default_workers

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO / "src"), env.get("PYTHONPATH")) if p)
    code = (
        "import sys; from inkdigit.server.start import serve; "
        "serve('127.0.0.1', 0, sys.argv[1] or None, None if sys.argv[2] == '' else int(sys.argv[2]), [])"
    )
    args = [model or "", "" if workers is None else str(workers)]
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, env=env,
                            start_new_session=True)
    count = default_workers() if workers is None else workers
    try:
        line = read_line(proc, START_SECONDS)
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        if not match:
            raise SystemExit(f"server did not start: {line!r}")
        wait_until_idle(proc.pid, count if count > 1 else 0, START_SECONDS)  # 0 or 1: no worker processes
        return proc, "127.0.0.1", int(match.group(1)), count
    except BaseException:
        stop_server(proc)
        raise


def wait_until_idle(pid: int, workers: int, timeout: float) -> None:
    """Wait until the server has its ``workers`` worker processes and none of its processes is busy: each has
    loaded its models and serves (`serve` prints its URL once it listens, while its workers still load)."""

    def cpu_used() -> float:
        cpu = tree_cpu_seconds(pid)
        return cpu["server"] + cpu["workers"]

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = cpu_used()
        time.sleep(IDLE_SECONDS)
        spawned = [c for c in children(pid) if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]
        if len(spawned) >= workers and cpu_used() - before < IDLE_SECONDS * 0.05:
            return
    raise SystemExit(f"the server's processes were still busy after {timeout:g} s")


def read_line(proc: subprocess.Popen, timeout: float) -> str:
    """The next line the server prints, or what it printed so far when it exits or ``timeout`` passes."""
    assert proc.stdout is not None
    fd, data = proc.stdout.fileno(), b""
    deadline = time.monotonic() + timeout
    while not data.endswith(b"\n") and time.monotonic() < deadline:
        if select.select([fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
            byte = os.read(fd, 1)  # one byte at a time: nothing of the next line is read ahead
            if not byte:
                break
            data += byte
    return data.decode(errors="replace")


def stop_server(proc: subprocess.Popen) -> None:
    """Stop the server (SIGTERM, as a service manager does), then kill whatever is left of its process group."""
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        print(f"server {proc.pid} did not stop: killed", file=sys.stderr)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # any worker left behind
    proc.wait()


class Connection:
    """One HTTP/1.1 client that sends the same request over and over: on one keep-alive connection, or
    (``reuse=False``) on a new connection each time, opened as part of the request."""

    def __init__(self, host: str, port: int, request: bytes, reuse: bool = True) -> None:
        self.host, self.port, self.request, self.reuse = host, port, request, reuse
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.answered = 0

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def roundtrip(self) -> tuple[int, bytes]:
        """Send the request, read one full response; returns (status, body)."""
        if self.writer is None:
            await self.open()
        assert self.reader is not None and self.writer is not None
        self.writer.write(self.request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        match = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
        body = await self.reader.readexactly(int(match.group(1))) if match else b""
        self.answered += 1
        if not self.reuse or re.search(rb"(?i)\r\nconnection:\s*close", head):
            self.close()
        return status, body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def wait_ready(host: str, port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    get = f"GET /healthz HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    while True:
        try:
            status, _ = await Connection(host, port, get, reuse=False).roundtrip()
            if status == 200:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("server did not answer /healthz")
        await asyncio.sleep(0.1)


async def watched(conns: list[Connection], work: Awaitable[Any]) -> Any:
    """Await ``work``; stop the run if no connection gets an answer for REQUEST_SECONDS (a stuck server)."""
    task = asyncio.ensure_future(work)
    seen = sum(c.answered for c in conns)
    while not (await asyncio.wait({task}, timeout=REQUEST_SECONDS))[0]:
        if sum(c.answered for c in conns) == seen:
            task.cancel()
            raise SystemExit(f"no answer for {REQUEST_SECONDS} s: the server is stuck")
        seen = sum(c.answered for c in conns)
    return task.result()


async def run_load(args: argparse.Namespace, host: str, port: int, server_pid: int, workers: int) -> dict:
    png = canvas_png()
    path = "/api/predict" + ("?preview=true" if args.preview else "")
    close = "Connection: close\r\n" if args.new_connections else ""
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: image/png\r\n{close}"
        f"Content-Length: {len(png)}\r\n\r\n"
    ).encode() + png
    if args.healthz:  # the HTTP stack alone, without reading an image: what the server costs per request
        request = f"GET /healthz HTTP/1.1\r\nHost: {host}:{port}\r\n{close}\r\n".encode()
    await wait_ready(host, port)

    conns = [Connection(host, port, request, reuse=not args.new_connections) for _ in range(args.concurrency)]
    if not args.new_connections:  # all keep-alive connections exist before the first request, as a page's do
        for c in conns:
            await c.open()
    status, body = await watched(conns, conns[0].roundtrip())
    first = json.loads(body)
    if args.healthz:
        first = {"label": 7, "confidence": 1.0, "model": first.get("model")}
    if status != 200 or first.get("label") != 7:
        raise SystemExit(f"unexpected answer: {status} {body[:200]!r}")

    # Warm up (first requests pay for lazy imports, allocator growth, thread start).
    async def warm(conn: Connection) -> None:
        for _ in range(max(1, args.warmup // len(conns))):
            await conn.roundtrip()

    await watched(conns, asyncio.gather(*(warm(c) for c in conns)))

    latencies: list[float] = []
    errors = 0
    rss = {"start": tree_rss_mib(server_pid)}
    remaining = args.requests
    deadline = time.perf_counter() + args.max_seconds
    half = args.requests // 2

    cpu_start = tree_cpu_seconds(server_pid)
    t_start = time.perf_counter()
    next_request = 0

    async def worker(conn: Connection) -> None:
        nonlocal remaining, errors, next_request
        while remaining > 0 and time.perf_counter() < deadline:
            remaining -= 1
            if args.rate:
                # Open loop: request i is due at t_start + i/rate whether or not earlier ones are done, and
                # its latency counts from then (a request waiting for a free connection is late, not fast).
                due = t_start + next_request / args.rate
                next_request += 1
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                t0 = due
            else:
                t0 = time.perf_counter()
            code, _ = await conn.roundtrip()
            latencies.append(time.perf_counter() - t0)
            if code != 200:
                errors += 1
            if len(latencies) == half:
                rss["middle"] = tree_rss_mib(server_pid)

    await watched(conns, asyncio.gather(*(worker(c) for c in conns)))
    wall = time.perf_counter() - t_start
    cpu_end = tree_cpu_seconds(server_pid)
    rss["end"] = tree_rss_mib(server_pid)
    rss.setdefault("middle", rss["end"])
    for c in conns:
        c.close()

    lat_ms = sorted(x * 1000 for x in latencies)

    def pct(p: float) -> float:
        return lat_ms[min(len(lat_ms) - 1, int(p / 100 * len(lat_ms)))]

    return {
        "new_connections": args.new_connections,
        "requests": len(lat_ms),
        "errors": errors,
        "concurrency": args.concurrency,
        "offered_rate": args.rate,
        "workers": workers,
        "seconds": round(wall, 2),
        "requests_per_s": round(len(lat_ms) / wall, 1),
        "p50_ms": round(pct(50), 2),
        "p90_ms": round(pct(90), 2),
        "p99_ms": round(pct(99), 2),
        "max_ms": round(lat_ms[-1], 2),
        "mean_ms": round(statistics.fmean(lat_ms), 2),
        "png_bytes": len(png),
        "preview": args.preview,
        "server_rss_mib": {k: round(v, 1) for k, v in rss.items()},
        # Where the CPU goes, per request: the server process (with workers: uvicorn's supervisor, which only
        # watches them), its worker processes, this load generator.
        "cpu_ms_per_request": {k: round((cpu_end[k] - cpu_start[k]) * 1000 / len(lat_ms), 3) for k in cpu_end},
        "answer": {"label": first["label"], "confidence": first["confidence"], "model": first.get("model")},
        "cpus": os.cpu_count(),
    }


def main() -> int:
    args = parse_args()
    failed = False
    for _ in range(args.rounds):
        result = measure(args)
        failed |= result["errors"] > 0
        print(json.dumps(result) if args.json else result_line(result), flush=True)
        if args.rounds == 1 and not args.json:
            print(report(result), flush=True)
    return 1 if failed else 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=20000, help="measured requests in all")
    parser.add_argument("--concurrency", type=int, default=8,
                        help="parallel clients: keep-alive connections, or with --new-connections clients that "
                        "each open a connection per request")
    parser.add_argument("--max-seconds", type=float, default=120, help="stop measuring after this long")
    parser.add_argument("--warmup", type=int, default=400, help="unmeasured requests first")
    parser.add_argument("--rate", type=float, default=None,
                        help="open loop: offer this many requests/s (at most --concurrency in flight) instead of "
                        "sending the next request as soon as the previous one is answered")
    parser.add_argument("--new-connections", action="store_true",
                        help="a new connection for every request (Connection: close) instead of keep-alive ones")
    parser.add_argument("--rounds", type=int, default=1, help="run this many times, each with a fresh server")
    parser.add_argument("--workers", type=int, default=None,
                        help="server processes (default: serve's own default, one per core)")
    parser.add_argument("--model", default=None, help="model name or path (default: the bundled default)")
    parser.add_argument("--preview", action="store_true", help="ask for previews too, as the web page does")
    parser.add_argument(
        "--healthz", action="store_true", help="load GET /healthz instead (HTTP overhead only)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object per run instead of a report")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return args


def measure(args: argparse.Namespace) -> dict:
    """Start the server, load it, stop it; the measurements of the run."""
    proc, host, port, workers = start_server(args.model, args.workers)
    try:
        try:
            import uvloop  # noqa: F401 - a faster event loop keeps the load generator out of the way

            return uvloop.run(run_load(args, host, port, proc.pid, workers))
        except ImportError:
            return asyncio.run(run_load(args, host, port, proc.pid, workers))
    finally:
        stop_server(proc)


def result_line(result: dict) -> str:
    """One line per run, for runs compared side by side."""
    cpu, rss = result["cpu_ms_per_request"], result["server_rss_mib"]
    load = f"{result['offered_rate']:g}/s offered" if result["offered_rate"] else "closed loop"
    return (
        f"{'new connections' if result['new_connections'] else 'keep-alive'} "
        f"x{result['concurrency']}, {load}, {result['workers']} worker(s): "
        f"{result['requests_per_s']:.0f} requests/s, p50 {result['p50_ms']:.2f} ms, p90 {result['p90_ms']:.2f} ms, "
        f"p99 {result['p99_ms']:.2f} ms, max {result['max_ms']:.2f} ms, {result['errors']} errors, "
        f"{result['requests']} requests; CPU/request server {cpu['server']:.2f} workers {cpu['workers']:.2f} "
        f"load generator {cpu['client']:.2f} ms; RSS {rss['start']:.1f} -> {rss['end']:.1f} MiB"
    )


def report(result: dict) -> str:
    """The detailed report of one run."""
    rss = result["server_rss_mib"]
    cpu = result["cpu_ms_per_request"]
    rate = result["offered_rate"]
    return "\n".join([
        f"inkdigit serve load test: {result['requests']} requests, "
        f"concurrency {result['concurrency']}"
        + (", a new connection per request, " if result["new_connections"] else ", ")
        + (f"offered {rate:g} requests/s (open loop), " if rate else "closed loop, ")
        + f"{result['workers']} worker(s), {result['cpus']} CPUs, "
        f"{result['png_bytes']} byte PNG"
        f"{' with previews' if result['preview'] else ''}",
        f"  latency   p50 {result['p50_ms']:.2f} ms   p90 {result['p90_ms']:.2f} ms   "
        f"p99 {result['p99_ms']:.2f} ms   max {result['max_ms']:.2f} ms",
        f"  throughput {result['requests_per_s']:.0f} requests/s over {result['seconds']:.1f} s, "
        f"{result['errors']} errors",
        f"  server RSS  start {rss['start']:.1f} MiB   middle {rss['middle']:.1f} MiB   "
        f"end {rss['end']:.1f} MiB",
        f"  CPU per request  server {cpu['server']:.2f} ms   workers {cpu['workers']:.2f} ms   "
        f"load generator {cpu['client']:.2f} ms",
        f"  answer: {result['answer']['label']} ({result['answer']['confidence']:.3f}) "
        f"from model {result['answer']['model']}",
    ])


if __name__ == "__main__":
    raise SystemExit(main())

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
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]


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


def start_server(model: str | None, workers: int | None) -> tuple[subprocess.Popen, str, int]:
    """`serve()` in a subprocess on 127.0.0.1, port chosen by the OS; returns (process, host, port)."""
    code = (
        "import sys; from inkdigit.server.app import serve; "
        "serve('127.0.0.1', 0, sys.argv[1] or None, None if sys.argv[2] == '' else int(sys.argv[2]), [])"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO / "src"), env.get("PYTHONPATH")) if p)
    proc = subprocess.Popen(
        [sys.executable, "-c", code, model or "", "" if workers is None else str(workers)],
        stdout=subprocess.PIPE, text=True, env=env,
    )
    line = proc.stdout.readline() if proc.stdout else ""
    match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
    if not match:
        proc.kill()
        raise SystemExit(f"server did not start: {line!r}")
    return proc, "127.0.0.1", int(match.group(1))


class Connection:
    """One keep-alive HTTP/1.1 connection that sends the same POST over and over."""

    def __init__(self, host: str, port: int, request: bytes) -> None:
        self.host, self.port, self.request = host, port, request
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def roundtrip(self) -> tuple[int, bytes]:
        """Send the request, read one full response; returns (status, body)."""
        assert self.reader is not None and self.writer is not None
        self.writer.write(self.request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        match = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
        body = await self.reader.readexactly(int(match.group(1))) if match else b""
        if re.search(rb"(?i)\r\nconnection:\s*close", head):
            self.writer.close()
            await self.open()
        return status, body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def wait_ready(host: str, port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    get = f"GET /healthz HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    while True:
        try:
            conn = Connection(host, port, get)
            await conn.open()
            status, _ = await conn.roundtrip()
            conn.close()
            if status == 200:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("server did not answer /healthz")
        await asyncio.sleep(0.1)


async def run_load(args: argparse.Namespace, host: str, port: int, server_pid: int) -> dict:
    png = canvas_png()
    path = "/api/predict" + ("?preview=true" if args.preview else "")
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: image/png\r\n"
        f"Content-Length: {len(png)}\r\n\r\n"
    ).encode() + png
    if args.healthz:  # the HTTP stack alone, without reading an image: what the server costs per request
        request = f"GET /healthz HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    await wait_ready(host, port)

    conns = [Connection(host, port, request) for _ in range(args.concurrency)]
    for c in conns:
        await c.open()
    status, body = await conns[0].roundtrip()
    first = json.loads(body)
    if args.healthz:
        first = {"label": 7, "confidence": 1.0, "model": first.get("model")}
    if status != 200 or first.get("label") != 7:
        raise SystemExit(f"unexpected answer: {status} {body[:200]!r}")

    # Warm up (first requests pay for lazy imports, allocator growth, thread start).
    async def warm(conn: Connection) -> None:
        for _ in range(max(1, args.warmup // len(conns))):
            await conn.roundtrip()

    await asyncio.gather(*(warm(c) for c in conns))

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

    await asyncio.gather(*(worker(c) for c in conns))
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
        "requests": len(lat_ms),
        "errors": errors,
        "concurrency": args.concurrency,
        "offered_rate": args.rate,
        "workers": args.workers,
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
        # Where the CPU goes, per request: the server process (with workers: it only hands them connections),
        # its worker processes, this load generator.
        "cpu_ms_per_request": {k: round((cpu_end[k] - cpu_start[k]) * 1000 / len(lat_ms), 3) for k in cpu_end},
        "answer": {"label": first["label"], "confidence": first["confidence"], "model": first.get("model")},
        "cpus": os.cpu_count(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=20000, help="measured requests in all")
    parser.add_argument("--concurrency", type=int, default=8, help="parallel keep-alive connections")
    parser.add_argument("--max-seconds", type=float, default=120, help="stop measuring after this long")
    parser.add_argument("--warmup", type=int, default=400, help="unmeasured requests first")
    parser.add_argument("--rate", type=float, default=None,
                        help="open loop: offer this many requests/s (at most --concurrency in flight) instead of "
                        "sending the next request as soon as the previous one is answered")
    parser.add_argument("--workers", type=int, default=None,
                        help="server processes (default: serve's own default, one per core)")
    parser.add_argument("--model", default=None, help="model name or path (default: the bundled default)")
    parser.add_argument("--preview", action="store_true", help="ask for previews too, as the web page does")
    parser.add_argument(
        "--healthz", action="store_true", help="load GET /healthz instead (HTTP overhead only)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a report")
    args = parser.parse_args()

    proc, host, port = start_server(args.model, args.workers)
    try:
        try:
            import uvloop  # noqa: F401 - a faster event loop keeps the load generator out of the way

            result = uvloop.run(run_load(args, host, port, proc.pid))
        except ImportError:
            result = asyncio.run(run_load(args, host, port, proc.pid))
    finally:
        proc.terminate()
        proc.wait(timeout=15)

    if args.json:
        print(json.dumps(result))
        return 0
    rss = result["server_rss_mib"]
    print(
        f"inkdigit serve load test: {result['requests']} requests, concurrency {result['concurrency']}, "
        + (f"offered {args.rate:g} requests/s (open loop), " if args.rate else "closed loop, ")
        + f"{result['workers'] if result['workers'] is not None else 'default'} worker(s), {result['cpus']} CPUs, "
        f"{result['png_bytes']} byte PNG"
        f"{' with previews' if result['preview'] else ''}"
    )
    print(
        f"  latency   p50 {result['p50_ms']:.2f} ms   p90 {result['p90_ms']:.2f} ms   "
        f"p99 {result['p99_ms']:.2f} ms   max {result['max_ms']:.2f} ms"
    )
    print(
        f"  throughput {result['requests_per_s']:.0f} requests/s over {result['seconds']:.1f} s, "
        f"{result['errors']} errors"
    )
    print(
        f"  server RSS  start {rss['start']:.1f} MiB   middle {rss['middle']:.1f} MiB   "
        f"end {rss['end']:.1f} MiB"
    )
    cpu = result["cpu_ms_per_request"]
    print(
        f"  CPU per request  server {cpu['server']:.2f} ms   workers {cpu['workers']:.2f} ms   "
        f"load generator {cpu['client']:.2f} ms"
    )
    print(
        f"  answer: {result['answer']['label']} ({result['answer']['confidence']:.3f}) "
        f"from model {result['answer']['model']}"
    )
    return 0 if result["errors"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())

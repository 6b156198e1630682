"""Hostile clients against `inkdigit serve`: do honest clients still get fast answers, and does memory come back?

Starts `inkdigit serve` (default workers) on a free loopback port, then runs honest clients that post a
single-digit PNG to /api/predict at --rate requests/s, each on a new connection (open loop: latency counts
from when a request was due), through three phases: --warmup seconds alone, --attack seconds while attackers
run, and --after seconds alone again. The attackers:

- dot grids: --grid-clients keep-alive connections posting a 512x512 PNG of a 40x40 grid of dots to
  /api/predict/number, each as soon as the last is answered;
- idle: --idle connections opened at the attack's start that send nothing;
- huge headers: one connection at a time sends a request whose header is --header-mb MB long;
- slow bodies: --slow connections each declare a 100 kB body and send --slow-bps bytes a second;
- oversized bodies: one connection at a time sends a 50 MB body (Content-Length, or chunked without one).

It prints one table: honest p50/p99/max and errors per phase, how many of each attack were made and how the
server answered them, and the server's memory (RSS of the supervisor and its worker processes, from /proc)
before the attack, at its end and --after seconds later. Exit code 0 when the target is met (honest p99
<= --p99-ms during the attack, no honest error in any phase, memory within --memory-slack of its level before
the attack after --after seconds), 1 otherwise. Everything is bounded in time and count, and it only ever
connects to the server it started, on a loopback address:

    python benchmarks/abuse.py                 # the issue's mix: 50 requests/s honest, 30 s of attack
    python benchmarks/abuse.py --attack 10 --idle 100
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import multiprocessing
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

from PIL import Image, ImageDraw

# sibling script: its folder is first on sys.path
from serve_load import canvas_png, children, cpu_seconds, rss_mib, stop_server

REPO = Path(__file__).resolve().parents[1]
START_SECONDS = 120
HONEST_TIMEOUT = 10.0  # an honest request not answered in this long is an error
CHUNK = 64 * 1024
ATTACKS = ("grid", "idle", "headers", "slow", "oversized")
EXTRA_ATTACKS = ("big",)  # not in the default mix


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to serve on (others are refused)")
    parser.add_argument("--workers", type=int, default=None, help="server processes (default: serve's own)")
    parser.add_argument("--rate", type=float, default=50, help="honest requests per second")
    parser.add_argument("--warmup", type=float, default=5, help="seconds of honest traffic before the attack")
    parser.add_argument("--attack", type=float, default=30, help="seconds of attack")
    parser.add_argument("--after", type=float, default=10, help="seconds after the attack (memory is read then)")
    parser.add_argument("--grid-clients", type=int, default=2, help="connections posting dot grids")
    parser.add_argument("--idle", type=int, default=300, help="idle connections")
    parser.add_argument("--header-mb", type=float, default=50, help="size of the huge header")
    parser.add_argument("--slow", type=int, default=20, help="connections sending slow bodies")
    parser.add_argument("--slow-bps", type=float, default=4, help="bytes a second of a slow body")
    parser.add_argument("--attacks", default=",".join(ATTACKS),
                        help=f"which attacks to run, comma-separated (default: {','.join(ATTACKS)}; also "
                        "big: 16-bit 4096x4096 PNGs on /api/predict from --grid-clients connections)")
    parser.add_argument("--p99-ms", type=float, default=100, help="target: honest p99 during the attack")
    parser.add_argument("--memory-slack", type=float, default=0.10,
                        help="target: memory after the attack within this fraction of its level before")
    args = parser.parse_args()
    args.attacks = [a.strip() for a in args.attacks.split(",") if a.strip()]
    unknown = set(args.attacks) - set(ATTACKS) - set(EXTRA_ATTACKS)
    if unknown:
        parser.error(f"--attacks: unknown {', '.join(sorted(unknown))}")
    if not is_loopback(args.host):
        parser.error(f"--host must be a loopback address (got {args.host!r}): this benchmark attacks a server")
    if not (0 < args.rate <= 500 and 0 <= args.attack <= 300 and args.warmup <= 60 and args.after <= 60
            and 0 <= args.idle <= 2000 and 0 <= args.slow <= 500 and 0 <= args.grid_clients <= 32
            and 0 < args.header_mb <= 200):
        parser.error("keep --rate <= 500, --attack <= 300 s, --warmup/--after <= 60 s, --idle <= 2000, "
                     "--slow <= 500, --grid-clients <= 32, --header-mb <= 200")

    with tempfile.TemporaryFile() as log:
        proc, port = start_server(args.host, args.workers, log)
        try:
            asyncio.run(wait_ready(args.host, port))
            # The attackers run in a process of their own: in this one, pumping 50 MB bodies would delay the
            # honest clients' own event loop and show up as server latency.
            start = time.monotonic() + 1
            attack_start = start + args.warmup
            attack_end = attack_start + args.attack
            results, sink = multiprocessing.Pipe(duplex=False)
            attackers = multiprocessing.get_context("fork").Process(
                target=attack_process, args=(args, port, attack_start, attack_end, sink), daemon=True)
            attackers.start()
            try:
                report = asyncio.run(run(args, port, proc.pid, start, attack_start, attack_end))
                if results.poll(60):
                    report.attacks, report.cpu["attackers"] = results.recv()
            finally:
                attackers.join(5)
                if attackers.is_alive():
                    attackers.kill()
        finally:
            stop_server(proc)
        log.seek(0)
        report.log_lines = log.read().decode(errors="replace").splitlines()
    return print_report(args, report)


# ---------------------------------------------------------------- the server


def is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def start_server(host: str, workers: int | None, log: io.BufferedRandom) -> tuple[subprocess.Popen, int]:
    """`inkdigit serve` on a free port of ``host``, once it answers /healthz; its log goes to ``log``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO / "src"), env.get("PYTHONPATH")) if p)
    command = [sys.executable, "-m", "inkdigit", "serve", "--host", host, "--port", "0"]
    if workers is not None:
        command += ["--workers", str(workers)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, env=env, start_new_session=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().decode(errors="replace")
    match = re.search(r"http://[^\s/]+:(\d+)/", line)
    if not match:
        stop_server(proc)
        raise SystemExit(f"server did not start: {line!r}")
    return proc, int(match.group(1))


async def wait_ready(host: str, port: int) -> None:
    """Until /healthz answers 200 several times in a row (every worker process has its model)."""
    deadline = time.monotonic() + START_SECONDS
    good = 0
    while good < 20:
        if time.monotonic() > deadline:
            raise SystemExit("the server did not answer /healthz")
        try:
            status, _ = await roundtrip(host, port, f"GET /healthz HTTP/1.1\r\nHost: {host}:{port}\r\n"
                                        "Connection: close\r\n\r\n".encode(), 5)
            good = good + 1 if status == 200 else 0
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError):
            good = 0
        await asyncio.sleep(0.1)


# ---------------------------------------------------------------- HTTP, by hand


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    match = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
    body = await reader.readexactly(int(match.group(1))) if match else b""
    return int(head[9:12]), body


async def roundtrip(host: str, port: int, request: bytes, timeout: float) -> tuple[int, bytes]:
    """One request on a new connection."""

    async def go() -> tuple[int, bytes]:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(request)
            return await read_answer(reader)
        finally:
            writer.close()

    return await asyncio.wait_for(go(), timeout)


def post(path: str, host: str, port: int, body: bytes, ctype: str = "image/png", close: bool = False) -> bytes:
    extra = "Connection: close\r\n" if close else ""
    return (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {ctype}\r\n{extra}"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


async def outcome(reader: asyncio.StreamReader, timeout: float) -> str:
    """How the server ended an attack's connection: its status code, "closed" or "reset", or "no answer"."""
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        return head[9:12].decode()
    except asyncio.TimeoutError:
        return "no answer"
    except asyncio.IncompleteReadError as exc:
        return "closed" if not exc.partial else "partial answer"
    except (ConnectionResetError, BrokenPipeError):
        return "reset"
    except asyncio.LimitOverrunError:
        return "huge answer"


async def send_until_answered(host: str, port: int, head: bytes, chunks: int, chunk: bytes, pause: float,
                              until: float) -> str:
    """Send ``head`` then up to ``chunks`` x ``chunk`` (``pause`` s apart) until the server answers, closes, or
    ``until`` passes; the server's answer (see `outcome`), or "sent all" / "open at the end"."""
    reader, writer = await asyncio.open_connection(host, port)
    answer = asyncio.ensure_future(outcome(reader, 1e9))
    try:
        writer.write(head)
        for _ in range(chunks):
            if answer.done() or time.monotonic() > until:
                break
            writer.write(chunk)
            await writer.drain()
            if pause:
                await asyncio.wait({answer}, timeout=pause)
        if not answer.done():
            await asyncio.wait({answer}, timeout=max(0.0, min(5.0, until - time.monotonic())))
        if answer.done():
            return answer.result()
        return "open at the end" if time.monotonic() > until else "sent all, no answer"
    except (ConnectionResetError, BrokenPipeError):
        return answer.result() if answer.done() else "reset while sending"
    finally:
        answer.cancel()
        writer.close()


# ---------------------------------------------------------------- the clients


@dataclass
class Report:
    honest: dict[str, list[float]] = field(default_factory=lambda: {"warm-up": [], "attack": [], "after": []})
    honest_errors: dict[str, Counter] = field(default_factory=lambda: {p: Counter() for p in
                                                                       ("warm-up", "attack", "after")})
    attacks: dict[str, Counter] = field(default_factory=dict)
    rss: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds, from the attack's start to its end
    log_lines: list[str] = field(default_factory=list)


async def run(args: argparse.Namespace, port: int, server_pid: int, t0: float, attack_start: float,
              attack_end: float) -> Report:
    """The honest clients from ``t0`` until --after seconds past ``attack_end``, and the memory readings."""
    host = args.host
    report = Report()
    honest_request = post("/api/predict", host, port, canvas_png(), close=True)
    end = attack_end + args.after

    def phase(t: float) -> str:
        return "warm-up" if t < attack_start else "attack" if t < attack_end else "after"

    async def honest_one(due: float) -> None:
        try:
            status, body = await roundtrip(host, port, honest_request, HONEST_TIMEOUT)
            if status != 200 or b'"label":7' not in body:
                report.honest_errors[phase(due)][f"{status}"] += 1
                return
            report.honest[phase(due)].append((time.monotonic() - due) * 1000)
        except asyncio.TimeoutError:
            report.honest_errors[phase(due)]["timeout"] += 1
        except (OSError, asyncio.IncompleteReadError) as exc:
            report.honest_errors[phase(due)][type(exc).__name__] += 1

    async def honest() -> None:
        tasks = []
        i = 0
        while (due := t0 + i / args.rate) < end:
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            tasks.append(asyncio.ensure_future(honest_one(due)))
            i += 1
        await asyncio.gather(*tasks)

    async def memory() -> None:
        cpu = {}
        for when, at in (("before the attack", attack_start), ("at the attack's end", attack_end),
                         (f"{args.after:g} s after", end)):
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            report.rss[when] = process_rss(server_pid)
            cpu[when] = (sum(cpu_seconds(p) for p in [server_pid, *children(server_pid)]), time.process_time())
        start, stop = cpu["before the attack"], cpu["at the attack's end"]
        report.cpu["server"], report.cpu["honest clients"] = stop[0] - start[0], stop[1] - start[1]

    await asyncio.gather(honest(), memory())
    return report


def process_rss(pid: int) -> list[float]:
    """RSS in MiB of the server process and of each of its children (the worker processes)."""
    return [rss_mib(pid)] + [rss_mib(child) for child in children(pid)]


def attack_process(args: argparse.Namespace, port: int, start: float, until: float, results: Connection) -> None:
    """The attackers, from ``start`` until ``until``; sends what each attack met (name → Counter) on ``results``."""
    attacks = asyncio.run(attack(args, port, start, until))
    results.send((attacks, time.process_time()))


async def attack(args: argparse.Namespace, port: int, start: float, until: float) -> dict[str, Counter]:
    host = args.host
    await asyncio.sleep(max(0.0, start - time.monotonic()))
    attacks: dict[str, Counter] = {}
    jobs = []
    if "grid" in args.attacks:
        grid = post("/api/predict/number", host, port, dot_grid_png())
        counts = attacks.setdefault("dot grids on /api/predict/number", Counter())
        jobs += [dot_grids(host, port, grid, until, counts) for _ in range(args.grid_clients)]
    if "big" in args.attacks:
        big = post("/api/predict", host, port, big_png())
        counts = attacks.setdefault("16-bit 4096x4096 PNGs on /api/predict", Counter())
        jobs += [dot_grids(host, port, big, until, counts) for _ in range(args.grid_clients)]
    if "idle" in args.attacks:
        jobs.append(idle(host, port, args.idle, until, attacks.setdefault("idle connections", Counter())))
    if "headers" in args.attacks:
        jobs.append(huge_headers(host, port, args.header_mb, until,
                                 attacks.setdefault(f"{args.header_mb:g} MB headers", Counter())))
    if "slow" in args.attacks:
        counts = attacks.setdefault(f"slow bodies ({args.slow_bps:g} B/s)", Counter())
        jobs += [slow_bodies(host, port, args.slow_bps, until, counts) for _ in range(args.slow)]
    if "oversized" in args.attacks:
        jobs.append(oversized(host, port, until, attacks.setdefault("50 MB bodies", Counter())))
    await asyncio.gather(*jobs)
    return attacks


def dot_grid_png() -> bytes:
    """A 512x512 PNG of a 40x40 grid of dots: 1,600 marks for the number reader."""
    img = Image.new("L", (512, 512), 255)
    pen = ImageDraw.Draw(img)
    for i in range(40):
        for j in range(40):
            x, y = 6 + i * 12.6, 6 + j * 12.6
            pen.ellipse([x - 3, y - 3, x + 3, y + 3], fill=0)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def big_png() -> bytes:
    """A 16-bit 4096x4096 PNG of a 7: ~50 kB on the wire, 16.8 million pixels to decode."""
    side = 4096
    img = Image.new("I;16", (side, side), 65535)
    ImageDraw.Draw(img).line([(side * 0.3, side * 0.2), (side * 0.7, side * 0.2), (side * 0.45, side * 0.8)],
                             fill=0, width=side // 14)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


async def dot_grids(host: str, port: int, request: bytes, until: float, counts: Counter) -> None:
    """Keep-alive posts of ``request`` (the dot grid), one after another, until ``until``."""
    reader = writer = None
    while time.monotonic() < until:
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            assert reader is not None
            writer.write(request)
            status, _ = await asyncio.wait_for(read_answer(reader), 30)
            counts[str(status)] += 1
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError) as exc:
            counts[type(exc).__name__] += 1
            if writer is not None:
                writer.close()
            reader = writer = None
            await asyncio.sleep(0.1)
    if writer is not None:
        writer.close()


async def idle(host: str, port: int, count: int, until: float, counts: Counter) -> None:
    """``count`` connections that send nothing; each one's fate: what the server sent or did, or still open."""

    async def one() -> None:
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError as exc:
            counts[f"connect failed: {type(exc).__name__}"] += 1
            return
        try:
            counts[await outcome(reader, max(0.0, until - time.monotonic()))] += 1
        finally:
            writer.close()

    await asyncio.gather(*(one() for _ in range(count)))
    if "no answer" in counts:
        counts["open at the end"] = counts.pop("no answer")


async def huge_headers(host: str, port: int, megabytes: float, until: float, counts: Counter) -> None:
    """Requests whose one header is ``megabytes`` long, one at a time, until ``until``."""
    head = f"GET /healthz HTTP/1.1\r\nHost: {host}:{port}\r\nX-Filler: ".encode()
    chunks = int(megabytes * 1e6) // CHUNK
    while time.monotonic() < until:
        try:
            counts[await send_until_answered(host, port, head, chunks, b"a" * CHUNK, 0, until)] += 1
        except OSError as exc:
            counts[type(exc).__name__] += 1
            await asyncio.sleep(0.1)


async def slow_bodies(host: str, port: int, bytes_per_s: float, until: float, counts: Counter) -> None:
    """A body declared as 100 kB, sent a few bytes a second; again when the server ends one, until ``until``."""
    head = (f"POST /api/predict HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: image/png\r\n"
            "Content-Length: 100000\r\n\r\n").encode()
    step = max(1, round(bytes_per_s))
    while time.monotonic() < until:
        try:
            counts[await send_until_answered(host, port, head, 100_000 // step, b"\0" * step, step / bytes_per_s,
                                             until)] += 1
        except OSError as exc:
            counts[type(exc).__name__] += 1
            await asyncio.sleep(0.5)


async def oversized(host: str, port: int, until: float, counts: Counter) -> None:
    """50 MB bodies, one at a time, alternately declared (Content-Length) and chunked, until ``until``."""
    size = 50_000_000
    declared = (f"POST /api/predict HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: image/png\r\n"
                f"Content-Length: {size}\r\n\r\n").encode()
    chunked = (f"POST /api/predict HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: image/png\r\n"
               "Transfer-Encoding: chunked\r\n\r\n").encode()
    piece = f"{CHUNK:x}\r\n".encode() + b"\0" * CHUNK + b"\r\n"
    n = 0
    while time.monotonic() < until:
        head, chunk = (declared, b"\0" * CHUNK) if n % 2 == 0 else (chunked, piece)
        kind = "declared" if n % 2 == 0 else "chunked"
        try:
            counts[f"{kind}: {await send_until_answered(host, port, head, size // CHUNK, chunk, 0, until)}"] += 1
        except OSError as exc:
            counts[f"{kind}: {type(exc).__name__}"] += 1
            await asyncio.sleep(0.1)
        n += 1


# ---------------------------------------------------------------- the report


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def print_report(args: argparse.Namespace, report: Report) -> int:
    print(f"inkdigit serve under attack: {args.rate:g} honest requests/s (new connection each) for "
          f"{args.warmup:g} s, then {args.attack:g} s of attack, then {args.after:g} s; {os.cpu_count()} CPUs")
    print()
    print("| honest clients | requests | p50 ms | p99 ms | max ms | errors |")
    print("|---|---|---|---|---|---|")
    errors = 0
    for phase, latencies in report.honest.items():
        bad = report.honest_errors[phase]
        errors += sum(bad.values())
        detail = ", ".join(f"{n} {k}" for k, n in bad.most_common()) or "0"
        p50 = statistics.median(latencies) if latencies else float("nan")
        print(f"| {phase} | {len(latencies) + sum(bad.values())} | {p50:.1f} | {percentile(latencies, 0.99):.1f} "
              f"| {max(latencies, default=float('nan')):.1f} | {detail} |")
    print()
    print("| attack | made | how the server answered |")
    print("|---|---|---|")
    for name, counts in report.attacks.items():
        answered = ", ".join(f"{n} {k}" for k, n in counts.most_common())
        print(f"| {name} | {sum(counts.values())} | {answered} |")
    print()
    print("| server memory (RSS) | all, MiB | supervisor, each process it started |")
    print("|---|---|---|")
    for when, mib in report.rss.items():
        print(f"| {when} | {sum(mib):.1f} | {', '.join(f'{m:.1f}' for m in mib)} |")
    print()
    print(f"CPU seconds used during the {args.attack:g} s attack (this machine has {os.cpu_count()} CPUs): "
          + ", ".join(f"{who} {seconds:.1f}" for who, seconds in report.cpu.items())
          + f"; load average at the end {os.getloadavg()[0]:.1f}")
    tracebacks = sum("Traceback" in line for line in report.log_lines)
    print()
    print(f"server log: {len(report.log_lines)} lines, {tracebacks} tracebacks"
          + (f"; last: {report.log_lines[-1][:160]}" if report.log_lines else ""))

    p99 = percentile(report.honest["attack"], 0.99)
    levels = [sum(mib) for mib in report.rss.values()]
    memory_ok = len(levels) == 3 and levels[2] <= levels[0] * (1 + args.memory_slack)
    checks = {
        f"honest p99 during the attack <= {args.p99_ms:g} ms ({p99:.1f})": p99 <= args.p99_ms,
        f"no honest errors ({errors})": errors == 0,
        f"memory {args.after:g} s after within {args.memory_slack:.0%} of before": memory_ok,
    }
    print()
    for text, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {text}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
    sys.exit(130)

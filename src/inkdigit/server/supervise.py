"""`serve` on several cores: worker processes that each run the whole app, and this process handing them
the connections it accepts, in turn.

Reading a canvas is ~2 ms of NumPy/Pillow/ONNX work that holds the GIL, so one process cannot use a second
core. Each worker is a complete server (uvicorn + the app + its own models) and reads images in its own event
loop: no hop between processes per request. This process only accepts connections and passes each one
(its file descriptor, over a Unix socket) to the next worker, so keep-alive connections are spread evenly;
the kernel's SO_REUSEPORT hashing is not (docs/speed.md). A worker that dies drops its own connections and
is replaced; the others go on serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import selectors
import signal
import socket
import time
from collections.abc import Callable, Iterable
from multiprocessing import resource_tracker
from typing import Any

from inkdigit.inference import usable_cores
from inkdigit.signals import sigterm_as_interrupt

START_SECONDS = 120  # longest a worker may take to load its models and say it is ready
STOP_SECONDS = 5  # longest a worker may take to finish its requests after being told to stop
# How every server process runs the app: quiet (errors only), no access log, no Server header.
UVICORN_SETTINGS: dict[str, Any] = {"log_level": "warning", "access_log": False, "server_header": False}


def supported() -> bool:
    """Whether this OS can hand connections to other processes (Unix sockets with descriptor passing)."""
    return hasattr(socket, "send_fds") and hasattr(socket, "AF_UNIX")


def default_processes() -> int:
    """Worker processes `serve` starts by default: one per core, at most 8; none (this process alone) on one
    core or where connections cannot be handed over."""
    cores = usable_cores()
    return 0 if cores < 2 or not supported() else min(cores, 8)


def uvicorn_config(app: Any) -> Any:
    """The uvicorn settings of every server process (`UVICORN_SETTINGS`) for ``app``."""
    import uvicorn

    return uvicorn.Config(app, **UVICORN_SETTINGS)


class WorkerStartError(RuntimeError):
    """A worker could not start (a broken model file, say); the message is one line."""


def supervise(listener: socket.socket, count: int, model: str | None, cors_origins: Iterable[str],
              announce: Callable[[str], Any], *, shortcut: bool = True) -> None:
    """Serve `listener` with `count` worker processes until interrupted (Ctrl+C or SIGTERM).

    Each worker runs ``create_app(model, cors_origins, shortcut=shortcut)``. `announce(model_name)` runs once
    every worker is ready. Raises WorkerStartError if one cannot start.
    """
    origins = list(cors_origins)

    def make() -> _Worker:
        return _Worker(model, origins, shortcut)

    # SIGTERM (a service manager, `kill`) stops us the way Ctrl+C does, from here on.
    with sigterm_as_interrupt():
        workers, name = _start(count, make)
        _hand_out(listener, workers, name, make, announce)


def _hand_out(listener: socket.socket, workers: list[_Worker], name: str, make: Callable[[], _Worker],
              announce: Callable[[str], Any]) -> None:
    """Accept connections and hand them to the workers in turn, replacing dead ones, until interrupted."""
    listener.setblocking(False)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, ("accept", None))
    for worker in workers:
        selector.register(worker.process.sentinel, selectors.EVENT_READ, ("died", worker))

    def replace(dead: _Worker) -> None:
        # A worker died (killed, out of memory): start another; until it is ready the others take its share.
        for fileobj in (dead.process.sentinel, dead.control):
            with contextlib.suppress(KeyError, ValueError):
                selector.unregister(fileobj)
        dead.stop()
        fresh = make()
        workers[workers.index(dead)] = fresh
        selector.register(fresh.control, selectors.EVENT_READ, ("status", fresh))
        selector.register(fresh.process.sentinel, selectors.EVENT_READ, ("died", fresh))

    turn = 0
    try:
        announce(name)
        while True:
            for key, _ in selector.select():
                event, worker = key.data
                if worker is not None and worker not in workers:
                    continue  # an event of a worker replaced earlier in this same batch
                if event == "accept":
                    try:
                        conn, _ = listener.accept()
                    except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                        continue
                    with conn:  # once handed, the worker holds its own descriptor of the connection
                        for _ in range(len(workers)):
                            chosen = workers[turn % len(workers)]
                            turn += 1
                            if chosen.ready and chosen.hand(conn):
                                break
                elif event == "died":
                    replace(worker)
                else:  # a replacement's status message
                    selector.unregister(worker.control)
                    worker.ready = worker.read_status()[0] == "ready"
                    if not worker.ready:  # it failed where its predecessor had started: retry, slowly
                        time.sleep(1)
                        worker.process.kill()
    except KeyboardInterrupt:
        pass  # Ctrl+C or SIGTERM: stop, as uvicorn does
    finally:
        selector.close()
        for worker in workers:  # all at once, then wait for each
            with contextlib.suppress(OSError):
                worker.control.shutdown(socket.SHUT_RDWR)
        for worker in workers:
            worker.stop()


def _start(count: int, make: Callable[[], _Worker]) -> tuple[list[_Worker], str]:
    """Start `count` workers and wait until each has loaded its models; returns them and the default model."""
    workers = [make() for _ in range(count)]
    name = ""
    try:
        for worker in workers:
            worker.control.settimeout(START_SECONDS)
            try:
                status, detail = worker.read_status()
            except TimeoutError:
                status, detail = "error", f"a worker did not start within {START_SECONDS} s"
            if status != "ready":
                raise WorkerStartError(detail)
            worker.ready, name = True, detail
    except BaseException:
        for worker in workers:
            worker.stop()
        raise
    return workers, name


class _Worker:
    """One worker process and this process's end of its control socket."""

    def __init__(self, model: str | None, cors_origins: list[str], shortcut: bool) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        # spawn, not fork: a fresh interpreter shares no threads or ONNX Runtime state with this process.
        self.process = multiprocessing.get_context("spawn").Process(
            target=_worker_main, args=(theirs, model, cors_origins, shortcut), daemon=True, name="inkdigit-worker")
        # The worker starts with Ctrl+C blocked (the signal mask survives fork and exec), so a Ctrl+C while
        # it imports cannot print a traceback there; this process stops it instead (control socket closed,
        # SIGTERM). Blocked, not ignored, here: a Ctrl+C that comes meanwhile waits, it is not lost.
        # multiprocessing starts its resource tracker on the first start() and unblocks SIGINT after it:
        # start it first, so that nothing undoes the block below.
        resource_tracker.ensure_running()
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            self.process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        theirs.close()
        self.control = ours
        self.ready = False

    def read_status(self) -> tuple[str, str]:
        """The worker's one status message: ("ready", model name) or ("error", why); blocks until it comes."""
        data = self.control.recv(4096).decode(errors="replace")
        status, _, detail = data.partition(" ")
        if status not in ("ready", "error"):
            return "error", f"a worker stopped while starting (exit code {self.process.exitcode})"
        return status, detail

    def hand(self, conn: socket.socket) -> bool:
        """Pass an accepted connection to the worker; False if the worker is gone."""
        try:
            socket.send_fds(self.control, [b"c"], [conn.fileno()])
        except OSError:
            return False
        return True

    def stop(self) -> None:
        """Ask the worker to finish (end of file on its control socket, and SIGTERM) and wait for it."""
        with contextlib.suppress(OSError):
            self.control.shutdown(socket.SHUT_RDWR)
        self.control.close()
        if self.process.is_alive():
            self.process.terminate()
        self.process.join(timeout=STOP_SECONDS)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


def _worker_main(control: socket.socket, model: str | None, cors_origins: list[str], shortcut: bool) -> None:
    """A worker process: build the app (loading the models), say "ready <model>" (or "error <why>"), then
    serve every connection whose descriptor arrives on `control` until told to stop or `control` closes.

    It starts with Ctrl+C blocked (see _Worker): the serving process stops it.
    """
    import uvicorn

    from inkdigit.server.app import create_app
    from inkdigit.server.errors import one_line

    try:
        app = create_app(model, cors_origins, shortcut=shortcut)
    except Exception as exc:  # the parent prints it as its own one-line error
        control.sendall(f"error {one_line(exc)}".encode())
        return
    config = uvicorn_config(app)
    server = uvicorn.Server(config)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        serving = asyncio.ensure_future(server.serve(sockets=[]))  # no listening socket of its own
        while not server.started:
            if serving.done():
                return serving.result()
            await asyncio.sleep(0.01)

        def protocol() -> asyncio.Protocol:
            # What uvicorn's own listening server builds for each connection (uvicorn is pinned).
            return config.http_protocol_class(
                config=config, server_state=server.server_state, app_state=server.lifespan.state)

        connecting: set[asyncio.Task] = set()

        def receive() -> None:
            try:
                data, fds, _, _ = socket.recv_fds(control, 64, 64)
            except BlockingIOError:
                return
            except OSError:
                data, fds = b"", []
            if not data:  # end of file: the parent is gone or stops us
                loop.remove_reader(control)
                server.should_exit = True
                return
            for fd in fds:
                conn = socket.socket(fileno=fd)
                conn.setblocking(False)
                task = loop.create_task(loop.connect_accepted_socket(protocol, conn))
                connecting.add(task)  # the loop keeps only weak references to tasks
                task.add_done_callback(connecting.discard)

        control.setblocking(False)
        loop.add_reader(control, receive)
        control.sendall(f"ready {app.state.registry.default.name}".encode())
        await serving

    factory = config.get_loop_factory()  # uvicorn's choice: uvloop when installed
    loop = factory() if factory is not None else asyncio.new_event_loop()
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()

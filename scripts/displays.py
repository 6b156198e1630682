"""Where the screenshots and the GUI/browser tests draw: a private Xvfb display and Debian's headless Chromium.

Shared by scripts/screenshot_*.py (their folder is first on sys.path) and tests/ (pytest puts scripts/ on
its path, see pyproject.toml). Failures raise DisplayError with the fix in one line; scripts exit with it,
tests fail with it (they never skip).
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import time

# Headless Chromium as a root-run CI container allows it; no GPU, no background traffic (all offline).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


class DisplayError(RuntimeError):
    """A display or browser could not be had; the message says what to install."""


def chromium() -> str:
    """Path of Debian's chromium (Playwright's own download is not possible offline)."""
    exe = shutil.which("chromium")
    if exe is None:
        raise DisplayError("chromium not found on PATH: apt-get install chromium chromium-driver "
                           "(`make test` does this as root)")
    return exe


def tool(name: str, package: str) -> str:
    """Path of a command-line tool from a Debian package."""
    path = shutil.which(name)
    if path is None:
        raise DisplayError(f"{name} not found: install the Debian package '{package}' (make test does)")
    return path


def start_xvfb(timeout: float = 15) -> tuple[subprocess.Popen, str]:
    """Start Xvfb on a free display; returns the process and the display name (":N")."""
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        [tool("Xvfb", "xvfb"), "-displayfd", str(write_fd), "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    # Xvfb picks the display and writes its number, then a newline, separately; closing the pipe early
    # would kill it.
    got = b""
    deadline = time.monotonic() + timeout
    while not got.endswith(b"\n") and time.monotonic() < deadline:
        if not select.select([read_fd], [], [], 0.2)[0]:
            continue
        chunk = os.read(read_fd, 32)
        if not chunk:
            break
        got += chunk
    os.close(read_fd)
    number = got.decode().strip() if got.endswith(b"\n") else ""
    if not number:
        proc.kill()
        raise DisplayError(f"Xvfb did not start within {timeout:g} s")
    return proc, f":{number}"

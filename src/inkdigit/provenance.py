"""What made an artifact: package version, git commit, time — saved next to every model and report."""

from __future__ import annotations

import datetime as _dt
import platform
import subprocess
from pathlib import Path

import inkdigit


def git_commit() -> str | None:
    """The source tree's git commit (with '-dirty' for uncommitted changes), or None outside a checkout."""
    root = Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return sha + ("-dirty" if dirty else "") if sha else None


def provenance() -> dict:
    """A JSON-able dict: inkdigit version, git commit, python, platform, UTC time."""
    return {
        "inkdigit_version": inkdigit.__version__,
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "created_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }

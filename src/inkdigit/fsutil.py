"""Writing files so that a kill, a full disk or Ctrl+C never leaves one half-written."""

from __future__ import annotations

import errno
import json
import os
import tempfile
from pathlib import Path

from inkdigit.errors import InkdigitError, WriteError


def _what_to_do(e: OSError) -> str:
    if e.errno == errno.ENOSPC or e.errno == errno.EDQUOT:
        return "free some disk space and run again"
    if e.errno in (errno.ENOTDIR, errno.EEXIST, errno.EISDIR):
        return "a file is in the way: move it, or choose another location"
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "make the folder writable, or choose another location"
    return "check the location, or choose another one"


def write_error(path: Path, e: OSError, what: str = "write") -> WriteError:
    """The one-line error for an OSError met while writing `path` (what went wrong, then what to do)."""
    return WriteError(f"cannot {what} {path}: {e.strerror or e}: {_what_to_do(e)}")


def make_dir(path: Path) -> None:
    """mkdir -p, with a one-line WriteError instead of a traceback when it cannot be made."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:  # FileExistsError when a file has the name: exist_ok only covers folders
        raise write_error(path, e, "make the folder") from None


def write_atomic(path: Path, data: bytes) -> None:
    """Write bytes so that `path` is either the old file or the complete new one, never half-written.

    WriteError (one line, naming `path`) when the disk is full, the folder read-only or a file is in the way."""
    make_dir(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise write_error(path, e) from None
    try:
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; artifacts are meant to be readable like any file
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)  # the old file, if any, is untouched: only the temp one goes
        if isinstance(e, OSError) and not isinstance(e, InkdigitError):
            raise write_error(path, e) from None
        raise


def write_json(path: Path, obj: dict) -> None:
    """Pretty JSON, written atomically."""
    write_atomic(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())

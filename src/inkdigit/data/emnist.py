"""EMNIST: import the official archive (downloaded, or a local copy) into the cache, and load a split upright.

    >>> import_emnist("~/Downloads/gzip.zip")          # or the folder of its extracted .gz files
    >>> images, labels, chars = load_emnist("letters")  # uint8 [N,28,28] upright, int64 [N], ['A', ...]

The archive (gzip.zip, 562 MB) holds a folder gzip/ with, for each split (byclass, bymerge, balanced,
letters, digits, mnist), four gzipped IDX files `emnist-<split>-<train|test>-<images|labels>-idx<3|1>-
ubyte.gz` and `emnist-<split>-mapping.txt`: one line per class, `label ascii-code`, and for the merged
letters a third column, the lower case (`1 65 97`: label 1 is A and a).

Two things differ from MNIST. The images are stored transposed (each picture's rows are its columns):
`load_emnist` turns them upright. And a split's labels are whatever its mapping lists (letters: 1..26, no
0): `load_emnist` returns each label as its index in the mapping's order, with `chars[index]` its character,
so letters come back as 0..25 = A..Z, the `letters` character set of `inkdigit.charsets`.

Downloading verifies the MD5 torchvision pins for the archive. Every file imported, downloaded or local, is
checked for its form before anything is written: gzip, IDX header (uint8, 28x28 images, one label per
image), labels within the mapping. A split's files are written to `<data dir>/emnist/` atomically, each as
the archive has it (gzipped, transposed), so the cache holds the official bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import io
import os
import urllib.error
import zipfile
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NamedTuple

import numpy as np

from inkdigit.data.fetch import cache_dir, download_file
from inkdigit.data.idx import read_idx, read_idx_bytes
from inkdigit.data.registry import EMNIST_MD5, EMNIST_NAME, EMNIST_SPLITS, EMNIST_URL, EmnistSplit
from inkdigit.errors import FetchError, IdxError, InkdigitError, MissingDataError
from inkdigit.fsutil import write_atomic

Log = Callable[[str], None]
MAX_ARCHIVE_BYTES = 1 << 30  # the archive is 562 MB; this stops a runaway response
SIDE = 28
_IMAGES_HEADER = 16  # magic (00 00 08 03) and three dimensions


class Emnist(NamedTuple):
    """A loaded split: upright images, labels as indices into `chars`, and the character of each index."""

    images: np.ndarray  # uint8 [N,28,28], white on black, upright
    labels: np.ndarray  # int64 [N], 0..len(chars)-1
    chars: list[str]


def fetch_emnist(data_dir: str | os.PathLike | None = None, *, source: str | os.PathLike | None = None,
                 splits: Iterable[str] | None = None, url: str = EMNIST_URL, md5: str = EMNIST_MD5,
                 timeout: float = 10.0, log: Log | None = None) -> dict[str, tuple[int, int]]:
    """Import EMNIST into the cache: from `source` (gzip.zip or a folder of its files) when given, else
    downloaded from `url` and checked against `md5`. Returns {split: (train images, test images)} imported.

    `splits`: the ones wanted (None: every split the source holds, at least one). FetchError (one line) when
    the archive cannot be reached or fails its checksum, or a wanted split is missing; IdxError naming the
    file when a file is not in EMNIST's form.
    """
    log = log or (lambda _msg: None)
    folder = cache_dir(EMNIST_NAME, data_dir)
    if source is not None:
        return import_emnist(source, data_dir, splits=splits, log=log)
    archive = folder / ".gzip.zip.download"
    log(f"emnist: downloading {url}")
    try:
        got = download_file(url, archive, timeout=timeout, max_bytes=MAX_ARCHIVE_BYTES)
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as e:
        if isinstance(e, InkdigitError):  # the cache cannot be written: its own one line
            raise
        reason = getattr(e, "reason", None) or e
        raise FetchError(f"cannot download the EMNIST archive from {url} ({reason}): download gzip.zip where "
                         f"the network allows and import it with `inkdigit fetch emnist --from PATH`") from None
    try:
        if got != md5:
            raise FetchError(f"the archive from {url} fails its checksum (md5 {got}, expected {md5}): "
                             "not imported")
        return import_emnist(archive, data_dir, splits=splits, log=log, official=True)
    finally:
        archive.unlink(missing_ok=True)  # the cache keeps the imported files, not the 562 MB archive


def import_emnist(source: str | os.PathLike, data_dir: str | os.PathLike | None = None, *,
                  splits: Iterable[str] | None = None, log: Log | None = None, official: bool = False
                  ) -> dict[str, tuple[int, int]]:
    """Import a local copy: gzip.zip, or a folder holding the files (the .gz as extracted, or un-gzipped).

    Each split is checked whole before its files are written. See `fetch_emnist` for the rest."""
    log = log or (lambda _msg: None)
    path = Path(source).expanduser()
    if path.is_dir():
        files: _Source = _FolderSource(path)
    elif path.is_file():
        files = _ZipSource(path)
        if not official:
            log(f"emnist: {path.name} {_md5_note(path)}")
    else:
        raise FetchError(f"{path}: no such file or folder (give gzip.zip or the folder of its .gz files)")
    wanted = _wanted(splits, files)
    folder = cache_dir(EMNIST_NAME, data_dir)
    done = {}
    for split in wanted:
        blobs, counts = _checked_split(split, files)
        for name, blob in blobs.items():
            # A folder may hold the IDX files un-gzipped: stored as they are, under their plain name.
            if not name.endswith(".gz"):
                write_atomic(folder / name, blob)
                continue
            plain = blob[:2] != b"\x1f\x8b"
            write_atomic(folder / (name.removesuffix(".gz") if plain else name), blob)
            (folder / (name if plain else name.removesuffix(".gz"))).unlink(missing_ok=True)  # no stale twin
        done[split.name] = counts
        log(f"  {split.name}: {counts[0]} train + {counts[1]} test images, {split.classes} classes")
    return done


def load_emnist(split: str, subset: str = "train", data_dir: str | os.PathLike | None = None) -> Emnist:
    """An imported split's train or test part: upright images, labels as mapping indices, their characters.

    Never downloads: MissingDataError names the file and the command that imports it."""
    spec = _split(split)
    if subset not in ("train", "test"):
        raise ValueError(f"unknown subset {subset!r} (use 'train' or 'test')")
    folder = cache_dir(EMNIST_NAME, data_dir)
    paths = []
    for name in (spec.file_name(subset, "images"), spec.file_name(subset, "labels"), spec.mapping_name):
        found = next((p for p in (folder / name, folder / name.removesuffix(".gz")) if p.is_file()), None)
        if found is None:
            hint = f" --data-dir {data_dir}" if data_dir else ""
            raise MissingDataError(f"EMNIST {split} not found in {folder} ({name}): run `inkdigit fetch emnist "
                                   f"--from PATH{hint}` with the archive gzip.zip")
        paths.append(found)
    codes = parse_mapping(paths[2].read_bytes(), spec, paths[2].name)
    images, raw_labels = read_idx(paths[0]), read_idx(paths[1])
    _check_images(images.shape, images.dtype, paths[0].name)
    labels = _label_indices(raw_labels, codes, len(images), paths[1].name, paths[2].name)
    # Stored transposed: swapping each picture's rows and columns turns it upright.
    return Emnist(np.ascontiguousarray(images.transpose(0, 2, 1)), labels, [chr(c[0]) for c in codes.values()])


def parse_mapping(data: bytes, split: EmnistSplit, name: str) -> dict[int, tuple[int, ...]]:
    """A mapping file → {label: (ascii code, [merged lower-case code])}, in label order; IdxError naming the
    file when a line is not numbers, a label repeats, or the class count is not the split's."""
    codes: dict[int, tuple[int, ...]] = {}
    try:
        lines = data.decode("ascii").splitlines()
    except UnicodeDecodeError:
        raise IdxError(f"{name}: not a text mapping file") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        fields = line.split()
        if not 2 <= len(fields) <= 3 or not all(f.isdigit() for f in fields):
            raise IdxError(f"{name}: line {n} is not 'label ascii-code' ({line.strip()[:40]!r})")
        label, *chars = (int(f) for f in fields)
        if label in codes:
            raise IdxError(f"{name}: label {label} is listed twice (line {n})")
        if label > 255:
            raise IdxError(f"{name}: label {label} on line {n} does not fit the IDX labels' one byte")
        if not all(32 < c < 127 for c in chars):
            raise IdxError(f"{name}: line {n} has a code that is not a printable ASCII character")
        codes[label] = tuple(chars)
    if len(codes) != split.classes:
        raise IdxError(f"{name}: {len(codes)} classes, but EMNIST {split.name} has {split.classes}")
    return dict(sorted(codes.items()))


class _Source:
    """Where a split's files are read from: their bytes by archive name, None when absent."""

    where: Path

    def read(self, name: str) -> bytes | None:
        raise NotImplementedError

    def has(self, name: str) -> bool:
        raise NotImplementedError


class _FolderSource(_Source):
    def __init__(self, where: Path) -> None:
        self.where = where

    def _path(self, name: str) -> Path | None:
        candidates = (self.where / name, self.where / name.removesuffix(".gz"), self.where / "gzip" / name)
        return next((p for p in candidates if p.is_file()), None)

    def has(self, name: str) -> bool:
        return self._path(name) is not None

    def read(self, name: str) -> bytes | None:
        path = self._path(name)
        if path is None:
            return None
        try:
            return path.read_bytes()
        except OSError as e:
            raise FetchError(f"{path}: cannot read ({e.strerror or e})") from None


class _ZipSource(_Source):
    def __init__(self, where: Path) -> None:
        self.where = where
        try:
            with zipfile.ZipFile(where) as z:
                # The official archive has them under gzip/; a repacked one may not: match by file name.
                self.members = {Path(m).name: m for m in z.namelist() if not m.endswith("/")}
        except (zipfile.BadZipFile, OSError) as e:
            raise FetchError(f"{where}: not a readable zip archive ({e}): give gzip.zip or the folder of its "
                             ".gz files") from None

    def has(self, name: str) -> bool:
        return name in self.members

    def read(self, name: str) -> bytes | None:
        if name not in self.members:
            return None
        try:
            with zipfile.ZipFile(self.where) as z:
                return z.read(self.members[name])
        except (zipfile.BadZipFile, OSError, zlib.error) as e:
            raise FetchError(f"{self.where}: {name} cannot be read from the archive ({e})") from None


def _split(name: str) -> EmnistSplit:
    try:
        return EMNIST_SPLITS[name]
    except KeyError:
        raise KeyError(f"unknown EMNIST split {name!r} (known: {', '.join(EMNIST_SPLITS)})") from None


def _wanted(splits: Iterable[str] | None, files: _Source) -> list[EmnistSplit]:
    """The splits to import: those named (each must be whole), or every split the source has a file of."""
    if splits is not None:
        wanted = [_split(s) for s in dict.fromkeys(splits)]
    else:
        wanted = [s for s in EMNIST_SPLITS.values() if any(files.has(n) for n in s.file_names)]
        if not wanted:
            raise FetchError(f"{files.where}: no EMNIST files in it (looked for e.g. "
                             f"{EMNIST_SPLITS['letters'].file_name('train', 'images')})")
    for split in wanted:
        missing = [n for n in split.file_names if not files.has(n)]
        if missing:
            more = f" and {len(missing) - 1} more of its files" if len(missing) > 1 else ""
            raise FetchError(f"{files.where}: EMNIST {split.name} is incomplete: {missing[0]} is missing{more}")
    return wanted


def _checked_split(split: EmnistSplit, files: _Source) -> tuple[dict[str, bytes], tuple[int, int]]:
    """A split's five files as bytes, after checking each; and its train and test image counts."""
    blobs = {name: files.read(name) or b"" for name in split.file_names}
    codes = parse_mapping(blobs[split.mapping_name], split, split.mapping_name)
    counts = []
    for subset in ("train", "test"):
        images, labels = split.file_name(subset, "images"), split.file_name(subset, "labels")
        n = _count_images(blobs[images], images)
        raw = read_idx_bytes(_gunzip(blobs[labels], labels), labels)
        _label_indices(raw, codes, n, labels, split.mapping_name)
        counts.append(n)
    return blobs, (counts[0], counts[1])


def _count_images(blob: bytes, name: str) -> int:
    """The number of images in a (gzipped) IDX image file, checked to be uint8 [N,28,28] with all its bytes:
    read as a stream, so the 547 MB of byclass's train images are never in memory at once unpacked."""
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(blob)) if blob[:2] == b"\x1f\x8b" else io.BytesIO(blob) as f:
            header = f.read(_IMAGES_HEADER)
            if len(header) < 4 or header[:2] != b"\0\0":
                raise IdxError(f"{name}: not an IDX file (bad magic number)")
            if header[2] != 0x08 or header[3] != 3 or len(header) < _IMAGES_HEADER:
                raise IdxError(f"{name}: not an IDX file of uint8 images (header {header[:4].hex()})")
            shape = tuple(int(d) for d in np.frombuffer(header, ">u4", 3, 4))
            _check_images(shape, np.dtype(np.uint8), name)
            size = 0
            while chunk := f.read(1 << 22):
                size += len(chunk)
    except (OSError, EOFError, zlib.error) as e:
        raise IdxError(f"{name}: corrupt gzip data ({e})") from None
    if size != shape[0] * SIDE * SIDE:
        raise IdxError(f"{name}: {size} bytes of pixels, expected {shape[0] * SIDE * SIDE} for {shape[0]} images")
    return shape[0]


def _check_images(shape: tuple[int, ...], dtype: np.dtype, name: str) -> None:
    if dtype != np.uint8 or len(shape) != 3 or shape[1:] != (SIDE, SIDE):
        raise IdxError(f"{name}: images of shape {shape} {dtype}, expected uint8 [N,28,28]")


def _gunzip(blob: bytes, name: str) -> bytes:
    if blob[:2] != b"\x1f\x8b":
        return blob
    try:
        return gzip.decompress(blob)
    except (OSError, EOFError, zlib.error) as e:
        raise IdxError(f"{name}: corrupt gzip data ({e})") from None


def _label_indices(raw: np.ndarray, codes: dict[int, tuple[int, ...]], n: int, name: str, mapping: str
                   ) -> np.ndarray:
    """Labels as indices in the mapping's order (letters' 1..26 → 0..25); IdxError naming the file when one is
    not in the mapping or the count is not one per image."""
    if raw.ndim != 1 or raw.dtype != np.uint8:
        raise IdxError(f"{name}: labels of shape {raw.shape} {raw.dtype}, expected uint8 [N]")
    if len(raw) != n:
        raise IdxError(f"{name}: {len(raw)} labels for {n} images")
    lookup = np.full(256, -1, np.int64)
    lookup[list(codes)] = np.arange(len(codes))
    indices = lookup[raw]
    bad = np.flatnonzero(indices < 0)
    if len(bad):
        lo, hi = min(codes), max(codes)
        raise IdxError(f"{name}: label {int(raw[bad[0]])} (image {int(bad[0])}) is not in {mapping} "
                       f"(labels {lo}-{hi})")
    return indices


def _md5_note(path: Path) -> str:
    """Whether a local archive is byte for byte the official one (it need not be: its form is checked)."""
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    got = digest.hexdigest()
    return ("matches the official archive's MD5" if got == EMNIST_MD5
            else f"is not byte for byte the official archive (md5 {got[:12]}…): importing what it holds")

"""Read and write IDX files (the MNIST file format), raw or gzip-compressed, with strict validation.

Format: 2 zero bytes, a dtype code, the number of dimensions, then each dimension as a big-endian
uint32, then the data in big-endian order. A file that does not match exactly is rejected with an
`IdxError` whose message names the file and what is wrong.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

from inkdigit.errors import IdxError
from inkdigit.fsutil import write_atomic

# dtype code -> numpy dtype (big-endian, as the format stores them)
_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dt.newbyteorder("="): code for code, dt in _DTYPES.items()}
_MAX_DIMS = 8



def read_idx_bytes(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parse IDX bytes into an array (native byte order); raises IdxError naming `name`."""
    if len(data) < 4:
        raise IdxError(f"{name}: too short to be an IDX file ({len(data)} bytes)")
    if data[0] != 0 or data[1] != 0:
        raise IdxError(f"{name}: bad magic number (first two bytes must be zero, got {data[0]:#x} {data[1]:#x})")
    code, ndim = data[2], data[3]
    if code not in _DTYPES:
        raise IdxError(f"{name}: unknown dtype code {code:#04x}")
    if not 1 <= ndim <= _MAX_DIMS:
        raise IdxError(f"{name}: bad number of dimensions ({ndim})")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IdxError(f"{name}: truncated header")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    if any(d == 0 for d in shape):
        raise IdxError(f"{name}: a dimension is zero {shape}")
    dtype = _DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    got = len(data) - header
    if got < expected:
        raise IdxError(f"{name}: truncated: expected {expected} data bytes for shape {shape}, found {got}")
    if got > expected:
        raise IdxError(f"{name}: {got - expected} unexpected trailing bytes after shape {shape}")
    # A writable native-order copy: callers (torch.from_numpy among them) may write to it.
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (raw, or gzip if the name ends in .gz or the bytes say so) into an array."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise IdxError(f"{path}: cannot read ({e.strerror or e})") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise IdxError(f"{path}: corrupt gzip data ({e})") from None
    return read_idx_bytes(raw, str(path))


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode an array as IDX bytes."""
    array = np.asarray(array)
    native = array.dtype.newbyteorder("=")
    if native not in _CODES:
        raise IdxError(f"dtype {array.dtype} cannot be stored in IDX")
    if not 1 <= array.ndim <= _MAX_DIMS:
        raise IdxError(f"IDX stores 1 to {_MAX_DIMS} dimensions, not {array.ndim}")
    code = _CODES[native]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    return header + np.ascontiguousarray(array, dtype=_DTYPES[code]).tobytes()


def write_idx(path: str | os.PathLike, array: np.ndarray, compress: bool | None = None) -> Path:
    """Write `array` to `path` atomically (temp file + rename); gzip when compress or name ends in .gz."""
    path = Path(path)
    data = idx_bytes(array)
    if compress or (compress is None and path.suffix == ".gz"):
        data = gzip.compress(data, compresslevel=6, mtime=0)
    write_atomic(path, data)
    return path


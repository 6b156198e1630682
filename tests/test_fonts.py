"""The handwriting fonts: fetching through a fake `npm` (offline), verifying, finding, and the one-line errors."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from inkdigit.data import fonts
from inkdigit.data.fonts import BENCHMARK_FAMILIES, FAMILIES, FontFamily, fetch_fonts, font_paths
from inkdigit.errors import FetchError, MissingDataError

ROOT = Path(__file__).resolve().parents[1]
# A real font that needs no network: the TrueType font Pillow carries for load_default().
FONT_BYTES = ImageFont.load_default(20).font_bytes
FAKE_NPM = f"""#!{sys.executable}
import os, shutil, sys
from pathlib import Path
args = sys.argv[1:]
with open(os.environ["FAKE_NPM_LOG"], "a") as log:
    log.write(" ".join(args) + "\\n")
dest = Path(args[args.index("--pack-destination") + 1])
for spec in [a for a in args if a.startswith("@fontsource/")]:
    name = spec.removeprefix("@fontsource/").replace("@", "-")
    src = Path(os.environ["FAKE_NPM_PACKAGES"]) / f"fontsource-{{name}}.tgz"
    if not src.is_file():
        print("npm notice some chatter", file=sys.stderr)
        print(f"npm error 404 Not Found - GET https://registry.example/{{spec}} - Not found", file=sys.stderr)
        sys.exit(1)
    shutil.copy(src, dest / src.name)
    print(src.name)
"""


def make_tarball(path: Path, family: FontFamily, blob: bytes) -> None:
    """A package laid out like fontsource's: package/package.json and package/files/<file>."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in ((f"package/files/{family.file_name}", blob), ("package/package.json", b"{}")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


@pytest.fixture
def fake_npm(tmp_path, monkeypatch) -> dict:
    """`npm` on PATH is a script serving tarballs from a folder and logging its calls; one family is pinned."""
    family = FontFamily("test-hand", "1.0.0", hashlib.sha256(FONT_BYTES).hexdigest())
    monkeypatch.setattr(fonts, "FAMILIES", {family.name: family})
    bin_dir, packages = tmp_path / "bin", tmp_path / "registry"
    bin_dir.mkdir()
    packages.mkdir()
    npm = bin_dir / "npm"
    npm.write_text(FAKE_NPM)
    npm.chmod(0o755)
    make_tarball(packages / family.tarball, family, FONT_BYTES)
    log = tmp_path / "npm-calls.log"
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("FAKE_NPM_LOG", str(log))
    monkeypatch.setenv("FAKE_NPM_PACKAGES", str(packages))
    return {"family": family, "packages": packages, "log": log, "data": tmp_path / "data"}


def npm_calls(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def test_fetch_writes_a_verified_font_pillow_reads_then_is_a_no_op(fake_npm):
    family, data = fake_npm["family"], fake_npm["data"]
    messages: list[str] = []
    paths = fetch_fonts(data_dir=data, log=messages.append)
    path = paths[family.name]
    assert path == data / "fonts" / family.name / family.file_name
    assert path.read_bytes() == FONT_BYTES
    (call,) = npm_calls(fake_npm["log"])
    assert call.startswith(f"pack {family.package} --silent --pack-destination ")
    assert any(family.package in m for m in messages)
    font = ImageFont.truetype(str(path), 40)
    im = Image.new("L", (200, 60), 0)
    ImageDraw.Draw(im).text((5, 5), "0123456789", font=font, fill=255)
    assert im.getbbox() is not None

    assert fetch_fonts(data_dir=data) == paths  # cached and verified: npm is not run again
    assert len(npm_calls(fake_npm["log"])) == 1
    assert font_paths(data_dir=data) == paths


def test_a_cached_file_that_fails_its_checksum_is_fetched_again(fake_npm):
    family, data = fake_npm["family"], fake_npm["data"]
    path = data / "fonts" / family.name / family.file_name
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not the font")
    with pytest.raises(MissingDataError):
        font_paths(data_dir=data)
    fetch_fonts(data_dir=data)
    assert path.read_bytes() == FONT_BYTES and len(npm_calls(fake_npm["log"])) == 1


def test_checksum_mismatch_is_rejected_and_not_cached(fake_npm, monkeypatch):
    family, data = fake_npm["family"], fake_npm["data"]
    make_tarball(fake_npm["packages"] / family.tarball, family, FONT_BYTES + b"tampered")
    with pytest.raises(FetchError) as e:
        fetch_fonts(data_dir=data)
    msg = str(e.value)
    assert "checksum mismatch" in msg and family.name in msg and "\n" not in msg
    assert not [p for p in (data / "fonts").rglob("*") if p.is_file()]  # not the file, nor a temp one


def test_a_file_missing_from_the_package_is_named(fake_npm):
    family, data = fake_npm["family"], fake_npm["data"]
    other = FontFamily("other", "1.0.0", family.sha256)
    make_tarball(fake_npm["packages"] / family.tarball, other, FONT_BYTES)
    with pytest.raises(FetchError, match=f"{family.file_name} is not in {family.package}"):
        fetch_fonts(data_dir=data)


def test_npm_missing_is_one_line(fake_npm, monkeypatch, tmp_path):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(FetchError) as e:
        fetch_fonts(data_dir=fake_npm["data"])
    assert "npm is not installed" in str(e.value) and "\n" not in str(e.value)


def test_npm_failing_is_one_line_with_its_reason(fake_npm):
    (fake_npm["packages"] / fake_npm["family"].tarball).unlink()
    with pytest.raises(FetchError) as e:
        fetch_fonts(data_dir=fake_npm["data"])
    msg = str(e.value)
    assert "404 Not Found" in msg and "\n" not in msg


def test_read_only_folder_is_one_line(fake_npm, monkeypatch):
    data = fake_npm["data"]
    (data / "fonts").mkdir(parents=True)
    (data / "fonts").chmod(0o555)

    def refuse(path: Path, blob: bytes) -> None:  # root ignores the mode bits: refuse as the kernel would
        raise PermissionError(13, "Permission denied", str(path))

    if os.geteuid() == 0:
        monkeypatch.setattr(fonts, "write_atomic", refuse)
    try:
        with pytest.raises(FetchError) as e:
            fetch_fonts(data_dir=data)
    finally:
        (data / "fonts").chmod(0o755)
    msg = str(e.value)
    assert "cannot write" in msg and "Permission denied" in msg and "\n" not in msg
    assert not list((data / "fonts").rglob("*.woff"))


def test_font_paths_without_fonts_says_to_fetch(tmp_path):
    with pytest.raises(MissingDataError) as e:
        font_paths(BENCHMARK_FAMILIES, tmp_path)
    msg = str(e.value)
    assert "inkdigit fetch --dataset fonts" in msg and str(tmp_path) in msg and "\n" not in msg


def test_unknown_family_is_named():
    with pytest.raises(KeyError, match="nope"):
        font_paths(["caveat", "nope"])


def test_the_pinned_families_cover_the_benchmark():
    assert set(BENCHMARK_FAMILIES) <= set(FAMILIES) and len(FAMILIES) >= 60
    assert all(len(f.sha256) == 64 and f.version.count(".") == 2 for f in FAMILIES.values())


def run_cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "inkdigit", *args], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=120)


def test_cli_without_npm_fails_in_one_line(tmp_path):
    env = dict(os.environ, PATH=str(tmp_path))  # no npm there
    r = run_cli("fetch", "--dataset", "fonts", "--data-dir", str(tmp_path / "data"), env=env)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 1 and "npm is not installed" in lines[0], r.stderr


@pytest.mark.parametrize("args", [["--dataset", "fonts", "--no-npm"], ["--families", "caveat"]])
def test_cli_flags_that_do_not_fit_fail_in_one_line(tmp_path, args):
    r = run_cli("fetch", "--data-dir", str(tmp_path), *args, env=dict(os.environ))
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr


@pytest.mark.slow
def test_the_real_benchmark_fonts_draw_every_digit():
    """With the fonts fetched (`make test` runs `inkdigit fetch --dataset fonts`), each benchmark family draws
    0-9 distinctly. Missing fonts fail here (font_paths' MissingDataError says how to fetch them)."""
    paths = font_paths(BENCHMARK_FAMILIES)
    for name, path in paths.items():
        font = ImageFont.truetype(str(path), 48)
        glyphs = set()
        for digit in "0123456789":
            im = Image.new("L", (120, 120), 0)
            ImageDraw.Draw(im).text((20, 10), digit, font=font, fill=255)
            assert im.getbbox() is not None, (name, digit)
            glyphs.add(im.tobytes())
        assert len(glyphs) == 10, name


def test_training_never_draws_the_benchmark_or_reserved_families():
    from inkdigit.data.fonts import TRAINING_FAMILIES

    assert TRAINING_FAMILIES and not set(TRAINING_FAMILIES) & set(BENCHMARK_FAMILIES)
    assert set(TRAINING_FAMILIES) | set(BENCHMARK_FAMILIES) == set(FAMILIES)
    kept_for_evaluation = {"klee", "kristi", "comic", "dancing", "kaushan", "yusei", "leckerli"}
    assert not {name for name in FAMILIES if any(word in name for word in kept_for_evaluation)}


@pytest.mark.slow
def test_font_digit_set_is_a_seeded_set_in_mnist_form():
    from inkdigit.data.fonts import TRAINING_FAMILIES
    from inkdigit.data.handwriting import font_digit_set

    fonts = font_paths(TRAINING_FAMILIES[:5])
    x, y = font_digit_set(fonts, 40, seed=3)
    assert x.shape == (40, 28, 28) and x.dtype == np.uint8 and list(y[:10]) == list(range(10))
    assert np.array_equal(x, font_digit_set(fonts, 40, seed=3)[0])
    assert not np.array_equal(x, font_digit_set(fonts, 40, seed=4)[0])
    # MNIST's form: white ink on black, brightest pixel full white, centre of mass at the centre
    assert (x.max(axis=(1, 2)) == 255).all() and (x.mean(axis=(1, 2)) < 80).all()
    grid = np.arange(28)
    mass = x.astype(float).sum(axis=(1, 2))
    com_y = (x.sum(axis=2) * grid).sum(axis=1) / mass
    com_x = (x.sum(axis=1) * grid).sum(axis=1) / mass
    assert (abs(com_y - 14) < 1.5).all() and (abs(com_x - 14) < 1.5).all()

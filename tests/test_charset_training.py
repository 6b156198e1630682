"""Training character-set models from font glyphs (`inkdigit train --charset ...`), and the bundled letters,
alnum and math models: which fonts each side of a run draws, the CLI end to end, the exported metadata, and
the bundled models reading clean glyphs of fonts they never saw."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from inkdigit.charsets import CHARSETS, get_charset
from inkdigit.data.fetch import default_data_dir
from inkdigit.data.fonts import BENCHMARK_FAMILIES, FAMILIES, FAMILY_LISTS, TRAINING_FAMILIES_57
from inkdigit.data.handwriting import FontChars
from inkdigit.errors import TrainError
from inkdigit.training import chardata
from inkdigit.training.config import TrainConfig
from inkdigit.training.recipes import RECIPES

ROOT = Path(__file__).resolve().parents[1]
CHARS = ROOT / "src" / "inkdigit" / "weights" / "chars"
# Debian's handwriting font packages and the fontsource families of the same designs are kept for independent
# evaluation (the line-reading issue): no run may draw them.
HELD_OUT_DESIGNS = ("klee-one", "kristi", "comic-neue", "dancing-script", "kaushan-script", "yusei-magic",
                    "leckerli-one")


class FakeDraw:
    """Stands in for the drawing: records the families each set is drawn from, returns blank glyphs."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str], int, int]] = []

    def paths(self, families, data_dir=None) -> dict:
        return {f: Path(f"/fonts/{f}.woff") for f in families}

    def draw(self, charset, families, per_label, seed, *, workers=1):
        self.calls.append((charset.name, sorted(families), per_label, seed))
        n = len(charset.labels) * per_label
        labels = np.repeat(np.arange(len(charset.labels)), per_label)
        return FontChars(np.zeros((n, 28, 28), np.uint8), labels, charset.labels, [], [], {})


@pytest.fixture
def fake_draw(monkeypatch, tmp_path) -> FakeDraw:
    fake = FakeDraw()
    monkeypatch.setattr(chardata, "font_paths", fake.paths)
    monkeypatch.setattr(chardata, "font_char_set", fake.draw)
    monkeypatch.setattr(chardata, "glyph_cache_dir", lambda data_dir=None: tmp_path / "glyphs")
    return fake


def test_each_side_of_a_font_run_draws_its_own_fonts_and_never_the_held_out_designs(fake_draw):
    cfg = TrainConfig(model="resnet-small", charset="letters", dataset="fonts", font_chars=5).resolved()
    (x_tr, y_tr), (x_va, _), (x_te, _) = chardata.font_run_data(cfg, log=lambda m: None)
    (train, *_), (val, *_), (test, *_) = [call[1:] for call in fake_draw.calls]
    assert len(x_tr) == 26 * 5 and sorted(set(y_tr.tolist())) == list(range(26))
    assert len(x_va) == 26 * chardata.VAL_PER_LABEL and len(x_te) == 26 * chardata.TEST_PER_LABEL
    # validation fonts are training families never trained on; the test fonts are the benchmark families
    assert set(train) | set(val) == set(FAMILY_LISTS[cfg.font_families]) and not set(train) & set(val)
    assert len(val) == cfg.val_fonts and sorted(test) == sorted(BENCHMARK_FAMILIES)
    assert not set(test) & (set(train) | set(val))
    drawn = set(train) | set(val) | set(test)
    assert not {f for f in drawn for design in HELD_OUT_DESIGNS if design.split("-")[0] in f}
    assert not {f for f in FAMILIES for design in HELD_OUT_DESIGNS if design.split("-")[0] in f}


@pytest.mark.parametrize("name", list(FAMILY_LISTS))
def test_no_family_list_a_recipe_can_name_holds_a_benchmark_or_held_out_design(name):
    families = FAMILY_LISTS[name]
    assert families and set(families) <= set(FAMILIES) and len(set(families)) == len(families)
    assert not set(families) & set(BENCHMARK_FAMILIES)
    assert not {f for f in families for design in HELD_OUT_DESIGNS if design.split("-")[0] in f}


def test_math_trains_on_the_57_families_it_shipped_on_while_letters_and_alnum_take_todays(fake_draw):
    sides = {}
    for charset in ("letters", "alnum", "math"):
        cfg = TrainConfig(model="resnet-small", charset=charset, dataset="fonts", font_chars=2).resolved()
        fake_draw.calls.clear()
        chardata.font_run_data(cfg, log=lambda m: None)
        (train, *_), (val, *_), (test, *_) = [call[1:] for call in fake_draw.calls]
        sides[charset] = cfg.font_families, train, val, test
    # the shipped math model's fonts (before 7ed500b's 47): 49 training and these 8 validation fonts
    families, train, val, test = sides["math"]
    assert families == "training-57" and len(train) == 49 and set(train) | set(val) == set(TRAINING_FAMILIES_57)
    assert val == ["alex-brush", "amatic-sc", "architects-daughter", "delicious-handrawn", "ephesis", "mansalva",
                   "nanum-brush-script", "sacramento"]
    assert not set(train) & set(val) and sorted(test) == sorted(BENCHMARK_FAMILIES)
    for charset in ("letters", "alnum"):  # today's 104: 96 training and 8 validation fonts
        families, train, val, test = sides[charset]
        assert families == "training" and (len(train), len(val)) == (96, 8)
        assert set(train) | set(val) == set(FAMILY_LISTS["training"]) and sorted(test) == sorted(BENCHMARK_FAMILIES)


def test_a_run_saved_before_font_families_existed_keeps_the_training_list(fake_draw, monkeypatch, tmp_path):
    from inkdigit.training.runs import saved_settings

    real = np.zeros((200, 28, 28), np.uint8), np.arange(200, dtype=np.int64) % 10
    monkeypatch.setattr(chardata, "load", lambda name, split, data_dir=None: real)
    monkeypatch.setattr(chardata, "split_train_val", lambda n, size, seed: (np.arange(100), np.arange(100, 200)))
    settings = dataclasses.asdict(TrainConfig(model="resnet-small", charset="math").resolved())
    assert settings["font_families"] == "training-57"  # what config.json and the exported metadata keep
    del settings["font_families"]  # a math run's config.json made before the setting (it drew "training")
    chardata.font_val_data(settings)  # export: its temperature is fitted on that list's validation fonts
    assert fake_draw.calls[0][1] == sorted(chardata.font_split(8, "training").validation)
    (tmp_path / "config.json").write_text(json.dumps({"settings": settings}))
    assert saved_settings(tmp_path)["font_families"] == "training"  # --resume: not today's math recipe


def test_another_seed_draws_other_training_glyphs_in_the_same_fonts(fake_draw):
    for seed in (0, 1):
        cfg = TrainConfig(model="resnet-small", charset="math", dataset="fonts", font_chars=3, seed=seed)
        chardata.font_run_data(cfg.resolved(), log=lambda m: None)
    (tr0, _, _), (tr1,) = fake_draw.calls[:3], fake_draw.calls[3:]  # the second run's val and test: cached
    assert tr0[1] == tr1[1]  # the same training fonts
    assert (tr0[3], tr1[3]) == (0, 1)  # the training glyphs follow the run's seed


def test_a_charsets_digits_come_from_mnist_too_unless_fonts_only(fake_draw, monkeypatch):
    real = np.full((200, 28, 28), 7, np.uint8), np.arange(200, dtype=np.int64) % 10
    monkeypatch.setattr(chardata, "load", lambda name, split, data_dir=None: real)
    monkeypatch.setattr(chardata, "split_train_val", lambda n, size, seed: (np.arange(100), np.arange(100, 200)))
    cfg = TrainConfig(model="resnet-small", charset="math", font_chars=4).resolved()
    x, y = chardata.side_data(cfg, "train", log=lambda m: None)
    math = get_charset("math")
    # every label has 4 pictures: a digit's are 2 drawn and 2 of MNIST's (the fake MNIST images are all 7s)
    assert len(x) == 18 * 4 and np.bincount(y).tolist() == [4] * 18
    assert (x[-20:] == 7).all() and not x[:-20].any()
    assert sorted(math.labels[k] for k in y[-20:]) == sorted("0123456789" * 2)
    fonts_only = TrainConfig(model="resnet-small", charset="math", font_chars=4, dataset="fonts").resolved()
    assert len(chardata.side_data(fonts_only, "train", log=lambda m: None)[0]) == 18 * 4
    # the fonts-only digits are tested on real handwriting: MNIST's test set
    gap = TrainConfig(model="resnet-small", charset="digits", dataset="fonts").resolved()
    assert chardata.side_data(gap, "test", log=lambda m: None)[0] is real[0]


def test_a_drawn_set_is_cached_by_what_makes_it(fake_draw, tmp_path):
    letters = get_charset("letters")
    a = chardata.glyphs(letters, ["caveat"], 2, 0, log=lambda m: None)
    chardata.glyphs(letters, ["caveat"], 2, 0, log=lambda m: None)
    assert len(fake_draw.calls) == 1 and len(list((tmp_path / "glyphs").glob("letters-2-*.npz"))) == 1
    chardata.glyphs(letters, ["caveat"], 2, 1, log=lambda m: None)  # another seed: another set
    chardata.glyphs(letters, ["kalam"], 2, 0, log=lambda m: None)  # other fonts: another set
    assert len(fake_draw.calls) == 3
    cached = chardata.glyphs(letters, ["caveat"], 2, 0, log=lambda m: None)
    assert np.array_equal(a[0], cached[0]) and np.array_equal(a[1], cached[1])


def test_digit_runs_resolve_exactly_as_before_and_charset_runs_take_their_recipe():
    for model, recipe in RECIPES.items():
        cfg = TrainConfig(model=model).resolved()
        assert {k: getattr(cfg, k) for k in recipe} == recipe and cfg.charset == "digits"
        assert cfg.augment_strength == 1.0 and not cfg.draws_fonts()
    letters = TrainConfig(model="resnet-small", charset="letters").resolved()
    assert letters.draws_fonts() and letters.font_chars >= 1000 and letters.lr == RECIPES["resnet-small"]["lr"]
    assert TrainConfig(model="resnet-small", charset="letters", epochs=2).resolved().epochs == 2  # flags win


@pytest.mark.parametrize(("settings", "words"), [
    (dict(charset="greek"), "unknown character set 'greek'"),
    (dict(charset="letters", font_chars=0), "--font-chars must be >= 1"),
    (dict(charset="letters", font_digits=100), "--font-digits"),
    (dict(charset="letters", val_fonts=0), "--val-fonts must be >= 1"),
    (dict(charset="letters", font_families="everything"), "unknown font family list 'everything'"),
    (dict(charset="math", val_fonts=57), "--val-fonts must leave fonts to train on: 57 of the 57 families"),
])
def test_bad_charset_settings_are_one_line(settings, words):
    with pytest.raises(TrainError, match=words) as e:
        TrainConfig(model="resnet-small", **settings).resolved()
    assert "\n" not in str(e.value)


def test_a_net_of_a_charset_has_one_output_per_label():
    import torch

    from inkdigit.training.nets import build_model

    for name in ("paper", "resnet-small"):
        assert build_model(name, num_classes=47).eval()(torch.zeros(2, 1, 28, 28)).shape == (2, 47)


def _data_dir_with_real_fonts_and_mnist(tmp_path: Path) -> Path:
    """A data dir whose fonts and MNIST are the cached real ones (`make data`), and whose glyph cache is new."""
    data = tmp_path / "data"
    data.mkdir()
    for name in ("fonts", "mnist"):
        (data / name).symlink_to(default_data_dir() / name, target_is_directory=True)
    return data


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "inkdigit", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=600)


@pytest.mark.slow
def test_a_dry_run_letters_model_trains_through_the_cli_and_exports_its_labels(tmp_path):
    from inkdigit.inference import Predictor

    data = _data_dir_with_real_fonts_and_mnist(tmp_path)
    run, onnx = tmp_path / "run", tmp_path / "letters.onnx"
    r = _cli("train", "--model", "resnet-small", "--charset", "letters", "--dry-run", "--out", str(run),
             "--no-progress", "--data-dir", str(data))
    assert r.returncode == 0, r.stderr
    assert "drawing" in r.stdout and "(letters: fonts)" in r.stdout
    settings = json.loads((run / "config.json").read_text())["settings"]
    assert settings["charset"] == "letters" and settings["dataset"] == "mnist"
    assert settings["font_families"] == "training"
    r = _cli("export", str(run), "--out", str(onnx), "--data-dir", str(data))
    assert r.returncode == 0, r.stderr
    model = Predictor(onnx)
    assert model.labels == list(get_charset("letters").labels) and model.name == "letters"
    assert model.metadata["charset"] == "letters" and model.metadata["training"][0]["settings"]["charset"] == "letters"
    assert model.predict_arrays(np.zeros((3, 28, 28), np.float32)).shape == (3, 26)
    # a second run draws nothing: its glyphs come from the cache
    r = _cli("train", "--model", "resnet-small", "--charset", "letters", "--dry-run", "--out", str(tmp_path / "again"),
             "--no-progress", "--data-dir", str(data))
    assert r.returncode == 0 and "drawing" not in r.stdout, r.stdout + r.stderr
    # Two runs that held out the same fonts average into one model; runs on other fonts are refused in one line.
    r = _cli("export", str(run), str(tmp_path / "again"), "--out", str(tmp_path / "two.onnx"), "--data-dir", str(data))
    assert r.returncode == 0, r.stderr
    two = Predictor(tmp_path / "two.onnx")
    assert two.labels == model.labels and two.name == "letters" and "ensemble of 2" in two.metadata["description"]
    # --half (as the bundled letters): the same model at about half the size, its weights stored in 16 bits.
    r = _cli("export", str(run), str(tmp_path / "again"), "--half", "--out", str(tmp_path / "half.onnx"),
             "--data-dir", str(data))
    assert r.returncode == 0, r.stderr
    half = Predictor(tmp_path / "half.onnx")
    assert half.metadata["weights_dtype"] == "float16" and half.metadata["half_max_abs_diff"] < 2e-3
    assert (tmp_path / "half.onnx").stat().st_size < 0.6 * (tmp_path / "two.onnx").stat().st_size
    glyphs = np.random.default_rng(0).random((8, 28, 28), dtype=np.float32)
    assert np.abs(half.predict_arrays(glyphs) - two.predict_arrays(glyphs)).max() < 2e-3
    shutil.copytree(tmp_path / "again", tmp_path / "other")
    config = json.loads((tmp_path / "other" / "config.json").read_text())
    config["settings"]["val_fonts"] = 6
    (tmp_path / "other" / "config.json").write_text(json.dumps(config))
    r = _cli("export", str(run), str(tmp_path / "other"), "--out", str(tmp_path / "bad.onnx"), "--data-dir", str(data))
    assert r.returncode != 0 and "same validation and test fonts" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "bad.onnx").exists()


@pytest.mark.slow
def test_a_dry_run_of_the_fonts_only_digits_is_tested_on_mnist(tmp_path):
    data = _data_dir_with_real_fonts_and_mnist(tmp_path)
    r = _cli("train", "--model", "resnet-small", "--charset", "digits", "--dataset", "fonts", "--dry-run",
             "--out", str(tmp_path / "run"), "--no-progress", "--data-dir", str(data))
    assert r.returncode == 0, r.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["test_size"] == 256  # a dry run's slice of MNIST's test set, not font glyphs


def clean_glyph(font: Path, char: str) -> Image.Image:
    """`char` in a font as a person would print it neatly: black on white, upright, no variation."""
    f = ImageFont.truetype(str(font), 96)
    im = Image.new("L", (240, 240), 255)
    ImageDraw.Draw(im).text((120, 120), char, font=f, fill=0, anchor="mm")
    return im


@pytest.mark.slow
@pytest.mark.parametrize("name", ["letters", "alnum", "math"])
def test_each_bundled_charset_model_reads_clean_glyphs_of_unseen_fonts(name):
    from inkdigit.data.fonts import font_paths
    from inkdigit.data.handwriting import has_glyph
    from inkdigit.inference import Predictor

    path = CHARS / f"{name}.onnx"
    assert path.stat().st_size <= 2_000_000
    model = Predictor(path)
    charset = CHARSETS[name]
    assert model.labels == list(charset.labels) and model.metadata["charset"] == name
    right = total = 0
    for font in font_paths(["patrick-hand", "kalam", "indie-flower"]).values():  # benchmark families
        for label in charset.labels:
            for form in charset.forms_of(label):
                if has_glyph(str(font), form):
                    total += 1
                    right += model.predict(clean_glyph(font, form)).text == label
    assert total > 2 * len(charset.labels) and right / total >= 0.8, f"{right}/{total}"

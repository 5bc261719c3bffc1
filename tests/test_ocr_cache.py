"""The persistent OCR cache (``patrol.ocr.cache``), with real Tesseract and real files.

Hits and misses are counted as Tesseract calls, never timed. Each test has its own
cache folder and clears the in-memory cache first, so what it sees is the disk.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import in_threads

from patrol.config import Config
from patrol.core.geometry import Box
from patrol.ocr import DEFAULT_SETTINGS, OcrStore, engine, read, store_at
from patrol.ocr.cache import pixel_digest

pytestmark = pytest.mark.skipif(shutil.which("tesseract") is None, reason="needs Tesseract")

LANG = "eng"  # one model: quick to load and to read


def card(text: str, width: int = 400, height: int = 120) -> np.ndarray:
    """An RGBA screenshot-like image (as a step's evidence holds): dark text on white."""
    img = np.full((height, width, 4), 255, np.uint8)
    cv2.putText(img, text, (14, 70), cv2.FONT_HERSHEY_SIMPLEX, 1.1, (30, 30, 30, 255), 2, cv2.LINE_AA)
    return img


@pytest.fixture(autouse=True)
def fresh_memory():
    engine.clear_cache()
    yield
    engine.clear_cache()


class Reader:
    """Reads through one store and says whether Tesseract ran."""

    def __init__(self, store: OcrStore) -> None:
        self.store = store

    def __call__(self, image, **kwargs):
        engine.clear_cache()  # the disk is what is tested
        calls = engine.stats["tesseract_calls"]
        result = read(image, lang=kwargs.pop("lang", LANG), store=self.store, **kwargs)
        return result, engine.stats["tesseract_calls"] - calls


def entries(store: OcrStore) -> list[Path]:
    return sorted(store.folder.glob("*.json"))


def test_the_same_pixels_are_read_once_across_processes_worth_of_runs(tmp_path):
    image = card("Total 5310 paid")
    first, calls = Reader(OcrStore(tmp_path))(image)
    assert calls >= 1 and "5310" in first.text
    # A new store object on the same folder: what a later run sees.
    again, calls = Reader(OcrStore(tmp_path))(image.copy())
    assert calls == 0
    assert again.text == first.text
    assert [(w.text, w.box, w.confidence) for w in again.words] == [(w.text, w.box, w.confidence) for w in first.words]
    assert len(entries(OcrStore(tmp_path))) == 1


def test_the_same_pixels_elsewhere_on_the_screen_hit_and_boxes_move(tmp_path):
    read_ = Reader(OcrStore(tmp_path))
    image = card("Total 5310 paid")
    alone, _ = read_(image)
    screen = np.full((400, 900, 4), 255, np.uint8)
    screen[200:320, 300:700] = image
    # A 900x400 screen has the same pixel density (1) as a 400x120 one.
    placed, calls = read_(screen, region=Box(300, 200, 400, 120))
    assert calls == 0 and placed.text == alone.text
    assert [w.box for w in placed.words] == [Box(b.x + 300, b.y + 200, b.w, b.h) for b in (w.box for w in alone.words)]


def test_a_png_and_the_steps_rgba_array_are_the_same_entry(tmp_path):
    read_ = Reader(OcrStore(tmp_path))
    image = card("Total 5310 paid")
    ok, png = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA))
    _, calls = read_(image)
    assert calls >= 1
    _, calls = read_(png.tobytes())
    assert calls == 0


def test_changed_pixels_miss(tmp_path):
    read_ = Reader(OcrStore(tmp_path))
    read_(card("Total 5310 paid"))
    changed, calls = read_(card("Total 5316 paid"))
    assert calls >= 1 and "5316" in changed.text
    one_pixel = card("Total 5310 paid")
    one_pixel[0, 0, :3] = 254  # a single pixel in a corner
    _, calls = read_(one_pixel)
    assert calls >= 1


def test_another_language_misses(tmp_path):
    read_ = Reader(OcrStore(tmp_path))
    image = card("Total 5310 paid")
    read_(image, lang="eng")
    _, calls = read_(image, lang="chi_sim+eng")
    assert calls >= 1
    _, calls = read_(image, lang="chi_sim+eng")
    assert calls == 0


def test_another_engine_version_misses(tmp_path):
    image = card("Total 5310 paid")
    real = OcrStore(tmp_path)
    Reader(real)(image)
    newer = OcrStore(tmp_path, engine_id=lambda lang: f"tesseract 9.9.9|{lang}")
    _, calls = Reader(newer)(image)
    assert calls >= 1
    _, calls = Reader(newer)(image)
    assert calls == 0
    # The real engine's entry is still there, under its own key.
    _, calls = Reader(OcrStore(tmp_path))(image)
    assert calls == 0
    assert len(entries(real)) == 2


def test_the_engine_id_names_version_and_language_files():
    from patrol.ocr import tess

    ident = tess.engine_id("chi_sim+eng")
    assert ident.startswith(f"tesseract {tess.version()}|chi_sim+eng|chi_sim:")
    assert "|eng:" in ident and ":?" not in ident
    assert tess.engine_id("eng") != ident


def test_other_preprocessing_settings_miss(tmp_path):
    read_ = Reader(OcrStore(tmp_path))
    image = card("Total 5310 paid")
    read_(image)
    for other in [dataclasses.replace(DEFAULT_SETTINGS, gamma=1.0),
                  dataclasses.replace(DEFAULT_SETTINGS, upscale=1.5),
                  dataclasses.replace(DEFAULT_SETTINGS, psm_small=7)]:
        _, calls = read_(image, settings=other)
        assert calls >= 1, other
    _, calls = read_(image, scale=3.0)  # an explicit upscale is preprocessing too
    assert calls >= 1


def test_a_deleted_cache_folder_is_made_again(tmp_path):
    store = OcrStore(tmp_path / "ocr-cache")
    read_ = Reader(store)
    image = card("Total 5310 paid")
    read_(image)
    shutil.rmtree(tmp_path / "ocr-cache")
    result, calls = read_(image)
    assert calls >= 1 and "5310" in result.text
    assert len(entries(store)) == 1
    _, calls = read_(image)
    assert calls == 0


@pytest.mark.parametrize("damage", [b"", b"{not json", b'{"format": 1, "key": "x", "lines": []}', b"\xff\xfe\x00",
                                    b'{"format": 1, "lines": [[["a", 1]]]}'])
def test_a_corrupt_entry_is_ignored_and_written_again(tmp_path, damage):
    store = OcrStore(tmp_path)
    read_ = Reader(store)
    image = card("Total 5310 paid")
    first, _ = read_(image)
    (path,) = entries(store)
    path.write_bytes(damage)
    result, calls = read_(image)
    assert calls >= 1 and result.text == first.text
    assert store.stats["corrupt"] == 1
    assert json.loads(path.read_bytes())["lines"]  # replaced by a whole entry
    _, calls = read_(image)
    assert calls == 0


def test_the_size_bound_evicts_the_least_recently_used(tmp_path):
    store = OcrStore(tmp_path, max_entries=2)
    read_ = Reader(store)
    images = [card(f"Total {n} paid") for n in (5310, 7420, 9630)]
    for image in images:
        read_(image)
    assert len(entries(store)) == 2 and store.stats["evicted"] == 1
    _, calls = read_(images[2])
    assert calls == 0  # the newest stayed
    _, calls = read_(images[0])
    assert calls >= 1  # the oldest went


def test_the_byte_bound_evicts(tmp_path):
    store = OcrStore(tmp_path, max_bytes=1)
    Reader(store)(card("Total 5310 paid"))
    assert entries(store) == [] and store.stats["evicted"] == 1


def test_concurrent_writers_leave_whole_entries(tmp_path):
    store = OcrStore(tmp_path)
    lines = [[("Total", 14, 50, 80, 24, 96.0), ("5310", 100, 50, 60, 24, 95.0)]]
    key = store.key(pixel_digest(card("x")), LANG, "s")

    def write() -> None:
        for _ in range(30):
            store.put(key, lines)
            got = store.get(key)
            assert got is None or got == lines

    assert not in_threads(write, 4)
    assert store.get(key) == lines
    assert [p.name for p in store.folder.iterdir()] == [f"{key}.json"]  # no temporary files left


def test_an_unwritable_cache_does_not_stop_reading(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result, calls = Reader(OcrStore(blocker / "cache"))(card("Total 5310 paid"))
    assert calls >= 1 and "5310" in result.text


def test_the_cache_folder_is_a_setting_next_to_patrol_yaml_or_shared_by_the_environment(tmp_path, monkeypatch):
    from patrol.checks.screen import OCR_CACHE_ENV, ocr_store
    from patrol.yamlpos import load

    monkeypatch.delenv(OCR_CACHE_ENV, raising=False)  # the suite shares one (conftest)

    def config(text: str) -> Config:
        return Config(file=str(tmp_path / "patrol.yaml"), root=tmp_path, located=load(text, "patrol.yaml"))

    default = ocr_store(config("concurrency: 1\n"))
    assert default is not None and default.root == tmp_path / ".patrol" / "ocr-cache"
    assert default is store_at(tmp_path / ".patrol" / "ocr-cache")  # one store per folder
    moved = ocr_store(config("ocr: {cache: /var/cache/patrol-ocr}\n"))
    assert moved is not None and moved.root == Path("/var/cache/patrol-ocr")
    assert ocr_store(config("ocr: {cache: false}\n")) is None
    assert ocr_store(None) is None
    monkeypatch.setenv(OCR_CACHE_ENV, str(tmp_path / "shared"))
    shared = ocr_store(config("ocr: {cache: /var/cache/patrol-ocr}\n"))
    assert shared is not None and shared.root == tmp_path / "shared"
    assert ocr_store(config("ocr: {cache: false}\n")) is None  # switched off in patrol.yaml: off


def test_every_byte_of_a_large_image_and_its_shape_count_in_its_key():
    big = np.full((1300, 1000, 4), 200, np.uint8)  # 5.2 MB
    digest = pixel_digest(big)
    assert pixel_digest(big.copy()) == digest
    for y, x in [(0, 0), (649, 999), (650, 0), (1299, 999)]:  # first, middle and last bytes
        changed = big.copy()
        changed[y, x, 3] = 201
        assert pixel_digest(changed) != digest
    assert pixel_digest(big.reshape(1000, 1300, 4)) != digest  # the same bytes, another shape
    assert pixel_digest(big[:, :, :3]) != pixel_digest(big)  # an RGB crop is not the RGBA one


def test_warm_up_loads_the_engines_in_the_background():
    from patrol.ocr import tess, warm_up

    if tess.backend() != "library":
        pytest.skip("the command line loads its models on every call")
    thread = warm_up("chi_sim+eng")
    if thread is not None:
        thread.join(60)
    assert tess._pool.count.get("chi_sim+eng") and tess._pool.count.get("chi_sim")
    assert warm_up("chi_sim+eng") is None  # once per process

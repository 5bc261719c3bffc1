"""The second OCR engine: RapidOCR (PP-OCR models from its wheel, onnxruntime) on a
real Chromium screenshot, ``ocr: {engine: both}`` asking it only where Tesseract did
not find the words, and ``ocr.engine`` in patrol.yaml.

RapidOCR's models load once for the module (about 3 s), with the network cut: they
come from the wheel, nothing is downloaded.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
from pathlib import Path

import pytest

from patrol.config import ConfigError, load_config
from patrol.ocr import OcrStore, engine, find, rapid, read
from patrol.ocr.locate import locate_text

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]

needs_browser = pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="needs Chromium")

# An app screen: amounts, a date, a red button, a grey caption, English.
SCREEN = """<!doctype html><html><head><meta charset="utf-8"><style>
body{margin:0;padding:12px 16px;font-family:"Noto Sans CJK SC",sans-serif;background:#f3f4f7;color:#222}
.card{background:#fff;border-radius:8px;padding:10px 14px;margin-bottom:10px}
.cap{font-size:12px;color:#9a9ea6} .big{font-size:26px;font-weight:600}
.btn{display:inline-block;background:#e53935;color:#fff;padding:4px 12px;border-radius:4px;font-size:14px}
</style></head><body>
<div class="card"><div class="cap" id="cap">可用余额（元）</div><div class="big" id="amount">¥ 3,560.20</div>
<div class="cap" id="date">更新于 2025-11-02 14:36</div></div>
<div class="card"><span class="btn" id="btn">确认转账</span> <span id="en" style="font-size:14px">Transfer now</span></div>
</body></html>"""
IDS = ["cap", "amount", "date", "btn", "en"]

# A label Tesseract misses and RapidOCR reads (benchmarks/ocr.py --corpus phrases -v):
# white text on a small red tag at device scale 1. The tag is too small to be taken
# for a background Tesseract's preprocessing repaints, so its text stays white on grey.
WEAK = """<!doctype html><html><head><meta charset="utf-8"><style>
body{margin:0;padding:10px 12px;font-family:"Noto Sans CJK SC",sans-serif;background:#fff}
.l{font-size:14px;color:#fff;background:#e53935;padding:3px 10px;border-radius:4px}
</style></head><body><div><span class="l" id="weak">WEAK_LABEL</span></div></body></html>"""
WEAK_LABEL = "确认转账"


@pytest.fixture(scope="module")
def rapid_loaded():
    """RapidOCR's models, loaded with every outgoing connection refused."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"RapidOCR tried to reach the network: {args[1:]}")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", refuse)
        mp.setattr(socket, "create_connection", refuse)
        rapid._load()
    return rapid


@pytest.fixture(scope="module")
def shots():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 480, "height": 200})
            page.set_content(SCREEN)
            page.evaluate("document.fonts.ready")
            screen = page.screenshot(), {i: page.locator(f"#{i}").bounding_box() for i in IDS}
            page.set_viewport_size({"width": 300, "height": 50})
            page.set_content(WEAK.replace("WEAK_LABEL", WEAK_LABEL))
            page.evaluate("document.fonts.ready")
            weak = page.screenshot(), page.locator("#weak").bounding_box()
        finally:
            browser.close()
    return screen, weak


def _on(point: tuple[float, float], box: dict) -> bool:
    x, y = point
    return box["x"] - 2 <= x <= box["x"] + box["width"] + 2 and box["y"] - 2 <= y <= box["y"] + box["height"] + 2


@needs_browser
def test_rapidocr_reads_a_real_screen_from_the_wheels_models(rapid_loaded, shots, tmp_path):
    (png, boxes), _ = shots
    # The models are the wheel's own files.
    for path in rapid.model_paths().values():
        assert path.parent == rapid.model_dir() and path.is_file()
        assert "site-packages" in str(path) or "dist-packages" in str(path)
    store = OcrStore(tmp_path)
    result = read(png, engine="rapidocr", store=store)
    for word, element in [("可用余额(元)", "cap"), ("¥ 3,560.20", "amount"), ("2025-11-02 14:36", "date"),
                          ("确认转账", "btn"), ("Transfer now", "en")]:
        match = find(result, word)
        assert match is not None, (word, result.text)
        assert _on(match.center, boxes[element]), (word, match.box, boxes[element])
    # Words, with confidences, as Tesseract's readings have them; no stray spaces between digits.
    assert all(0 < w.confidence <= 100 for w in result.words)
    assert "3,560.20" in result.text and "Transfer now" in result.text
    # Kept in the OCR cache under RapidOCR's own key: read again from disk, the engine not asked.
    engine.clear_cache()
    calls = engine.stats["rapidocr_calls"]
    again = read(png, engine="rapidocr", store=OcrStore(tmp_path))
    assert engine.stats["rapidocr_calls"] == calls and again.text == result.text
    tesseract_key = store.key("d", "chi_sim+eng", "p")
    assert store.key("d", "chi_sim+eng", "p", engine=rapid.engine_id()) != tesseract_key
    assert rapid.engine_id().startswith("rapidocr ")


@needs_browser
def test_both_asks_rapidocr_only_where_tesseract_did_not_find_the_words(rapid_loaded, shots):
    (screen, boxes), (png, box) = shots
    # Words Tesseract finds cost no RapidOCR read at all.
    engine.clear_cache()
    calls = engine.stats["rapidocr_calls"]
    found = asyncio.run(locate_text(screen, "Transfer now", engine="both"))
    assert found is not None and _on((found.x + found.w / 2, found.y + found.h / 2), boxes["en"])
    assert engine.stats["rapidocr_calls"] == calls
    engine.clear_cache()
    assert find(read(png), WEAK_LABEL) is None  # Tesseract misses it...
    assert find(read(png, engine="rapidocr"), WEAK_LABEL) is not None  # ...RapidOCR reads it
    assert asyncio.run(locate_text(png, WEAK_LABEL, engine="tesseract")) is None
    engine.clear_cache()
    calls = engine.stats["rapidocr_calls"]
    found = asyncio.run(locate_text(png, WEAK_LABEL, engine="both"))
    assert found is not None and _on((found.x + found.w / 2, found.y + found.h / 2), box)
    assert engine.stats["rapidocr_calls"] == calls + 1  # its reading of the screen was kept


def _config(tmp_path: Path, text: str):
    path = tmp_path / "patrol.yaml"
    path.write_text(text, encoding="utf-8")
    return load_config(str(path))


def test_ocr_engine_in_patrol_yaml(tmp_path):
    assert _config(tmp_path, "ocr: {lang: chi_sim}\n").settings.ocr.engine == "tesseract"
    for value in ("tesseract", "rapidocr", "both"):
        assert _config(tmp_path, f"ocr: {{engine: {value}}}\n").settings.ocr.engine == value
    with pytest.raises(ConfigError) as bad:
        _config(tmp_path, "ocr:\n  engine: paddle\n")
    message = str(bad.value)
    assert "patrol.yaml:2:11: ocr.engine: 'paddle' is not an OCR engine; expected one of: tesseract, rapidocr, both" \
        in message, message
    with pytest.raises(ConfigError, match=r"did you mean 'rapidocr'\?"):
        _config(tmp_path, "ocr: {engine: rapid-ocr}\n")
    with pytest.raises(ConfigError, match="is not an OCR engine"):
        _config(tmp_path, "ocr: {engine: [tesseract, rapidocr]}\n")
    assert engine.engines_for("both") == ("tesseract", "rapidocr")
    assert engine.engines_for("rapidocr") == ("rapidocr",)
    # patrol doctor names RapidOCR's wheel models when the engine asks for them, and not otherwise.
    from patrol.cli.doctor import rapidocr

    assert rapidocr(_config(tmp_path, "ocr: {lang: chi_sim}\n")) == []
    [item] = rapidocr(_config(tmp_path, "ocr: {engine: both}\n"))
    assert item.ok and "PP-OCRv6_rec_small.onnx" in item.detail and "from the wheel" in item.detail


CHIP_PAGE = """<!doctype html><html><head><meta charset="utf-8"><style>
body{margin:0;padding:20px;font-family:"Noto Sans CJK SC",sans-serif;background:#fff;color:#222;font-size:15px}
.l{font-size:14px;color:#fff;background:#e53935;padding:3px 10px;border-radius:4px}
</style></head><body><p id="title">账户余额</p><p><span class="l">WEAK_LABEL</span></p></body></html>"""

CHIP_JOURNEY = """\
name: NAME
base_url: URL
budgets: {step: 10s, timeout: 20s}
detectors: {blank_screen: false, broken_image: false, forbidden_text: false}
steps:
  - name: open
    goto: /chip.html
    expect: {text: [账户余额, WEAK_LABEL]}
"""


@needs_browser
def test_a_text_check_with_both_finds_the_label_tesseract_misses(patrol, tmp_path):
    """The text check end to end (the real CLI in this process, Chromium, a page served
    on 127.0.0.1): Tesseract reads the title but not the red tag, neither where the page
    says the tag is nor on the whole screen, so RapidOCR is asked, and reads it."""
    import functools
    import http.server
    import threading

    site = tmp_path / "site"
    site.mkdir()
    (site / "chip.html").write_text(CHIP_PAGE.replace("WEAK_LABEL", WEAK_LABEL), encoding="utf-8")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        config = tmp_path / "both.yaml"
        config.write_text("state: false\nocr: {engine: both, cache: false}\n", encoding="utf-8")
        path = tmp_path / "chip.yaml"
        path.write_text(CHIP_JOURNEY.replace("NAME", "chip").replace("URL", url).replace("WEAK_LABEL", WEAK_LABEL),
                        encoding="utf-8")
        engine.clear_cache()
        tesseract, rapidocr = engine.stats["tesseract_calls"], engine.stats["rapidocr_calls"]
        run = patrol("--config", str(config), "run", str(path))
    finally:
        server.shutdown()
        server.server_close()
    assert run.code == 0 and run.findings("chip") == [], run.out + run.err
    assert engine.stats["tesseract_calls"] > tesseract  # Tesseract read first...
    assert engine.stats["rapidocr_calls"] == rapidocr + 1  # ...and RapidOCR once, for the tag

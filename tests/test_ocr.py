"""OCR and fuzzy matching, with real Tesseract on real Chromium screenshots.

Chromium starts once for the module; each screenshot is OCR'd once (the module's
cache) except where a test is about the cache itself.
"""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest

from patrol.core.geometry import Region
from patrol.errors import RobotError
from patrol.ocr import (
    DEFAULT_SCORE,
    OcrUnavailable,
    check_available,
    contains,
    engine,
    find,
    normalize,
    read,
    result_from_lines,
)

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]

pytestmark = pytest.mark.skipif(
    shutil.which(CHROMIUM) is None or shutil.which("tesseract") is None, reason="needs Chromium and Tesseract"
)

STYLE = """
body { margin: 0; font-family: "Noto Sans CJK SC", sans-serif; background: #f3f4f7; color: #1f2430; }
.bar { background: #c62828; color: #fff; padding: 12px 20px; font-size: 16px; }
.bar span { margin-right: 28px; }
.card { background: #fff; margin: 14px 20px; padding: 14px 18px; border-radius: 8px; }
.caption { font-size: 13px; color: #8a8f99; }
.amount { font-size: 30px; font-weight: 600; }
.btn { display: inline-block; padding: 8px 18px; border-radius: 4px; font-size: 15px; margin-right: 12px; }
.red { background: #e53935; color: #fff; }
.outline { border: 1px solid #1d3a8a; color: #1d3a8a; }
.err { color: #d32f2f; font-size: 14px; margin-top: 6px; }
.dark { background: #1e1f24; color: #e8e8e8; margin: 14px 20px; padding: 12px 18px; border-radius: 8px; font-size: 15px; }
.row { font-size: 14px; margin-top: 6px; }
.gap { margin-left: 40px; }
"""

MAIN = f"""<!doctype html><html><head><meta charset="utf-8"><style>{STYLE}</style></head><body>
<div class="bar"><span id="brand">易付银行</span><span id="benefits">权益领取</span><span>安全设置</span></div>
<div class="card">
  <div class="caption"><span id="total-label">总资产</span> (元)</div>
  <div class="amount"><span id="total">¥ 128,460.52</span></div>
  <div style="margin-top:10px">
<span class="btn red" id="transfer-in">转入资金</span><span class="btn outline" id="bind">绑定银行卡</span></div>
</div>
<div class="card">
  <div class="err"><span id="card-invalid">卡号无效</span>，请检查后重新输入</div>
  <div class="err"><span id="busy">系统繁忙</span>，请稍后再试</div>
  <div class="row">基金申购 <span class="gap" id="nan">¥ NaN</span></div>
  <div class="row"><span id="ise">Internal Server Error</span> <span class="gap">The order was annulled.</span></div>
</div>
<div class="dark"><span id="night">夜间模式</span> 余额提醒已开启 <span class="gap" id="failed" style="color:#ef5350">交易失败</span></div>
</body></html>"""

# One glyph of the label really is drawn differently: 广 instead of 产.
MISREAD = f"""<!doctype html><html><head><meta charset="utf-8"><style>{STYLE}</style></head><body>
<div class="card"><div class="caption"><span id="label">总资广</span> (元)</div>
<div class="amount">¥ 3,210.08</div></div></body></html>"""

# A dark toast over a red gradient card, both with white text: two overlapping
# areas whose greys are close, each to be turned dark-on-light on its own.
TOAST = f"""<!doctype html><html><head><meta charset="utf-8"><style>{STYLE}
.hero {{ position: absolute; left: 20px; top: 50px; width: 360px; height: 150px; border-radius: 8px;
        background: linear-gradient(135deg, #c62828, #8e1b1b); color: #fff; padding: 40px 24px; box-sizing: border-box; }}
.toast {{ position: absolute; left: 300px; top: 24px; padding: 12px 24px; border-radius: 6px;
         background: rgba(30, 41, 59, .92); color: #fff; font-size: 15px; }}
</style></head><body>
<div class="hero"><div style="font-size:24px;font-weight:600" id="welcome">欢迎来到巡航银行</div>
<div style="margin-top:8px">安全 · 稳健 · 便捷</div></div>
<div class="toast" id="toast">系统繁忙</div></body></html>"""

IDS = ["brand", "benefits", "total-label", "total", "transfer-in", "bind", "card-invalid", "busy", "nan", "ise", "night", "failed"]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


def _shoot(browser, html: str, width: int, height: int, ids: list[str]):
    page = browser.new_page(viewport={"width": width, "height": height})
    try:
        page.set_content(html)
        page.evaluate("document.fonts.ready")
        boxes = {i: page.locator(f"#{i}").bounding_box() for i in ids}
        return page.screenshot(), boxes
    finally:
        page.close()


@pytest.fixture(scope="module")
def main_shot(browser):
    png, boxes = _shoot(browser, MAIN, 800, 440, IDS)
    return png, boxes, read(png)


@pytest.fixture(scope="module")
def misread_shot(browser):
    png, boxes = _shoot(browser, MISREAD, 400, 160, ["label"])
    return png, boxes, read(png)


@pytest.fixture(scope="module")
def toast_shot(browser):
    png, boxes = _shoot(browser, TOAST, 480, 220, ["welcome", "toast"])
    return png, boxes, read(png)


def _centre(b: dict) -> tuple[float, float]:
    return b["x"] + b["width"] / 2, b["y"] + b["height"] / 2


def _inside(point, box, slack: float = 0) -> bool:
    x, y, w, h = box
    return x - slack <= point[0] <= x + w + slack and y - slack <= point[1] <= y + h + slack


# ------------------------------------------------------------ real screenshots


@pytest.mark.parametrize("needle,element", [
    ("总资产", "total-label"),
    ("转入资金", "transfer-in"),  # white on a red button
    ("绑定银行卡", "bind"),  # inside an outline button's border
    ("权益领取", "benefits"),  # white on a red bar
    ("卡号无效", "card-invalid"),
    ("系统繁忙", "busy"),
    ("夜间模式", "night"),  # light on a dark card
    ("交易失败", "failed"),  # red on a dark card: little contrast in grey
])
def test_chinese_labels_found_where_they_are_drawn(main_shot, needle, element):
    _, boxes, result = main_shot
    match = find(result, needle)
    assert match is not None, f"{needle} not read; OCR text:\n{result.text}"
    el = boxes[element]
    # The middle of the match is on the label (that is where a click goes) ...
    assert _inside(match.center, (el["x"], el["y"], el["width"], el["height"]))
    assert _inside(_centre(el), match.box, slack=2)
    # ... and the box is tight: about the label, not its whole line.
    assert match.box[2] <= el["width"] * 1.3 + 6 and match.box[3] <= el["height"] * 1.5 + 6


def test_a_toast_over_a_coloured_card_is_read(toast_shot):
    _, boxes, result = toast_shot
    for needle, element in [("系统繁忙", "toast"), ("欢迎来到巡航银行", "welcome")]:
        match = find(result, needle)
        assert match is not None, f"{needle} not read; OCR text:\n{result.text}"
        assert _inside(_centre(boxes[element]), match.box, slack=2)


def test_amounts_and_english_are_read(main_shot):
    _, boxes, result = main_shot
    amount = find(result, "¥ 128,460.52")
    assert amount is not None and "128,460.52" in amount.text
    assert _inside(_centre(boxes["total"]), amount.box, slack=2)
    ise = find(result, "Internal Server Error", exact=True)
    assert ise is not None and ise.text == "Internal Server Error"
    assert _inside(_centre(boxes["ise"]), ise.box, slack=2)


def test_nan_is_found_exactly_but_null_is_not_in_annulled(main_shot):
    _, boxes, result = main_shot
    nan = find(result, "NaN", exact=True)
    assert nan is not None and nan.text == "NaN" and nan.score == 100
    el = boxes["nan"]
    # The box is on the NaN itself, the right part of "¥ NaN".
    assert _inside(nan.center, (el["x"] + el["width"] * 0.3, el["y"], el["width"] * 0.7, el["height"]), slack=2)
    assert contains(result, "annulled", exact=True)
    assert find(result, "null", exact=True) is None
    assert find(result, "nan", exact=True) is None  # exact is case-sensitive
    assert find(result, "undefined", exact=True) is None


def test_a_glyph_drawn_differently_still_matches(misread_shot):
    _, boxes, result = misread_shot
    match = find(result, "总资产")
    assert match is not None, result.text
    assert match.score < 100 and match.score >= DEFAULT_SCORE
    assert _inside(_centre(boxes["label"]), match.box, slack=2)
    assert find(result, "总资产", min_score=100) is None


def test_unrelated_text_does_not_match(main_shot):
    png, boxes, result = main_shot
    for needle in ["信用卡还款", "理财产品", "登录失败", "总负债", "undefined"]:
        assert find(result, needle) is None, (needle, find(result, needle))
    # Only the red button read: 转入资金 is there, and neither 总资产 nor a
    # reordering of the button's own glyphs matches it.
    el = boxes["transfer-in"]
    button = read(png, region=(el["x"] - 6, el["y"] - 6, el["width"] + 12, el["height"] + 12))
    assert find(button, "转入资金") is not None
    assert find(button, "总资产") is None
    assert find(button, "资金转出") is None


def test_region_is_read_alone_and_boxes_map_back(main_shot):
    png, boxes, _ = main_shot
    el = boxes["bind"]
    region = (int(el["x"]) - 10, int(el["y"]) - 8, int(el["width"]) + 20, int(el["height"]) + 16)
    result = read(png, region=region)
    assert result.region == region
    assert "绑定银行卡" in result.text and "总资产" not in result.text
    for word in result.words:  # every box is in the whole screenshot's pixels, inside the region
        assert _inside((word.box[0], word.box[1]), region, slack=2)
        assert _inside((word.box[0] + word.box[2], word.box[1] + word.box[3]), region, slack=2)
    match = find(result, "绑定银行卡")
    assert _inside(_centre(el), match.box, slack=2)


def test_fractional_region_is_the_same_region(main_shot):
    png, _, _ = main_shot
    calls = engine.stats["tesseract_calls"]
    lower_half = read(png, region=(0, 220, 800, 220))
    half = Region.fraction(0.0, 0.5, 1.0, 0.5).resolve(800, 440)  # a region written as fractions
    assert read(png, region=half) is lower_half  # 800x440: the same pixels, cached
    assert lower_half.region == (0, 220, 800, 220)
    assert engine.stats["tesseract_calls"] - calls >= 1
    assert find(lower_half, "系统繁忙") is not None and find(lower_half, "转入资金") is None
    with pytest.raises(ValueError):
        read(png, region=(900, 0, 100, 100))


def test_cache_returns_the_same_result_without_running_tesseract(misread_shot):
    png, _, first = misread_shot
    calls = engine.stats["tesseract_calls"]
    assert read(png) is first
    # The same pixels as an RGBA array are the same screenshot.
    rgba = cv2.cvtColor(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGBA)
    assert read(rgba) is first
    assert engine.stats["tesseract_calls"] == calls
    fresh = read(png, cache=False)
    assert engine.stats["tesseract_calls"] > calls
    assert fresh is not first and fresh.text == first.text


def test_evidence_is_json(main_shot):
    _, _, result = main_shot
    evidence = json.loads(json.dumps(result.to_evidence(), ensure_ascii=False))
    assert evidence["text"] == result.text
    assert evidence["lines"] and all(len(line["box"]) == 4 for line in evidence["lines"])
    assert result.duration_ms > 0


def test_ocr_lines_have_no_spaces_between_chinese_glyphs(main_shot):
    _, _, result = main_shot
    line = next(line for line in result.lines if "系统繁忙" in line.text)
    assert "请稍后再试" in line.text


# ------------------------------------------------------------ matching rules


def test_one_substituted_glyph_matches_and_sharing_one_does_not():
    result = result_from_lines([("总资广 (元)", (100, 50, 210, 20)), ("转入资金", (100, 100, 80, 20))])
    match = find(result, "总资产")
    assert match is not None and match.text == "总资广" and round(match.score, 1) == 66.7
    x, y, w, h = match.box  # the three glyphs, not the "(元)" after them
    assert 95 <= x <= 105 and w < 150 and y == 50 and h == 20
    assert find(result, "总资产", min_score=70) is None
    assert find(result, "转入资全").score == 75.0  # 4 characters, one wrong
    assert find(result, "资产转入") is None
    # 转入资金 must not match 总资产 (nor the other way round): one shared glyph.
    only_transfer = result_from_lines([("转入资金", (0, 0, 80, 20))])
    assert find(only_transfer, "总资产") is None
    assert find(result_from_lines([("总资产", (0, 0, 60, 20))]), "转入资金") is None
    # Two-character needles must be read exactly.
    two = result_from_lines([("成切", (0, 0, 40, 20))])
    assert find(two, "成功") is None and find(two, "成切").score == 100


def test_numbers_are_not_fuzzy():
    result = result_from_lines([("基金代码 880001", (0, 0, 200, 20)), ("Y 128,460.52", (0, 40, 200, 20))])
    assert find(result, "880001") is not None
    assert find(result, "880002") is None
    assert find(result, "¥ 128,460.52") is not None  # the ¥ misread, the digits right
    assert find(result, "¥ 128,460.53") is None


def test_exact_is_whole_word_for_latin():
    result = result_from_lines([
        ("The order was annulled", (0, 0, 300, 20)),
        ("金额 ¥NaN", (0, 40, 200, 20)),
        ("返回值为null。", (0, 80, 200, 20)),
        ("undefinedValue", (0, 120, 200, 20)),
    ])
    assert find(result, "null", exact=True).line == "返回值为null."
    assert find(result, "NaN", exact=True) is not None
    assert find(result, "undefined", exact=True) is None
    assert find(result, "annul", exact=True) is None
    assert find(result, "总资产", exact=True) is None


def test_normalize():
    assert normalize("总 资 产 （ 元 ）") == "总资产(元)"
    assert normalize("卡号 无 效 ， 请 重试 。") == "卡号无效,请重试."
    assert normalize("  Internal   Server Error ") == "Internal Server Error"
    assert normalize("ＮａＮ") == "NaN"
    assert normalize("￥ 128,460.52") == "¥ 128,460.52"
    assert normalize("近 90 日") == "近 90 日"  # the page's own space between CJK and digits stays
    assert normalize("「我的权益」—中兑换") == "「我的权益」-中兑换"
    assert normalize("") == ""


# ------------------------------------------------------------ availability


def test_missing_tesseract_is_a_robot_error(monkeypatch):
    import pytesseract

    monkeypatch.setattr(engine, "_checked", set())
    monkeypatch.setenv("PATROL_OCR_BACKEND", "cli")  # no libtesseract either (its package is Tesseract's)
    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", "/nonexistent/tesseract")
    with pytest.raises(OcrUnavailable) as err:
        read(np.full((40, 40, 3), 255, np.uint8))
    assert isinstance(err.value, RobotError)
    assert "apt-get install tesseract-ocr tesseract-ocr-chi-sim" in str(err.value)


@pytest.mark.parametrize("backend", ["library", "cli"])
def test_missing_language_data_names_the_package(monkeypatch, backend):
    from patrol.ocr import tess

    if backend == "library" and tess.backend() != "library":
        pytest.skip("libtesseract is not loadable here")
    monkeypatch.setenv("PATROL_OCR_BACKEND", backend)
    monkeypatch.setattr(engine, "_checked", set())
    with pytest.raises(OcrUnavailable, match="tesseract-ocr-zzz-tra"):
        check_available("chi_sim+zzz_tra")
    check_available("chi_sim+eng")


def test_the_in_process_engine_reads_the_same_words_as_the_command_line(main_shot, monkeypatch):
    from patrol.ocr import tess

    if tess.backend() != "library":
        pytest.skip("libtesseract is not loadable here")
    png, _, _ = main_shot
    library = read(png, cache=False)
    monkeypatch.setenv("PATROL_OCR_BACKEND", "cli")
    assert tess.backend() == "cli"
    command_line = read(png, cache=False)
    assert [(w.text, w.box, w.confidence) for w in library.words] == \
        [(w.text, w.box, w.confidence) for w in command_line.words]


def test_reads_in_several_threads_at_once_give_the_same_words(main_shot):
    from concurrent.futures import ThreadPoolExecutor

    png, boxes, _ = main_shot
    regions = [(int(b["x"]) - 8, int(b["y"]) - 8, int(b["width"]) + 16, int(b["height"]) + 16)
               for b in (boxes[i] for i in ("transfer-in", "bind", "busy", "night"))]
    alone = [read(png, region=r, cache=False).text for r in regions]
    with ThreadPoolExecutor(4) as pool:  # more threads than engines: some wait for one
        together = list(pool.map(lambda r: read(png, region=r, cache=False).text, regions * 2))
    assert together == alone * 2


def test_a_heading_wrapped_over_two_lines_is_found_but_words_of_two_unrelated_lines_are_not(browser):
    wrapped = f"""<!doctype html><html><head><meta charset="utf-8"><style>{STYLE}</style></head><body>
<h2 id="title" style="width:150px;margin:20px;font-size:22px">Monthly spending report</h2>
<div style="margin:60px 20px 0;font-size:15px">Balance due</div>
<div style="margin:60px 20px 0;font-size:15px">tomorrow morning</div></body></html>"""
    png, boxes = _shoot(browser, wrapped, 420, 320, ["title"])
    result = read(png)
    assert not any("Monthly spending report" in line.text for line in result.lines), result.text  # it did wrap
    match = find(result, "Monthly spending report")
    assert match is not None and match.score >= 90, result.text
    title = boxes["title"]
    assert _inside(match.center, (title["x"], title["y"], title["width"], title["height"]), slack=4)
    assert find(result, "Balance due tomorrow") is None  # far apart: not one block

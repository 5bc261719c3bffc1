"""Clipped, truncated and overlapping text without a baseline (checks/text_layout.py,
drivers/_text_layout.py): the demo bank's clipped_text faults found by a real patrol,
and one page of real Chromium holding what must stay quiet (ellipsis with a tooltip,
scrollers, carousels, a modal, icon fonts, hidden and zero-size text, canvas, SVG)
beside what must be found. The app path is in test_appium_bank.py."""

from __future__ import annotations

import pytest
from conftest import JOURNEYS
from markupsafe import escape

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]

# Each case is one block: ``quiet-*`` must give nothing, ``found-*`` exactly what its name says.
PAGE = """<!doctype html><html><head><meta charset="utf-8"><style>
  body { margin: 0; font: 16px/1.5 sans-serif; }
  section { margin: 4px 8px; }
  .ell { display: block; width: 90px; overflow: hidden; white-space: nowrap; text-overflow: ellipsis; }
  .sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0, 0, 0, 0); white-space: nowrap; }
  .pill { display: inline-block; width: 30px; border: 1px solid #333; background: #eee; white-space: nowrap; }
</style></head><body>
<section id="quiet-tooltip"><ul style="margin:0"><li title="巡航稳健债券A类 长长的名称">
  <span class="ell">巡航稳健债券A类 长长的名称</span></li></ul></section>
<section id="quiet-truncate"><div class="text-truncate ell">巡航稳健债券A类 长长的名称</div></section>
<section id="found-number"><div class="ell" title="¥1,234,567.89" style="width: 50px"><b id="cut-total">¥1,234,567.89</b></div></section>
<section id="quiet-sr"><button>OK<span class="sr-only">confirm the transfer to the saved account</span></button></section>
<section id="quiet-scroll" style="height: 48px; overflow: auto">line 1<br>line 2<br>line 3<br>line 4<br>line 5</section>
<section id="quiet-hscroll" style="width: 120px; overflow-x: auto; white-space: nowrap">a very wide table row that scrolls sideways</section>
<section id="quiet-hscroll-edge" style="width: 300px; margin-left: 450px; overflow-x: auto; white-space: nowrap">
  a long line in a scroller that ends before the screen's edge does, its text going on past both</section>
<section id="quiet-carousel" style="width: 200px; overflow: hidden; white-space: nowrap"><div style="display: flex">
  <div style="flex: 0 0 200px">slide one</div><div style="flex: 0 0 200px">slide two</div><div style="flex: 0 0 200px">slide three</div>
</div></section>
<section id="quiet-icons" style="height: 24px">
  <i style="font-family: 'Material Icons'; display: inline-block; width: 16px; overflow: hidden">account_balance</i>
  <span style="display: inline-block; width: 8px; overflow: hidden">&#xe900;&#xe901;</span>
</section>
<section id="quiet-zero"><div style="width: 0; height: 0; overflow: hidden">nothing to see</div></section>
<section id="quiet-hidden" style="position: relative; height: 24px">
  <span>visible label</span>
  <span style="position: absolute; left: 0; top: 0; visibility: hidden">hidden label here</span>
  <span style="position: absolute; left: 0; top: 0; opacity: 0">transparent label</span>
  <span style="position: absolute; left: 0; top: 0; display: none">gone label</span>
</section>
<section id="quiet-canvas"><canvas width="100" height="20">fallback text for the chart</canvas>
  <svg width="120" height="20"><text x="0" y="14">axis 1</text><text x="8" y="14">axis 2</text></svg></section>
<section id="quiet-menu" style="position: relative; height: 48px">
  <div>balance details below the menu</div>
  <div style="position: absolute; left: 20px; top: 4px; background: #fff; border: 1px solid #ccc">menu item</div>
</section>
<section id="quiet-inline">总资产 <b>128,460.52</b> 元，<a href="#">查看明细</a></section>
<section id="quiet-tight" style="height: 16px; line-height: 1; overflow: hidden; font-size: 16px">一行字 tight line</section>
<section id="found-ellipsis"><div id="amount" class="ell" style="width: 60px">¥128,460.52</div></section>
<section id="found-cut" style="height: 34px; overflow: hidden; width: 200px">first line of a note<br>second line is cut away</section>
<section id="found-spill"><button id="btn" class="pill">确认转账</button></section>
<section id="found-overlap" style="position: relative; height: 24px">
  <span id="label-a">可用余额</span><span id="label-b" style="position: absolute; left: 20px; top: 1px">冻结金额</span>
</section>
<section id="found-offscreen" style="height: 24px"><span id="wide" style="position: absolute; right: -60px; white-space: nowrap">到账时间：两小时内</span></section>
<section id="ignored"><div class="ell skip-me" style="width: 30px">ignored text here</div></section>
<p id="under-modal" style="position: absolute; left: 250px; top: 0; margin: 0">text under the modal dialog</p>
<div id="modal-backdrop" style="position: fixed; left: 240px; top: 0; width: 320px; height: 60px; background: rgba(0,0,0,.4)"></div>
<div id="modal" style="position: fixed; left: 250px; top: 0; width: 300px; background: #fff">
  <p style="margin: 0">风险提示：本产品不保本</p></div>
</body></html>"""


@pytest.fixture(scope="module")
def layout_answer():
    """The page script's answer on PAGE, at 1x and at a phone's 2x."""
    from playwright.sync_api import sync_playwright

    from patrol.drivers._page_scripts import for_playwright
    from patrol.drivers._text_layout import TEXT_LAYOUT

    answers = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        for scale in (1, 2):
            page = browser.new_page(viewport={"width": 800, "height": 1000}, device_scale_factor=scale)
            page.set_content(PAGE)
            answers[scale] = page.evaluate(for_playwright(TEXT_LAYOUT), {"ignore": [".skip-me"]})
            page.close()
        browser.close()
    return answers


@pytest.mark.parametrize("scale", [1, 2])
def test_page_script_finds_each_planted_problem_and_nothing_else(layout_answer, scale):
    from patrol.checks.text_layout import parse_problems

    problems = parse_problems(layout_answer[scale])
    found = sorted((p.kind, p.spot.selector, p.other.selector if p.other else None) for p in problems)
    assert found == [
        ("clipped", "#amount", None),
        ("clipped", "#cut-total", None),
        ("clipped", "#found-cut", None),
        ("offscreen", "#wide", None),
        ("overlap", "#label-a", "#label-b"),
        ("spilled", "#btn", None),
    ], layout_answer[scale]
    by = {p.spot.selector: p for p in problems}
    assert by["#amount"].ellipsis and by["#amount"].spot.text == "¥128,460.52", "the full text, not what is shown"
    assert by["#found-cut"].side == "bottom" and not by["#found-cut"].ellipsis
    assert (by["#btn"].side, by["#btn"].by) == ("right", "#btn")
    assert by["#wide"].side == "right" and by["#wide"].px > 40
    # Boxes are in screenshot pixels.
    assert by["#amount"].spot.box.w >= 60 * scale


def test_problems_are_masked_and_redacted_in_words_too():
    from patrol.checks.text_layout import REDACTED, parse_problems
    from patrol.core.geometry import Box
    from patrol.secrets import MASKER

    MASKER.add("pw-text-layout-secret")
    rows = [{"kind": "clipped", "selector": "#a", "text": "token pw-text-layout-secret", "box": [0, 0, 50, 20]},
            {"kind": "overlap", "selector": "#b", "text": "户名", "box": [100, 100, 40, 20],
             "other": {"selector": "#name", "text": "张三丰", "box": [145, 100, 40, 20]}},
            {"kind": "nonsense", "selector": "#c", "text": "x", "box": [0, 0, 1, 1]}, "not a row"]
    a, b = parse_problems(rows, redacted=[Box(143, 98, 50, 30)])
    assert "pw-text-layout-secret" not in a.spot.text and "pw-text-layout-secret" not in a.describe()
    assert b.spot.text == "户名" and b.other is not None and b.other.text == REDACTED
    assert "张三丰" not in b.describe()


@pytest.mark.faults("clipped_text=amount,button,overlap")
def test_clipped_text_faults_are_found_on_the_web(patrol, faulty_bank):
    p = patrol("run", str(JOURNEYS / "login.yaml"), "--base-url", faulty_bank.url)
    assert p.code == 1, p.out + p.err
    j = p.journey("login")
    assert all(s["status"] != "skipped" for s in j["steps"]), "a render finding does not end the journey"
    sign_in = next(s for s in j["steps"] if s["name"] == "sign in")
    by_reason = {f["reason"]: f for f in sign_in["findings"]}
    clipped, overlapping = by_reason["clipped_text"], by_reason["overlapping_text"]
    assert clipped["kind"] == overlapping["kind"] == "render"
    texts = {t["selector"]: t for t in clipped["evidence"]["texts"]}
    assert set(texts) == {"#total-assets", "#logout"}, texts
    assert texts["#total-assets"]["text"] == "¥ 128,460.52" and texts["#total-assets"]["ellipsis"]
    assert (texts["#logout"]["kind"], texts["#logout"]["text"]) == ("spilled", "退出")
    assert "'¥ 128,460.52' (#total-assets) ends in an ellipsis" in clipped["message"]
    [pair] = overlapping["evidence"]["texts"]
    assert (pair["text"], pair["other"]["selector"]) == ("净值走势", "#chart-caption")
    # Each element once per journey: the logout button is on every later page too.
    later = [f for s in j["steps"] if s["name"] != "sign in" for f in s["findings"]
             if f["reason"] in ("clipped_text", "overlapping_text")]
    assert later == []
    page = (p.run_dir / "index.html").read_text(encoding="utf-8")
    assert str(escape("'¥ 128,460.52' (#total-assets) ends in an ellipsis")) in page


def test_text_layout_settings_parse_in_patrol_yaml_and_journeys(tmp_path):
    from patrol.checks.text_layout import TextLayoutParams
    from patrol.config import load_config
    from patrol.errors import ConfigError, InputError
    from patrol.journey import load_journey

    config = tmp_path / "patrol.yaml"
    config.write_text("text_layout: {ignore: [.ticker, '#legal']}\ndetectors: {overlapping_text: false}\n", encoding="utf-8")
    loaded = load_config(str(config))
    assert loaded.settings.text_layout.ignore == (".ticker", "#legal")
    assert not loaded.settings.detectors.on("overlapping_text") and loaded.settings.detectors.on("clipped_text")
    config.write_text("text_layout: {ignore: [.ticker], skip: [x]}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="skip"):
        assert load_config(str(config)).settings is None
    journey = tmp_path / "j.yaml"
    journey.write_text("name: j\nbase_url: http://x\ntext_layout: {ignore: ['.fund-name']}\n"
                       "detectors: {clipped_text: false}\nsteps:\n  - goto: /\n", encoding="utf-8")
    assert load_journey(journey).options["text_layout"] == TextLayoutParams((".fund-name",))
    journey.write_text("name: j\nbase_url: http://x\ntext_layout: {ignore: 3}\nsteps:\n  - goto: /\n", encoding="utf-8")
    with pytest.raises(InputError, match="text_layout"):
        load_journey(journey)

"""Match levels (strict, layout, content) and dynamic text, on the demo bank: one
approval run and three changed runs (a date, the colours, the spacing), each step
comparing the same home screen at another level, shared by the tests; and the level
rules on small hand-made layouts."""

from __future__ import annotations

import json

import pytest
from conftest import JOURNEYS

from patrol.core.geometry import Box
from patrol.core.layout import ScreenElement, ScreenLayout
from patrol.visual.levels import content_changes, dynamic_boxes, layout_changes, looks_dynamic, text_in

JOURNEY = """\
name: levels
base_url: {url}
budgets: {{step: 10s, timeout: 10s}}
detectors: {{blank_screen: false, broken_image: false, forbidden_text: false}}
redact: ["#account-name", "#account-no"]
steps:
  - include: {flows}/open_login.yaml
    with: {{password: "${{secret:DEMO_PASSWORD}}"}}
  - name: sign in
    click: "#login-submit"
    expect: {{url: /home, visible: "#total-assets", visual: home-strict}}
  - name: dynamic
    wait_for: "#total-assets"
    expect: {{visual: {{baseline: home-dynamic, dynamic: true}}}}
  - name: layout
    wait_for: "#total-assets"
    expect: {{visual: {{baseline: home-layout, level: layout}}}}
  - name: content
    wait_for: "#total-assets"
    expect: {{visual: {{baseline: home-content, level: content}}}}
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """report.json of each run by name; baselines approved with the caption's date 2026-01-05."""
    from patrol.cli import main
    from patrol.demo import DemoBank, parse_fault

    tmp = tmp_path_factory.mktemp("levels")
    cfg = tmp / "patrol.yaml"
    cfg.write_text(f"state: false\nvisual:\n  baselines: {tmp / 'baselines'}\n", encoding="utf-8")
    out: dict[str, tuple[int, dict]] = {}
    with DemoBank(port=0) as bank:
        journey = tmp / "levels.yaml"
        journey.write_text(JOURNEY.format(url=bank.url, flows=JOURNEYS / "flows"), encoding="utf-8")
        for name, faults in [("approve", ["as_of=2026-01-05"]), ("date", ["as_of=2026-01-06"]),
                             ("color", ["as_of=2026-01-05", "restyle=color"]),
                             ("spacing", ["as_of=2026-01-05", "restyle=spacing"]),
                             ("order", ["as_of=2026-01-05", "restyle=order"])]:
            bank.faults.clear()
            for spec in faults:
                bank.faults.set(*parse_fault(spec))
            run_dir = tmp / name
            argv = ["--config", str(cfg), "run", str(journey), "--output", str(run_dir)]
            code = main(argv + (["--update-baselines"] if name == "approve" else []))
            out[name] = (code, json.loads((run_dir / "report.json").read_text(encoding="utf-8")))
    out["baselines"] = (0, {"dir": str(tmp / "baselines")})
    return out


def verdicts(report: dict) -> dict[str, tuple[str, str]]:
    """Per step name: the visual status and the visual finding's message ('' when none)."""
    out = {}
    for step in report["journeys"][0]["steps"]:
        visual = (step.get("artifacts") or {}).get("visual")
        if visual:
            message = next((f["message"] for f in step["findings"] if f["reason"] == "visual_diff"), "")
            out[step["name"]] = (visual["status"], message)
    return out


def test_the_layout_is_stored_beside_the_baseline(runs):
    from pathlib import Path

    from patrol.demo import data

    code, report = runs["approve"]
    assert code == 0, verdicts(report)
    folder = Path(runs["baselines"][1]["dir"]) / "levels"
    layout = ScreenLayout.from_json((folder / "home-content.desktop.layout.json").read_text(encoding="utf-8"))
    assert layout is not None and layout.width == 1280
    texts = [e.text for e in layout.elements]
    assert "总资产（元）" in texts and "巡航稳健债券A · 近 90 日 · 截至 2026-01-05" in texts
    stored = (folder / "home-content.desktop.layout.json").read_text(encoding="utf-8")
    assert data.ACCOUNT["name"] not in stored and data.ACCOUNT["account_no"] not in stored  # redacted
    holder = next(e for e in layout.elements if e.path.endswith("span#account-name"))
    assert holder.text == ""  # redacted on the screenshot, so not kept as text either


def test_a_date_changed_between_runs_passes_with_dynamic_and_fails_without(runs):
    code, report = runs["date"]
    v = verdicts(report)
    assert v["sign in"][0] == "diff", v
    assert v["dynamic"] == ("match", ""), v
    assert v["layout"][0] == "match", v  # the caption's width did not change the arrangement
    assert v["content"][0] == "diff" and "截至 2026-01-06" in v["content"][1], v
    assert code == 1


def test_a_colour_only_change_passes_layout_and_content_and_fails_strict(runs):
    _, report = runs["color"]
    v = verdicts(report)
    assert v["sign in"][0] == "diff" and v["dynamic"][0] == "diff", v
    assert v["layout"] == ("match", ""), v
    assert v["content"] == ("match", ""), v


def test_the_same_text_moved_down_passes_content_and_fails_strict_and_layout(runs):
    _, report = runs["spacing"]
    v = verdicts(report)
    assert v["content"] == ("match", ""), v  # a shift alone is not a finding at this level
    assert v["sign in"] == ("diff", "looks different from baseline 'home-strict': 40 px of empty space appeared at "
                                "y=60; the content below moved down 40 px unchanged; allowed 0px"), v
    status, message = v["layout"]
    assert status == "diff" and message.startswith("the layout differs from baseline 'home-layout' (level layout): "), v
    # the innermost boxes are named first: the card that moved, not the page that grew
    assert "div.assets-label 904×24 at (188,108) is now 904×24 at (188,148)" in message, message


def test_a_picture_brought_into_view_is_named_by_ocr(runs):
    """The promo banner (an image, no DOM text) moved from below the fold to the top: on
    this screen it appeared, and its words are read from its pixels."""
    _, report = runs["order"]
    step = next(s for s in report["journeys"][0]["steps"] if s["name"] == "sign in")
    f = next(f for f in step["findings"] if f["reason"] == "visual_diff")
    shift = f["evidence"]["shift"]
    assert [(b["kind"], b["x"], b["y"], b["width"]) for b in shift["blocks"]] == [("appeared", 160, 84, 960)], shift
    assert "新客专享" in shift["blocks"][0]["text"], shift
    assert shift["unexplained_pixels"] == 0 and [m["unchanged"] for m in shift["moved"]] == [True], shift
    assert f"('{shift['blocks'][0]['text']}'); the content below moved down" in f["message"], f["message"]


def _layout(*elements: tuple[str, tuple[int, int, int, int], str]) -> ScreenLayout:
    return ScreenLayout(1280, 720, tuple(ScreenElement(p, Box(*b), t) for p, b, t in elements))


def test_dynamic_text_is_dates_times_amounts_counters_and_ids():
    for text in ("截至 2026-01-05", "2026年1月5日", "09:30", "¥ 128,460.52", "3 条新消息", "订单号 ORD-20260105-77",
                 "+1.25%"):
        assert looks_dynamic(text), text
    for text in ("总资产（元）", "净值走势", "常用服务", "Sign in"):
        assert not looks_dynamic(text), text
    layout = _layout(("body>div#a", (0, 700, 300, 40), "余额 ¥ 1,200.00"), ("body>h2", (0, 0, 300, 40), "常用服务"))
    assert dynamic_boxes(layout) == [Box(0, 700, 300, 20)]  # clipped to the screen


def test_content_and_layout_changes_in_words():
    base = _layout(("body>h2", (0, 0, 300, 40), "常用服务"), ("body>p#total", (0, 40, 300, 40), "¥ 1,200.00"))
    moved = _layout(("body>h2", (0, 40, 300, 40), "常用服务"), ("body>p#total", (0, 80, 300, 40), "¥ 1,200.00"))
    assert content_changes(base, moved) == []
    assert layout_changes(base, moved) == ["h2 300×40 at (0,0) is now 300×40 at (0,40)",
                                           "p#total 300×40 at (0,40) is now 300×40 at (0,80)"]
    other = _layout(("body>h2", (0, 0, 300, 40), "常用服务"), ("body>p#total", (0, 40, 300, 40), "¥ 1,300.00"))
    assert content_changes(base, other) == ["p#total says '¥ 1,300.00' instead of '¥ 1,200.00'"]
    assert content_changes(base, other, dynamic=True) == []
    banner = _layout(("body>div#promo", (0, 0, 300, 40), "限时活动"), *[(e.path, tuple(e.box), e.text) for e in moved.elements])
    assert content_changes(base, banner) == ["div#promo '限时活动' is new"]
    assert text_in(banner, Box(0, 0, 300, 40)) == "限时活动"


def test_approving_a_run_keeps_the_layout_it_captured(runs, tmp_path):
    """The console's Approve and `patrol baseline approve` store the screen's layout beside
    it (from the run's <step>-layout.json), and approving a screen without one removes a
    stale layout."""
    from pathlib import Path

    from patrol.visual.approve import approvable_screens, approve_screen
    from patrol.visual.baselines import BaselineStore

    _, report = runs["spacing"]
    run_dir = Path(runs["baselines"][1]["dir"]).parent / "spacing"
    screen = next(s for s in approvable_screens(report) if s.baseline == "home-content")
    assert screen.layout and screen.layout.endswith("-layout.json")
    store = BaselineStore(tmp_path / "approved")
    approve_screen(store, run_dir, screen)
    stored = store.load_layout("levels", "home-content", "desktop")
    assert stored == (run_dir / screen.layout).read_text(encoding="utf-8")
    assert ScreenLayout.from_json(stored) is not None
    approve_screen(store, run_dir, screen.__class__(**{**screen.__dict__, "layout": None}))
    assert store.load_layout("levels", "home-content", "desktop") is None


def test_a_block_gone_on_the_demo_bank_is_one_removed_block(runs):
    """The reverse of the picture brought into view: compared with the screen where the
    promo banner came first, the healthy home screen has it gone from the top and the
    content below moved up, unchanged."""
    from pathlib import Path

    from patrol.core.png import decode_png
    from patrol.visual.shift import find_shift

    root = Path(runs["baselines"][1]["dir"]).parent

    def screen(run: str):
        step = next(s for s in runs[run][1]["journeys"][0]["steps"] if s["name"] == "sign in")
        return decode_png((root / run / step["screenshot"]).read_bytes())

    shift = find_shift(screen("order"), screen("approve"))
    assert shift is not None and shift.inserted == ()
    [gone] = shift.removed
    assert (gone.x, gone.y, gone.w) == (160, 84, 960), gone
    assert [(m.dy, m.unchanged) for m in shift.moved] == [(-gone.h - 20, True)], shift.moved
    assert shift.residual.diff_pixels == 0
    assert shift.describe().startswith(f"a 960×{gone.h} block disappeared from y=84; the content below moved up")


def test_a_level_that_does_not_exist_is_a_positioned_validation_error(tmp_path, capsys):
    from patrol.cli import main

    journey = tmp_path / "bad.yaml"
    journey.write_text("name: bad\nbase_url: http://127.0.0.1:1\nsteps:\n  - goto: /\n"
                       "    expect: {visual: {baseline: home, level: pixel, dynamic: yes-please}}\n", encoding="utf-8")
    assert main(["validate", str(journey)]) == 2
    out = capsys.readouterr()
    text = out.out + out.err
    assert "'pixel' is not allowed; allowed values: strict, layout, content" in text, text
    assert "bad.yaml:5:" in text and "Traceback" not in text

"""A layout shift drawn as one change (reports/shift_view.py): the marks over the
baseline and the actual screen, and the report's drawing of them with the app's
words escaped. The console's compare view is driven in tests/test_console_pages.py."""

from __future__ import annotations

from patrol.reports.html_report import environment
from patrol.reports.shift_view import shift_marks

SHIFT = {
    "width": 1280, "height": 720,
    "blocks": [
        {"kind": "appeared", "side": "actual", "x": 160, "y": 84, "width": 960, "height": 96, "dy": 0,
         "text": "<img src=x onerror=alert(1)> 限时活动", "blank": False},
        {"kind": "moved_block", "side": "baseline", "x": 160, "y": 300, "width": 960, "height": 100, "dy": 200,
         "text": "", "blank": False},
    ],
    "moved": [
        {"from_y": 84, "to_y": 180, "height": 120, "dy": 96, "unchanged": True},
        {"from_y": 300, "to_y": 500, "height": 100, "dy": 200, "unchanged": True},  # the moved block's own rows
    ],
    "unexplained_pixels": 0,
}


def test_a_shift_is_one_block_outlined_and_the_moved_content_marked():
    sv = shift_marks(SHIFT)
    assert sv is not None and (sv["width"], sv["height"], sv["unexplained"]) == (1280, 720, 0)
    assert [(m["kind"], m["y"], m["label"]) for m in sv["actual"]] == [
        ("appeared", 84, "appeared 960×96: '<img src=x onerror=alert(1)> 限时活动'"),
        ("moved", 500, "moved down 200 px"),
        ("region", 180, "moved down 96 px, unchanged"),
    ]
    assert [(m["kind"], m["y"]) for m in sv["baseline"]] == [("moved", 300), ("region", 84)]
    assert shift_marks(None) is None and shift_marks({"blocks": [], "moved": []}) is None
    assert shift_marks({"blocks": "x", "moved": [{"from_y": "?"}]}) is None  # no size: nothing to draw on


def test_the_report_draws_it_with_the_apps_words_escaped():
    sv = shift_marks(SHIFT)
    html = str(environment().get_template("_shift.html.j2").module.shift_map(
        sv, [{"label": "baseline", "path": "b.png"}, {"label": "actual", "path": "a.png"}, {"label": "diff", "path": "d.png"}]))
    assert html.count("<svg") == 2  # baseline and actual; the diff has its own picture
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt; 限时活动" in html
    assert '<g class="mark appeared"><rect x="160" y="84" width="960" height="96"/>' in html

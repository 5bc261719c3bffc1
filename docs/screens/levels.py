"""Refresh the match-level pictures in docs/screens/ from the real demo bank.

    .venv/bin/python docs/screens/levels.py [--out docs/screens]

It starts the demo bank on a free loopback port, signs in with Debian's Chromium at
1280x800 and photographs the home screen as approved (the chart caption dated
2026-01-05), with the date changed, with the colours changed, with the spacing changed
and with the late promo banner (``layout_shift``), reading the page's elements with each
picture as the visual check does. Then it judges each changed screen at every level with
Patrol's own code (``visual.levels``, the comparator, the shift finder) and draws:

* ``levels.png``: the four screens side by side with each level's verdict under them;
* ``shift.png``: the layout shift as the report and the compare view draw it.

The account holder's name and number are painted over, as the shipped journeys redact them."""

from __future__ import annotations

import argparse
import base64
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
APPROVED = ["as_of=2026-01-05"]
CASES = [
    ("date", "the date changed", ["as_of=2026-01-06"]),
    ("color", "the colours changed", ["as_of=2026-01-05", "restyle=color"]),
    ("spacing", "the content moved down", ["as_of=2026-01-05", "restyle=spacing"]),
]
REDACT = ["#account-name", "#account-no"]


def shoot(page, bank, faults: list[str]):  # type: ignore[no-untyped-def]
    """The home screen under ``faults``: (RGBA pixels, layout)."""
    from patrol.core.layout import ScreenLayout
    from patrol.core.png import decode_png
    from patrol.demo import parse_fault
    from patrol.drivers import _page_scripts as scripts

    bank.faults.clear()
    for spec in faults:
        bank.faults.set(*parse_fault(spec))
    page.goto(bank.url + "/home")
    page.wait_for_selector("#total-assets:not(:empty)")
    if any(f.startswith("layout_shift") for f in faults):
        page.wait_for_selector("#late-banner")
    page.wait_for_timeout(600)  # the chart drawn, the banner settled
    page.mouse.move(-1, -1)
    image = decode_png(page.screenshot(type="png", animations="disabled", caret="hide")).copy()
    for sel in REDACT:
        box = page.locator(sel).bounding_box()
        if box:
            x, y, w, h = (int(round(v)) for v in (box["x"], box["y"], box["width"], box["height"]))
            image[y:y + h, x:x + w] = (40, 40, 40, 255)
    layout = ScreenLayout.from_json(page.evaluate(scripts.for_playwright(scripts.SCREEN_LAYOUT)))
    assert layout is not None
    redacted = [page.locator(s).bounding_box() for s in REDACT]
    from patrol.core.geometry import Box

    boxes = [Box(int(b["x"]), int(b["y"]), int(b["width"]), int(b["height"])) for b in redacted if b]
    return image, layout.without_text_in(boxes)


def verdicts(base, base_layout, image, layout) -> list[tuple[str, bool]]:  # type: ignore[no-untyped-def]
    """Each level's verdict on the pair, as the visual check reaches it (True: passes)."""
    from patrol.visual.compare import compare, mask_from_boxes
    from patrol.visual.levels import content_changes, dynamic_boxes, layout_changes

    h, w = image.shape[:2]
    strict = compare(base, image).diff_pixels == 0
    masks = dynamic_boxes(layout) + dynamic_boxes(base_layout)
    dynamic = compare(base, image, mask=mask_from_boxes(w, h, masks)).diff_pixels == 0
    return [("strict", strict), ("strict + dynamic", dynamic), ("layout", not layout_changes(base_layout, layout)),
            ("content", not content_changes(base_layout, layout))]


def data_uri(image) -> str:  # type: ignore[no-untyped-def]
    from patrol.core.png import encode_png

    return "data:image/png;base64," + base64.b64encode(encode_png(image)).decode()


def levels_page(base, cases) -> str:  # type: ignore[no-untyped-def]
    cells = [f'<figure><img src="{data_uri(base[:520])}"><figcaption><b>baseline</b> (approved)</figcaption></figure>']
    for title, image, results in cases:
        marks = "".join(f'<li class="{"ok" if ok else "no"}">{"✓" if ok else "✗"} {name}</li>' for name, ok in results)
        cells.append(f'<figure><img src="{data_uri(image[:520])}"><figcaption><b>{title}</b><ul>{marks}</ul>'
                     '</figcaption></figure>')
    return ("<!doctype html><meta charset=utf-8><style>body{margin:0;padding:16px;font:15px sans-serif;background:#fff;"
            "width:1568px}main{display:grid;grid-template-columns:repeat(4,1fr);gap:14px}figure{margin:0}"
            "img{width:100%;border:1px solid #cbd5e1}ul{list-style:none;margin:6px 0 0;padding:0}"
            "li.ok{color:#15803d}li.no{color:#b91c1c}</style><main>" + "".join(cells) + "</main>")


def shift_page(base, shifted, layout) -> str:  # type: ignore[no-untyped-def]
    from patrol.reports.html_report import environment
    from patrol.reports.shift_view import shift_marks
    from patrol.visual.levels import text_in
    from patrol.visual.shift import find_shift

    shift = find_shift(base, shifted)
    assert shift is not None, "the banner made no shift"
    evidence = shift.to_dict()
    evidence["blocks"] = [{"kind": p.kind, "side": p.side, "x": p.box.x, "y": p.box.y, "width": p.box.w,
                           "height": p.box.h, "dy": p.dy, "text": text_in(layout, p.box), "blank": p.blank}
                          for p in shift.story if p.box is not None]
    macro = environment().get_template("_shift.html.j2").module.shift_map  # type: ignore[attr-defined]
    html = str(macro(shift_marks(evidence), [{"label": "baseline", "path": data_uri(base)},
                                             {"label": "actual", "path": data_uri(shifted)}]))
    style = (environment().get_template("_style.html.j2").render())
    words = shift.describe(lambda box, side: text_in(layout, box))
    style += "<style>.sidebyside figure{max-width:680px}</style>"
    return (f"<!doctype html><meta charset=utf-8>{style}<body style='margin:0;padding:16px;width:1400px;background:#fff'>"
            f"<p style='font:15px sans-serif'>{words}</p>{html}</body>")


def main() -> int:
    from playwright.sync_api import sync_playwright

    from patrol.demo import DEFAULT_PASSWORD, DEMO_USER, DemoBank

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screens")
    args = ap.parse_args()
    with DemoBank(port=0) as bank, sync_playwright() as p, tempfile.TemporaryDirectory():
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN").new_page()
        page.goto(bank.url + "/login")
        page.fill("#username", DEMO_USER)
        page.fill("#password", DEFAULT_PASSWORD)
        page.click("#login-submit")
        page.wait_for_url("**/home")
        base, base_layout = shoot(page, bank, APPROVED)
        cases = []
        for _, title, faults in CASES:
            image, layout = shoot(page, bank, faults)
            cases.append((title, image, verdicts(base, base_layout, image, layout)))
            print(title, cases[-1][2])
        shifted, shifted_layout = shoot(page, bank, [*APPROVED, "layout_shift"])
        for name, html, width in (("levels.png", levels_page(base, cases), 1600),
                                  ("shift.png", shift_page(base, shifted, shifted_layout), 1432)):
            sheet = browser.new_page(viewport={"width": width, "height": 100})
            sheet.set_content(html)
            sheet.screenshot(path=str(args.out / name), full_page=True)
            sheet.close()
            print("wrote", args.out / name)
        browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

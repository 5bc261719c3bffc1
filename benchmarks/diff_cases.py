"""Dense-difference image pairs for benchmarks/diff.py, rendered by real Chromium.

Each pair is the same content rendered two ways, as happens between two
machines or two nights: font hinting (fontconfig hintnone vs hintfull),
sub-pixel (RGB) vs greyscale text anti-aliasing, a page scrolled by 3 px, a
light and a dark theme, a 4K photo-like picture saved at two JPEG qualities,
and a tall full page (3446x10728, the size of issue 11's pair) with hinting
changed.  Renders are cached in benchmarks/.cache/ (not in git), so reruns
skip Chromium; delete the folder to render again.
"""

from __future__ import annotations

import base64
import os
import sys
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run"]
DARK_CSS = "html { filter: invert(1) hue-rotate(180deg); background: #fff; } img, canvas { filter: invert(1) hue-rotate(180deg); }"

Shot = Callable[..., bytes]


def _fontconfig(name: str, hintstyle: str, rgba: str = "none") -> str:
    """A fontconfig file over the system's that forces one hinting style / sub-pixel order."""
    path = CACHE / f"fonts-{name}.conf"
    hinting = "false" if hintstyle == "hintnone" else "true"
    path.write_text(
        '<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig>'
        '<include ignore_missing="yes">/etc/fonts/fonts.conf</include><match target="font">'
        f'<edit name="hinting" mode="assign"><bool>{hinting}</bool></edit>'
        f'<edit name="hintstyle" mode="assign"><const>{hintstyle}</const></edit>'
        f'<edit name="rgba" mode="assign"><const>{rgba}</const></edit>'
        '<edit name="antialias" mode="assign"><bool>true</bool></edit></match></fontconfig>'
    )
    return str(path)


def _browser_shot(pw, fonts: str | None, viewport: tuple[int, int], dsf: float, load, clip: tuple | None) -> bytes:
    env = dict(os.environ, FONTCONFIG_FILE=fonts) if fonts else None
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, env=env)
    try:
        page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]}, device_scale_factor=dsf)
        load(page)
        page.wait_for_timeout(300)
        box = {"x": 0, "y": 0, "width": clip[0], "height": clip[1]} if clip else None
        return page.screenshot(full_page=bool(clip), clip=box, animations="disabled", caret="hide")
    finally:
        browser.close()


def _demo_home(url: str, scroll: int = 0, css: str | None = None):
    def load(page) -> None:
        page.goto(url + "/login")
        page.fill("#username", "demo")
        page.fill("#password", "patrol-demo-2026")
        page.click("#login-submit")
        page.wait_for_url("**/home")
        page.wait_for_load_state("networkidle")
        if css:
            page.add_style_tag(content=css)
        if scroll:
            page.evaluate(f"window.scrollTo(0, {scroll})")
    return load


def _photo(seed: int = 3) -> np.ndarray:
    """A photo-like 3840x2160 BGR picture: smooth sky/ground gradients, soft blobs, fine grain."""
    rng = np.random.default_rng(seed)
    h, w = 2160, 3840
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.empty((h, w, 3), np.float32)
    img[..., 0] = 200 - 120 * yy / h + 20 * np.sin(xx / 300)
    img[..., 1] = 150 - 40 * yy / h + 30 * np.cos(yy / 170 + xx / 900)
    img[..., 2] = 90 + 100 * yy / h + 25 * np.sin((xx + yy) / 400)
    for _ in range(60):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(40, 400)
        colour = rng.uniform(-80, 80, 3).astype(np.float32)
        img += colour * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))[..., None]
    small = rng.normal(0, 18, (h // 4, w // 4, 3)).astype(np.float32)
    img += cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC) + rng.normal(0, 4, (h, w, 3)).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def _photo_page(quality: int):
    ok, jpg = cv2.imencode(".jpg", _photo(), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    src = "data:image/jpeg;base64," + base64.b64encode(jpg.tobytes()).decode()
    html = f"<!doctype html><html><body style='margin:0'><img src='{src}' style='display:block'></body></html>"

    def load(page) -> None:
        page.set_content(html)
        page.wait_for_function("document.images[0].complete")
    return load


def _tall_page(page_html: Callable[..., str]):
    html = page_html(3446, 10728, "&yen;1,284,310", 260, 60)

    def load(page) -> None:
        page.set_content(html)
    return load


def dense_specs(url: str, page_html: Callable[..., str]) -> list[tuple[str, str, tuple, tuple]]:
    """(label, slug, (fonts, viewport, dsf, load, full-page clip or None) for A, the same for B)."""
    none, full, rgb, grey = (_fontconfig("none", "hintnone"), _fontconfig("full", "hintfull"),
                             _fontconfig("rgb", "hintslight", "rgb"), _fontconfig("grey", "hintslight"))
    vp = (1280, 720)
    return [
        ("1280x720 hinting none/full", "hinting", (none, vp, 1, _demo_home(url), None),
         (full, vp, 1, _demo_home(url), None)),
        ("1280x720 RGB/grey text AA", "subpixel", (rgb, vp, 1, _demo_home(url), None),
         (grey, vp, 1, _demo_home(url), None)),
        ("1280x720 scrolled 3 px", "scrolled", (None, vp, 1, _demo_home(url), None),
         (None, vp, 1, _demo_home(url, scroll=3), None)),
        ("1280x720 light/dark theme", "theme", (None, vp, 1, _demo_home(url), None),
         (None, vp, 1, _demo_home(url, css=DARK_CSS), None)),
        ("3840x2160 photo JPEG q92/q80", "photo4k", (None, (3840, 2160), 1, _photo_page(92), None),
         (None, (3840, 2160), 1, _photo_page(80), None)),
        # device scale 1: at 2x Chromium positions glyphs by sub-pixels and drops hinting
        ("3446x10728 full page hinting", "tall", (none, (3446, 1080), 1, _tall_page(page_html), (3446, 10728)),
         (full, (3446, 1080), 1, _tall_page(page_html), (3446, 10728))),
    ]


def dense_pairs(page_html: Callable[..., str]) -> list[tuple[str, Path, Path]]:
    """Render (or take from the cache) every dense pair; returns (label, a.png, b.png)."""
    CACHE.mkdir(exist_ok=True)
    (CACHE / ".gitignore").write_text("*\n")
    sys.path.insert(0, str(HERE.parent))
    from patrol.demo.server import DemoBank

    out = []
    with DemoBank() as bank:
        pw_ctx = None
        try:
            for label, slug, spec_a, spec_b in dense_specs(bank.url, page_html):
                paths = (CACHE / f"{slug}_a.png", CACHE / f"{slug}_b.png")
                if not all(p.is_file() for p in paths):
                    if pw_ctx is None:
                        from playwright.sync_api import sync_playwright
                        pw_ctx = sync_playwright().start()
                    print(f"rendering {label} with Chromium ...", flush=True)
                    for path, spec in zip(paths, (spec_a, spec_b)):
                        path.write_bytes(_browser_shot(pw_ctx, *spec))
                out.append((label, *paths))
        finally:
            if pw_ctx is not None:
                pw_ctx.stop()
    return out

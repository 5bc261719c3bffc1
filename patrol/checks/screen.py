"""Reading the screen like a person: OCR of the step's (redacted) screenshot,
cached per screenshot, and finding words on it (for ``click: {text: ...}``)."""

from __future__ import annotations

import asyncio
import time

from ..errors import ActionFailed


def _ocr_lang(config) -> str:
    return (config.section("ocr") or {}).get("lang", "chi_sim+eng") if config else "chi_sim+eng"


async def read_screen(sc, region=None):
    """OCR of this step's screenshot (optionally a region), off the event loop so
    other journeys' browsers keep moving while Tesseract works."""
    from ..ocr import read

    key = ("ocr", region)
    if key not in sc.evidence.cache:
        image = sc.evidence.image()
        sc.evidence.cache[key] = await asyncio.to_thread(read, image, region=region, lang=_ocr_lang(sc.config))
        if region is None:
            sc.report["ocr_text"] = sc.evidence.cache[key].text
    return sc.evidence.cache[key]


async def locate_on_screen(driver, locator, *, timeout_ms: float, config=None) -> tuple[float, float]:
    """Where to tap for a ``{text: ...}`` or ``{point: [x, y]}`` locator, in screenshot pixels."""
    from ..ocr import find, read
    from ..visual.compare import decode_png

    if locator.strategy == "point":
        img = decode_png(await driver.screenshot())
        h, w = img.shape[:2]
        return locator.value[0] * w, locator.value[1] * h
    deadline = time.monotonic() + timeout_ms / 1000
    best_seen = ""
    while True:
        img = decode_png(await driver.screenshot())
        result = await asyncio.to_thread(read, img, lang=_ocr_lang(config))
        match = find(result, locator.value)
        if match is not None:
            x, y, w, h = match.box
            return x + w / 2, y + h / 2
        best_seen = result.text
        if time.monotonic() >= deadline:
            snippet = " ".join(best_seen.split())[:200]
            raise ActionFailed(
                f"the words '{locator.value}' were not found on screen within {timeout_ms / 1000:.1f}s",
                reason="text_not_found",
                evidence={"ocr_text": snippet},
            )
        await asyncio.sleep(0.3)

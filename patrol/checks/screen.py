"""The screen as checks see it: journey areas as pixel boxes, and OCR of the step's
(redacted) screenshot, read once per area per step and shared by the checks that ask."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..core.geometry import Box, Region
from ..errors import ActionFailed, RobotError
from ..journey.model import Locator
from ..journey.parsing import INVALID, Invalid, ParseContext
from ..ocr.locate import DEFAULT_LANG, locate_text, screen_text

if TYPE_CHECKING:
    from .. import yamlpos
    from ..config import Config
    from ..drivers.base import Driver
    from ..ocr.cache import OcrStore
    from ..ocr.engine import OcrResult
    from ..step.evidence import StepContext

# An area named in a journey: an element (a locator) or a region as written.
Area = Locator | Region


def parse_areas(value: object, path: yamlpos.Path, ctx: ParseContext) -> list[Area] | Invalid:
    """A list of selectors/locators and [x, y, w, h] regions (pixels or fractions:
    ``ParseContext.region`` decides which, once)."""
    if not isinstance(value, list):
        value = [value]
    parsed = [ctx.region(item, path + (i,)) if isinstance(item, list) else ctx.locator(item, path + (i,))
              for i, item in enumerate(value)]  # every item, so every problem is reported
    out: list[Area] = [a for a in parsed if not isinstance(a, Invalid)]
    return INVALID if len(out) < len(parsed) else out


async def boxes_for(driver: Driver, areas: Sequence[Area], width: int, height: int) -> list[Box]:
    """The pixel boxes of ``areas`` on a width x height screenshot: each region
    resolved once (``Region.resolve``: its unit was decided by the parser), then the
    boxes the driver reports for the elements, which are pixels already. Redaction,
    visual masks, OCR regions and blank-region checks all take their pixels here."""
    boxes = [a.resolve(width, height) for a in areas if isinstance(a, Region)]
    locators = [a for a in areas if isinstance(a, Locator)]
    if locators:
        boxes += [Box(*b) for b in await driver.element_boxes(locators)]
    return boxes


def ocr_lang(config: Config | None) -> str:
    """The Tesseract languages patrol.yaml asks for (``ocr: {lang: ...}``)."""
    return config.settings.ocr.lang if config is not None else DEFAULT_LANG


def ocr_engine(config: Config | None) -> str:
    """``ocr: {engine: ...}``: tesseract (the default), rapidocr or both."""
    return config.settings.ocr.engine if config is not None else "tesseract"


OCR_CACHE_ENV = "PATROL_OCR_CACHE"


def ocr_store(config: Config | None) -> OcrStore | None:
    """The persistent OCR cache patrol.yaml names (``ocr: {cache: ...}``; by default
    ``.patrol/ocr-cache`` next to it); None without a config or with ``cache: false``.
    ``PATROL_OCR_CACHE`` (a folder) wins over the file's folder: several projects, a CI
    job's cache or a test suite can share one cache (entries are keyed by pixels, engine
    and settings, so sharing never changes a reading); ``cache: false`` still wins."""
    from ..ocr.cache import store_at

    folder = config.settings.ocr.cache if config is not None else None
    if config is None or folder is None:
        return None
    shared = os.environ.get(OCR_CACHE_ENV, "").strip()
    return store_at(shared) if shared else store_at(config.path(folder))


async def read_screen(sc: StepContext, region: Box | None = None) -> OcrResult:
    """OCR of this step's screenshot (optionally a region, in its pixels), off the
    event loop so other journeys' browsers keep moving while the engine works. The
    engine is the first of ``ocr.engine`` (Tesseract for ``both``)."""
    from ..ocr.engine import engines_for, read

    cached = sc.evidence.ocr.get(region)
    if cached is not None:
        return cached
    image = sc.evidence.image()
    if image is None:
        raise RobotError("there is no screenshot of this step to read")
    engine = engines_for(ocr_engine(sc.config))[0]
    result = await asyncio.to_thread(read, image, region=region, lang=ocr_lang(sc.config), store=ocr_store(sc.config),
                                     engine=engine)
    sc.evidence.ocr[region] = result
    if region is None:
        sc.report["ocr_text"] = result.text
    return result


async def read_screen_again(sc: StepContext, region: Box | None = None) -> OcrResult | None:
    """With ``ocr: {engine: both}``: RapidOCR's reading of this step's screenshot (or
    region), for words Tesseract did not find; None with one engine. Kept in the OCR
    caches (memory and disk) like any reading, so it is made once per screenshot."""
    from ..ocr.engine import engines_for, read

    engines = engines_for(ocr_engine(sc.config))
    if len(engines) < 2:
        return None
    image = sc.evidence.image()
    if image is None:
        raise RobotError("there is no screenshot of this step to read")
    return await asyncio.to_thread(read, image, region=region, lang=ocr_lang(sc.config), store=ocr_store(sc.config),
                                   engine=engines[1])


async def locate_on_screen(driver: Driver, locator: Locator, *, timeout_ms: float, config: Config | None = None) -> tuple[float, float]:
    """Where to tap for a ``{text: ...}`` or ``{point: [x, y]}`` locator, in screenshot pixels.

    Kept for the drivers while ``click`` moves to ``patrol.ocr.locate_text``."""
    from ..core.png import png_dimensions

    if locator.strategy == "point":
        png = await driver.screenshot()
        size = png_dimensions(png)
        if size is None:
            raise RobotError("the screenshot is not a PNG")
        if locator.point is None:
            raise RobotError(f"{locator.describe()}: a point locator without its coordinates")
        x, y = locator.point
        return x * size[0], y * size[1]
    deadline = time.monotonic() + timeout_ms / 1000
    lang, store, engine = ocr_lang(config), ocr_store(config), ocr_engine(config)
    while True:
        png = await driver.screenshot()
        box = await locate_text(png, locator.value, lang=lang, store=store, engine=engine)
        if box is not None:
            return box.x + box.w / 2, box.y + box.h / 2
        if time.monotonic() >= deadline:
            snippet = " ".join((await screen_text(png, lang=lang, store=store, engine=engine)).split())[:200]
            raise ActionFailed(
                f"the words '{locator.value}' were not found on screen within {timeout_ms / 1000:.1f}s",
                reason="text_not_found",
                evidence={"ocr_text": snippet},
            )
        await asyncio.sleep(0.3)

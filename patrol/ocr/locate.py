"""OCR as a service: where given words are on a screenshot.

For actions such as ``click: {text: ...}``: the caller takes the screenshot (any
driver), this reads it. Nothing here knows about drivers or checks, and NumPy,
OpenCV and Tesseract are loaded on the first call, not on import.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from ..core.geometry import Box

if TYPE_CHECKING:
    from .cache import OcrStore

DEFAULT_LANG = "chi_sim+eng"


async def locate_text(png: bytes, words: str, *, lang: str = DEFAULT_LANG, store: OcrStore | None = None,
                      engine: str = "tesseract") -> Box | None:
    """The box (screenshot pixels) where ``words`` are read on ``png`` (fuzzy, as
    ``patrol.ocr.find``), or None. Its centre is where a person would tap. OCR
    runs off the event loop, so other journeys' browsers keep moving. ``store``: the
    persistent OCR cache (``patrol.ocr.cache``), if any. ``engine``: ``ocr.engine``
    (``both``: RapidOCR reads only when Tesseract did not find the words)."""
    from .engine import engines_for, read
    from .match import find

    for name in engines_for(engine):
        result = await asyncio.to_thread(read, png, lang=lang, store=store, engine=name)
        match = find(result, words)
        if match is not None:
            return Box(*match.box)
    return None


async def screen_text(png: bytes, *, lang: str = DEFAULT_LANG, store: OcrStore | None = None,
                      engine: str = "tesseract") -> str:
    """All the text read on ``png`` (for an error message saying what was there) by
    the first engine of ``engine``. Cached with the reading ``locate_text`` did of
    the same screenshot."""
    from .engine import engines_for, read

    result = await asyncio.to_thread(read, png, lang=lang, store=store, engine=engines_for(engine)[0])
    return result.text

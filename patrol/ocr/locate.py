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


async def locate_text(png: bytes, words: str, *, lang: str = DEFAULT_LANG, store: OcrStore | None = None) -> Box | None:
    """The box (screenshot pixels) where ``words`` are read on ``png`` (fuzzy, as
    ``patrol.ocr.find``), or None. Its centre is where a person would tap. Tesseract
    runs off the event loop, so other journeys' browsers keep moving. ``store``: the
    persistent OCR cache (``patrol.ocr.cache``), if any."""
    from .engine import read
    from .match import find

    result = await asyncio.to_thread(read, png, lang=lang, store=store)
    match = find(result, words)
    return None if match is None else Box(*match.box)


async def screen_text(png: bytes, *, lang: str = DEFAULT_LANG, store: OcrStore | None = None) -> str:
    """All the text read on ``png`` (for an error message saying what was there).
    Cached with the reading ``locate_text`` did of the same screenshot."""
    from .engine import read

    result = await asyncio.to_thread(read, png, lang=lang, store=store)
    return result.text

"""Reading the screen like a person: OCR of screenshots (Simplified Chinese and
English) by Tesseract or RapidOCR, and fuzzy matching of what was read.

    from patrol.ocr import read, find
    result = read(png_bytes)                    # or an RGB(A) array; region=Box(x, y, w, h)
    match = find(result, "总资产")               # fuzzy: one misread glyph per 3 allowed
    x, y = match.center                         # where to tap, in screenshot pixels
    find(result, "NaN", exact=True)             # case-sensitive, whole word
    box = await locate_text(png_bytes, "转入")   # the service actions use: a Box or None
    read(png_bytes, store=store_at(".patrol/ocr-cache"))  # same pixels as any earlier run: no Tesseract
    read(png_bytes, engine="rapidocr")          # the second engine (patrol.ocr.rapid): PP-OCR on onnxruntime

The names are loaded on first use (PEP 562), so importing ``patrol.ocr`` (or
``patrol.ocr.locate``) does not load NumPy, OpenCV or Tesseract.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .cache import OcrStore, store_at
    from .engine import (
        DEFAULT_SETTINGS,
        OcrLine,
        OcrResult,
        OcrSettings,
        OcrUnavailable,
        OcrWord,
        check_available,
        clear_cache,
        read,
        result_from_lines,
        warm_up,
    )
    from .locate import locate_text, screen_text
    from .match import DEFAULT_SCORE, TextMatch, contains, find

# Eager (and light): the function shares its submodule's name, which must not shadow it.
from .normalize import normalize

_WHERE = {
    "OcrStore": "cache",
    "store_at": "cache",
    "DEFAULT_SETTINGS": "engine",
    "OcrLine": "engine",
    "OcrResult": "engine",
    "OcrSettings": "engine",
    "OcrUnavailable": "engine",
    "OcrWord": "engine",
    "check_available": "engine",
    "clear_cache": "engine",
    "read": "engine",
    "result_from_lines": "engine",
    "warm_up": "engine",
    "locate_text": "locate",
    "screen_text": "locate",
    "DEFAULT_SCORE": "match",
    "TextMatch": "match",
    "contains": "match",
    "find": "match",
}

__all__ = [
    "DEFAULT_SCORE",
    "DEFAULT_SETTINGS",
    "OcrLine",
    "OcrResult",
    "OcrSettings",
    "OcrStore",
    "OcrUnavailable",
    "OcrWord",
    "TextMatch",
    "check_available",
    "clear_cache",
    "contains",
    "find",
    "locate_text",
    "normalize",
    "read",
    "result_from_lines",
    "screen_text",
    "store_at",
    "warm_up",
]


def __getattr__(name: str) -> object:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'patrol.ocr' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)

"""Reading the screen like a person: Tesseract OCR of screenshots (Simplified
Chinese and English) and fuzzy matching of what was read.

    from patrol.ocr import read, find
    result = read(png_bytes)                    # or an RGB(A) array; region=(x, y, w, h)
    match = find(result, "总资产")               # fuzzy: one misread glyph per 3 allowed
    x, y = match.center                         # where to tap, in screenshot pixels
    find(result, "NaN", exact=True)             # case-sensitive, whole word
"""

from .engine import (
    OcrLine,
    OcrResult,
    OcrUnavailable,
    OcrWord,
    check_available,
    clear_cache,
    read,
    result_from_lines,
)
from .match import DEFAULT_SCORE, TextMatch, contains, find
from .normalize import normalize

__all__ = [
    "DEFAULT_SCORE",
    "OcrLine",
    "OcrResult",
    "OcrUnavailable",
    "OcrWord",
    "TextMatch",
    "check_available",
    "clear_cache",
    "contains",
    "find",
    "normalize",
    "read",
    "result_from_lines",
]

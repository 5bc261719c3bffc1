"""Reading the screen like a person: Tesseract OCR of screenshots (Simplified
Chinese and English) and fuzzy matching of what was read."""

from .engine import OcrLine, OcrResult, OcrUnavailable, OcrWord, read
from .match import DEFAULT_SCORE, TextMatch, contains, find
from .normalize import normalize

__all__ = ["DEFAULT_SCORE", "OcrLine", "OcrResult", "OcrUnavailable", "OcrWord", "TextMatch",
           "contains", "find", "normalize", "read"]

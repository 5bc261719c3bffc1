"""Text normalisation shared by OCR output and the needles searched in it."""

from __future__ import annotations

import re
import unicodedata

_CJK = r"\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
# Tesseract puts spaces between CJK characters ("总 资 产"); a person reads none.
_CJK_GAP = re.compile(rf"(?<=[{_CJK}])\s+(?=[{_CJK}])|(?<=[{_CJK}])\s+(?=[0-9A-Za-z¥])|(?<=[0-9¥])\s+(?=[{_CJK}])")
_SPACES = re.compile(r"\s+")


def normalize(text: str) -> str:
    """NFKC (full-width -> half-width, compatibility forms), fold CJK spacing, trim."""
    text = unicodedata.normalize("NFKC", text or "")
    text = _SPACES.sub(" ", text).strip()
    # NFKC turns full-width CJK punctuation like （） into ASCII (); keep one form.
    return _CJK_GAP.sub("", text)


def is_cjk(ch: str) -> bool:
    return bool(re.match(rf"[{_CJK}]", ch))

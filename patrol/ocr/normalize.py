"""Text normalisation shared by what OCR read and the words searched in it.

A person reading ``总 资 产 （ 元 ）`` reads ``总资产(元)``. Tesseract, however, puts a
space between CJK glyphs (its "words" are often single characters), reads the same
comma as ``，`` or ``,`` depending on the font, and so on. ``normalize`` makes both
sides comparable:

1. NFKC: full-width ASCII forms (``，：（）！？０-９Ａ-Ｚ``), the ideographic space and
   ``￥`` become their half-width forms.
2. The remaining CJK/typographic punctuation is unified to one form
   (``。``->``.``, ``、``->``,``, curly quotes -> straight, dashes -> ``-``,
   ``・•`` -> ``·``, ``【】`` -> ``[]``, ``〈〉`` -> ``()``: Tesseract often reads
   a full-width ``（`` as ``〈``).
3. Runs of white space become one space; leading/trailing space is stripped.
4. A space is dropped when a CJK character is on one side and a CJK character or
   a punctuation mark is on the other (``总 资产 (元 )`` -> ``总资产(元)``), and
   between a punctuation mark and a CJK character. Spaces between Latin words or
   numbers are kept (``Internal Server Error``, ``¥ 128,460.52``), and so is the
   space between CJK and Latin/digits (``近 90 日``): it is how such pages are set.
"""

from __future__ import annotations

import re
import unicodedata

# Ideographs, kana, hangul, CJK symbols/punctuation, CJK compatibility, full-width forms.
_CJK_RANGES = (
    "\u2e80-\u2fdf"  # radicals
    "\u3000-\u303f"  # CJK symbols and punctuation
    "\u3040-\u30ff"  # kana
    "\u3100-\u312f\u31a0-\u31bf"  # bopomofo
    "\u3400-\u4dbf"  # extension A
    "\u4e00-\u9fff"  # unified ideographs
    "\uac00-\ud7af"  # hangul
    "\uf900-\ufaff"  # compatibility ideographs
    "\ufe30-\ufe4f"  # CJK compatibility forms
    "\uff00-\uffef"  # half/full-width forms
    "\U00020000-\U0003134f"  # extensions B-G
)
_CJK_CHAR = re.compile(f"[{_CJK_RANGES}]")

_PUNCT_MAP = str.maketrans({
    "。": ".", "｡": ".", "、": ",", "､": ",",
    "“": '"', "”": '"', "„": '"', "‘": "'", "’": "'", "‚": "'",
    "—": "-", "–": "-", "―": "-", "‐": "-", "‑": "-", "−": "-", "─": "-",
    "・": "·", "•": "·", "‧": "·", "∙": "·", "⋅": "·",
    "【": "[", "】": "]", "〔": "(", "〕": ")",
    "〈": "(", "〉": ")",  # Tesseract's reading of a full-width （）
    "〜": "~",
})
_SPACES = re.compile(r"\s+")


def is_cjk(ch: str) -> bool:
    """True for a CJK ideograph, kana, hangul or CJK punctuation character."""
    return bool(ch) and _CJK_CHAR.match(ch) is not None


def is_punct(ch: str) -> bool:
    """True for punctuation and symbols (``,.()¥%`` ...), not letters, digits or space."""
    return bool(ch) and unicodedata.category(ch)[0] in "PS"


def fold_space(left: str, right: str) -> bool:
    """Whether a space between the characters ``left`` and ``right`` is Tesseract's
    (to be dropped) rather than the page's (to be kept)."""
    lc, rc = is_cjk(left), is_cjk(right)
    if lc and (rc or is_punct(right)):
        return True
    return rc and is_punct(left)


def normalize_chars(text: str) -> str:
    """Steps 1-3 of ``normalize``: NFKC, punctuation unification, white space runs.
    No spaces are folded, so this is safe on a single OCR word."""
    text = unicodedata.normalize("NFKC", text or "").translate(_PUNCT_MAP)
    return _SPACES.sub(" ", text).strip()


def normalize(text: str) -> str:
    """Normalise text for reading and comparison (see the module docstring)."""
    text = normalize_chars(text)
    if " " not in text:
        return text
    out: list[str] = []
    for i, ch in enumerate(text):
        if ch == " " and 0 < i < len(text) - 1 and fold_space(text[i - 1], text[i + 1]):
            continue
        out.append(ch)
    return "".join(out)

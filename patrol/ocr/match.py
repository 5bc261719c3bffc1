"""Finding words in what OCR read.

Fuzzy rule (Chinese and mixed text): the needle (normalised, spaces removed) is
compared with every window of the line text of its length ±1 by Levenshtein
distance; score = 100 * (1 - distance / len(needle)). ``DEFAULT_SCORE = 60`` means:
one misread glyph passes for needles of 3+ characters (总资广 for 总资产 scores 66.7),
two for needles of 5+; a 2-character needle must match exactly; and a needle that
shares at most one character with the screen text never passes (转入资金 vs 总资产).

Exact rule (``exact=True``, used for Latin tokens such as NaN, null): case-sensitive,
whole word, so "annulled" does not contain "null".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein

from .engine import OcrLine, OcrResult, _joined
from .normalize import normalize

DEFAULT_SCORE = 60.0


@dataclass
class TextMatch:
    text: str  # what was read where the needle matched
    score: float
    box: tuple[int, int, int, int]
    line: str


def _compact(text: str) -> tuple[str, list[int]]:
    """Drop spaces; keep a map from compact index to original index."""
    keep = [i for i, ch in enumerate(text) if not ch.isspace()]
    return "".join(text[i] for i in keep), keep


def _box_of_span(line: OcrLine, start: int, end: int) -> tuple[int, int, int, int]:
    """Box of line.text[start:end], slicing word boxes proportionally for partial words."""
    pieces, owner = _joined(line.words)
    text = "".join(pieces)
    if text != line.text or end <= start:
        return line.box
    xs0, ys0, xs1, ys1 = [], [], [], []
    for wi in sorted({owner[i] for i in range(start, end) if owner[i] >= 0}):
        word = line.words[wi]
        first = owner.index(wi)
        n = len(word.text)
        a = max(start, first) - first
        b = min(end, first + n) - first
        x, y, w, h = word.box
        xs0.append(x + w * a / n)
        xs1.append(x + w * b / n)
        ys0.append(y)
        ys1.append(y + h)
    if not xs0:
        return line.box
    x0, y0 = int(min(xs0)), int(min(ys0))
    return x0, y0, max(1, int(round(max(xs1))) - x0), max(1, int(max(ys1)) - y0)


def find(result: OcrResult, needle: str, *, min_score: float = DEFAULT_SCORE, exact: bool = False) -> TextMatch | None:
    target = normalize(needle)
    if not target:
        return None
    if exact:
        pattern = re.compile(rf"(?<![A-Za-z0-9]){re.escape(target)}(?![A-Za-z0-9])")
        for line in result.lines:
            m = pattern.search(line.text)
            if m:
                return TextMatch(m.group(0), 100.0, _box_of_span(line, m.start(), m.end()), line.text)
        return None
    compact_needle, _ = _compact(target)
    n = len(compact_needle)
    best: TextMatch | None = None
    for line in result.lines:
        compact, index = _compact(line.text)
        if not compact:
            continue
        for size in {max(1, n - 1), n, n + 1}:
            if size > len(compact):
                size = len(compact)
            for s in range(0, len(compact) - size + 1):
                window = compact[s: s + size]
                d = Levenshtein.distance(compact_needle, window)
                score = 100.0 * (1 - d / n)
                if score >= min_score and (best is None or score > best.score):
                    start, end = index[s], index[s + size - 1] + 1
                    best = TextMatch(line.text[start:end], score, _box_of_span(line, start, end), line.text)
                    if score == 100.0:
                        return best
    return best


def contains(result: OcrResult, needle: str, min_score: float = DEFAULT_SCORE, exact: bool = False) -> bool:
    return find(result, needle, min_score=min_score, exact=exact) is not None

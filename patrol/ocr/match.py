"""Finding words in what OCR read, the way a person would spot them.

Fuzzy rule (the default; labels, Chinese or mixed text)
-------------------------------------------------------
Needle and line are normalised (``normalize``), spaces are dropped (Tesseract's
spacing is unreliable) and ASCII letters are compared case-insensitively. The
needle is compared, by Levenshtein distance ``d`` (one substituted, missing or
extra character costs 1; rapidfuzz), with every window of the line whose length
is within ``d`` of the needle's, and

    score = 100 * (1 - d / len(needle))

i.e. the share of the needle's characters that were read right. The best window
of all lines wins (lowest ``d``; then the window closest to the needle's length;
then the first).

``DEFAULT_SCORE = 66`` therefore allows **one misread character per three
characters of the needle** (``d <= len // 3``):

- 1-2 characters: must be read exactly (``成功`` vs ``成切`` scores 50);
- 3-5 characters: one glyph may be misread, dropped or added
  (``总资广`` for ``总资产`` scores 66.7; ``转入资全`` for ``转入资金`` 75);
- 6-8 characters: two; and so on.

Numbers are not fuzzy: when the needle has digits, a window only matches with
the same digits in the same order (``880002`` never matches ``880001``,
``¥ 128,460.53`` never matches ``¥ 128,460.52``; ``Y 128,460.52`` for
``¥ 128,460.52`` does).

A needle that shares at most one character with the text in the right order
never passes when it is 3-5 long (``转入资金`` vs ``总资产``: the best window
``入资金`` is 2 edits away, 33); a needle must agree on about two thirds of its
characters to match. Plain ``fuzz.ratio`` would not do: it scores a 3-character
needle with one wrong glyph 66.7 but also rewards partial overlaps of long
windows, and it gives no window to click.

Exact rule (``exact=True``; Latin tokens such as ``NaN``, ``null``, ``undefined``)
--------------------------------------------------------------------------------
Case-sensitive, after the same normalisation and ignoring spaces inside the
match, and whole-word: an ASCII letter/digit/underscore at either end of the
needle must not touch another one on screen, so ``annulled`` does not contain
``null`` while ``¥NaN`` and ``值为null。`` contain ``NaN`` / ``null``. Score 100.

A phrase wrapped over lines of one block (a heading that breaks at the width of its
column) is found too: each line is also read joined with the line right below it when
the two overlap horizontally, are about the same height and stand less than a line
apart. A match within one line is always preferred.

The returned box is the union of the boxes of the characters matched (Tesseract's
word boxes, a partly matched word cut in proportion to its characters' widths),
in image pixels: the middle of it is where a person would tap.
"""

from __future__ import annotations

from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein

from ..core.geometry import Box
from .engine import OcrLine, OcrResult
from .normalize import normalize

DEFAULT_SCORE = 66.0


@dataclass(frozen=True)
class TextMatch:
    text: str  # what was read where the needle matched (normalised)
    score: float  # 0-100; 100 = read exactly
    box: Box  # x, y, w, h in image pixels
    line: str  # the whole line it was found in

    @property
    def center(self) -> tuple[float, float]:
        x, y, w, h = self.box
        return x + w / 2, y + h / 2


def _is_word_char(ch: str) -> bool:
    return ch.isascii() and (ch.isalnum() or ch == "_")


def _fold_case(text: str) -> str:
    return "".join(c.lower() if c.isascii() else c for c in text)


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def _compact(text: str) -> tuple[str, list[int]]:
    """Text without spaces, and for each of its characters the index in ``text``."""
    index = [i for i, ch in enumerate(text) if not ch.isspace()]
    return "".join(text[i] for i in index), index


MAX_WRAPPED_LINES = 4


def _continues(above: OcrLine, below: OcrLine) -> bool:
    """``below`` carries on ``above``'s text: overlapping columns, about the same
    height, less than a line apart."""
    ax, ay, aw, ah = above.box
    bx, by, bw, bh = below.box
    tall = max(ah, bh)
    return (bool(above.text and below.text) and min(ah, bh) >= 0.6 * tall
            and 0 <= by - (ay + ah) < 0.8 * tall and bx < ax + aw and ax < bx + bw)


def _join(above: OcrLine, below: OcrLine) -> OcrLine:
    shift = len(above.words)
    spans = above.char_spans + [(-1, 0.0, 0.0)] + [(w + shift if w >= 0 else -1, a, b) for w, a, b in below.char_spans]
    (ax, ay, aw, ah), (bx, by, bw, bh) = above.box, below.box
    x0, y0 = min(ax, bx), min(ay, by)
    box = Box(x0, y0, max(ax + aw, bx + bw) - x0, max(ay + ah, by + bh) - y0)
    return OcrLine(above.text + " " + below.text, box, min(above.confidence, below.confidence),
                   above.words + below.words, spans)


def _wrapped(lines: list[OcrLine]) -> list[OcrLine]:
    """The lines, then each run of lines that continue one another, joined (a
    heading wrapped at its column's width), up to ``MAX_WRAPPED_LINES``."""
    joined = []
    for i in range(len(lines)):
        current = lines[i]
        for j in range(i + 1, min(len(lines), i + MAX_WRAPPED_LINES)):
            if not _continues(lines[j - 1], lines[j]):
                break
            current = _join(current, lines[j])
            joined.append(current)
    return lines + joined


def _exact(result: OcrResult, needle: str) -> TextMatch | None:
    target, _ = _compact(needle)
    word_start, word_end = _is_word_char(target[0]), _is_word_char(target[-1])
    for line in _wrapped(result.lines):
        compact, index = _compact(line.text)
        pos = compact.find(target)
        while pos >= 0:
            start, end = index[pos], index[pos + len(target) - 1] + 1
            before = line.text[start - 1] if start > 0 else ""
            after = line.text[end] if end < len(line.text) else ""
            if not (word_start and _is_word_char(before)) and not (word_end and _is_word_char(after)):
                return TextMatch(line.text[start:end], 100.0, line.span_box(start, end), line.text)
            pos = compact.find(target, pos + 1)
    return None


def _fuzzy(result: OcrResult, needle: str, min_score: float) -> TextMatch | None:
    target = _fold_case(_compact(needle)[0])
    n = len(target)
    digits = _digits(target)
    # Largest distance that still scores min_score (tiny epsilon: 66.67 >= 66.0).
    max_d = 0
    while max_d + 1 < n and 100.0 * (1 - (max_d + 1) / n) >= min_score - 1e-9:
        max_d += 1
    # ((d, |size - n|, line order, start), line, index, s, size)
    best: tuple[tuple[int, int, int, int], OcrLine, list[int], int, int] | None = None
    for order, line in enumerate(_wrapped(result.lines)):
        compact, index = _compact(line.text)
        folded = _fold_case(compact)
        m = len(folded)
        if m == 0 or m < n - max_d:
            continue
        limit = max_d if best is None else min(max_d, best[0][0])
        for size in sorted(range(max(1, n - limit), min(m, n + limit) + 1), key=lambda s: abs(s - n)):
            for s in range(0, m - size + 1):
                d = Levenshtein.distance(target, folded[s:s + size], score_cutoff=limit)
                if d > limit or (digits and d and _digits(folded[s:s + size]) != digits):
                    continue
                rank = (d, abs(size - n), order, s)
                if best is None or rank < best[0]:
                    best = (rank, line, index, s, size)
                    limit = d
        if best is not None and best[0][0] == 0 and best[0][1] == 0:
            break
    if best is None:
        return None
    (d, _, _, _), line, index, s, size = best
    score = 100.0 * (1 - d / n)
    if score < min_score - 1e-9:
        return None
    start, end = index[s], index[s + size - 1] + 1
    return TextMatch(line.text[start:end], round(score, 2), line.span_box(start, end), line.text)


def find(
    result: OcrResult, needle: str, *, min_score: float = DEFAULT_SCORE, exact: bool = False
) -> TextMatch | None:
    """The best place ``needle`` was read in ``result``, or None (see the module
    docstring for the fuzzy and the ``exact`` rules; ``min_score`` only applies
    to fuzzy matching)."""
    target = normalize(needle)
    if not target.strip():
        return None
    return _exact(result, target) if exact else _fuzzy(result, target, min_score)


def contains(result: OcrResult, needle: str, min_score: float = DEFAULT_SCORE, *, exact: bool = False) -> bool:
    """Whether ``needle`` was read anywhere in ``result``."""
    return find(result, needle, min_score=min_score, exact=exact) is not None


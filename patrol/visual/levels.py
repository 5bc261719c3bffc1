"""Match levels: how alike a screen must be to its baseline, judged on the elements
the page (DOM) or the app (UI tree) reports with the screenshot.

- ``strict``: the pixels (the comparator, shift-aware);
- ``layout``: the same elements in the same arrangement (boxes within a pixel or
  two); text and colours are free;
- ``content``: the same text in the same structure; where things are is free, so a
  shift alone is not a finding.

``dynamic`` (on any level) treats text that looks like a date, a time, an amount, a
counter or an ID as changing by nature: its elements are masked from the pixels and
its words from the text, wherever they are on this screen and on the baseline.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from difflib import SequenceMatcher
from enum import StrEnum

from ..core.geometry import Box
from ..core.layout import ScreenElement, ScreenLayout


class MatchLevel(StrEnum):
    STRICT = "strict"
    LAYOUT = "layout"
    CONTENT = "content"


# A box may move by this much (device pixels) and still be where it was: subpixel
# layout rounds either way.
LAYOUT_SLACK_PX = 2

_DYNAMIC = re.compile(
    r"""
      \d{4}\s*[-/.年]\s*\d{1,2}\s*[-/.月]\s*\d{1,2}\s*日?       # 2026-01-05, 2026年1月5日
    | \d{1,2}\s*[-/.]\s*\d{1,2}\s*[-/.]\s*\d{2,4}               # 05/01/2026
    | \d{1,2}\s*月\s*\d{1,2}\s*日                               # 1月5日
    | \d{1,2}:\d{2}(?::\d{2})?                                  # 09:30, 09:30:15
    | [¥$€£￥]\s*-?\d[\d,]*(?:\.\d+)?                           # ¥ 128,460.52
    | -?\d{1,3}(?:,\d{3})+(?:\.\d+)?                            # 128,460.52
    | -?\d+\.\d+%?                                              # 3.20, 1.25%
    | \b(?=[A-Z0-9-]{6,}\b)[A-Z-]*\d[A-Z0-9-]*\b                # ORD-20260105-77, TX9F3K2
    | \d+                                                       # counters: 3 条, 12 人
    """,
    re.VERBOSE,
)


def looks_dynamic(text: str) -> bool:
    """True when ``text`` holds a date, time, amount, counter or ID."""
    return bool(_DYNAMIC.search(text))


def without_dynamic(text: str) -> str:
    """``text`` with its dates, times, amounts, counters and IDs as ``#``."""
    return _DYNAMIC.sub("#", text)


def dynamic_boxes(layout: ScreenLayout | None) -> list[Box]:
    """The boxes of the elements whose own text looks dynamic, clipped to the screen."""
    if layout is None:
        return []
    out = []
    for e in layout.elements:
        if e.text and looks_dynamic(e.text):
            box = _clip(e.box, layout.width, layout.height)
            if box is not None:
                out.append(box)
    return out


def _clip(b: Box, width: int, height: int) -> Box | None:
    x0, y0 = max(0, b.x), max(0, b.y)
    x1, y1 = min(width, b.x + b.w), min(height, b.y + b.h)
    return Box(x0, y0, x1 - x0, y1 - y0) if x1 > x0 and y1 > y0 else None


def _name(path: str) -> str:
    """The element's own part of its path (``div#total-assets``)."""
    return path.rsplit(">", 1)[-1]


def _where(b: Box) -> str:
    return f"{b.w}×{b.h} at ({b.x},{b.y})"


def _on_screen(e: ScreenElement, layout: ScreenLayout) -> bool:
    return _clip(e.box, layout.width, layout.height) is not None


def layout_changes(baseline: ScreenLayout, actual: ScreenLayout) -> list[str]:
    """How the arrangement differs, one phrase per element (empty: the same layout).

    Elements are paired by their kind-path in document order; an inline element is
    sized by its text (free at this level), so only the boxes of the others count.
    What is off screen in both is not part of this screen's layout."""
    a = [e for e in baseline.elements if not e.inline]
    b = [e for e in actual.elements if not e.inline]
    out: list[tuple[str, str]] = []
    opcodes = SequenceMatcher(None, [e.path for e in a], [e.path for e in b], autojunk=False).get_opcodes()
    for tag, i1, i2, j1, j2 in opcodes:
        if tag == "equal":
            for ea, eb in zip(a[i1:i2], b[j1:j2]):
                if not (_on_screen(ea, baseline) or _on_screen(eb, actual)):
                    continue
                if any(abs(p - q) > LAYOUT_SLACK_PX for p, q in zip(ea.box, eb.box)):
                    out.append((eb.path, f"{_name(eb.path)} {_where(ea.box)} is now {_where(eb.box)}"))
            continue
        out += [(e.path, f"{_name(e.path)} {_where(e.box)} is gone") for e in a[i1:i2] if _on_screen(e, baseline)]
        out += [(e.path, f"{_name(e.path)} is new at {_where(e.box)}") for e in b[j1:j2] if _on_screen(e, actual)]
    # The innermost first: a card that moved says more than the page that grew around it.
    paths = [p for p, _ in out]
    return [phrase for _, phrase in sorted(out, key=lambda c: any(p.startswith(c[0] + ">") for p in paths))]


def _content(layout: ScreenLayout, dynamic: bool) -> list[tuple[str, str]]:
    return [(e.path, without_dynamic(e.text) if dynamic else e.text) for e in layout.elements]


def content_changes(baseline: ScreenLayout, actual: ScreenLayout, *, dynamic: bool = False) -> list[str]:
    """How the text or the structure differs, one phrase per change (empty: the same
    content). Positions are free; with ``dynamic`` so are dates, amounts, counters, IDs."""
    a, b = _content(baseline, dynamic), _content(actual, dynamic)
    out: list[str] = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        gone, new = a[i1:i2], b[j1:j2]
        if tag == "replace" and [p for p, _ in gone] == [p for p, _ in new]:  # same elements, other words
            out += [f"{_name(p)} says {_quote(bt)} instead of {_quote(at)}"
                    for (p, at), (_, bt) in zip(gone, new) if at != bt]
            continue
        out += [f"{_name(p)}{' ' + _quote(t) if t else ''} is gone" for p, t in gone]
        out += [f"{_name(p)}{' ' + _quote(t) if t else ''} is new" for p, t in new]
    return out


def _quote(text: str, limit: int = 40) -> str:
    return "'" + (text if len(text) <= limit else text[: limit - 1] + "…") + "'"


def text_in(layout: ScreenLayout | None, box: Box, limit: int = 60) -> str:
    """The text of the elements inside ``box`` (most of their area), in document order:
    what a block that appeared or went away said."""
    if layout is None:
        return ""
    words: list[str] = []
    for e in layout.elements:
        if e.text and _inside(e.box, box) and e.text not in words:
            words.append(e.text)
    return _shorten(" ".join(words), limit)


def _inside(e: Box, box: Box) -> bool:
    x0, y0 = max(e.x, box.x), max(e.y, box.y)
    x1, y1 = min(e.x + e.w, box.x + box.w), min(e.y + e.h, box.y + box.h)
    area = max(0, x1 - x0) * max(0, y1 - y0)
    return e.w > 0 and e.h > 0 and area * 2 > e.w * e.h


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def summary(changes: Sequence[str], what: str, examples: int = 3) -> str:
    """``"3 elements moved or resized, e.g. …"``-style phrase of ``changes``."""
    shown = "; ".join(changes[:examples])
    more = f" (and {len(changes) - examples} more)" if len(changes) > examples else ""
    return f"{len(changes)} {what}: {shown}{more}"


def union(*groups: Iterable[Box]) -> list[Box]:
    return [b for g in groups for b in g]

"""What a screen is made of, as the page (DOM) or the app (UI tree) says: the
elements on screen with their boxes and their own text, in document order.

Captured with a step's screenshot when a visual check compares it, and stored next
to the baseline when one is approved: the match levels (``layout``, ``content``),
masking dynamic text and naming the text of a block a layout shift brought in all
read it. Plain data; drivers build it, ``visual/`` reads it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from .geometry import Box


@dataclass(frozen=True)
class ScreenElement:
    """One element on screen: ``path`` is its place in the tree by kind, not position
    (``main>section.card>div#total-assets``), ``box`` in screenshot pixels (off
    screen: outside 0..width/height), ``text`` the text it holds itself (not its
    children's), and
    ``inline`` when the text, not the layout, decides its size."""

    path: str
    box: Box
    text: str = ""
    inline: bool = False


@dataclass(frozen=True)
class ScreenLayout:
    width: int
    height: int
    elements: tuple[ScreenElement, ...]

    def to_json(self) -> str:
        return json.dumps({
            "width": self.width, "height": self.height,
            "elements": [[e.path, list(e.box), e.text, e.inline] for e in self.elements],
        }, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ScreenLayout | None:
        """None when ``text`` is not a layout this module wrote."""
        try:
            raw = json.loads(text)
            return cls.from_raw(raw)
        except (ValueError, TypeError, KeyError):
            return None

    @classmethod
    def from_raw(cls, raw: object) -> ScreenLayout:
        """From the page script's (or the JSON file's) answer:
        ``{width, height, elements: [[path, [x, y, w, h], text, inline], ...]}``;
        TypeError, KeyError or ValueError when it is not one."""
        if not isinstance(raw, Mapping):
            raise TypeError(f"a layout is an object, not {type(raw).__name__}")
        elements = []
        for item in raw["elements"]:
            path, box, text, inline = item
            x, y, w, h = (int(v) for v in box)
            elements.append(ScreenElement(str(path), Box(x, y, w, h), str(text or ""), bool(inline)))
        return cls(int(raw["width"]), int(raw["height"]), tuple(elements))

    def without_text_in(self, boxes: list[Box]) -> ScreenLayout:
        """The layout with the text of elements inside ``boxes`` (redacted areas) dropped:
        what is painted over on the screenshot never leaves the machine as text either."""
        if not boxes:
            return self
        kept = tuple(ScreenElement(e.path, e.box, "" if any(_overlaps(e.box, b) for b in boxes) else e.text, e.inline)
                     for e in self.elements)
        return ScreenLayout(self.width, self.height, kept)


def _overlaps(a: Box, b: Box) -> bool:
    return a.x < b.x + b.w and b.x < a.x + a.w and a.y < b.y + b.h and b.y < a.y + a.h

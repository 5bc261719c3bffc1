"""Clipped and overlapping text, without a baseline: on every step the page (the DOM;
``drivers._text_layout``) is asked for text a person cannot read whole, and each
element is a ``render`` finding once per journey:

- ``clipped_text``: text cut by its box (``overflow: hidden``, an ellipsis, an amount
  shown as "¥128,4…"), sticking out of the box it is drawn in (a button's label past
  its border), or running off the screen's edge;
- ``overlapping_text``: two elements' text drawn over each other.

``text_layout: {ignore: [selectors]}`` in patrol.yaml and/or a journey leaves parts of pages alone;
``detectors: {clipped_text: false}`` (or ``overlapping_text``) switches a kind off.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..core.geometry import Box
from ..core.jsontypes import JsonObject, json_list
from ..core.vocabulary import Kind, Reason
from ..journey.loader import journey_key
from ..journey.parsing import INVALID, Invalid, ParseContext
from ..results import Finding
from ..secrets import MASKER
from . import register
from .base import Check
from .detectors import detector_on

if TYPE_CHECKING:
    from .. import yamlpos
    from ..step.evidence import StepContext

# A layout seen while the page is still moving is asked again this much later; only
# what is there both times is reported (a label mid-transition is not a bug).
CONFIRM_AFTER_S = 0.3
SHOWN_IN_MESSAGE = 3  # elements named in a finding's message (the evidence holds up to 10)
TEXT_IN_MESSAGE = 60  # characters of an element's text in the message
REDACTED = "[redacted]"


@dataclass(frozen=True)
class TextLayoutParams:
    """The journey's ``text_layout:``: selectors whose text is never judged."""

    ignore: tuple[str, ...] = ()


@dataclass(frozen=True)
class TextSpot:
    """One element's text and where it is drawn (screenshot pixels)."""

    selector: str
    text: str
    box: Box


@dataclass(frozen=True)
class TextProblem:
    """Text a person cannot read whole. ``kind``: clipped (cut by ``by``), spilled
    (sticks out of ``by``, the box it is drawn in), offscreen, or overlap (with ``other``)."""

    kind: str
    spot: TextSpot
    by: str | None = None
    side: str | None = None  # where it is cut or sticks out: left, right, top, bottom
    px: int = 0  # by how much (CSS pixels)
    ellipsis: bool = False
    other: TextSpot | None = None

    @property
    def reason(self) -> Reason:
        return Reason.OVERLAPPING_TEXT if self.kind == "overlap" else Reason.CLIPPED_TEXT

    @property
    def key(self) -> str:
        """What makes it the same problem again later in the journey."""
        return f"{self.kind}|{self.spot.selector}|{self.other.selector if self.other else ''}"

    def describe(self) -> str:
        what = f"{_quote(self.spot.text)} ({self.spot.selector})"
        if self.kind == "overlap" and self.other is not None:
            return f"{what} and {_quote(self.other.text)} ({self.other.selector}) are drawn over each other"
        if self.kind == "offscreen":
            return f"{what} runs {self.px} px past the {self.side} edge of the screen"
        if self.kind == "spilled":
            return f"{what} sticks out {self.px} px past the {self.side} edge of {self.by}"
        cut = "ends in an ellipsis" if self.ellipsis else f"is cut {self.px} px short at the {self.side}"
        where = "" if self.by == self.spot.selector else f" by {self.by}"
        return f"{what} {cut}{where}"

    def to_evidence(self) -> JsonObject:
        out: JsonObject = {"kind": self.kind, "selector": self.spot.selector, "text": self.spot.text,
                           "box": [*self.spot.box]}
        if self.kind != "overlap":
            out.update(by=self.by, side=self.side, px=self.px, ellipsis=self.ellipsis)
        if self.other is not None:
            out["other"] = {"selector": self.other.selector, "text": self.other.text, "box": [*self.other.box]}
        return out


def _quote(text: str) -> str:
    return repr(text if len(text) <= TEXT_IN_MESSAGE else text[: TEXT_IN_MESSAGE - 1] + "…")


def _spot(raw: Mapping[str, object], redacted: Sequence[Box]) -> TextSpot | None:
    box = raw.get("box")
    if not (isinstance(box, list) and len(box) == 4 and all(isinstance(v, (int, float)) for v in box)):
        return None
    b = Box(*(int(v) for v in box))
    text = MASKER.mask(str(raw.get("text") or ""))
    # Text under a ``redact:`` area never leaves the machine, in words either.
    if any(_meet(b, r) for r in redacted):
        text = REDACTED
    return TextSpot(str(raw.get("selector") or "?"), text, b)


def _meet(a: Box, b: Box) -> bool:
    return a.x < b.right and b.x < a.right and a.y < b.bottom and b.y < a.bottom


def parse_problems(rows: Sequence[object], redacted: Sequence[Box] = ()) -> list[TextProblem]:
    """The page script's answer as typed problems (rows it cannot read are left out)."""
    out: list[TextProblem] = []
    for row in rows:
        if not isinstance(row, dict) or row.get("kind") not in ("clipped", "spilled", "offscreen", "overlap"):
            continue
        spot = _spot(row, redacted)
        if spot is None:
            continue
        other = _spot(row["other"], redacted) if isinstance(row.get("other"), dict) else None
        if row["kind"] == "overlap" and other is None:
            continue
        px = row.get("px")
        out.append(TextProblem(str(row["kind"]), spot, str(row["by"]) if row.get("by") else None,
                               str(row["side"]) if row.get("side") else None,
                               int(px) if isinstance(px, (int, float)) else 0, bool(row.get("ellipsis")), other))
    return out


@journey_key("text_layout", "the clipped/overlapping text detectors: {ignore: [selectors whose text is not judged]}",
             {"type": "object", "additionalProperties": False,
              "properties": {"ignore": {"type": "array", "items": {"type": "string"}}}})
def _text_layout(value: object, path: yamlpos.Path, ctx: ParseContext) -> TextLayoutParams | Invalid:
    spec = ctx.mapping(value, path, {"ignore": "selectors whose text is never judged"})
    if isinstance(spec, Invalid):
        return INVALID
    ignore: list[str] | Invalid = ctx.string_list(spec.get("ignore", []), path + ("ignore",))
    if isinstance(ignore, Invalid):
        return INVALID
    return TextLayoutParams(tuple(ignore))


@register
class TextLayout(Check):
    """Text cut by its box, sticking out of it, off the screen, or drawn over other text."""

    name = "text_layout"
    order = -5
    always = True
    runs_on_broken_step = False  # a broken step has its cause; half-drawn text is not news
    summary = "text on screen is clipped, truncated, off the screen or overlapping"

    def enabled(self, sc: StepContext) -> bool:
        return detector_on(sc, "clipped_text") or detector_on(sc, "overlapping_text")

    async def run(self, sc: StepContext, params: object) -> list[Finding]:
        ignore = self.ignored(sc)
        rows = await sc.driver.text_layout(ignore)
        if not rows:
            return []
        redacted = [Box(*(int(v) for v in b)) for b in json_list(sc.report, "redacted") if isinstance(b, list) and len(b) == 4]
        kinds = {r for r in (Reason.CLIPPED_TEXT, Reason.OVERLAPPING_TEXT) if detector_on(sc, r.value)}
        seen = [p for p in parse_problems(rows, redacted) if p.reason in kinds]
        if not seen:
            return []
        await asyncio.sleep(CONFIRM_AFTER_S)
        again = {p.key for p in parse_problems(await sc.driver.text_layout(ignore) or [], redacted)}
        problems = [p for p in seen if p.key in again and sc.first_time(p.reason.value, p.key)]
        return [f for f in (self._finding(sc, reason, [p for p in problems if p.reason == reason])
                            for reason in (Reason.CLIPPED_TEXT, Reason.OVERLAPPING_TEXT)) if f is not None]

    @staticmethod
    def ignored(sc: StepContext) -> tuple[str, ...]:
        """patrol.yaml's ``text_layout.ignore`` and the journey's."""
        project = sc.config.settings.text_layout.ignore if sc.config is not None else ()
        journey = sc.journey.option("text_layout", TextLayoutParams)
        return project + (journey.ignore if journey is not None else ())

    @staticmethod
    def _finding(sc: StepContext, reason: Reason, problems: list[TextProblem]) -> Finding | None:
        if not problems:
            return None
        head = "text on screen is cut off" if reason == Reason.CLIPPED_TEXT else "text on screen overlaps other text"
        said = "; ".join(p.describe() for p in problems[:SHOWN_IN_MESSAGE])
        more = f" (and {len(problems) - SHOWN_IN_MESSAGE} more)" if len(problems) > SHOWN_IN_MESSAGE else ""
        return Finding(kind=Kind.RENDER, reason=reason, message=f"{head}: {said}{more}",
                       evidence={"texts": [p.to_evidence() for p in problems[:10]], "url": sc.evidence.url})

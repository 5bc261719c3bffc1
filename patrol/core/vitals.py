"""Web Vitals of one step, as the page measured them (``drivers/web/_vitals.py`` reads
them with PerformanceObserver): what the customer's browser would report as LCP,
CLS, INP, FCP and TTFB, cut to the step.

Per step: CLS and INP count what happened since the previous step's screen was
captured (the layout shifts no input explains, the slowest interaction); LCP, FCP
and TTFB belong to a document's load, so they are given only on the step whose
screen is the first of a new document (a navigation, a popup): a single-page app's
route change is not a navigation, so its steps have CLS and INP only. LCP is the
largest paint up to that step's screen, as a RUM library reports it at the first
input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NotRequired, TypedDict


class ShiftSourceJson(TypedDict):
    element: str
    dx: int
    dy: int


class PageVitalsJson(TypedDict):
    navigated: bool
    cls: float
    shifts: int
    interactions: int
    ttfb_ms: NotRequired[float]
    fcp_ms: NotRequired[float]
    lcp_ms: NotRequired[float]
    lcp_element: NotRequired[str]
    lcp_url: NotRequired[str]
    shift_sources: NotRequired[list[ShiftSourceJson]]
    inp_ms: NotRequired[float]
    inp_event: NotRequired[str]


@dataclass(frozen=True)
class ShiftSource:
    """An element the browser names as moved by the step's worst layout shift, and how
    far (CSS pixels, down and right positive)."""

    element: str  # tag#id.class
    dx: int
    dy: int

    def describe(self) -> str:
        moves = [f"{'down' if self.dy > 0 else 'up'} {abs(self.dy)} px" if self.dy else "",
                 f"{'right' if self.dx > 0 else 'left'} {abs(self.dx)} px" if self.dx else ""]
        moved = " and ".join(m for m in moves if m)
        return f"{self.element} moved {moved}" if moved else f"{self.element} moved"

    def to_json(self) -> ShiftSourceJson:
        return {"element": self.element, "dx": self.dx, "dy": self.dy}

    @classmethod
    def from_json(cls, raw: ShiftSourceJson) -> ShiftSource:
        return cls(raw["element"], raw["dx"], raw["dy"])


@dataclass(frozen=True)
class PageVitals:
    """One step's vitals. Times in ms from the document's navigation start (LCP, FCP,
    TTFB) or the interaction's duration (INP); None: not measured in this step."""

    navigated: bool  # the step's screen is the first of a new document
    ttfb_ms: float | None = None
    fcp_ms: float | None = None
    lcp_ms: float | None = None
    lcp_element: str | None = None  # the largest element painted (tag#id.class)
    lcp_url: str | None = None  # its image, when it is one (masked)
    cls: float = 0.0  # the largest session window of unexpected shifts in the step
    shifts: int = 0  # unexpected layout shifts in the step
    shift_sources: tuple[ShiftSource, ...] = ()  # what the worst window's largest shift moved
    inp_ms: float | None = None  # the slowest interaction the browser timed (16 ms and more)
    inp_event: str | None = None  # e.g. "click on button#login-submit"
    interactions: int = 0  # inputs (pointer down, key down) in the step, timed or not

    def to_json(self) -> PageVitalsJson:
        out: PageVitalsJson = {"navigated": self.navigated, "cls": self.cls, "shifts": self.shifts,
                               "interactions": self.interactions}
        if self.ttfb_ms is not None:
            out["ttfb_ms"] = self.ttfb_ms
        if self.fcp_ms is not None:
            out["fcp_ms"] = self.fcp_ms
        if self.lcp_ms is not None:
            out["lcp_ms"] = self.lcp_ms
        if self.lcp_element:
            out["lcp_element"] = self.lcp_element
        if self.lcp_url:
            out["lcp_url"] = self.lcp_url
        if self.shift_sources:
            out["shift_sources"] = [s.to_json() for s in self.shift_sources]
        if self.inp_ms is not None:
            out["inp_ms"] = self.inp_ms
        if self.inp_event:
            out["inp_event"] = self.inp_event
        return out

    @classmethod
    def from_json(cls, raw: PageVitalsJson) -> PageVitals:
        return cls(navigated=raw["navigated"], ttfb_ms=raw.get("ttfb_ms"), fcp_ms=raw.get("fcp_ms"),
                   lcp_ms=raw.get("lcp_ms"), lcp_element=raw.get("lcp_element"), lcp_url=raw.get("lcp_url"),
                   cls=raw["cls"], shifts=raw["shifts"],
                   shift_sources=tuple(ShiftSource.from_json(s) for s in raw.get("shift_sources", [])),
                   inp_ms=raw.get("inp_ms"), inp_event=raw.get("inp_event"), interactions=raw["interactions"])

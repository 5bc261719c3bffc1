"""``vitals:`` in patrol.yaml: Web Vitals budgets of web steps (the same keys in a
journey, and in a step's ``expect: {vitals: ...}``, over it)::

    vitals:
      lcp: 2.5s      # largest contentful paint of a step that opened a page
      cls: 0.1       # layout shifts no input explains, per step
      inp: 200ms     # the slowest interaction of a step
      fcp: 1.8s      # first contentful paint
      ttfb: 800ms    # time to the document's first byte

Every budget is off by default (see ``DEFAULTS``); ``off`` (or ``false``) switches one
off again in a journey or a step, ``vitals: off`` all of them. Every step's vitals are
measured and reported whatever the budgets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

from ..durations import DurationError, format_ms, parse_ms
from ..yamlpos import Path
from .reader import Reader

VITALS_KEYS = {
    "lcp": "largest contentful paint of a step that opened a page, e.g. 2.5s (default off)",
    "cls": "cumulative layout shift of a step (shifts no input explains), e.g. 0.1 (default off)",
    "inp": "the slowest interaction of a step (interaction to next paint), e.g. 200ms (default off)",
    "fcp": "first contentful paint of a step that opened a page, e.g. 1.8s (default off)",
    "ttfb": "time to the first byte of a step's new document, e.g. 800ms (default off)",
}
OFF = math.inf  # a budget nothing is over
TIMES = ("lcp", "inp", "fcp", "ttfb")
MAX_CLS = 100.0


@dataclass(frozen=True)
class VitalsBudgets:
    """Each a budget (ms; CLS a score), ``OFF``, or None: not said here (the level
    below it, else the default, applies)."""

    lcp: float | None = None
    cls: float | None = None
    inp: float | None = None
    fcp: float | None = None
    ttfb: float | None = None

    def under(self, over: VitalsBudgets | None) -> VitalsBudgets:
        """``over`` (a journey's, a step's) over these: what it says wins."""
        if over is None:
            return self
        return replace(self, **{f.name: getattr(over, f.name) for f in fields(self) if getattr(over, f.name) is not None})

    @property
    def effective(self) -> VitalsBudgets:
        """Every budget, the defaults where nobody said."""
        return DEFAULTS.under(self)

    def of(self, vital: str) -> float:
        value = getattr(self, vital)
        return OFF if value is None else float(value)

    @staticmethod
    def describe(vital: str, value: float) -> str:
        if value == OFF:
            return "off"
        return f"{value:g}" if vital == "cls" else format_ms(value)


# Off until a project sets them: on a loaded patrol machine healthy real apps go far past
# any budget that would still catch a slow page (JupyterLab's LCP 12-23 s at load 30-40, its
# panels shifting by 0.29 as they lay out late; docs/benchmarks.md#web-vitals). Every step's
# vitals are measured and reported whatever the budgets.
ALL_OFF = VitalsBudgets(lcp=OFF, cls=OFF, inp=OFF, fcp=OFF, ttfb=OFF)
DEFAULTS = ALL_OFF


def parse_vitals(r: Reader, raw: object, path: Path = ("vitals",)) -> VitalsBudgets:
    if raw is None:
        return VitalsBudgets()
    if raw is False or raw == "off":
        return ALL_OFF
    f = r.fields(raw, path, VITALS_KEYS, expected="off, or a mapping with " + ", ".join(VITALS_KEYS))
    values: dict[str, float | None] = {}
    for key in VITALS_KEYS:
        if key not in f.raw:
            continue
        value = f.raw[key]
        if value is False or value == "off" or value is None:
            values[key] = OFF
        elif key == "cls":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= MAX_CLS:
                f.error(key, f"expected a layout shift score such as 0.1 or 0.25, or off (got {value!r})")
            else:
                values[key] = float(value)
        else:
            try:
                ms = parse_ms(value)
            except DurationError as e:
                f.error(key, f"{e} or off")
                continue
            if ms <= 0:
                f.error(key, f"{value!r}: expected a time above 0, or off")
            else:
                values[key] = ms
    return VitalsBudgets(**values)

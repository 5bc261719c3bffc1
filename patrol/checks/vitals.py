"""Web Vitals per step (``core/vitals.py``: what each one counts in a step): recorded
on every web step, and judged against budgets: patrol.yaml's ``vitals:``, a
journey's ``vitals:`` over it, a step's ``expect: {vitals: ...}`` over that.

Over budget, LCP, FCP, TTFB and INP are a ``stall`` (the customer waited), CLS a
``render`` finding (the layout jumped), each naming what the browser names: the
largest element painted, the interaction's target, the elements the shift moved.
A paint or an interaction over budget by no more than the time the robot itself
waited for a CPU (step/cpu_wait.py) is the patrol machine, not the app: a note.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..config.reader import Reader
from ..config.vitals import TIMES, VITALS_KEYS, VitalsBudgets, parse_vitals
from ..core.jsontypes import JsonObject
from ..core.urls import mask_url
from ..core.vitals import PageVitals
from ..core.vocabulary import Reason
from ..durations import format_ms
from ..journey.loader import journey_key
from ..journey.parsing import INVALID, Invalid
from ..results import RENDER, STALL, Finding
from . import register
from .base import Check

if TYPE_CHECKING:
    from .. import yamlpos
    from ..journey.parsing import ParseContext
    from ..step.evidence import StepContext

_TIME: JsonObject = {"oneOf": [{"type": "string"}, {"const": False}]}
VITALS_SCHEMA: JsonObject = {
    "oneOf": [
        {"type": "object", "additionalProperties": False,
         "properties": {"lcp": _TIME, "inp": _TIME, "fcp": _TIME, "ttfb": _TIME,
                        "cls": {"oneOf": [{"type": "number", "minimum": 0}, {"const": "off"}, {"const": False}]}}},
        {"const": "off"}, {"const": False},
    ],
}
NAMES = {"lcp": "largest contentful paint", "fcp": "first contentful paint", "ttfb": "time to first byte",
         "inp": "slowest interaction"}


def _parse(value: object, path: yamlpos.Path, ctx: ParseContext) -> VitalsBudgets | Invalid:
    if ctx.target != "web":
        return ctx.error(path, f"'{path[-1]}' (Web Vitals) is for web journeys", key=True)
    reader = Reader(ctx.file, ctx.located)
    parsed = parse_vitals(reader, value, path)
    ctx.problems.extend(reader.problems)
    return INVALID if reader.problems else parsed


@journey_key("vitals", "Web Vitals budgets of this journey's steps: " + "; ".join(VITALS_KEYS), VITALS_SCHEMA)
def _journey_vitals(value: object, path: yamlpos.Path, ctx: ParseContext) -> VitalsBudgets | Invalid:
    return _parse(value, path, ctx)


@register
class Vitals(Check):
    name = "vitals"
    expect_key = "vitals"
    always = True
    order = -25  # after the step budget: a slow step says its time first
    schema = VITALS_SCHEMA
    summary = "Web Vitals of a web step (LCP, CLS, INP, FCP, TTFB) within their budgets: " + "; ".join(VITALS_KEYS)

    def parse(self, value: object, path: yamlpos.Path, ctx: ParseContext) -> VitalsBudgets | Invalid:
        return _parse(value, path, ctx)

    async def run(self, sc: StepContext, params: object) -> list[Finding]:
        vitals = sc.driver.step_vitals()
        if vitals is None:
            return []
        sc.report["vitals"] = vitals.to_json()
        if any(f.fatal for f in sc.findings):
            return []  # the flow broke here: that is the finding, not how fast it broke
        budgets = sc.config.settings.vitals.under(sc.journey.option("vitals", VitalsBudgets))
        budgets = budgets.under(params if isinstance(params, VitalsBudgets) else None).effective
        return [f for f in (_over_time(sc, vitals, budgets, vital) for vital in TIMES) if f] + _shifted(vitals, budgets)


def _over_time(sc: StepContext, vitals: PageVitals, budgets: VitalsBudgets, vital: str) -> Finding | None:
    value: float | None = getattr(vitals, f"{vital}_ms")
    budget = budgets.of(vital)
    if value is None or value <= budget:
        return None
    evidence: dict[str, object] = {"vital": vital, "value_ms": value, "budget_ms": budget, "url": mask_url(sc.evidence.url)}
    message = f"{NAMES[vital]} ({vital.upper()}) {format_ms(value)}, over its budget of {format_ms(budget)}"
    if vital == "lcp" and vitals.lcp_element:
        message += f": {vitals.lcp_element}" + (f" ({vitals.lcp_url})" if vitals.lcp_url else "")
        evidence["element"] = vitals.lcp_element
        if vitals.lcp_url:
            evidence["element_url"] = vitals.lcp_url
    if vital == "inp" and vitals.inp_event:
        message += f": {vitals.inp_event}"
        evidence["interaction"] = vitals.inp_event
    starved = sc.evidence.robot_cpu_wait_ms
    if starved is not None and vital != "ttfb":
        evidence["robot_cpu_wait_ms"] = starved
        if value - starved <= budget:
            # The browser is the robot's too: a paint late by the time it waited for a CPU
            # of the patrol machine would not have been late on a customer's device.
            sc.notes.append(f"{message}, but the robot waited {format_ms(starved)} for a CPU of its own machine"
                            " (overloaded): not counted as a stall of the app")
            return None
    return Finding(kind=STALL, reason=Reason.VITALS_OVER_BUDGET, message=message, evidence=evidence)


def _shifted(vitals: PageVitals, budgets: VitalsBudgets) -> list[Finding]:
    budget = budgets.of("cls")
    if vitals.cls <= budget:
        return []
    message = f"the layout shifted by {vitals.cls:.3g} (CLS), over its budget of {budget:g}"
    if vitals.shift_sources:
        message += ": " + "; ".join(s.describe() for s in vitals.shift_sources)
    evidence: dict[str, object] = {"vital": "cls", "value": vitals.cls, "budget": budget, "shifts": vitals.shifts,
                                "moved": [s.to_json() for s in vitals.shift_sources]}
    return [Finding(kind=RENDER, reason=Reason.LAYOUT_SHIFT, message=message, evidence=evidence)]

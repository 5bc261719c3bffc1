from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.vocabulary import Kind, Reason
from ..results import Finding
from . import register
from .base import Check

if TYPE_CHECKING:
    from ..step.evidence import StepContext


@register
class Dialogs(Check):
    """JavaScript dialogs that opened during the step. Every one goes into the step's
    report (a customer saw it); one whose words were not what ``dialog: {text: ...}``
    expected was dismissed by the driver and is a finding."""

    name = "dialogs"
    order = -35  # after the network (its cause), before the budget
    always = True
    summary = "a JavaScript dialog whose text is not the one the journey armed for"

    async def run(self, sc: StepContext, params: object) -> list[Finding]:
        dialogs = sc.evidence.events.dialogs
        if not dialogs:
            return []
        sc.report["dialogs"] = [d.to_json() for d in dialogs[:20]]
        return [
            Finding(kind=Kind.RENDER, reason=Reason.WRONG_VALUE,
                    message=f"a {d.type} dialog said {d.message!r}, not {d.expected!r}: it was dismissed",
                    evidence={"dialog": d.to_json(), "url": sc.evidence.url})
            for d in dialogs if not d.matched
        ]

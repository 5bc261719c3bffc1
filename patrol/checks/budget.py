from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..core.vocabulary import Reason
from ..durations import format_ms
from ..results import STALL, Finding
from . import register
from .base import Check

if TYPE_CHECKING:
    from ..runner.evidence import StepContext


@register
class Budget(Check):
    """A step that finished, but slower than its budget, is a stall."""

    name = "budget"
    order = -30
    always = True
    runs_on_broken_step = False
    summary = "step slower than its budget"

    async def run(self, sc: StepContext, params: Any) -> list[Finding]:
        budget = sc.step.budget_ms if sc.step.budget_ms is not None else sc.journey.budgets.step_ms
        took = sc.evidence.duration_ms
        if took <= budget:
            return []
        return [
            Finding(
                kind=STALL,
                reason=Reason.OVER_BUDGET,
                message=f"took {format_ms(took)}, over its budget of {format_ms(budget)}",
                evidence={"duration_ms": round(took, 1), "budget_ms": budget},
            )
        ]

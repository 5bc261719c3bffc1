from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ..causes import Cause, Problem
from ..config.web import NetworkSettings
from ..core.vocabulary import Reason
from ..drivers._websocket import silence_words
from ..durations import format_ms
from ..results import STALL, Finding
from . import register
from .base import Check

if TYPE_CHECKING:
    from ..core.evidence import RequestRecord, WebSocketRecord
    from ..step.evidence import StepContext

# Connections meant to stay open: long by design, never "the slow request".
STREAMS = ("websocket", "eventsource")


@register
class Budget(Check):
    """A step that finished, but slower than its budget, is a stall, unless the time
    over budget is time the robot itself waited for a CPU (step/cpu_wait.py) and no
    slow request of the app's own explains it."""

    name = "budget"
    order = -30
    always = True
    runs_on_broken_step = False
    summary = "step slower than its budget"

    async def run(self, sc: StepContext, params: object) -> list[Finding]:
        budget = sc.step.budget_ms if sc.step.budget_ms is not None else sc.journey.budgets.step_ms
        took = sc.evidence.duration_ms
        if took <= budget:
            return []
        evidence: dict[str, object] = {"duration_ms": round(took, 1), "budget_ms": budget}
        message = f"took {format_ms(took)}, over its budget of {format_ms(budget)}"
        slow = slow_requests(sc, budget)
        quiet = silent_websockets(sc, budget)
        starved = sc.evidence.robot_cpu_wait_ms
        if starved is not None:
            evidence["robot_cpu_wait_ms"] = starved
            if not slow and took - starved <= budget:
                # The patrol machine, not the app: a customer's own device would not have
                # waited. Said in the report, not filed against the app.
                sc.notes.append(f"{message}, but the robot waited {format_ms(starved)} for a CPU of its own machine"
                                " (overloaded): not counted as a stall of the app")
                sc.report["robot_starved"] = evidence
                return []
        cause = Cause.step()
        if slow:
            # What the customer was waiting for, by name: the slowest of the app's own requests.
            evidence["slow_requests"] = [r.to_json() for r in slow[:10]]
            named = "; ".join(f"{r.method} {_path(r.url)} {(r.duration_ms or 0) / 1000:.1f} s"
                              + (" (still running)" if r.pending else "") for r in slow[:3])
            message += f": {named}"
            first = slow[0]
            cause = Cause.of_request(first.method, first.url, Problem.SLOW, resource_type=first.type,
                                     ms=first.duration_ms)
            if any(r.pending for r in slow):
                evidence["still_loading"] = True  # the screen was judged while it was still coming
        if quiet:
            # A screen that waited on a WebSocket saying nothing: named as a slow request is.
            evidence["silent_websockets"] = [w.to_json() for w in quiet[:5]]
            message += ("; " if slow else ": ") + "; ".join(silence_words(w.url, w.answered_busy_silence_ms) for w in quiet[:2])
            if not slow:
                cause = Cause.of_websocket(quiet[0].url, Problem.SILENT, ms=quiet[0].answered_busy_silence_ms)
        return [Finding(kind=STALL, reason=Reason.OVER_BUDGET, message=message, evidence=evidence, cause=cause)]


def slow_requests(sc: StepContext, budget_ms: float) -> list[RequestRecord]:
    """The app's own requests of this step slower than ``network.slow`` (default: the
    step's budget), slowest first; one that began in an earlier step counts whole."""
    settings = sc.config.settings.network.under(sc.journey.option("network", NetworkSettings))
    limit = settings.slow_ms if settings.slow_ms is not None else budget_ms
    slow = [r for r in sc.evidence.events.requests
            if r.first_party and not r.ignored and r.type not in STREAMS and (r.duration_ms or 0) >= limit]
    return sorted(slow, key=lambda r: -(r.duration_ms or 0))


def silent_websockets(sc: StepContext, budget_ms: float) -> list[WebSocketRecord]:
    """The app's own WebSockets of this step that said nothing for longer than
    ``network.slow`` (default: the step's budget) while the screen showed it was
    loading, and then spoke (what the screen waited for), longest silence first."""
    settings = sc.config.settings.network.under(sc.journey.option("network", NetworkSettings))
    limit = settings.slow_ms if settings.slow_ms is not None else budget_ms
    quiet = [w for w in sc.evidence.events.websockets if w.first_party and w.answered_busy_silence_ms >= limit]
    return sorted(quiet, key=lambda w: -w.answered_busy_silence_ms)


def _path(url: str) -> str:
    """The URL without scheme and host: what a person names a request by."""
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

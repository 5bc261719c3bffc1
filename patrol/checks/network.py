from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..core.vocabulary import Kind, Reason
from ..results import BREAKPOINT, Finding
from . import register
from .base import Check

if TYPE_CHECKING:
    from ..runner.evidence import StepContext


@register
class Network(Check):
    """What the app did wrong behind the screen while the step ran: failed or 5xx
    API calls, error documents, uncaught script errors. Each is a breakpoint."""

    name = "network"
    order = -40  # the cause first: a failed request or a crashed script explains what follows
    always = True
    # First among the detectors: a 5xx or a crashed script is the cause of what the
    # screen then shows (a blank page), so it leads the step's findings.
    summary = "failed/5xx requests, error pages and uncaught page errors"

    async def run(self, sc: StepContext, params: Any) -> list[Finding]:
        ev = sc.evidence.events
        findings = [
            Finding(kind=BREAKPOINT, reason=Reason.HTTP_ERROR, message=f"the page {doc['url']} answered HTTP {doc['status']}",
                    evidence=dict(doc), fatal=True)
            for doc in ev.bad_documents
        ]
        if ev.failed_requests:
            first = ev.failed_requests[0]
            what = f"HTTP {first['status']}" if first.get("status") else first.get("error") or "failed"
            more = f" (and {len(ev.failed_requests) - 1} more)" if len(ev.failed_requests) > 1 else ""
            findings.append(
                Finding(
                    kind=BREAKPOINT,
                    reason=Reason.REQUEST_FAILED,
                    message=f"{first['method']} {first['url']} {what}{more}",
                    evidence={"requests": ev.failed_requests[:20], "url": first["url"], "status": first.get("status")},
                    fatal=True,
                )
            )
        if ev.page_errors:
            first = ev.page_errors[0]
            findings.append(
                Finding(
                    kind=BREAKPOINT,
                    reason=Reason.PAGE_ERROR,
                    message=f"uncaught error in the page: {first['message'][:300]}",
                    evidence={"errors": ev.page_errors[:20]},
                    fatal=True,
                )
            )
        for state in ev.app_state:
            # App drivers say what kind it is (a frozen screen is a stall); default: the flow broke.
            evidence = {k: v for k, v in state.items() if k not in ("kind", "fatal")}
            findings.append(Finding(kind=Kind(state.get("kind", BREAKPOINT)), reason=Reason(state.get("reason", Reason.APP_STATE)),
                                    message=state["message"], evidence=evidence, fatal=state.get("fatal", True)))
        return findings

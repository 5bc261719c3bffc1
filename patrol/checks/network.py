from __future__ import annotations

from ..results import BREAKPOINT, Finding
from . import register
from .base import Check


@register
class Network(Check):
    """What the app did wrong behind the screen while the step ran: failed or 5xx
    API calls, error documents, uncaught script errors. Each is a breakpoint."""

    name = "network"
    always = True
    summary = "failed/5xx requests, error pages and uncaught page errors"

    async def run(self, sc, params):
        ev = sc.evidence.events
        findings = []
        for doc in ev.bad_documents:
            findings.append(
                Finding(kind=BREAKPOINT, reason="http_error", message=f"the page {doc['url']} answered HTTP {doc['status']}", evidence=dict(doc), fatal=True)
            )
        if ev.failed_requests:
            first = ev.failed_requests[0]
            what = f"HTTP {first['status']}" if first.get("status") else first.get("error") or "failed"
            more = f" (and {len(ev.failed_requests) - 1} more)" if len(ev.failed_requests) > 1 else ""
            findings.append(
                Finding(
                    kind=BREAKPOINT,
                    reason="request_failed",
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
                    reason="page_error",
                    message=f"uncaught error in the page: {first['message'][:300]}",
                    evidence={"errors": ev.page_errors[:20]},
                    fatal=True,
                )
            )
        for state in ev.app_state:
            # App drivers say what kind it is (a frozen screen is a stall); default: the flow broke.
            evidence = {k: v for k, v in state.items() if k not in ("kind", "fatal")}
            findings.append(Finding(kind=state.get("kind", BREAKPOINT), reason=state.get("reason", "app_state"), message=state["message"],
                                    evidence=evidence, fatal=state.get("fatal", True)))
        return findings

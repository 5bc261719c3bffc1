from __future__ import annotations

import math
from typing import TYPE_CHECKING, TypedDict

from ..causes import Cause, Problem
from ..config.web import NetworkSettings
from ..core.evidence import ConsoleJson, FailedRequest, RequestJson
from ..core.urls import RequestPolicy, host_of
from ..core.vocabulary import Reason
from ..results import BREAKPOINT, RENDER, Finding
from . import register
from .base import Check

if TYPE_CHECKING:
    from ..core.evidence import DriverEvents, FailedRequestJson
    from ..step.evidence import StepContext

MAX_SHOWN = 500  # requests per step in the report (failed and slowest kept): a page polling forever stays readable
# Chromium's own console line for every failed load: the request itself is the evidence
# (and a third party's failure must not become a cause through its console echo).
ECHOES = ("Failed to load resource",)


@register
class Network(Check):
    """What the app did wrong behind the screen while the step ran: a resource of its
    own that did not load, an API call that failed or answered an error status, an
    uncaught script error. The earliest of them is the step's one cause; the others
    go into its evidence. Every request and console message is kept for the report."""

    name = "network"
    order = -40  # the cause first: a failed request or a crashed script explains what follows
    always = True
    # First among the detectors: a 5xx or a crashed script is the cause of what the
    # screen then shows (a blank page), so it leads the step's findings.
    summary = "failed resources and API calls of the app's own, error pages, uncaught page errors"

    async def run(self, sc: StepContext, params: object) -> list[Finding]:
        ev = sc.evidence.events
        if ev.requests or ev.console:
            sc.report["network"] = waterfall(ev)
        causes = [c for c in _request_causes(ev) + _legacy_causes(sc, ev)
                  if c.fatal or sc.first_time("resource_failed", str(c.evidence.get("url")))]
        if not causes:
            causes = _console_cause(sc, ev)
        findings = [_one_cause(causes, ev)] if causes else []
        for state in ev.app_state:
            # App drivers say what kind it is (a frozen screen is a stall); default: the flow broke.
            evidence = {"reason": str(state.reason), "message": state.message, **state.details()}
            findings.append(Finding(kind=state.kind, reason=state.reason, message=state.message, evidence=evidence,
                                    fatal=state.fatal))
        return findings


class _Cause:
    """A finding-to-be and when the app showed it (ms into the step; inf: unknown)."""

    def __init__(self, reason: Reason, message: str, at: float, fatal: bool, evidence: dict[str, object], cause: Cause):
        self.reason, self.message, self.at, self.fatal, self.evidence = reason, message, at, fatal, evidence
        self.cause = cause


def _what(status: int | None, error: str | None) -> str:
    return f"HTTP {status}" if status else (error or "failed")


def _request_causes(ev: DriverEvents) -> list[_Cause]:
    """The driver's complete request list (web): what it marked as a cause."""
    out = []
    for r in ev.requests:
        if r.cause is None or r.pending:
            continue
        reason, what = r.cause, _what(r.status, r.error)
        if reason == Reason.RESOURCE_FAILED:
            message = f"the {r.type} {r.url} did not load: {what}"
        elif reason == Reason.HTTP_ERROR:
            retry = f" (retry after {r.retry_after_s:g}s)" if r.retry_after_s is not None else ""
            message = f"{r.method} {r.url} answered {what}{retry}"
        else:
            message = f"{r.method} {r.url} {what}"
        out.append(_Cause(reason, message, math.inf if r.at_ms is None else r.at_ms, r.fatal,
                          {"url": r.url, "status": r.status, "type": r.type},
                          request_cause(r.method, r.url, r.status, r.error, r.type)))
    return out


# Network errors that say the host itself is out of reach, not one of its requests.
HOST_ERRORS = ("ERR_NAME_NOT_RESOLVED", "ERR_CONNECTION_REFUSED", "ERR_ADDRESS_UNREACHABLE", "ERR_CONNECTION_TIMED_OUT",
               "ERR_INTERNET_DISCONNECTED", "ERR_NAME_RESOLUTION_FAILED")


def request_cause(method: str, url: str, status: int | None, error: str | None, resource_type: str | None) -> Cause:
    """The cause a failed request names: its host when the host was out of reach, else
    the request (method + URL template) with what went wrong."""
    error = error or ""
    if not status and any(e in error for e in HOST_ERRORS):
        return Cause.of_host(host_of(url) or url, error)
    problem = Problem.ERROR if status is not None and 400 <= status < 500 and resource_type != "document" else Problem.FAILED
    if resource_type in ("script", "stylesheet", "font", "image", "media"):
        problem = Problem.FAILED  # a file that did not load is the same problem whatever the status
    return Cause.of_request(method, url, problem, resource_type=resource_type, status=status)


def _legacy_causes(sc: StepContext, ev: DriverEvents) -> list[_Cause]:
    """Drivers without a request list (app webviews, the fake driver) report failures
    as they see them; uncaught page errors come from every driver."""
    settings = sc.config.settings.network.under(sc.journey.option("network", NetworkSettings))
    policy = RequestPolicy.for_journey(sc.journey.base_url, settings.first_party, settings.ignore)
    out = [_Cause(Reason.HTTP_ERROR, f"the page {doc.url} answered HTTP {doc.status}", math.inf, True,
                  {"url": doc.url, "status": doc.status}, request_cause("GET", doc.url, doc.status, None, "document"))
           for doc in ev.bad_documents if _counts(policy, doc.url)]
    out += [_Cause(Reason.REQUEST_FAILED, f"{r.method} {r.url} {_what(r.status, r.error)}",
                   math.inf if r.at_ms is None else r.at_ms, True, {"url": r.url, "status": r.status},
                   request_cause(r.method, r.url, r.status, r.error, None))
            for r in ev.failed_requests if _counts(policy, r.url)]
    out += [_Cause(Reason.PAGE_ERROR, f"uncaught error in the page: {e.message[:300]}",
                   math.inf if e.at_ms is None else e.at_ms, True, {"url": e.url}, Cause.of_page_error(e.message, e.url))
            for e in ev.page_errors]
    return out


def _counts(policy: RequestPolicy, url: str) -> bool:
    # A relative URL (the fake driver's) is the app's own.
    return "://" not in url or policy.counts(url)


def _console_cause(sc: StepContext, ev: DriverEvents) -> list[_Cause]:
    """A console error is a cause only when the step broke and nothing else explains it
    (healthy apps log errors too: alone it is evidence)."""
    if not any(f.fatal for f in sc.findings):
        return []
    errors = [c for c in ev.console if c.type == "error" and not c.text.startswith(ECHOES)]
    if not errors:
        return []
    first = errors[0]
    location = first.location
    return [_Cause(Reason.CONSOLE_ERROR, f"the page logged an error: {first.text[:300]}", first.at_ms, True,
                   {"location": location}, Cause.of_page_error(first.text, location or None))]


def _one_cause(causes: list[_Cause], ev: DriverEvents) -> Finding:
    """One step, one cause: the earliest that breaks the flow (else the earliest), the
    others in its evidence, so one broken deploy opens one incident."""
    ordered = sorted(causes, key=lambda c: (not c.fatal, c.at))
    first, others = ordered[0], ordered[1:]
    evidence: dict[str, object] = dict(first.evidence)
    failed: list[RequestJson | FailedRequestJson] = [r.to_json() for r in ev.requests if r.cause and not r.pending]
    failed += [r.to_json() for r in ev.failed_requests]
    failed += [FailedRequest(d.url, "GET", d.status, f"HTTP {d.status}").to_json() for d in ev.bad_documents]
    if failed:
        evidence["requests"] = failed[:20]
    if ev.page_errors:
        evidence["errors"] = [e.to_json() for e in ev.page_errors[:20]]
    errors = [c.to_json() for c in ev.console if c.type == "error"]
    if errors:
        evidence["console"] = errors[:10]
    if others:
        evidence["also"] = [c.message for c in others[:10]]
    more = f" (and {len(others)} more)" if others else ""
    fatal = first.fatal
    kind = BREAKPOINT if fatal else RENDER
    return Finding(kind=kind, reason=first.reason, message=first.message + more, evidence=evidence, fatal=fatal,
                   cause=first.cause)


class Waterfall(TypedDict):
    """The step's network evidence in the report (``artifacts.network``)."""

    total: int
    failed: int
    blocked: int
    third_party: int
    span_ms: float
    requests: list[RequestJson]
    omitted: int
    console: list[ConsoleJson]


def waterfall(ev: DriverEvents) -> Waterfall:
    """The step's network evidence for the report: failed (and blocked) requests first,
    then the slowest; the span the bars are drawn against."""
    rows = sorted(ev.requests, key=lambda r: (r.cause is None, not r.failed, -(r.duration_ms or 0)))
    ends = [max(r.start_ms or 0, 0) + (r.duration_ms or 0) for r in ev.requests]
    return {
        "total": len(ev.requests),
        "failed": sum(1 for r in ev.requests if r.failed and not r.blocked),
        "blocked": sum(1 for r in ev.requests if r.blocked),
        "third_party": sum(1 for r in ev.requests if not r.first_party),
        "span_ms": round(max(ends, default=0.0), 1),
        "requests": [r.to_json() for r in rows[:MAX_SHOWN]],
        "omitted": max(0, len(rows) - MAX_SHOWN),
        "console": [c.to_json() for c in ev.console],
    }

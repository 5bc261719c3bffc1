from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ..causes import Cause, Problem
from ..core.urls import RequestPolicy, host_of
from ..core.vocabulary import Kind, Reason
from ..results import BREAKPOINT, RENDER, Finding
from . import register
from .base import Check

if TYPE_CHECKING:
    from ..drivers.base import DriverEvents
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

    async def run(self, sc: StepContext, params: Any) -> list[Finding]:
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
            evidence = {k: v for k, v in state.items() if k not in ("kind", "fatal")}
            findings.append(Finding(kind=Kind(state.get("kind", BREAKPOINT)), reason=Reason(state.get("reason", Reason.APP_STATE)),
                                    message=state["message"], evidence=evidence, fatal=state.get("fatal", True)))
        return findings


class _Cause:
    """A finding-to-be and when the app showed it (ms into the step; inf: unknown)."""

    def __init__(self, reason: Reason, message: str, at: float, fatal: bool, evidence: dict[str, Any], cause: Cause):
        self.reason, self.message, self.at, self.fatal, self.evidence = reason, message, at, fatal, evidence
        self.cause = cause


def _what(entry: dict[str, Any]) -> str:
    return f"HTTP {entry['status']}" if entry.get("status") else (entry.get("error") or "failed")


def _request_causes(ev: DriverEvents) -> list[_Cause]:
    """The driver's complete request list (web): what it marked as a cause."""
    out = []
    for r in ev.requests:
        if not r.get("cause") or r.get("pending"):
            continue
        reason, what = Reason(r["cause"]), _what(r)
        if reason == Reason.RESOURCE_FAILED:
            message = f"the {r['type']} {r['url']} did not load: {what}"
        elif reason == Reason.HTTP_ERROR:
            retry = f" (retry after {r['retry_after_s']:g}s)" if r.get("retry_after_s") is not None else ""
            message = f"{r['method']} {r['url']} answered {what}{retry}"
        else:
            message = f"{r['method']} {r['url']} {what}"
        out.append(_Cause(reason, message, r.get("at_ms", math.inf), bool(r.get("fatal")),
                          {"url": r["url"], "status": r.get("status"), "type": r["type"]}, request_cause(r)))
    return out


# Network errors that say the host itself is out of reach, not one of its requests.
HOST_ERRORS = ("ERR_NAME_NOT_RESOLVED", "ERR_CONNECTION_REFUSED", "ERR_ADDRESS_UNREACHABLE", "ERR_CONNECTION_TIMED_OUT",
               "ERR_INTERNET_DISCONNECTED", "ERR_NAME_RESOLUTION_FAILED")


def request_cause(r: dict[str, Any]) -> Cause:
    """The cause a failed request names: its host when the host was out of reach, else
    the request (method + URL template) with what went wrong."""
    error, status = str(r.get("error") or ""), r.get("status")
    if not status and any(e in error for e in HOST_ERRORS):
        return Cause.of_host(host_of(r["url"]) or r["url"], error)
    problem = Problem.ERROR if isinstance(status, int) and 400 <= status < 500 and r.get("type") not in ("document",) else Problem.FAILED
    if r.get("type") in ("script", "stylesheet", "font", "image", "media"):
        problem = Problem.FAILED  # a file that did not load is the same problem whatever the status
    return Cause.of_request(r.get("method"), r["url"], problem, resource_type=r.get("type"),
                            status=status if isinstance(status, int) else None)


def _legacy_causes(sc: StepContext, ev: DriverEvents) -> list[_Cause]:
    """Drivers without a request list (app webviews, the fake driver) report failures
    as they see them; uncaught page errors come from every driver."""
    settings = sc.config.settings.network.under(sc.journey.options.get("network"))
    policy = RequestPolicy.for_journey(sc.journey.base_url, settings.first_party, settings.ignore)
    out = [_Cause(Reason.HTTP_ERROR, f"the page {doc['url']} answered HTTP {doc['status']}", math.inf, True,
                  {"url": doc["url"], "status": doc["status"]},
                  request_cause({"method": "GET", "url": doc["url"], "status": doc["status"], "type": "document"}))
           for doc in ev.bad_documents if _counts(policy, doc["url"])]
    out += [_Cause(Reason.REQUEST_FAILED, f"{r['method']} {r['url']} {_what(r)}", r.get("at_ms", math.inf), True,
                   {"url": r["url"], "status": r.get("status")}, request_cause(r))
            for r in ev.failed_requests if _counts(policy, r["url"])]
    out += [_Cause(Reason.PAGE_ERROR, f"uncaught error in the page: {e['message'][:300]}", e.get("at_ms", math.inf), True,
                   {"url": e.get("url")}, Cause.of_page_error(e["message"], e.get("url")))
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
    errors = [c for c in ev.console if c["type"] == "error" and not c["text"].startswith(ECHOES)]
    if not errors:
        return []
    first = errors[0]
    location = first.get("location")
    source = location.get("url") if isinstance(location, dict) else (str(location) if location else None)
    return [_Cause(Reason.CONSOLE_ERROR, f"the page logged an error: {first['text'][:300]}", first["at_ms"], True,
                   {"location": location}, Cause.of_page_error(first["text"], source))]


def _one_cause(causes: list[_Cause], ev: DriverEvents) -> Finding:
    """One step, one cause: the earliest that breaks the flow (else the earliest), the
    others in its evidence, so one broken deploy opens one incident."""
    ordered = sorted(causes, key=lambda c: (not c.fatal, c.at))
    first, others = ordered[0], ordered[1:]
    evidence: dict[str, Any] = dict(first.evidence)
    failed = [r for r in ev.requests if r.get("cause") and not r.get("pending")]
    failed += [r for r in ev.failed_requests if r not in failed]
    failed += [{"method": "GET", "url": d["url"], "status": d["status"], "error": f"HTTP {d['status']}"}
               for d in ev.bad_documents]
    if failed:
        evidence["requests"] = failed[:20]
    if ev.page_errors:
        evidence["errors"] = ev.page_errors[:20]
    errors = [c for c in ev.console if c["type"] == "error"]
    if errors:
        evidence["console"] = errors[:10]
    if others:
        evidence["also"] = [c.message for c in others[:10]]
    more = f" (and {len(others)} more)" if others else ""
    fatal = first.fatal
    kind = BREAKPOINT if fatal else RENDER
    return Finding(kind=kind, reason=first.reason, message=first.message + more, evidence=evidence, fatal=fatal,
                   cause=first.cause)


def _failed(r: dict[str, Any]) -> bool:
    return bool(r.get("blocked")) or r.get("error") is not None or (r.get("status") or 0) >= 400


def waterfall(ev: DriverEvents) -> dict[str, Any]:
    """The step's network evidence for the report: failed (and blocked) requests first,
    then the slowest; the span the bars are drawn against."""
    rows = sorted(ev.requests, key=lambda r: (not r.get("cause"), not _failed(r), -(r.get("duration_ms") or 0)))
    ends = [max(r.get("start_ms") or 0, 0) + (r.get("duration_ms") or 0) for r in ev.requests]
    return {
        "total": len(ev.requests),
        "failed": sum(1 for r in ev.requests if _failed(r) and not r.get("blocked")),
        "blocked": sum(1 for r in ev.requests if r.get("blocked")),
        "third_party": sum(1 for r in ev.requests if not r.get("first_party")),
        "span_ms": round(max(ends, default=0.0), 1),
        "requests": rows[:MAX_SHOWN],
        "omitted": max(0, len(rows) - MAX_SHOWN),
        "console": ev.console,
    }

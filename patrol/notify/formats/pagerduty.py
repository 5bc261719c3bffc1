"""``pagerduty``: Events API v2. ``secret`` is the integration's routing key;
``url`` defaults to https://events.pagerduty.com/v2/enqueue. ``dedup_key`` is the
incident fingerprint, so PagerDuty keeps one alert per problem; a resolved
incident resolves it. Reminders are not sent (PagerDuty escalates by itself)."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ...core.vocabulary import EventType as E
from ...core.vocabulary import Outcome, Target
from ..text import Doc, clean, message
from . import register
from .base import Context, Format, Request, json_bytes, json_headers, masked

if TYPE_CHECKING:
    from ...config.receivers import Receiver

SEVERITY = {"critical": "critical", "error": "error", "warning": "warning", "ok": "info", "info": "info"}


def dedup_key(doc: Doc) -> str:
    data = doc["data"]
    if doc["type"].startswith("robot."):
        return f"patrol-robot-{(data.get('robot') or {}).get('target') or Target.WEB}"
    if data.get("incident"):
        return str(data["incident"]["fingerprint"])
    fl = data.get("flapping") or {}
    return clean(f"patrol-flapping-{fl.get('journey')}-{fl.get('device')}", 255)


def action(doc: Doc) -> str:
    t = doc["type"]
    if t in (E.RESOLVED, E.ROBOT_RECOVERED):
        return "resolve"
    if t == E.FLAPPING_STOPPED and (doc["data"].get("flapping") or {}).get("state") == Outcome.HEALTHY:
        return "resolve"
    return "trigger"


def group_labels(inc: Doc) -> dict[str, str]:
    """What PagerDuty's event rules can route on: the cause's kind, host and endpoint
    template (none for a problem of the step itself)."""
    cause = inc.get("cause") or {}
    if not cause.get("kind") or cause["kind"] == "step":
        return {}
    labels = {"cause_kind": cause["kind"], "host": cause.get("host"), "endpoint": cause.get("endpoint")}
    return {k: clean(v, 255) for k, v in labels.items() if v}


@register
class PagerDuty(Format):
    name = "pagerduty"
    secret = "required"
    secret_help = "the integration's routing key (Events API v2)"
    default_url = "https://events.pagerduty.com/v2/enqueue"
    # Everything sent except reminders (and the timeline-only entries, never sent).
    event_types = frozenset(set(E) - {E.REMINDER, E.SEEN, E.HEALTHY_RUN})

    def body(self, doc: Doc, receiver: Receiver, ctx: Context) -> dict[str, object]:
        data = doc["data"]
        inc = data.get("incident")
        act = action(doc)
        body: dict[str, object] = {"event_action": act, "dedup_key": dedup_key(doc)}
        if act == "resolve":
            return body
        msg = message(doc, receiver.language, ctx.tz)
        source = "patrol"
        if inc:
            source = urlsplit(inc.get("page_url") or "").netloc or inc["journey"]["name"]
        details: dict[str, object] = {label: value for label, value in msg.facts}
        details["event"] = doc["type"]
        details["event_id"] = doc["id"]
        if inc:
            details["incident_id"] = inc["id"]
            details["fingerprint"] = inc["fingerprint"]
            details.update(group_labels(inc))
            if inc.get("affected"):
                details["affected"] = [{"journey": e["journey"], "device": e["device"],
                                        "steps": [s.get("name") or s.get("key") for s in e["steps"]]}
                                       for e in inc["affected"]]
            details["evidence"] = inc.get("evidence")
        payload = {
            "summary": clean(data["summary"], 1024),
            "source": source,
            "severity": SEVERITY.get(msg.severity, "error"),
            "timestamp": doc["timestamp"],
            # A cause several journeys share is the component (the API, the file), else the journey.
            "component": (group_labels(inc).get("endpoint") or inc["journey"]["name"]) if inc else "patrol",
            "group": inc["journey"]["device"] if inc else None,
            "class": f"{inc['kind']}/{inc['reason']}" if inc else doc["type"],
            "custom_details": details,
        }
        body["payload"] = {k: v for k, v in payload.items() if v is not None}
        links = [{"href": lk.url, "text": lk.label} for lk in msg.links if lk.url]
        if links:
            body["links"] = links
        shot = ((inc or {}).get("evidence") or {}).get("screenshot") or {}
        if shot.get("url"):
            body["images"] = [{"src": shot["url"], "href": shot["url"], "alt": "screenshot"}]
        report = ((inc or {}).get("console") or {}).get("incident") or (
            next((lk.url for lk in msg.links if lk.url and lk.label.lower() in ("report", "报告")), None))
        body["client"] = "Patrol"
        if report:
            body["client_url"] = report
        return body

    def requests(self, doc: Doc, receiver: Receiver, ctx: Context) -> list[Request]:
        body = masked(self.body(doc, receiver, ctx))
        body = {"routing_key": receiver.secret, **body}  # after masking: the key itself is a secret
        return [Request(receiver.url, json_bytes(body), json_headers())]

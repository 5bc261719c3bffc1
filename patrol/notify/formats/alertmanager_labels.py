"""What both Alertmanager formats say about an event: the alert's labels (its
identity in Alertmanager: what it groups, routes, silences and inhibits by), its
annotations, whether it fires, and since when.

Labels are stable over an incident's life (Alertmanager takes other labels for
another alert): the journey that opened it, its step, kind and reason, severity and,
when the incident names a cause, ``cause_kind``, ``host`` and ``endpoint`` (the
request's URL template). Everything that changes (count, last seen, affected
journeys, links) is an annotation.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ...core.vocabulary import EventType as E
from ...core.vocabulary import Outcome, Target
from ..text import Doc, message
from .base import Context

if TYPE_CHECKING:
    from ...config.receivers import Receiver

# Where the incident document may name its cause (the grouped-incident work fills them).
_CAUSE_LABELS = (("cause_kind", ("kind", "type")), ("host", ("host",)),
                 ("endpoint", ("endpoint", "template", "url_template", "resource")))
_LABEL_VALUE_MAX = 256


def _text(value: object) -> str:
    return str(value).strip()[:_LABEL_VALUE_MAX] if value not in (None, "") else ""


def cause_labels(inc: Mapping[str, object]) -> dict[str, str]:
    """``cause_kind``, ``host``, ``endpoint`` of an incident that names its cause (read
    defensively: a document without one has none of them)."""
    cause = inc.get("cause")
    if not isinstance(cause, dict):
        return {}
    out: dict[str, str] = {}
    for label, keys in _CAUSE_LABELS:
        value = next((_text(cause[k]) for k in keys if _text(cause.get(k))), "")
        if value:
            out[label] = value
    return out


def affected_journeys(inc: Mapping[str, object]) -> list[tuple[str, list[str]]]:
    """(journey, tags) of every journey a grouped incident affects (read defensively:
    none for a document without the list)."""
    entries = inc.get("affected") or inc.get("journeys")
    out: list[tuple[str, list[str]]] = []
    for e in entries if isinstance(entries, list) else []:
        if isinstance(e, dict) and (e.get("journey") or e.get("name")):
            out.append((str(e.get("journey") or e.get("name")), [str(t) for t in e.get("tags") or []]))
    return out


def labels_and_fingerprint(doc: Doc) -> tuple[dict[str, str], str]:
    data = doc["data"]
    inc = data.get("incident")
    if doc["type"].startswith("robot."):
        target = (data.get("robot") or {}).get("target") or Target.WEB
        labels = {"alertname": "PatrolRobotError", "target": target, "severity": "error", "source": "patrol"}
        return labels, hashlib.sha256(f"robot/{target}".encode()).hexdigest()[:16]
    if inc is None:
        fl = data.get("flapping") or {}
        labels = {"alertname": "PatrolJourneyFlapping", "journey": str(fl.get("journey")), "target": str(fl.get("target")),
                  "device": str(fl.get("device")), "severity": "warning", "source": "patrol"}
        return labels, hashlib.sha256(f"flap/{fl.get('journey')}/{fl.get('device')}".encode()).hexdigest()[:16]
    labels = {
        "alertname": "PatrolIncident",
        "journey": inc["journey"]["name"],
        "step": inc["step"]["name"] or inc["step"]["key"],
        "step_index": str(inc["step"]["index"]),
        "kind": inc["kind"],
        "reason": inc["reason"],
        "target": inc["journey"]["target"],
        "device": inc["journey"]["device"],
        "severity": inc["severity"],
        "source": "patrol",
        **cause_labels(inc),
    }
    return {k: v for k, v in labels.items() if v not in (None, "")}, inc["fingerprint"]


def firing(doc: Doc) -> bool:
    t = doc["type"]
    if t in (E.RESOLVED, E.ROBOT_RECOVERED):
        return False
    return not (t == E.FLAPPING_STOPPED and (doc["data"].get("flapping") or {}).get("state") == Outcome.HEALTHY)


def _key(label: str) -> str:
    return re.sub(r"[^a-z0-9_]+", "_", label.lower()).strip("_") or "fact"


def alert_annotations(doc: Doc, receiver: Receiver, ctx: Context) -> dict[str, str]:
    """The summary, the message's facts and links (console incident page, compare view,
    report, screenshot...), and the incident's changing numbers."""
    data = doc["data"]
    inc = data.get("incident")
    msg = message(doc, receiver.language, ctx.tz)
    keys = message(doc, "en", ctx.tz)  # annotation names stay English identifiers
    out: dict[str, object] = {"summary": msg.title, "description": data["summary"], "message": msg.headline}
    for (key, _), (_, value) in zip(keys.facts, msg.facts):
        out[_key(key)] = value
    for en_link, link in zip(keys.links, msg.links):
        out[_key(en_link.label)] = link.target
    out["event"] = doc["type"]
    out["event_id"] = doc["id"]
    if inc is not None:
        out["incident_id"] = str(inc["id"])
        out["count"] = str(inc["count"])
        out["first_seen"] = inc["first_seen"] or ""
        out["last_seen"] = inc["last_seen"] or ""
        if inc.get("page_url"):
            out["url"] = inc["page_url"]
        names = [name for name, _ in affected_journeys(inc)]
        if names:  # a grouped incident: every journey it affects
            out["journeys"] = ", ".join(dict.fromkeys(names))
        out["flapping"] = "true" if doc["type"] == E.FLAPPING else "false"
    return {k: str(v) for k, v in out.items() if v is not None}


def starts_at(doc: Doc) -> str:
    data = doc["data"]
    inc = data.get("incident") or {}
    return str(inc.get("first_seen") or (data.get("robot") or {}).get("since") or doc["timestamp"])


def ended_at(doc: Doc) -> str:
    return str((doc["data"].get("incident") or {}).get("resolved_at") or doc["timestamp"])


def generator_url(doc: Doc) -> str:
    """The console's incident page when there is one (where it is acknowledged), else the report."""
    data = doc["data"]
    inc, run = data.get("incident") or {}, data.get("run") or {}
    report = run.get("report") or (inc.get("evidence") or {}).get("report") or {}
    return str((inc.get("console") or {}).get("incident") or report.get("url") or "")

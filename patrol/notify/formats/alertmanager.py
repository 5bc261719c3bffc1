"""``alertmanager``: the Alertmanager webhook body, version 4, so that bridges built
for Alertmanager (DingTalk/WeCom/Feishu relays, PrometheusAlert, Grafana OnCall...)
accept Patrol's incidents as they are. One alert per message; ``secret``, when set,
is sent as ``Authorization: Bearer <secret>``."""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Any

from ...core.vocabulary import EventType as E
from ...core.vocabulary import Outcome, Target
from ..text import Doc, message
from . import register
from .base import Context, Format, Request, json_bytes, json_headers, masked

if TYPE_CHECKING:
    from ...config.receivers import Receiver

ZERO_TIME = "0001-01-01T00:00:00Z"


def _labels_and_fp(doc: Doc) -> tuple[dict[str, str], str]:
    data = doc["data"]
    inc, t = data.get("incident"), doc["type"]
    if t.startswith("robot."):
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
    }
    return labels, inc["fingerprint"]


def _key(label: str) -> str:
    return re.sub(r"[^a-z0-9_]+", "_", label.lower()).strip("_") or "fact"


def _status(doc: Doc) -> str:
    t = doc["type"]
    if t in (E.RESOLVED, E.ROBOT_RECOVERED):
        return "resolved"
    if t == E.FLAPPING_STOPPED and (doc["data"].get("flapping") or {}).get("state") == Outcome.HEALTHY:
        return "resolved"
    return "firing"


@register
class Alertmanager(Format):
    name = "alertmanager"
    secret = "optional"
    secret_help = "sent as a bearer token"

    def body(self, doc: Doc, receiver: Receiver, ctx: Context) -> dict[str, Any]:
        data = doc["data"]
        inc, run = data.get("incident"), data.get("run")
        msg = message(doc, receiver.language, ctx.tz)
        keys = message(doc, "en", ctx.tz)  # annotation names stay English identifiers
        labels, fp = _labels_and_fp(doc)
        status = _status(doc)
        annotations = {"summary": msg.title, "description": data["summary"], "message": msg.headline}
        for (key, _), (_, value) in zip(keys.facts, msg.facts):
            annotations[_key(key)] = value
        for en_link, link in zip(keys.links, msg.links):
            annotations[_key(en_link.label)] = link.target
        annotations["event"] = doc["type"]
        annotations["event_id"] = doc["id"]
        if inc is not None:
            annotations["incident_id"] = str(inc["id"])
            annotations["count"] = str(inc["count"])
            annotations["first_seen"] = inc["first_seen"] or ""
            annotations["last_seen"] = inc["last_seen"] or ""
            if inc.get("page_url"):
                annotations["url"] = inc["page_url"]
            annotations["flapping"] = "true" if doc["type"] == E.FLAPPING else "false"
        starts = (inc or {}).get("first_seen") or ((data.get("robot") or {}).get("since")) or doc["timestamp"]
        ends = ZERO_TIME
        if status == "resolved":
            ends = (inc or {}).get("resolved_at") or doc["timestamp"]
        report = ((run or {}).get("report") or ((inc or {}).get("evidence") or {}).get("report") or {})
        # The console's incident page when there is one (where it is acknowledged), else the report.
        generator = ((inc or {}).get("console") or {}).get("incident") or report.get("url") or ""
        alert = {
            "status": status,
            "labels": labels,
            "annotations": {k: str(v) for k, v in annotations.items() if v is not None},
            "startsAt": starts,
            "endsAt": ends,
            "generatorURL": generator,
            "fingerprint": fp,
        }
        group_labels = {"alertname": labels["alertname"]}
        return {
            "version": "4",
            "groupKey": '{}:{alertname="' + labels["alertname"] + '", fingerprint="' + fp + '"}',
            "truncatedAlerts": 0,
            "status": status,
            "receiver": receiver.name,
            "groupLabels": group_labels,
            "commonLabels": dict(labels),
            "commonAnnotations": dict(alert["annotations"]),
            "externalURL": generator.rsplit("/", 2)[0] if generator else "",
            "alerts": [alert],
        }

    def requests(self, doc: Doc, receiver: Receiver, ctx: Context) -> list[Request]:
        body = json_bytes(masked(self.body(doc, receiver, ctx)))
        extra = {"authorization": f"Bearer {receiver.secret}"} if receiver.secret else {}
        return [Request(receiver.url, body, json_headers(extra))]

"""Event documents: the format-neutral record of one event, stored with the event
and rendered by each notifier format at send time. The ``webhook`` format sends
it as is; its JSON Schema is ``patrol/notify/schemas/webhook-v1.schema.json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .. import __version__
from ..config.sections import console_url_of
from ..core.isotime import iso, parse_iso
from ..core.vocabulary import EventType, Reason
from ..notify.text import summary_line
from ..secrets import MASKER

SCHEMA_VERSION = 1

# Short names for the event types, kept because formats and tests speak them.
OPENED, RESOLVED, REMINDER = EventType.OPENED, EventType.RESOLVED, EventType.REMINDER
FLAPPING, FLAPPING_STOPPED = EventType.FLAPPING, EventType.FLAPPING_STOPPED
ROBOT_ERROR, ROBOT_RECOVERED = EventType.ROBOT_ERROR, EventType.ROBOT_RECOVERED
SEEN, HEALTHY_RUN = EventType.SEEN, EventType.HEALTHY_RUN

# Event type -> the name receivers subscribe to in ``events:``.
SUBSCRIPTION: dict[EventType, str] = {
    OPENED: "opened",
    RESOLVED: "resolved",
    REMINDER: "reminder",
    FLAPPING: "flapping",
    FLAPPING_STOPPED: "flapping",
    ROBOT_ERROR: "robot_error",
    ROBOT_RECOVERED: "robot_error",
}
NOTIFIED_TYPES: tuple[EventType, ...] = tuple(SUBSCRIPTION)

__all__ = ["iso", "parse_iso", "link", "console_links", "incident_object", "affected_object", "cause_object", "run_object",
           "build", "SUBSCRIPTION", "NOTIFIED_TYPES"]


def link(run_dir: str | None, relative: str | None, public_url: str | None, run_id: str | None = None) -> dict[str, Any] | None:
    """A file of a run folder as ``{path, url}``: the absolute path on the patrol
    machine, and a link when ``public_url`` says where run folders are served, else,
    when only the console serves them (``console_url``), the console's link to it."""
    if not relative:
        return None
    if not run_dir:
        return {"path": relative, "url": None}
    path = str(Path(run_dir) / relative)
    url = None
    console = console_url_of(public_url)
    if public_url:
        url = f"{public_url.rstrip('/')}/{quote(Path(run_dir).name)}/{quote(relative)}"
    elif console and run_id:
        # The console shows a run as a page (not its static index.html) and serves its pictures and trace.
        run = f"{console}/runs/{quote(run_id, safe='')}"
        url = run if relative == "index.html" else f"{run}/files/{quote(relative)}"
    return {"path": path, "url": url}


def console_links(row: Mapping[Any, Any], public_url: str | None) -> dict[str, Any] | None:
    """The incident's page in the console and, for a visual finding, its compare view
    (``/runs/RUN/compare?screen=JOURNEY/ATTEMPT/STEP``, the screen key the console uses)."""
    console = console_url_of(public_url)
    if not console:
        return None
    ev = row["evidence"] or {}
    compare = None
    # A visual finding, or a cause with a visual diff folded into it (a font that did not load).
    diffed = any(isinstance(i, dict) and i.get("label") == "diff" for i in ev.get("images") or [])
    if (row["reason"] == Reason.VISUAL_DIFF or diffed) and row["last_run_id"]:
        screen = f"{row['journey']}/{int(ev.get('attempt') or 1)}/{row['step_index']}"
        compare = f"{console}/runs/{quote(row['last_run_id'], safe='')}/compare?screen={quote(screen, safe='')}"
    return {"incident": f"{console}/incidents/{row['id']}", "compare": compare}


def affected_object(row: Mapping[Any, Any], public_url: str | None) -> list[dict[str, Any]]:
    """The journeys and steps an incident is about, each step with its screenshot's link
    (an incident about its one step, or opened before grouping: that step)."""
    ev = row["evidence"] or {}
    stored = row.get("affected") if hasattr(row, "get") else None
    if not stored:
        stored = [{"journey": row["journey"], "target": row["target"], "device": row["device"],
                   "tags": list(row["tags"] or []), "first_seen": iso(row["opened_at"]), "last_seen": iso(row["last_seen_at"]),
                   "count": row["count"], "last_run_id": row["last_run_id"],
                   "steps": [{"index": row["step_index"], "key": row["step_key"], "name": row["step_name"],
                              "reason": row["reason"], "screenshot": ev.get("screenshot")}]}]
    out = []
    for e in stored:
        run_id = e.get("last_run_id") or row["last_run_id"]
        run_dir = ev.get("run_dir") if run_id == row["last_run_id"] else None
        steps = [{"index": s.get("index"), "name": s.get("name"), "key": s.get("key"), "reason": s.get("reason"),
                  "screenshot": link(run_dir, s.get("screenshot"), public_url, run_id) if run_dir else None}
                 for s in e.get("steps") or []]
        out.append({"journey": e.get("journey"), "target": e.get("target"), "device": e.get("device"),
                    "tags": list(e.get("tags") or []), "first_seen": e.get("first_seen"), "last_seen": e.get("last_seen"),
                    "count": e.get("count"), "steps": steps})
    return out


def cause_object(row: Mapping[Any, Any]) -> dict[str, Any]:
    """What the incident is about: its cause (``kind``: request, resource, host,
    websocket, page_error, app_message, or step), the endpoint templates, and ``title``."""
    cause = row.get("cause") if hasattr(row, "get") else None
    if not cause:
        return {"kind": "step", "key": "", "title": ""}
    return dict(cause)


def incident_object(row: Mapping[Any, Any], public_url: str | None) -> dict[str, Any]:
    ev = row["evidence"] or {}
    run_dir = ev.get("run_dir")
    run_id = row["last_run_id"]  # the evidence is the last run's (it is replaced with each repeat)
    images = []
    for item in ev.get("images") or []:
        lk = link(run_dir, item.get("path"), public_url, run_id)
        if lk:
            images.append({"label": item["label"], **lk})
    return {
        "id": row["id"],
        "fingerprint": row["fingerprint"],
        "status": row["status"],
        "kind": row["kind"],
        "reason": row["reason"],
        "severity": row["severity"],
        "message": row["message"],
        "journey": {
            "name": row["journey"],
            "file": row["journey_file"],
            "tags": list(row["tags"] or []),
            "target": row["target"],
            "device": row["device"],
        },
        "step": {"index": row["step_index"], "name": row["step_name"], "key": row["step_key"], "action": row["action"]},
        "page_url": row["page_url"],
        "first_seen": iso(row["opened_at"]),
        "last_seen": iso(row["last_seen_at"]),
        "count": row["count"],
        "healthy_runs": row["healthy_streak"],
        "resolved_at": iso(row["resolved_at"]),
        "resolved_by": row["resolved_by"],
        "resolve_note": row["resolve_note"],
        "previous_incident_id": row["previous_id"],
        "console": console_links(row, public_url),
        "cause": cause_object(row),
        "affected": (affected := affected_object(row, public_url)),
        "scope": {"journeys": len(affected), "steps": sum(len(e["steps"]) for e in affected)},
        "evidence": {
            "screenshot": link(run_dir, ev.get("screenshot"), public_url, run_id),
            "images": images,
            "failed_requests": list(ev.get("failed_requests") or []),
            "page_errors": list(ev.get("page_errors") or []),
            "ocr_text": ev.get("ocr_text"),
            "consequences": list(ev.get("consequences") or []),
            "details": dict(ev.get("details") or {}),
            "report": link(run_dir, "index.html", public_url, run_id),
            "trace": link(run_dir, ev.get("trace"), public_url, run_id),
            "otel_trace": ev.get("otel_trace"),
        },
    }


def run_object(run: Mapping[str, Any] | None, public_url: str | None) -> dict[str, Any] | None:
    if not run:
        return None
    return {
        "id": run["id"],
        "status": run["status"],
        "started_at": iso(run.get("started_at")) if isinstance(run.get("started_at"), datetime) else run.get("started_at"),
        "report": link(run.get("run_dir"), "index.html", public_url, run["id"]),
    }


def build(
    event_type: EventType,
    uid: str,
    at: datetime,
    *,
    incident: dict[str, Any] | None = None,
    run: dict[str, Any] | None = None,
    flapping: dict[str, Any] | None = None,
    robot: dict[str, Any] | None = None,
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": f"msg_{uid}",
        "type": event_type,
        "timestamp": iso(at),
        "schema_version": SCHEMA_VERSION,
        "data": {
            "summary": "",
            "incident": incident,
            "run": run,
            "flapping": flapping,
            "robot": robot,
            "patrol": {"version": __version__},
        },
    }
    doc["data"]["summary"] = summary_line(doc)
    masked: dict[str, Any] = MASKER.mask_obj(doc)
    return masked

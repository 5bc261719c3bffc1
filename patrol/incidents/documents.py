"""Event documents: the format-neutral record of one event, stored with the event
and rendered by each notifier format at send time. The ``webhook`` format sends
it as is; its JSON Schema is ``patrol/notify/schemas/webhook-v1.schema.json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TypedDict
from urllib.parse import quote

from .. import __version__
from ..config.sections import console_url_of
from ..core.isotime import iso, parse_iso
from ..core.jsontypes import json_list, json_number, json_objects, json_str
from ..core.vocabulary import EventType, Reason
from ..notify.text import summary_line
from ..secrets import MASKER
from ..store.incident_repo import IncidentRow
from .grouping import AffectedEntry, AffectedStep, read_affected

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


Link = dict[str, str | None]  # a file of a run folder: its ``path`` on the patrol machine, its ``url`` (None: not served)


class ConsoleLinks(TypedDict):
    incident: str
    compare: str | None


class StepObject(TypedDict):
    index: int
    name: str
    key: str
    reason: str
    screenshot: Link | None


class AffectedObject(TypedDict):
    journey: str
    target: str
    device: str
    tags: list[str]
    first_seen: str | None
    last_seen: str | None
    count: int
    steps: list[StepObject]


class RunCtx(TypedDict):
    """The run being recorded, as its events name it."""

    id: str
    status: str
    started_at: str | None
    run_dir: str | None


def link(run_dir: str | None, relative: str | None, public_url: str | None, run_id: str | None = None) -> Link | None:
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


def console_links(row: IncidentRow, public_url: str | None) -> ConsoleLinks | None:
    """The incident's page in the console and, for a visual finding, its compare view
    (``/runs/RUN/compare?screen=JOURNEY/ATTEMPT/STEP``, the screen key the console uses)."""
    console = console_url_of(public_url)
    if not console:
        return None
    ev = row["evidence"]
    compare = None
    # A visual finding, or a cause with a visual diff folded into it (a font that did not load).
    diffed = any(i.get("label") == "diff" for i in json_objects(ev, "images"))
    last_run = row["last_run_id"]
    if (row["reason"] == Reason.VISUAL_DIFF or diffed) and last_run:
        screen = f"{row['journey']}/{int(json_number(ev, 'attempt') or 1)}/{row['step_index']}"
        compare = f"{console}/runs/{quote(last_run, safe='')}/compare?screen={quote(screen, safe='')}"
    return ConsoleLinks(incident=f"{console}/incidents/{row['id']}", compare=compare)


def _own_step(row: IncidentRow) -> list[AffectedEntry]:
    """An incident about its one step (opened before grouping, or not grouped) as what it affects."""
    step = AffectedStep(index=row["step_index"], key=row["step_key"], name=row["step_name"], reason=row["reason"],
                        screenshot=json_str(row["evidence"], "screenshot"))
    return [AffectedEntry(journey=row["journey"], target=row["target"], device=row["device"], tags=list(row["tags"]),
                          steps=[step], first_seen=iso(row["opened_at"]), last_seen=iso(row["last_seen_at"]),
                          count=row["count"], healthy_streak=row["healthy_streak"], last_run_id=row["last_run_id"])]


def affected_object(row: IncidentRow, public_url: str | None) -> list[AffectedObject]:
    """The journeys and steps an incident is about, each step with its screenshot's link
    (an incident about its one step, or opened before grouping: that step)."""
    ev = row["evidence"]
    stored = read_affected(affected) if (affected := row.get("affected")) else _own_step(row)
    out = []
    for e in stored:
        run_id = e["last_run_id"] or row["last_run_id"]
        run_dir = json_str(ev, "run_dir") if run_id == row["last_run_id"] else None
        steps = [StepObject(index=s["index"], name=s["name"], key=s["key"], reason=s["reason"],
                            screenshot=link(run_dir, s.get("screenshot"), public_url, run_id) if run_dir else None)
                 for s in e["steps"]]
        out.append(AffectedObject(journey=e["journey"], target=e["target"], device=e["device"], tags=list(e["tags"]),
                                  first_seen=e["first_seen"], last_seen=e["last_seen"], count=e["count"], steps=steps))
    return out


def cause_object(row: IncidentRow) -> dict[str, object]:
    """What the incident is about: its cause (``kind``: request, resource, host,
    websocket, page_error, app_message, or step), the endpoint templates, and ``title``."""
    cause = row.get("cause")  # a row written before grouping may not have the column
    if not cause:
        return {"kind": "step", "key": "", "title": ""}
    return dict(cause)


def incident_object(row: IncidentRow, public_url: str | None) -> dict[str, object]:
    ev = row["evidence"]
    run_dir = json_str(ev, "run_dir")
    run_id = row["last_run_id"]  # the evidence is the last run's (it is replaced with each repeat)
    images = []
    for item in json_objects(ev, "images"):
        lk = link(run_dir, json_str(item, "path"), public_url, run_id)
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
            "tags": list(row["tags"]),
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
            "screenshot": link(run_dir, json_str(ev, "screenshot"), public_url, run_id),
            "images": images,
            "failed_requests": json_list(ev, "failed_requests"),
            "page_errors": json_list(ev, "page_errors"),
            "ocr_text": ev.get("ocr_text"),
            "consequences": json_list(ev, "consequences"),
            "details": dict(details) if isinstance(details := ev.get("details"), dict) else {},
            "report": link(run_dir, "index.html", public_url, run_id),
            "trace": link(run_dir, json_str(ev, "trace"), public_url, run_id),
            "otel_trace": ev.get("otel_trace"),
        },
    }


def run_object(run: RunCtx | None, public_url: str | None) -> dict[str, object] | None:
    if not run:
        return None
    return {
        "id": run["id"],
        "status": run["status"],
        "started_at": run["started_at"],
        "report": link(run["run_dir"], "index.html", public_url, run["id"]),
    }


def build(
    event_type: EventType,
    uid: str,
    at: datetime,
    *,
    incident: Mapping[str, object] | None = None,
    run: Mapping[str, object] | None = None,
    flapping: Mapping[str, object] | None = None,
    robot: Mapping[str, object] | None = None,
) -> dict[str, object]:
    data: dict[str, object] = {
        "summary": "",
        "incident": incident,
        "run": run,
        "flapping": flapping,
        "robot": robot,
        "patrol": {"version": __version__},
    }
    doc: dict[str, object] = {
        "id": f"msg_{uid}",
        "type": event_type,
        "timestamp": iso(at),
        "schema_version": SCHEMA_VERSION,
        "data": data,
    }
    data["summary"] = summary_line(doc)
    masked: dict[str, object] = MASKER.mask_obj(doc)
    return masked

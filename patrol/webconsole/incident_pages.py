"""Incident pages: the list, one incident, acknowledge, resolve, silences."""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TypedDict
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..core.jsontypes import json_list, json_number, json_objects
from ..core.vocabulary import IncidentStatus
from ..durations import DurationError, parse_ms
from ..errors import InputError
from .auth import Principal
from .data import Console, Refused
from .run_view import member
from .web import console_of, guarded, incidents_of, render


class WaterfallRow(TypedDict):
    """One request of the step, as the browser timed it (ms from the step's start)."""

    method: str
    url: str
    status: object
    error: object
    start: float
    ms: float
    bad: bool
    pending: bool


class Waterfall(TypedDict):
    span: float
    rows: list[WaterfallRow]


def viewable(incident: Mapping[str, object]) -> dict[str, object]:
    """The incident as a viewer may see it: its evidence without the server's run folder
    (paths inside it made relative; the run's files are served under /runs/RUN/files/)."""
    ev = incident.get("evidence")
    if not isinstance(ev, dict):
        return dict(incident)
    ev = dict(ev)
    run_dir = str(ev.pop("run_dir", None) or "")
    prefix = run_dir.rstrip("/") + "/" if run_dir else ""
    for key in ("screenshot", "trace"):
        value = ev.get(key)
        if isinstance(value, str) and prefix and value.startswith(prefix):
            ev[key] = value[len(prefix):]
        elif isinstance(value, str) and value.startswith("/"):
            ev[key] = None  # outside the run folder: not something the console serves
    return {**incident, "evidence": ev}


def _otel_trace(value: object) -> dict[str, str | None] | None:
    """The incident's OpenTelemetry trace (tracing:): its id, and an http(s) link to it only."""
    if not isinstance(value, dict) or not isinstance(value.get("id"), str):
        return None
    url = value.get("url")
    return {"id": value["id"], "url": url if isinstance(url, str) and url.startswith(("http://", "https://")) else None}


def without_paths(value: object) -> object:
    """A message document (an event's payload) without the server's file paths: ``run_dir``
    and every absolute ``path`` go (the links next to them, when there is a public URL, stay)."""
    if isinstance(value, dict):
        return {k: without_paths(v) for k, v in value.items()
                if k != "run_dir" and not (k == "path" and isinstance(v, str) and v.startswith("/"))}
    if isinstance(value, list):
        return [without_paths(v) for v in value]
    return value


def _id(request: Request) -> int:
    return int(request.path_params["incident_id"])


@guarded("viewer")
async def incidents_page(request: Request, who: Principal) -> Response:
    show_all = request.query_params.get("all") == "1"
    listed = incidents_of(request).list_incidents(None if show_all else IncidentStatus.OPEN, 200)
    rows = [{**r, "cause_line": cause_line(r["cause"])} for r in listed]
    return render(request, "incidents.html.j2", who, incidents=rows, show_all=show_all,
                  silences=console_of(request).silences())


@guarded("viewer")
async def incident_page(request: Request, who: Principal) -> Response:
    try:
        detail = incidents_of(request).incident_detail(_id(request))
    except InputError as e:
        raise Refused(404, str(e)) from None
    actions = console_of(request).incident_actions(_id(request))
    inc = viewable(detail["incident"])
    view = evidence_view(detail, inc)
    view["waterfall"] = await run_in_threadpool(waterfall, console_of(request), inc)
    return render(request, "incident.html.j2", who, d=detail, inc=inc, view=view,
                  timeline=timeline(detail["events"], actions), now=console_of(request).clock())


def cause_line(raw: object) -> str | None:
    """The incident's cause in one line, when it has one other than the step itself (its
    ``title`` as stored; else Patrol's description of the cause; else its parts)."""
    if isinstance(raw, str):
        return raw.strip() or None
    if not isinstance(raw, dict) or not raw or raw.get("kind") in (None, "step"):
        return None
    if isinstance(raw.get("title"), str) and raw["title"].strip():
        return str(raw["title"]).strip()
    try:
        described = importlib.import_module("patrol.causes").Cause.from_dict(raw).describe()
        if isinstance(described, str):
            return described
    except (ImportError, AttributeError, TypeError, ValueError):
        pass
    parts = [raw.get(k) for k in ("method", "template", "host", "text") if isinstance(raw.get(k), str)]
    return " ".join(p for p in parts if p).strip() or None


def _affected(inc: Mapping[str, object]) -> list[dict[str, object]]:
    """The journeys and steps the incident touches: what the incident lists (when it groups by
    cause: per journey its steps), else its own journey and step. Read defensively: older rows
    have no list, and entries may lack any part."""
    out: list[dict[str, object]] = []
    for a in json_objects(inc, "affected"):
        steps = [{"index": st.get("index"), "name": str(st.get("name") or "")} for st in json_objects(a, "steps")]
        out.append({"journey": str(a.get("journey") or ""), "device": a.get("device"), "steps": steps,
                    "count": a.get("count"), "last_run_id": a.get("last_run_id")})
    if out:
        return out
    return [{"journey": inc.get("journey"), "device": inc.get("device"), "count": inc.get("count"),
             "steps": [{"index": inc.get("step_index"), "name": inc.get("step_name")}], "last_run_id": inc.get("last_run_id")}]


WATERFALL_ROWS = 40


def waterfall(console: Console, inc: Mapping[str, object]) -> Waterfall | None:
    """The requests of the incident's step in its last run, as the browser timed them (start
    and duration from the step's start), failing ones marked: what happened around the cause.
    None when the run's report is gone (retention) or the step recorded no requests."""
    run = inc.get("last_run_id")
    if not run:
        return None
    try:
        _, report, _ = console.run(str(run))
    except Refused:
        return None
    attempt = int(json_number(member(inc, "evidence"), "attempt") or 1)
    for j in json_objects(report, "journeys"):
        if j.get("name") != inc.get("journey") or int(json_number(j, "attempt") or 1) != attempt:
            continue
        for step in json_objects(j, "steps"):
            if step.get("index") != inc.get("step_index"):
                continue
            requests = json_objects(member(member(step, "artifacts"), "network"), "requests")
            timed = [(float(start), r) for r in requests if (start := json_number(r, "start_ms")) is not None]
            timed.sort(key=lambda t: t[0])
            timed = timed[:WATERFALL_ROWS]
            if not timed:
                return None
            span = max(start + float(json_number(r, "duration_ms") or 0) for start, r in timed) or 1.0
            return {"span": round(span, 1), "rows": [{
                "method": str(r.get("method") or "GET"), "url": str(r.get("url") or ""), "status": r.get("status"),
                "error": r.get("error"), "start": round(start, 1), "ms": round(float(json_number(r, "duration_ms") or 0), 1),
                "bad": bool(r.get("error") or r.get("cause") or (isinstance(status := r.get("status"), int) and status >= 400)),
                "pending": bool(r.get("pending"))} for start, r in timed]}
    return None


def evidence_view(detail: Mapping[str, object], inc: Mapping[str, object]) -> dict[str, object]:
    """What the incident page shows at the top: the cause, the pictures and links into the console."""
    ev = member(inc, "evidence")
    run = inc.get("last_run_id")
    files = f"/runs/{quote(str(run), safe='')}/files/" if run else ""

    def file_url(path: object) -> str | None:
        return files + quote(path) if files and isinstance(path, str) and path else None

    images = {str(i.get("label")): i.get("path") for i in json_objects(ev, "images")}
    compare = None
    if run and (inc.get("reason") == "visual_diff" or images.get("diff")):  # a visual diff, or one folded into the cause
        screen = f"{inc.get('journey')}/{int(json_number(ev, 'attempt') or 1)}/{inc.get('step_index')}"
        compare = f"/runs/{quote(str(run), safe='')}/compare?screen={quote(screen, safe='')}"
    requests = json_objects(ev, "failed_requests")
    details = member(ev, "details")
    return {
        "cause": cause_line(inc.get("cause") or ev.get("cause")),
        "screenshot": file_url(ev.get("screenshot") or images.get("actual")),
        "diff": file_url(images.get("diff")),
        "compare": compare,
        "trace": file_url(ev.get("trace")),
        "otel_trace": _otel_trace(ev.get("otel_trace")),
        "run": run,
        "affected": _affected(inc),
        "requests": requests,
        "page_errors": [str(e) for e in json_list(ev, "page_errors")],
        "ocr_text": ev.get("ocr_text"),
        "consequences": [str(c) for c in json_list(ev, "consequences")],
        "details": details,
    }


def timeline(events: Sequence[Mapping[str, object]], actions: Sequence[Mapping[str, object]]) -> list[dict[str, object]]:
    """Patrol's events and people's actions in one list, oldest first (an action after an
    event of the same instant: the acknowledgement follows what it answers)."""
    merged = [{"kind": "event", **e} for e in events] + [{"kind": "action", **a} for a in actions]
    return sorted(merged, key=lambda x: (_at(x), x["kind"] == "action"))


def _at(entry: Mapping[str, object]) -> datetime:
    at = entry["at"]
    if not isinstance(at, datetime):
        raise TypeError(f"a timeline entry without its time: {entry!r}")
    return at


@guarded("approver")
async def acknowledge(request: Request, who: Principal) -> Response:
    console_of(request).acknowledge(who, _id(request))
    return RedirectResponse(f"/incidents/{_id(request)}", status_code=303)


@guarded("approver")
async def resolve(request: Request, who: Principal) -> Response:
    form = await request.form()
    note = str(form.get("note") or "").strip()
    try:
        incidents_of(request).resolve(_id(request), note or None)
    except InputError as e:
        raise Refused(409, str(e)) from None
    console_of(request).record(who, "incident.resolve", f"incident:{_id(request)}", {"note": note})
    return RedirectResponse(f"/incidents/{_id(request)}", status_code=303)


@guarded("approver")
async def silence(request: Request, who: Principal) -> Response:
    form = await request.form()
    scope, value = str(form.get("scope") or ""), str(form.get("value") or "").strip()
    try:
        seconds = parse_ms(str(form.get("duration") or "")) / 1000.0
    except DurationError as e:
        raise Refused(400, f"duration: {e}") from None
    console_of(request).silence(who, scope, value, seconds, str(form.get("reason") or "").strip() or None)
    return RedirectResponse("/incidents", status_code=303)


@guarded("approver")
async def end_silence(request: Request, who: Principal) -> Response:
    console_of(request).end_silence(who, int(request.path_params["silence_id"]))
    return RedirectResponse("/incidents", status_code=303)

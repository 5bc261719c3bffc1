"""The JSON API, ``/api/v1/...``: the console's data and actions for scripts. A bearer
token (``patrol users token NAME``) or a session cookie with the ``X-CSRF-Token``
header for changes; the same roles as the pages. The OpenAPI document is built from
this route table (``/api/v1/openapi.json``), so it cannot forget a route."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from datetime import date, datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .. import __version__
from ..core.jsontypes import JsonObject
from ..core.vocabulary import IncidentStatus
from ..durations import DurationError, parse_ms
from ..errors import InputError
from .admin_pages import NOT_SENDING, desk_of, do_schedule, sends_here, window_values
from .auth import Principal
from .data import Refused
from .incident_pages import viewable, without_paths
from .web import Handler, console_of, guarded, incidents_of

Endpoint = Callable[[Request], Awaitable[Response]]

PREFIX = "/api/v1"


def _encode(value: object) -> str | None:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (bytes, memoryview)):
        return None  # pictures stay out of the JSON
    return str(value)


def reply(data: object, status: int = 200) -> Response:
    body = json.dumps(data, default=_encode, ensure_ascii=False)
    return Response(body, status_code=status, media_type="application/json")


async def body(request: Request) -> dict[str, object]:
    """The request's JSON object (an empty body is an empty object)."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data: object = json.loads(raw)
    except ValueError as e:
        raise Refused(400, f"the body is not JSON: {e}") from None
    if not isinstance(data, dict):
        raise Refused(400, "the body must be a JSON object")
    return data


def _int(request: Request, name: str) -> int:
    return int(request.path_params[name])


def api(role: str, request_body: JsonObject | None = None) -> Callable[[Handler], Endpoint]:
    """A guarded API endpoint; ``request_body`` is its JSON schema for the OpenAPI document."""
    def wrap(fn: Handler) -> Endpoint:
        endpoint = guarded(role, api=True)(fn)
        endpoint.request_body = request_body  # type: ignore[attr-defined]  # read by openapi_document
        return endpoint
    return wrap


# -- reading -----------------------------------------------------------------------------------------------
@api("viewer")
async def journeys(request: Request, who: Principal) -> Response:
    """Every journey seen in 30 days: status now, 7/30-day pass rates, last run."""
    return reply({"journeys": console_of(request).overview()})


@api("viewer")
async def runs(request: Request, who: Principal) -> Response:
    """The newest runs (``?limit=``, at most 500)."""
    limit = min(500, max(1, int(request.query_params.get("limit") or 100)))
    return reply({"runs": console_of(request).runs(limit)})


@api("viewer")
async def run(request: Request, who: Principal) -> Response:
    """One run: its record, its report and its approvable screens."""
    c = console_of(request)
    row, report, _ = c.run(request.path_params["run_id"])
    screens = [{"key": s.key, "journey": s.journey, "baseline": s.baseline, "device": s.device, "step": s.step_name, "status": s.status,
                "screenshot": s.screenshot}
               for s in c.screens(request.path_params["run_id"])]
    return reply({"run": row, "report": report, "screens": screens})


@api("viewer")
async def incidents(request: Request, who: Principal) -> Response:
    """Open incidents (``?all=1``: resolved ones too)."""
    status = None if request.query_params.get("all") == "1" else IncidentStatus.OPEN
    return reply({"incidents": [viewable(r) for r in incidents_of(request).list_incidents(status, 200)]})


@api("viewer")
async def incident(request: Request, who: Principal) -> Response:
    """One incident: its timeline (Patrol's events), what people did (``actions``: acknowledge,
    resolve, silences over it, each with ``by`` and ``at``) and its deliveries."""
    iid = _int(request, "incident_id")
    try:
        d = incidents_of(request).incident_detail(iid)
    except InputError as e:
        raise Refused(404, str(e)) from None
    return reply({"incident": viewable(d["incident"]), "events": without_paths(d["events"]),
                  "actions": console_of(request).incident_actions(iid), "deliveries": d["deliveries"]})


@api("viewer")
async def baselines(request: Request, who: Principal) -> Response:
    """Baseline history: every approval, who, when, from which run, undone or not."""
    return reply({"approvals": console_of(request).approvals()})


@api("viewer")
async def silences(request: Request, who: Principal) -> Response:
    """Silences in force."""
    return reply({"silences": console_of(request).silences()})


@api("viewer")
async def maintenance(request: Request, who: Principal) -> Response:
    """Maintenance windows (patrol.yaml's and the console's), how each stands, its next spans (``?all=1``: ended too)."""
    return reply({"windows": console_of(request).windows(request.query_params.get("all") == "1")})


@api("admin")
async def audit(request: Request, who: Principal) -> Response:
    """The audit log, newest first."""
    return reply({"entries": console_of(request).audit()})


# -- changing ----------------------------------------------------------------------------------------------
_STRINGS: JsonObject = {"type": "array", "items": {"type": "string"}}


@api("approver", {"type": "object", "required": ["screens"], "properties": {"screens": _STRINGS}})
async def approve(request: Request, who: Principal) -> Response:
    """Approve screens of a run (keys as in ``screens`` of the run) as the new baselines."""
    keys = (await body(request)).get("screens")
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise Refused(400, "screens: a list of screen keys (see GET the run)")
    ids = console_of(request).approve(who, request.path_params["run_id"], keys)
    return reply({"approvals": ids}, 201)


@api("approver")
async def undo(request: Request, who: Principal) -> Response:
    """Undo an approval (newest first per screen): the previous baseline is back."""
    console_of(request).undo(who, _int(request, "approval_id"))
    return reply({"undone": _int(request, "approval_id")})


@api("approver")
async def acknowledge(request: Request, who: Principal) -> Response:
    """Acknowledge an open incident: no more reminders; it says who."""
    console_of(request).acknowledge(who, _int(request, "incident_id"))
    return reply({"acknowledged": _int(request, "incident_id"), "by": who.name})


@api("approver", {"type": "object", "properties": {"note": {"type": "string"}}})
async def resolve(request: Request, who: Principal) -> Response:
    """Resolve an open incident by hand, with a note."""
    note = str((await body(request)).get("note") or "").strip()
    iid = _int(request, "incident_id")
    try:
        incidents_of(request).resolve(iid, note or None)
    except InputError as e:
        raise Refused(409, str(e)) from None
    console_of(request).record(who, "incident.resolve", f"incident:{iid}", {"note": note})
    return reply({"resolved": iid})


SILENCE_BODY: JsonObject = {"type": "object", "required": ["scope", "value", "duration"], "properties": {
    "scope": {"enum": ["journey", "tag"]}, "value": {"type": "string"}, "duration": {"type": "string", "example": "2h"},
    "reason": {"type": "string"}}}


@api("approver", SILENCE_BODY)
async def silence(request: Request, who: Principal) -> Response:
    """Silence a journey or a tag for a duration (at most 30 days): recorded, not sent."""
    b = await body(request)
    try:
        seconds = parse_ms(str(b.get("duration") or "")) / 1000.0
    except DurationError as e:
        raise Refused(400, f"duration: {e}") from None
    sid = console_of(request).silence(who, str(b.get("scope") or ""), str(b.get("value") or "").strip(), seconds,
                                      str(b.get("reason") or "").strip() or None)
    return reply({"silence": sid}, 201)


@api("approver")
async def end_silence(request: Request, who: Principal) -> Response:
    """End a silence now."""
    console_of(request).end_silence(who, _int(request, "silence_id"))
    return reply({"ended": _int(request, "silence_id")})


WINDOW_BODY: JsonObject = {"type": "object", "required": ["name"], "properties": {
    "name": {"type": "string"}, "scope": {"enum": ["all", "journey", "tag"]}, "value": {"type": "string"},
    "for": {"type": "string", "example": "2h"}, "from": {"type": "string", "example": "2026-12-01 22:00"},
    "to": {"type": "string"}, "cron": {"type": "string", "example": "0 22 * * fri"},
    "duration": {"type": "string", "example": "1h"}, "timezone": {"type": "string", "example": "Europe/Berlin"}}}


@api("admin", WINDOW_BODY)
async def add_window(request: Request, who: Principal) -> Response:
    """Add a maintenance window: ``for`` from now, ``from``/``to``, or ``cron`` with ``duration``."""
    c = console_of(request)
    wid = c.add_window(who, window_values(await body(request), c.clock()))
    return reply({"window": wid}, 201)


@api("admin")
async def end_window(request: Request, who: Principal) -> Response:
    """End a maintenance window now: what it held is sent once."""
    console_of(request).end_window(who, _int(request, "window_id"))
    return reply({"ended": _int(request, "window_id")})


@api("viewer")
async def schedules(request: Request, who: Principal) -> Response:
    """Schedules: each job's next three fire times, last run, paused or not; ``live``: whether they can be changed here."""
    desk = desk_of(request)
    jobs = await run_in_threadpool(desk.jobs, console_of(request).clock())
    return reply({"live": desk.live, "running": desk.running(), "jobs": jobs})


@api("admin")
async def schedule_action(request: Request, who: Principal) -> Response:
    """Pause, resume or run a schedule now (``action``: pause / resume / run; needs `patrol schedule --console-port`)."""
    do_schedule(request, who, request.path_params["job_id"], request.path_params["action"])
    return reply({"job": request.path_params["job_id"], "done": request.path_params["action"]}, 202)


@api("viewer")
async def deliveries(request: Request, who: Principal) -> Response:
    """The outbox: counts per status and the newest deliveries (``?status=pending|dead|sent``)."""
    return reply(console_of(request).deliveries(request.query_params.get("status") or None))


@api("approver")
async def retry_delivery(request: Request, who: Principal) -> Response:
    """Retry a dead delivery (back to pending, due now)."""
    requeued = console_of(request).retry(who, [_int(request, "delivery_id")])
    return reply({"requeued": requeued} if sends_here(request) else {"requeued": requeued, "note": NOT_SENDING})


@api("viewer")
async def openapi(request: Request, who: Principal) -> Response:
    """This document."""
    return reply(openapi_document(request.app.routes))


def routes() -> list[BaseRoute]:
    p = PREFIX
    return [
        Route(f"{p}/openapi.json", openapi, methods=["GET"]),
        Route(f"{p}/journeys", journeys, methods=["GET"]),
        Route(f"{p}/runs", runs, methods=["GET"]),
        Route(f"{p}/runs/{{run_id}}", run, methods=["GET"]),
        Route(f"{p}/runs/{{run_id}}/approve", approve, methods=["POST"]),
        Route(f"{p}/baselines", baselines, methods=["GET"]),
        Route(f"{p}/baselines/{{approval_id:int}}/undo", undo, methods=["POST"]),
        Route(f"{p}/incidents", incidents, methods=["GET"]),
        Route(f"{p}/incidents/{{incident_id:int}}", incident, methods=["GET"]),
        Route(f"{p}/incidents/{{incident_id:int}}/acknowledge", acknowledge, methods=["POST"]),
        Route(f"{p}/incidents/{{incident_id:int}}/resolve", resolve, methods=["POST"]),
        Route(f"{p}/silences", silences, methods=["GET"]),
        Route(f"{p}/silences", silence, methods=["POST"]),
        Route(f"{p}/silences/{{silence_id:int}}/end", end_silence, methods=["POST"]),
        Route(f"{p}/maintenance", maintenance, methods=["GET"]),
        Route(f"{p}/maintenance", add_window, methods=["POST"]),
        Route(f"{p}/maintenance/{{window_id:int}}/end", end_window, methods=["POST"]),
        Route(f"{p}/schedules", schedules, methods=["GET"]),
        Route(f"{p}/schedules/{{job_id}}/{{action}}", schedule_action, methods=["POST"]),
        Route(f"{p}/deliveries", deliveries, methods=["GET"]),
        Route(f"{p}/deliveries/{{delivery_id:int}}/retry", retry_delivery, methods=["POST"]),
        Route(f"{p}/audit", audit, methods=["GET"]),
    ]


_PARAM = re.compile(r"\{([a-z_]+)(?::([a-z]+))?\}")


def _operation(route: Route, method: str) -> JsonObject:
    fn = route.endpoint
    doc = (fn.__doc__ or "").strip()
    op: JsonObject = {
        "summary": doc.splitlines()[0] if doc else route.path, "operationId": f"{method.lower()}_{fn.__name__}",
        "x-required-role": getattr(fn, "required_role", None), "security": [{"bearer": []}, {"session": []}],
        "parameters": [{"name": n, "in": "path", "required": True, "schema": {"type": "integer" if t == "int" else "string"}}
                       for n, t in _PARAM.findall(route.path)],
        "responses": {"200": {"description": "JSON"}, "401": {"description": "no token or session"},
                      "403": {"description": "the role does not allow it (or a cookie request without its CSRF token)"}},
    }
    schema = getattr(fn, "request_body", None)
    if schema:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema}}}
    return op


def openapi_document(all_routes: list[BaseRoute]) -> JsonObject:
    paths: dict[str, JsonObject] = {}
    for route in all_routes:
        if isinstance(route, Route) and route.path.startswith(PREFIX):
            item = paths.setdefault(_PARAM.sub(r"{\1}", route.path), {})
            for method in sorted((route.methods or set()) - {"HEAD"}):
                item[method.lower()] = _operation(route, method)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Patrol console API", "version": __version__,
                 "description": "Tokens: `patrol users token NAME`; send `Authorization: Bearer TOKEN`."},
        "servers": [{"url": "/"}],
        "components": {"securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "session": {"type": "apiKey", "in": "cookie", "name": "patrol_session",
                        "description": "the console's session; changes also need the X-CSRF-Token header"}}},
        "paths": {path: item for path, item in paths.items()},
    }

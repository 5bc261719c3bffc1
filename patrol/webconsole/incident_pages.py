"""Incident pages: the list, one incident, acknowledge, resolve, silences."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..core.vocabulary import IncidentStatus
from ..durations import DurationError, parse_ms
from ..errors import InputError
from .auth import Principal
from .data import Refused
from .web import console_of, guarded, render


def _id(request: Request) -> int:
    return int(request.path_params["incident_id"])


@guarded("viewer")
async def incidents_page(request: Request, who: Principal) -> Response:
    show_all = request.query_params.get("all") == "1"
    rows = request.app.state.incidents.list_incidents(None if show_all else IncidentStatus.OPEN, 200)
    return render(request, "incidents.html.j2", who, incidents=rows, show_all=show_all,
                  silences=console_of(request).silences())


@guarded("viewer")
async def incident_page(request: Request, who: Principal) -> Response:
    try:
        detail = request.app.state.incidents.incident_detail(_id(request))
    except InputError as e:
        raise Refused(404, str(e)) from None
    actions = console_of(request).incident_actions(_id(request))
    return render(request, "incident.html.j2", who, d=detail, inc=detail["incident"], timeline=timeline(detail["events"], actions))


def timeline(events: list[dict[str, Any]], actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Patrol's events and people's actions in one list, oldest first (an action after an
    event of the same instant: the acknowledgement follows what it answers)."""
    merged = [{"kind": "event", **e} for e in events] + [{"kind": "action", **a} for a in actions]
    return sorted(merged, key=lambda x: (x["at"], x["kind"] == "action"))


@guarded("approver")
async def acknowledge(request: Request, who: Principal) -> Response:
    console_of(request).acknowledge(who, _id(request))
    return RedirectResponse(f"/incidents/{_id(request)}", status_code=303)


@guarded("approver")
async def resolve(request: Request, who: Principal) -> Response:
    form = await request.form()
    note = str(form.get("note") or "").strip()
    try:
        request.app.state.incidents.resolve(_id(request), note or None)
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

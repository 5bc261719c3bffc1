"""Admin pages: maintenance windows (and the forms that change them)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..config.reader import valid_zone
from ..durations import DurationError, parse_ms
from ..maintenance.settings import parse_when
from ..schedule.desk import DeskError, PlanDesk
from .auth import Principal
from .data import Refused, WindowValues
from .web import console_of, guarded, render


def _seconds(text: str, what: str) -> float:
    try:
        return parse_ms(text) / 1000.0
    except DurationError as e:
        raise Refused(400, f"{what}: {e}") from None


def window_values(form: Mapping[str, object], now: datetime) -> WindowValues:
    """A window as the form (or an API body) gives it: the keys of ``new_window``.
    ``for`` (from now), ``from``/``to``, or ``cron`` with ``duration``."""
    def text(key: str) -> str:
        value = form.get(key)
        return str(value).strip() if value is not None else ""

    tz = text("timezone") or "UTC"
    if not valid_zone(tz):
        raise Refused(400, f"unknown time zone {tz!r}; use an IANA name such as UTC or Europe/Berlin")
    values: WindowValues = {"name": text("name"), "scope": text("scope") or "all", "value": text("value") or None,
                            "timezone": tz}
    if text("cron"):
        values["cron"], values["duration_s"] = text("cron"), _seconds(text("duration"), "duration")
        return values
    start = parse_when(text("from"), tz) if text("from") else now
    if start is None:
        raise Refused(400, f"from {text('from')!r}: expected a date and time such as 2026-12-01 22:00")
    if text("for"):
        values["starts_at"], values["ends_at"] = start, start + timedelta(seconds=_seconds(text("for"), "for"))
        return values
    end = parse_when(text("to"), tz) if text("to") else None
    if end is None:
        raise Refused(400, "give how long (for), an end (to), or a cron expression and a duration")
    values["starts_at"], values["ends_at"] = start, end
    return values


@guarded("viewer")
async def maintenance_page(request: Request, who: Principal) -> Response:
    show_all = request.query_params.get("all") == "1"
    return render(request, "maintenance.html.j2", who, windows=console_of(request).windows(show_all), show_all=show_all)


@guarded("admin")
async def add_window(request: Request, who: Principal) -> Response:
    form = await request.form()
    c = console_of(request)
    c.add_window(who, window_values(dict(form), c.clock()))
    return RedirectResponse("/maintenance", status_code=303)


@guarded("admin")
async def end_window(request: Request, who: Principal) -> Response:
    console_of(request).end_window(who, int(request.path_params["window_id"]))
    return RedirectResponse("/maintenance", status_code=303)


# -- schedules ------------------------------------------------------------------------------------------------
def desk_of(request: Request) -> PlanDesk:
    desk: PlanDesk | None = request.app.state.schedules
    if desk is None:
        raise Refused(404, "this console has no schedules")
    return desk


@guarded("viewer")
async def schedules_page(request: Request, who: Principal) -> Response:
    desk = desk_of(request)
    jobs = await run_in_threadpool(desk.jobs, console_of(request).clock())
    return render(request, "schedules.html.j2", who, jobs=jobs, live=desk.live, running=desk.running(),
                  done=request.query_params.get("done"))


def do_schedule(request: Request, who: Principal, job_id: str, action: str) -> None:
    """Pause, resume or run a job now (admin), with its audit entry. The entry is written before the
    action so that a run started now is never older than the "run now" that asked for it (the runs
    list names who asked by that order)."""
    desk = desk_of(request)
    verbs = {"pause": desk.pause, "resume": desk.resume, "run": desk.run_now}
    if action not in verbs:
        raise Refused(404, f"no such schedule action {action!r}: pause, resume or run")
    try:
        desk.check(job_id)
        console_of(request).record(who, f"schedule.{action}", job_id)
        verbs[action](job_id)
    except DeskError as e:
        raise Refused(409, str(e)) from None


@guarded("admin")
async def schedule_action(request: Request, who: Principal) -> Response:
    job_id, action = request.path_params["job_id"], request.path_params["action"]
    do_schedule(request, who, job_id, action)
    return RedirectResponse(f"/schedules?done={quote(action)}", status_code=303)


# -- deliveries -----------------------------------------------------------------------------------------------
@guarded("viewer")
async def deliveries_page(request: Request, who: Principal) -> Response:
    status = request.query_params.get("status") or None
    if status not in (None, "pending", "dead", "sent"):
        raise Refused(400, "status: pending, dead or sent")
    data = console_of(request).deliveries(status)
    return render(request, "deliveries.html.j2", who, shown=status, retried=request.query_params.get("retried"),
                  sends=sends_here(request), not_sending=NOT_SENDING, **data)


NOT_SENDING = ("This console does not send: what is queued or retried here is sent by patrol schedule (or the next "
               "patrol run), which hold the receivers' secrets in their environment; patrol serve needs none of them.")


def sends_here(request: Request) -> bool:
    """Whether this console's process sends deliveries (the scheduler's, started with --console-port)."""
    desk = request.app.state.schedules
    return bool(desk is not None and desk.live)


@guarded("approver")
async def retry_delivery(request: Request, who: Principal) -> Response:
    n = console_of(request).retry(who, [int(request.path_params["delivery_id"])])
    return RedirectResponse(f"/deliveries?retried={n}", status_code=303)


@guarded("approver")
async def retry_all(request: Request, who: Principal) -> Response:
    n = console_of(request).retry(who, None)
    return RedirectResponse(f"/deliveries?retried={n}", status_code=303)

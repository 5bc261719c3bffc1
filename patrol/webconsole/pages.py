"""The console's pages (server-rendered; forms post back with the CSRF token)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from ipaddress import ip_address
from urllib.parse import quote, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response

from ..core.jsontypes import json_list, json_objects
from ..reports.shift_view import shift_marks
from ..schedule.desk import PlanDesk
from . import live, run_view
from .auth import LOGIN_CSRF_COOKIE, SESSION_COOKIE, SESSION_HOURS, Principal, new_token, same
from .data import Refused
from .run_view import member
from .web import console_of, guarded, incidents_of, render
from .zoom import worth_a_look, zooms


def _client(request: Request) -> str:
    return request.client.host if request.client else "?"


def _next(value: object) -> str:
    """Where to go after signing in: a path of this site with its query (no //host, no scheme,
    no backslash or control character a browser could turn into another host); else the overview."""
    text = value if isinstance(value, str) else ""
    if not text.startswith("/") or text.startswith("//") or "\\" in text or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in text):
        return "/"
    parts = urlsplit(text)
    return text if not parts.scheme and not parts.netloc else "/"


def _loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def cookie_warning(request: Request) -> str:
    """Why signing in cannot work here, if it cannot: the session cookie is Secure, and a
    browser keeps a Secure cookie only over HTTPS or from this machine (localhost)."""
    if not request.app.state.secure_cookies or request.url.scheme == "https" or _loopback(request.url.hostname or ""):
        return ""
    port = request.url.port or 80
    return (f"This console was opened over plain HTTP at {request.url.hostname}. Its sign-in cookie is Secure, and browsers "
            "keep a Secure cookie only over HTTPS or on the machine itself, so signing in here cannot work. "
            "Fix: put TLS in front of patrol serve (a reverse proxy that sends X-Forwarded-Proto: https), "
            f"or reach it through an SSH tunnel at http://127.0.0.1:{port}/.")


def _login_form(request: Request, status: int = 200, *, target: str = "/", message: str = "") -> Response:
    """The sign-in form with a pre-session CSRF token, kept in a cookie of its own (SameSite=strict:
    a cross-site POST /login does not carry it, so no one can sign a browser into their account)."""
    token = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if len(token) < 32 or len(token) > 64:
        token = new_token()
    response = render(request, "login.html.j2", None, status, next=target, message=message, login_csrf=token,
                      cookie_warning=cookie_warning(request))
    response.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=3600, httponly=True, samesite="strict",
                        secure=request.app.state.secure_cookies, path="/login")
    return response


async def login_page(request: Request) -> Response:
    return _login_form(request, target=_next(request.query_params.get("next")))


async def login(request: Request) -> Response:
    form = await request.form()
    name, password = str(form.get("name") or ""), str(form.get("password") or "")
    target = _next(form.get("next"))
    sent = form.get("csrf")
    if not same(sent if isinstance(sent, str) else "", request.cookies.get(LOGIN_CSRF_COOKIE, "")):
        return _login_form(request, 403, target=target, message=(
            "This sign-in did not come from this console's own form (or the browser did not keep its cookie): "
            "sign in again on this page."))
    # A name tried from one address is stopped after a few failures; one address trying many names, after more.
    pair, address = request.app.state.limiter, request.app.state.address_limiter
    key, ip = f"{_client(request)}|{name}", _client(request)
    if pair.blocked(key) or address.blocked(ip):
        return _login_form(request, 429, target=target, message="Too many failed sign-ins: wait a few minutes.")
    signed = await run_in_threadpool(console_of(request).sign_in, name, password)
    if signed is None:
        pair.failed(key)
        address.failed(ip)
        return _login_form(request, 401, target=target, message="Wrong name or password.")
    cookie, _ = signed
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(SESSION_COOKIE, cookie, max_age=SESSION_HOURS * 3600, httponly=True, samesite="strict",
                        secure=request.app.state.secure_cookies, path="/")
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@guarded("viewer")
async def logout(request: Request, who: Principal) -> Response:
    console_of(request).sign_out(request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@guarded("viewer")
async def overview(request: Request, who: Principal) -> Response:
    c = console_of(request)
    incidents = incidents_of(request).list_incidents(limit=20)
    trends = await run_in_threadpool(live.trends, request)
    upcoming = await run_in_threadpool(_next_runs, request.app.state.schedules, c.clock())
    open_per_journey: dict[str, int] = {}
    for i in incidents:
        if i.get("status") == "open":
            open_per_journey[i["journey"]] = open_per_journey.get(i["journey"], 0) + 1
    runs = await run_in_threadpool(c.run_rows, 10)
    return render(request, "overview.html.j2", who, journeys=c.overview(), incidents=incidents, runs=runs,
                  running=live.running_now(request.app.state.schedules), trends=trends, upcoming=upcoming,
                  open_per_journey=open_per_journey)


def _next_runs(desk: PlanDesk | None, now: datetime) -> dict[str, datetime]:
    """Each journey's next scheduled run (the earliest of the schedules that select it)."""
    if desk is None:
        return {}
    upcoming: dict[str, datetime] = {}
    for job in desk.jobs(now):
        if job["next"]:
            for name in job["journeys"]:
                if name not in upcoming or job["next"][0] < upcoming[name]:
                    upcoming[name] = job["next"][0]
    return upcoming


@guarded("viewer")
async def runs_page(request: Request, who: Principal) -> Response:
    c = console_of(request)
    q = request.query_params
    journey, result, day_text = q.get("journey") or None, q.get("result") or None, q.get("date") or ""
    try:
        day = date.fromisoformat(day_text) if day_text else None
    except ValueError:
        raise Refused(400, f"date: expected YYYY-MM-DD, not {day_text!r}") from None
    rows = await run_in_threadpool(c.run_rows, 200, journey=journey, result=result, day=day)
    return render(request, "runs.html.j2", who, runs=rows, journeys=c.journey_names(),
                  filters={"journey": journey or "", "result": result or "", "date": day_text})


@guarded("viewer")
async def run_page(request: Request, who: Principal) -> Response:
    run_id = request.path_params["run_id"]
    c = console_of(request)
    row, report, _ = c.run(run_id)
    screens = c.screens_now(run_id)
    return render(request, "run.html.j2", who, run=row, report=report, screens=screens,
                  approved=request.query_params.get("approved"), rejected=request.query_params.get("rejected"), quote=quote,
                  failures=run_view.failures(run_id, report), journeys=run_view.latest_attempts(report),
                  groups=run_view.step_groups, compare_url=run_view.compare_url)


@guarded("viewer")
async def run_file(request: Request, who: Principal) -> Response:
    path = console_of(request).run_file(request.path_params["run_id"], request.path_params["name"])
    return FileResponse(path)


@guarded("viewer")
async def compare(request: Request, who: Principal) -> Response:
    run_id = request.path_params["run_id"]
    key = request.query_params.get("screen", "")
    c = console_of(request)
    screen, step = c.screen(run_id, key)
    images: dict[str, object] = {}
    clusters: list[object] = []
    diffs = [f for f in json_objects(step, "findings") if f.get("reason") == "visual_diff"]
    for f in diffs:
        ev = member(f, "evidence")
        images = {str(i["label"]): i["path"] for i in json_objects(ev, "images")}
        clusters = json_list(ev, "clusters")
    images.setdefault("actual", screen.screenshot)
    # Masks in screenshot pixels, when the visual check recorded them with the step.
    masks = json_list(member(member(step, "artifacts"), "visual"), "masks")
    visual = member(diffs[0], "evidence") if diffs else {}
    # A layout shift is one change, drawn over both screens; the close-ups are then of
    # what the shift does not explain (in the moved layout), not of moved content.
    shift = shift_marks(visual.get("shift"))
    if shift is not None:
        clusters = json_list(member(visual, "shift"), "unexplained_clusters")
    zoom = zooms(c.run(run_id)[2], screen.screenshot, clusters, masks)
    if shift is None:
        zoom = worth_a_look(zoom, visual.get("diff_ratio"), _area_count(step))
    else:
        zoom = worth_a_look(zoom, shift["unexplained"] / float(shift["width"] * shift["height"]), len(clusters))
    states = dict((s.key, state) for s, state in c.screens_now(run_id))
    return render(request, "compare.html.j2", who, run_id=run_id, screen=screen, step=step, images=images,
                  clusters=clusters, zoom=zoom, quote=quote, state=states.get(key, screen.status),
                  approval=c.live_approval(run_id, screen), shift=shift)


def _area_count(step: Mapping[str, object]) -> int | None:
    """How many changed areas the visual check counted (its message says so; it keeps the largest)."""
    for f in json_objects(step, "findings"):
        if f.get("reason") == "visual_diff":
            found = re.search(r"in (\d+) area", str(f.get("message") or ""))
            if found:
                return int(found.group(1))
    return None


@guarded("approver")
async def reject(request: Request, who: Principal) -> Response:
    """Keep the baseline: the difference is a bug of the app (written to the audit log, nothing else changes)."""
    run_id = request.path_params["run_id"]
    keys = await _form_list(request, "screen")
    c = console_of(request)
    for key in keys:
        screen, _ = c.screen(run_id, key)
        c.record(who, "baseline.reject", f"{screen.journey}/{screen.baseline}.{screen.device}", {"run": run_id, "step": screen.step_index})
    return RedirectResponse(f"/runs/{quote(run_id)}?rejected={quote(', '.join(keys))}", status_code=303)


async def _form_list(request: Request, name: str) -> list[str]:
    form = await request.form()
    return [str(v) for v in form.getlist(name)]


@guarded("approver")
async def approve(request: Request, who: Principal) -> Response:
    run_id = request.path_params["run_id"]
    keys = await _form_list(request, "screen")
    ids = console_of(request).approve(who, run_id, keys)
    return RedirectResponse(f"/runs/{quote(run_id)}?approved={len(ids)}", status_code=303)


@guarded("viewer")
async def baselines_page(request: Request, who: Principal) -> Response:
    return render(request, "baselines.html.j2", who, approvals=console_of(request).approvals())


@guarded("approver")
async def undo(request: Request, who: Principal) -> Response:
    console_of(request).undo(who, int(request.path_params["approval_id"]))
    form = await request.form()
    back = _next(form.get("back")) if form.get("back") else "/baselines"
    return RedirectResponse(back, status_code=303)


@guarded("admin")
async def audit_page(request: Request, who: Principal) -> Response:
    return render(request, "audit.html.j2", who, entries=console_of(request).audit())


def int_param(request: Request, name: str) -> int:
    try:
        return int(request.path_params[name])
    except (KeyError, ValueError):
        raise Refused(404, f"not a number: {name}") from None

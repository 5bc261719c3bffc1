"""The console's pages (server-rendered; forms post back with the CSRF token)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response

from . import live
from .auth import SESSION_COOKIE, SESSION_HOURS, Principal
from .data import Refused
from .web import console_of, guarded, render
from .zoom import zooms


def _client(request: Request) -> str:
    return request.client.host if request.client else "?"


def _next(value: Any) -> str:
    """Where to go after signing in: only a path of this site (no //host, no scheme)."""
    text = value if isinstance(value, str) else ""
    return text if text.startswith("/") and not text.startswith("//") and "\\" not in text else "/"


async def login_page(request: Request) -> Response:
    return render(request, "login.html.j2", None, next=_next(request.query_params.get("next")), message="")


async def login(request: Request) -> Response:
    form = await request.form()
    name, password = str(form.get("name") or ""), str(form.get("password") or "")
    # A name tried from one address is stopped after a few failures; one address trying many names, after more.
    pair, address = request.app.state.limiter, request.app.state.address_limiter
    key, ip = f"{_client(request)}|{name}", _client(request)
    target = _next(form.get("next"))
    if pair.blocked(key) or address.blocked(ip):
        return render(request, "login.html.j2", None, 429, next=target, message="Too many failed sign-ins: wait a few minutes.")
    signed = await run_in_threadpool(console_of(request).sign_in, name, password)
    if signed is None:
        pair.failed(key)
        address.failed(ip)
        return render(request, "login.html.j2", None, 401, next=target, message="Wrong name or password.")
    cookie, _ = signed
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(SESSION_COOKIE, cookie, max_age=SESSION_HOURS * 3600, httponly=True, samesite="strict",
                        secure=request.app.state.secure_cookies, path="/")
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
    incidents = request.app.state.incidents.list_incidents(limit=20)
    trends = await run_in_threadpool(live.trends, request)
    upcoming = await run_in_threadpool(_next_runs, request.app.state.schedules, c.clock())
    return render(request, "overview.html.j2", who, journeys=c.overview(), incidents=incidents, runs=c.runs(10),
                  running=live.running_now(request.app.state.schedules), trends=trends, upcoming=upcoming)


def _next_runs(desk: Any, now: Any) -> dict[str, Any]:
    """Each journey's next scheduled run (the earliest of the schedules that select it)."""
    if desk is None:
        return {}
    upcoming: dict[str, Any] = {}
    for job in desk.jobs(now):
        if job["next"]:
            for name in job["journeys"]:
                if name not in upcoming or job["next"][0] < upcoming[name]:
                    upcoming[name] = job["next"][0]
    return upcoming


@guarded("viewer")
async def runs_page(request: Request, who: Principal) -> Response:
    return render(request, "runs.html.j2", who, runs=console_of(request).runs(200))


@guarded("viewer")
async def run_page(request: Request, who: Principal) -> Response:
    run_id = request.path_params["run_id"]
    c = console_of(request)
    row, report, _ = c.run(run_id)
    screens = c.screens(run_id)
    return render(request, "run.html.j2", who, run=row, report=report, screens=screens,
                  approved=request.query_params.get("approved"), quote=quote)


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
    images = {}
    clusters: list[dict[str, Any]] = []
    for f in step.get("findings", []):
        ev = f.get("evidence") or {}
        if f.get("reason") == "visual_diff":
            images = {i["label"]: i["path"] for i in ev.get("images", [])}
            clusters = list(ev.get("clusters", []))
    images.setdefault("actual", screen.screenshot)
    # Masks in screenshot pixels, when the visual check recorded them with the step.
    masks = ((step.get("artifacts") or {}).get("visual") or {}).get("masks") or []
    zoom = zooms(c.run(run_id)[2], screen.screenshot, clusters, masks)
    return render(request, "compare.html.j2", who, run_id=run_id, screen=screen, step=step, images=images,
                  clusters=clusters, zoom=zoom, quote=quote)


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
    return RedirectResponse("/baselines", status_code=303)


@guarded("admin")
async def audit_page(request: Request, who: Principal) -> Response:
    return render(request, "audit.html.j2", who, entries=console_of(request).audit())


def int_param(request: Request, name: str) -> int:
    try:
        return int(request.path_params[name])
    except (KeyError, ValueError):
        raise Refused(404, f"not a number: {name}") from None

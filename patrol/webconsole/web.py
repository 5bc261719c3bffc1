"""The console's web plumbing: who is asking (session cookie or API token), the role
each route needs, CSRF on every state-changing request, security headers, rendering."""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from ..core.isotime import utcnow
from ..durations import format_ms
from .auth import SESSION_COOKIE, Principal, same
from .data import Console, Refused

if TYPE_CHECKING:
    from ..incidents.service import IncidentService

HERE = Path(__file__).resolve().parent
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
# No inline script or style anywhere: everything the pages run or wear comes from /static.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

Handler = Callable[[Request, Principal], Awaitable[Response]]

templates = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["j2", "html"]),
                        trim_blocks=True, lstrip_blocks=True)
templates.filters["ms"] = format_ms


def shown(value: object) -> str:
    """A value as JSON text for people to read: ``< > & '`` as themselves (not ``\\u003c``, as
    Jinja's ``tojson`` writes them for script blocks); autoescaping keeps it inert in the page."""
    return json.dumps(value, ensure_ascii=False, default=str)


templates.filters["shown"] = shown


def ago(value: object) -> str:
    """How long ago, in one short unit (``5 min``, ``3 h``, ``2 d``): lists show age at a glance."""
    if not isinstance(value, datetime):
        return ""
    if value.tzinfo is None:  # stored in UTC
        value = value.replace(tzinfo=UTC)
    seconds = max(0.0, (utcnow() - value).total_seconds())
    if seconds < 60:
        return "just now"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return ""


templates.filters["ago"] = ago


def console_of(request: Request) -> Console:
    c: Console = request.app.state.console
    return c


def incidents_of(request: Request) -> IncidentService:
    """The incident services the console reads (and resolves by hand) through."""
    svc: IncidentService = request.app.state.incidents
    return svc


def render(request: Request, name: str, who: Principal | None, status: int = 200, **values: object) -> HTMLResponse:
    html = templates.get_template(name).render(who=who, request=request, path=request.url.path, **values)
    return HTMLResponse(html, status_code=status)


def error(request: Request, who: Principal | None, status: int, message: str, api: bool) -> Response:
    if api:
        return JSONResponse({"error": message}, status_code=status)
    return render(request, "error.html.j2", who, status, status_code=status, message=message)


def wanted(request: Request) -> str:
    """The page asked for, path and query (a deep link keeps its ``?screen=`` through sign-in)."""
    query = request.url.query
    return request.url.path + ("?" + query if query else "")


def _bearer(request: Request) -> str:
    auth = request.headers.get("authorization", "")
    return auth[7:].strip() if auth.lower().startswith("bearer ") else ""


async def _csrf_ok(request: Request, who: Principal) -> bool:
    """A cookie-signed request that changes something carries the session's CSRF token
    (form field ``csrf`` or header ``X-CSRF-Token``); a bearer token is not sent by browsers."""
    if request.method in SAFE_METHODS or who.via == "api":
        return True
    sent = request.headers.get("x-csrf-token", "")
    if not sent and request.headers.get("content-type", "").startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get("csrf")
        sent = value if isinstance(value, str) else ""
    return same(sent, who.csrf)


def guarded(role: str, *, api: bool = False) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """A route that needs a signed-in user of at least ``role``. Pages accept the session
    cookie; the API accepts it (with the CSRF header for changes) or a bearer token."""

    def wrap(fn: Handler) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(fn)
        async def endpoint(request: Request) -> Response:
            console = console_of(request)
            token = _bearer(request) if api else ""
            who = console.token(token) if token else console.session(request.cookies.get(SESSION_COOKIE, ""))
            if who is None:
                if api or request.method not in SAFE_METHODS:
                    return error(request, None, 401, "sign in first", api)
                return RedirectResponse(f"/login?next={quote(wanted(request), safe='')}", status_code=303)
            if not await _csrf_ok(request, who):
                return error(request, who, 403, "this request did not carry the page's CSRF token: reload the page and try again", api)
            if not who.can(role):
                return error(request, who, 403, f"this needs the {role} role; you are {who.role}", api)
            try:
                return await fn(request, who)
            except Refused as e:
                return error(request, who, e.status, e.message, api)

        endpoint.required_role = role  # type: ignore[attr-defined]  # read by the route-table test
        return endpoint

    return wrap


def secure_headers(response: Response) -> Response:
    for k, v in SECURITY_HEADERS.items():
        response.headers.setdefault(k, v)
    return response

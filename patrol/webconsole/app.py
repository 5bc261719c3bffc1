"""The console application: its route table and the ASGI app around it."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from ..incidents.service import IncidentService
from ..schedule.desk import PlanDesk
from . import admin_pages as ap
from . import api, live
from . import incident_pages as ip
from . import pages as p
from .auth import RateLimiter
from .data import Console
from .web import HERE, secure_headers

# Open without signing in: the sign-in form itself and the stylesheet/script it needs.
PUBLIC_PATHS = ("/login", "/static")


def routes() -> list[BaseRoute]:
    return [
        Route("/login", p.login_page, methods=["GET"]),
        Route("/login", p.login, methods=["POST"]),
        Route("/logout", p.logout, methods=["POST"]),
        Route("/", p.overview, methods=["GET"]),
        Route("/runs", p.runs_page, methods=["GET"]),
        Route("/runs/{run_id}", p.run_page, methods=["GET"]),
        Route("/runs/{run_id}/files/{name:path}", p.run_file, methods=["GET"]),
        Route("/runs/{run_id}/compare", p.compare, methods=["GET"]),
        Route("/runs/{run_id}/approve", p.approve, methods=["POST"]),
        Route("/runs/{run_id}/reject", p.reject, methods=["POST"]),
        Route("/baselines", p.baselines_page, methods=["GET"]),
        Route("/baselines/{approval_id:int}/undo", p.undo, methods=["POST"]),
        Route("/incidents", ip.incidents_page, methods=["GET"]),
        Route("/incidents/{incident_id:int}", ip.incident_page, methods=["GET"]),
        Route("/incidents/{incident_id:int}/acknowledge", ip.acknowledge, methods=["POST"]),
        Route("/incidents/{incident_id:int}/resolve", ip.resolve, methods=["POST"]),
        Route("/silences", ip.silence, methods=["POST"]),
        Route("/silences/{silence_id:int}/end", ip.end_silence, methods=["POST"]),
        Route("/maintenance", ap.maintenance_page, methods=["GET"]),
        Route("/maintenance", ap.add_window, methods=["POST"]),
        Route("/maintenance/{window_id:int}/end", ap.end_window, methods=["POST"]),
        Route("/schedules", ap.schedules_page, methods=["GET"]),
        Route("/schedules/{job_id}/{action}", ap.schedule_action, methods=["POST"]),
        Route("/deliveries", ap.deliveries_page, methods=["GET"]),
        Route("/deliveries/retry", ap.retry_all, methods=["POST"]),
        Route("/deliveries/{delivery_id:int}/retry", ap.retry_delivery, methods=["POST"]),
        Route("/audit", p.audit_page, methods=["GET"]),
        Route("/events/running", live.running_stream, methods=["GET"]),
        *api.routes(),
        Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
    ]


async def _crashed(request: Request, exc: Exception) -> Response:
    """An answer the console did not foresee: a plain 500 with the same headers as every
    other answer (this runs outside the middleware), never a traceback."""
    return secure_headers(PlainTextResponse("the console could not answer this request (see its log)", status_code=500))


class _Headers(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        return secure_headers(await call_next(request))


def create_app(console: Console, incidents: IncidentService, *, secure_cookies: bool = True,
               limiter: RateLimiter | None = None, schedules: PlanDesk | None = None) -> Starlette:
    app = Starlette(routes=routes(), middleware=[Middleware(_Headers)], exception_handlers={Exception: _crashed})
    app.state.console = console
    app.state.incidents = incidents
    app.state.schedules = schedules
    app.state.secure_cookies = secure_cookies
    app.state.limiter = limiter or RateLimiter()
    app.state.address_limiter = RateLimiter(limit=30)
    return app


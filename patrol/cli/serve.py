"""``patrol serve``: the console, a web page over the state database and the run folders."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from ..config import Config
    from ..incidents.service import IncidentService
    from ..schedule.desk import PlanDesk
    from ..schedule.service import SchedulerService


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="serve the console (sign in, approve baselines, acknowledge incidents)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; put TLS in front for others)")
    p.add_argument("--port", type=int, default=8900, help="port (default 8900)")
    p.set_defaults(func=serve)


def build_app(config_path: str | None, *, config: Config | None = None, incidents: IncidentService | None = None,
              desk: PlanDesk | None = None) -> Starlette:
    """The console app for a patrol.yaml (also used by the tests). ``patrol schedule
    --console-port`` passes its own config, incident service and schedule desk, so the
    console shares the scheduler's database connection and runs its jobs."""
    from ..checks.visual import baseline_store
    from ..config import load_config
    from ..errors import InputError
    from ..incidents.service import IncidentService
    from ..maintenance.settings import MAINTENANCE
    from ..schedule.desk import PlanDesk
    from ..webconsole.app import create_app
    from ..webconsole.data import Console

    config = config or load_config(config_path)
    if not IncidentService.enabled(config):
        raise InputError("the console needs the state database: remove `state: false` from patrol.yaml")
    # The console only queues deliveries (patrol schedule or the next patrol run sends them), so it
    # starts without the receivers' secrets in its environment.
    incidents = incidents or IncidentService.from_config(config, resolve_secrets=False)
    console = Console(incidents.store, baseline_store(config), maintenance=config.settings[MAINTENANCE].windows)
    return create_app(console, incidents, schedules=desk or PlanDesk(config, incidents.store))


def scheduler_console(service: SchedulerService) -> Starlette:
    """``patrol schedule --console-port``: the console over the running scheduler's
    database connection and incident service, with pause/resume/run now on its jobs."""
    from ..schedule.desk import ServiceDesk

    return build_app(None, config=service.config, incidents=service.incidents, desk=ServiceDesk(service))


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .. import console

    app = build_app(args.config)
    console.say(f"Patrol console on http://{args.host}:{args.port}/ (Ctrl-C stops it)")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", proxy_headers=True)
    return 0

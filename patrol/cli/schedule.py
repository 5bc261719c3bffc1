"""``patrol schedule``: run the schedules of patrol.yaml (and journey files) as a
foreground service; ``--list`` what would run when; ``--once`` fire what is due and
exit (for cron-driven set-ups); ``--prune`` apply retention now.

The command composes the service: it chooses where firings run (``executor``) and starts
what runs beside the scheduler (``Beside``: the notification dispatcher, the Prometheus
endpoint, the console)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ..errors import InputError

if TYPE_CHECKING:
    from ..schedule.executor import Executor, Host
    from ..schedule.service import SchedulerService
    from ..schedule.sides import ConsoleServer, DispatcherThread, MetricsServer


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("schedule", help="run the schedules as a service (or --list them, or fire what is due --once)")
    p.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS, help="patrol.yaml to use")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--list", action="store_true", help="print every job with its next three fire times, and exit")
    mode.add_argument("--once", action="store_true", help="fire every job that is due now, wait for it, and exit")
    mode.add_argument("--prune", action="store_true", help="apply the retention rules now, and exit")
    p.add_argument("--metrics-port", type=int, metavar="P", help="serve Prometheus metrics on this port (/metrics)")
    p.add_argument("--metrics-addr", default="0.0.0.0", metavar="ADDR", help="address for the metrics endpoint (default: all)")
    p.add_argument("--console-port", type=int, metavar="P", help="also serve the console (patrol serve) on 127.0.0.1:P, "
                   "with pause, resume and run now on the schedules")
    p.add_argument("--stop-timeout", default="60s", metavar="DURATION",
                   help="on SIGTERM, how long running journeys may take to finish (default 60s)")
    p.add_argument("--no-watch", action="store_true", help="reload only on SIGHUP, not when patrol.yaml or a journey changes")
    p.add_argument("--index-every", default="30s", metavar="DURATION",
                   help="rewrite reports/index.html at most this often (default 30s)")
    p.set_defaults(func=cmd)


def _seconds(value: str, flag: str, minimum: float = 0.0) -> float:
    from ..durations import DurationError, parse_ms

    try:
        seconds = parse_ms(value) / 1000
    except DurationError as e:
        raise InputError(f"{flag}: {e}") from None
    if seconds < minimum:
        raise InputError(f"{flag}: at least {minimum:g}s")
    return seconds


def cmd(args: argparse.Namespace) -> int:
    config_path = getattr(args, "config", None)
    if args.list:
        return list_jobs(config_path)
    if args.prune:
        return prune(config_path)
    for flag, port in (("--metrics-port", args.metrics_port), ("--console-port", args.console_port)):
        if port is not None and not 0 <= port <= 65535:
            raise InputError(f"{flag}: a TCP port, 0-65535")
    from ..schedule.service import SchedulerService

    service = SchedulerService(
        config_path,
        stop_timeout=_seconds(args.stop_timeout, "--stop-timeout"),
        watch=not args.no_watch,
        index_interval=_seconds(args.index_every, "--index-every"),
        executor=executor,
    )
    if args.once:
        return service.once()
    service.start()
    Beside(service, metrics_port=args.metrics_port, metrics_addr=args.metrics_addr,
           console_port=args.console_port).start()
    return service.serve()


class Beside:
    """What runs beside the scheduler, over its parts: the notification dispatcher (sends
    continuously; restarted with new receivers on a reload), ``--metrics-port``'s
    Prometheus endpoint and ``--console-port``'s console (with pause, resume and run now
    on the service's jobs). Started once the service is; stopped when its firings are over,
    before it closes the state database."""

    def __init__(self, service: SchedulerService, *, metrics_port: int | None = None, metrics_addr: str = "0.0.0.0",
                 console_port: int | None = None) -> None:
        from ..schedule.sides import ConsoleServer, DispatcherThread, MetricsServer

        self.service = service
        self.dispatcher: DispatcherThread = DispatcherThread(service.log_error)
        self.metrics: MetricsServer = MetricsServer(metrics_port, metrics_addr)
        self.console: ConsoleServer = ConsoleServer(console_port)

    def start(self) -> Beside:
        """A port that cannot be listened on is an input error, and the service stops."""
        from functools import partial

        from .serve import scheduler_console

        service = self.service
        try:
            self.dispatcher.start(service.incidents)
            self.metrics.start(service.metrics)
            self.console.start(partial(scheduler_console, service))
        except BaseException:
            self.stop()
            service.stop()
            raise
        service.on_reload.append(self.reloaded)
        service.on_stopping.append(self.stop)
        service.addresses += [f"{what} at {url}" for what, url in (("metrics", self.metrics.url),
                                                                    ("console", self.console.url)) if url]
        return self

    def reloaded(self) -> None:
        self.dispatcher.restart(self.service.incidents)

    def stop(self) -> None:
        self.dispatcher.stop()
        self.console.stop()
        self.metrics.stop()


def executor(host: Host) -> Executor:
    """Where the scheduler's firings run: with patrol.yaml's fleet:, on the workers, one
    task per journey, sent while this scheduler leads (Celery loads only then); else
    here, through the application core."""
    if host.config.settings.fleet.enabled:
        from ..fleet.scheduling import FleetExecutor

        return FleetExecutor(host)
    from ..schedule.local import LocalExecutor

    return LocalExecutor(host)


def list_jobs(config_path: str | None) -> int:
    from datetime import datetime

    from .. import console
    from ..config import load_config
    from ..schedule.plan import build_plan

    plan = build_plan(load_config(config_path))
    specs = list(plan.specs.values()) + ([plan.prune] if plan.prune else [])
    if not plan.specs:
        console.say("no schedules: add `schedules:` to patrol.yaml or `schedule:` to a journey")
    s = console.safe
    for spec in specs:
        state = "" if spec.enabled else " [yellow](disabled)[/]"
        console.say(f"[bold]{s(spec.job_id)}[/]{state}  {s(spec.describe())}  [dim]{s(spec.origin)}[/]")
        if spec.job_id in plan.selected:
            names = ", ".join(j.name for j in plan.selected[spec.job_id])
            extra = f" against {spec.base_url}" if spec.base_url else ""
            console.say(f"  journeys: {s(names)}{s(extra)}")
        if spec.enabled:
            times = spec.trigger().upcoming(3, datetime.now(spec.tz))
            shown = ", ".join(f"{t:%Y-%m-%d %H:%M:%S %Z}" for t in times) or "never"
            console.say(f"  next: {shown}")
    console.say(f"[dim]concurrency {plan.concurrency}; {s(plan.retention.describe())}[/]")
    return 0


def prune(config_path: str | None) -> int:
    from .. import console
    from ..application.startup import incident_service
    from ..config import load_config
    from ..reports.index import write_index
    from ..retention.prune import prune as apply
    from ..retention.settings import RETENTION

    config = load_config(config_path)
    settings = config.settings[RETENTION]
    incidents = incident_service(config)
    store = incidents.store if incidents is not None else None
    root = config.reports_dir
    stats = apply(settings, root, store)
    console.say(f"retention ({console.safe(settings.describe())}): {console.safe(stats.describe())}")
    if root.is_dir() and (stats.reports or stats.runs or stats.screenshots):
        write_index(root, store=store)
    return 0

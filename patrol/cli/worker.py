"""``patrol worker``: a Celery worker of the fleet (patrol.yaml ``fleet:``) that runs
one journey per task, the same way ``patrol run`` and ``patrol schedule`` do."""

from __future__ import annotations

import argparse

from ..errors import InputError, RobotError


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("worker", help="run journeys the fleet's scheduler sends (patrol.yaml fleet:)")
    p.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS, help="patrol.yaml to use")
    p.add_argument("--queues", metavar="Q,Q", help="queues to take tasks from: web, app, app:<device> "
                   "(default: fleet.queues in patrol.yaml)")
    p.add_argument("--concurrency", type=int, default=None, metavar="N",
                   help="journeys at once (default: concurrency in patrol.yaml)")
    p.add_argument("--name", metavar="NAME", help="the worker's name in `patrol fleet status` (default: patrol-PID@HOST)")
    p.add_argument("--metrics-port", type=int, metavar="P", help="serve Prometheus metrics on this port (/metrics): "
                   "its tasks, queue wait, task durations and the journeys it runs")
    p.add_argument("--metrics-addr", default="0.0.0.0", metavar="ADDR", help="address for the metrics endpoint (default: all)")
    p.set_defaults(func=cmd)


def queues_arg(value: str | None, default: tuple[str, ...]) -> list[str]:
    from ..config.fleet import QUEUE_HINT, QUEUE_RE

    if value is None:
        return list(default)
    queues = [q.strip() for q in value.split(",") if q.strip()]
    if not queues:
        raise InputError("--queues: name at least one queue")
    for q in queues:
        if not QUEUE_RE.match(q):
            raise InputError(f"--queues: {q!r}: {QUEUE_HINT}")
    return queues


def cmd(args: argparse.Namespace) -> int:
    import os
    import socket
    import warnings

    from .. import console
    from ..config import load_config
    from ..fleet import extras
    from ..store import state_settings

    config_path = getattr(args, "config", None)
    config = load_config(config_path)
    if not config.settings.fleet.enabled:
        raise InputError("patrol worker needs a fleet: add `fleet: {broker: redis://host:6379/0}` to patrol.yaml")
    absent = extras.missing(postgres=extras.uses_postgres(state_settings(config).url))
    if absent:  # the robot cannot work here (exit 3), said with the fix instead of an import error
        raise RobotError(extras.problem("patrol worker", absent))

    from ..fleet.app import make_app
    from ..fleet.worker import WorkerRuntime, install, register_task
    from ..schedule.sides import MetricsServer

    settings = config.settings.fleet
    queues = queues_arg(args.queues, settings.queues)
    concurrency = args.concurrency if args.concurrency is not None else config.settings.concurrency
    if not 1 <= concurrency <= 64:
        raise InputError("--concurrency: a whole number, 1 to 64")
    if args.metrics_port is not None and not 0 <= args.metrics_port <= 65535:
        raise InputError("--metrics-port: a TCP port, 0-65535")
    app = make_app(config)
    register_task(app)
    name = args.name or f"patrol-{os.getpid()}@{socket.gethostname()}"
    runtime = WorkerRuntime(config_path, concurrency, name)
    metrics = MetricsServer(args.metrics_port, args.metrics_addr)
    try:
        metrics.start(runtime.metrics)  # a port it cannot listen on: an input error, before taking any task
        install(runtime)
        where = f", metrics at {metrics.url}" if metrics.url else ""
        console.say(f"[bold]patrol worker[/] {console.safe(name)} (pid {os.getpid()}): queues {', '.join(queues)}, "
                    f"concurrency {concurrency}, state {console.safe(runtime.store.display_url)}{where}")
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            from celery.platforms import SecurityWarning

            warnings.filterwarnings("ignore", category=SecurityWarning)  # said once, Patrol's way, below
            console.say("[yellow]warning[/] patrol worker runs as root: it needs no privileges. Run it as an "
                        "unprivileged user (examples/fleet/patrol-worker@.service: User=patrol), so a journey's "
                        "browser cannot touch the machine")
        # Threads, not processes: the tasks of one worker share one Chromium and one event loop.
        worker = app.Worker(queues=queues, concurrency=concurrency, pool="threads", hostname=name, without_mingle=True,
                            without_gossip=True, loglevel="WARNING", quiet=True, redirect_stdouts=False)
        worker.start()
    finally:
        install(None)
        runtime.close()
        metrics.stop()
    return int(worker.exitcode or 0)

"""``patrol fleet status``: the fleet at a glance (patrol.yaml ``fleet:``)."""

from __future__ import annotations

import argparse

from ..errors import EXIT_ROBOT, InputError, RobotError


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("fleet", help="the fleet: leader, workers, queues, running firings (patrol.yaml fleet:)")
    p.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS, help="patrol.yaml to use")
    what = p.add_subparsers(dest="fleet_command", metavar="WHAT")
    what.required = True
    status = what.add_parser("status", help="leader, workers and their queues, queue depths, running firings, "
                                            "the oldest waiting task")
    status.add_argument("--json", action="store_true", help="print it as JSON")
    status.set_defaults(func=cmd_status)


def cmd_status(args: argparse.Namespace) -> int:
    import json

    from .. import console
    from ..config import load_config
    from ..fleet import extras
    from ..store import open_store, state_settings

    config = load_config(getattr(args, "config", None))
    if not config.settings.fleet.enabled:
        raise InputError("no fleet: add `fleet: {broker: redis://host:6379/0}` to patrol.yaml")
    url = state_settings(config).url
    absent = extras.missing(postgres=extras.uses_postgres(url))
    if absent:
        raise RobotError(extras.problem("patrol fleet status", absent))
    from ..fleet.status import gather

    store = open_store(url)
    try:
        status = gather(config, store, url)
    finally:
        store.close()
    if args.json:
        print(json.dumps(status.as_json(), indent=2, sort_keys=True))
    else:
        show(status, console.say)
    return EXIT_ROBOT if status.problems else 0


def show(status: object, say: object) -> None:
    from .. import console
    from ..fleet.status import FleetStatus, waited_s

    assert isinstance(status, FleetStatus) and callable(say)
    s = console.safe
    lead = f"{s(status.leader)} (lock held {status.leader_expires_s:.0f}s more)" if status.leader and \
        status.leader_expires_s is not None else "[yellow]none[/] (no scheduler is firing)"
    say(f"[bold]leader[/]: {lead}")
    say(f"[bold]workers[/]: {len(status.workers) or '[yellow]none[/]'}")
    for worker, queues in sorted(status.workers.items()):
        say(f"  {s(worker)}: queues {s(', '.join(queues))}; running {status.busy.get(worker, 0)}")
    say("[bold]queues[/]: " + (", ".join(f"{s(q)} {n} waiting" for q, n in status.queues.items()) or "-"))
    say(f"[bold]running firings[/]: {len(status.running)}")
    for row in status.running:
        say(f"  {s(row['journey'])} ({s(row['key'])}) on {s(row['worker'] or '?')}, attempt {row['attempts']}, "
            f"since {row['started_at']:%H:%M:%S}")
    waited = waited_s(status.oldest_waiting)
    if status.oldest_waiting is not None and waited is not None:
        say(f"[bold]oldest waiting[/]: {s(status.oldest_waiting['journey'])} on {s(status.oldest_waiting['queue'])}, "
            f"{waited:.0f}s")
    else:
        say("[bold]oldest waiting[/]: none")
    say("[bold]firings[/]: " + (", ".join(f"{n} {st}" for st, n in sorted(status.firings.items())) or "none yet"))
    for problem in status.problems:
        console.error(problem)

"""``patrol maintenance``: windows when patrols run and record but nothing is sent
(add, list, end). Windows in patrol.yaml (``maintenance:``) are listed too; they are
changed by editing the file. What windows are and where they are kept is the
``patrol.maintenance`` feature; the command lives here because ending a window sends
what it held at once, through the outbox, which itself sits above maintenance."""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ..errors import InputError

if TYPE_CHECKING:
    from ..config import Config


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("maintenance", help="maintenance windows: patrols run, nothing is sent (add, list, end)")
    msub = p.add_subparsers(dest="maintenance_command", metavar="SUBCOMMAND")
    msub.required = True
    a = msub.add_parser("add", help="add a window: --for 2h, --from/--to, or --cron with --duration")
    a.add_argument("name", help="what it is for, e.g. 'deploy 4.2'")
    scope = a.add_mutually_exclusive_group()
    scope.add_argument("--journey", help="only this journey (default: every journey)")
    scope.add_argument("--tag", help="only journeys with this tag")
    a.add_argument("--for", dest="length", metavar="DURATION", help="from now, for this long (e.g. 2h)")
    a.add_argument("--from", dest="start", metavar="WHEN", help="start, e.g. '2026-12-01 22:00' (default: now)")
    a.add_argument("--to", dest="end", metavar="WHEN", help="end, e.g. '2026-12-01 23:30'")
    a.add_argument("--cron", help="recurring: when it starts, e.g. '0 22 * * fri'")
    a.add_argument("--duration", help="recurring: how long each lasts, e.g. 1h")
    a.add_argument("--timezone", default="UTC", help="of --cron and of --from/--to without an offset (default UTC)")
    a.set_defaults(func=add)
    ls = msub.add_parser("list", help="windows from patrol.yaml and those added here or in the console")
    ls.add_argument("--all", action="store_true", help="also the ended ones")
    ls.set_defaults(func=list_windows)
    e = msub.add_parser("end", help="end a window now (what it held is sent once)")
    e.add_argument("window_id", type=int)
    e.set_defaults(func=end)


def _config(args: argparse.Namespace) -> Config:
    from ..config import load_config

    return load_config(args.config)


def _seconds(text: str, what: str) -> float:
    from ..durations import DurationError, parse_ms

    try:
        return parse_ms(text) / 1000.0
    except DurationError as e:
        raise InputError(f"{what}: {e}") from None


def _when(text: str | None, timezone: str, what: str) -> datetime | None:
    from ..config.reader import valid_zone
    from ..maintenance.settings import parse_when

    if text is None:
        return None
    if not valid_zone(timezone):
        raise InputError(f"--timezone {timezone!r}: use an IANA name such as UTC or Europe/Berlin")
    when = parse_when(text, timezone)
    if when is None:
        raise InputError(f"{what} {text!r}: expected a date and time such as '2026-12-01 22:00'")
    return when


def add(args: argparse.Namespace) -> int:
    from .. import console
    from ..core.isotime import utcnow
    from ..maintenance import storage
    from ..maintenance.windows import Window, WindowError, new_window, state
    from ..store import console_repo as repo
    from ..store import open_from_config
    from .users import _actor

    now = utcnow()
    start = _when(args.start, args.timezone, "--from") or now
    end = _when(args.end, args.timezone, "--to")
    if args.length:
        end = start + timedelta(seconds=_seconds(args.length, "--for"))
    duration = _seconds(args.duration, "--duration") if args.duration else None
    scope, value = ("journey", args.journey) if args.journey else ("tag", args.tag) if args.tag else ("all", None)
    try:
        values = new_window(args.name, scope, value, starts_at=start, ends_at=end, cron=args.cron, duration_s=duration,
                            timezone=args.timezone, now=now)
    except WindowError as e:
        raise InputError(str(e)) from None
    actor = _actor()
    with open_from_config(_config(args)).write() as conn:
        wid = storage.add_window(conn, created_by=actor, **values)
        repo.audit(conn, now, actor, "cli", "maintenance.add", f"maintenance:{wid}", {"name": values["name"], "scope": scope,
                                                                                     "value": value})
    w = Window.from_row({**values, "id": wid, "created_by": actor, "ended_at": None})
    console.say(f"maintenance window #{wid} {console.safe(w.name)}: {console.safe(w.what)}, {w.when} ({state(w, now)})")
    return 0


def list_windows(args: argparse.Namespace) -> int:
    from .. import console
    from ..core.isotime import utcnow
    from ..maintenance import storage
    from ..maintenance.settings import MAINTENANCE
    from ..maintenance.windows import Window, state
    from ..store import open_from_config

    config, now = _config(args), utcnow()
    with open_from_config(config).read() as conn:
        rows = storage.all_windows(conn) if args.all else storage.live_windows(conn, now)
    shown = [Window.from_spec(s) for s in config.settings[MAINTENANCE].windows] + [Window.from_row(r) for r in reversed(rows)]
    if not shown:
        console.say("no maintenance windows")
    for w in shown:
        console.say(f"{w.source:>12}  {console.safe(w.name)}: {console.safe(w.what)}, {w.when}; {state(w, now)}")
    return 0


def end(args: argparse.Namespace) -> int:
    from .. import console
    from ..core.isotime import utcnow
    from ..maintenance import storage
    from ..store import console_repo as repo
    from ..store import open_from_config
    from .users import _actor

    now, config = utcnow(), _config(args)
    with open_from_config(config).write() as conn:
        if not storage.end_window(conn, args.window_id, now):
            raise InputError(f"there is no window #{args.window_id} still going (see patrol maintenance list; "
                             "windows in patrol.yaml end by editing the file)")
        storage.held_due_now(conn, now)  # the dispatcher looks at what it held on its next round
        repo.audit(conn, now, _actor(), "cli", "maintenance.end", f"maintenance:{args.window_id}")
    console.say(f"maintenance window #{args.window_id} ended")
    from ..incidents.service import IncidentService

    stats = IncidentService.from_config(config).flush_deliveries()  # what it held goes out now, once per incident
    if stats.sent or stats.pending:
        console.say(f"sent {stats.sent} held message(s); {stats.pending} still pending")
    return 0

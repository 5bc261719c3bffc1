"""``patrol deliveries``: the notification outbox (pending, sent, dead).

Commands import what they need when they run, so ``patrol --help`` stays fast."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ..core.vocabulary import DeliveryStatus

if TYPE_CHECKING:
    from ..incidents.service import IncidentService
    from ..notify.dispatcher import DispatchStats


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("deliveries", help="list notification deliveries; retry a dead one; flush the outbox")
    p.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    which = p.add_mutually_exclusive_group()
    for name in DeliveryStatus:
        which.add_argument(f"--{name}", dest="which", action="store_const", const=name, help=f"only {name} deliveries")
    which.add_argument("--all", dest="which", action="store_const", const=None, help="every delivery (default)")
    p.add_argument("--limit", type=int, default=50, metavar="N", help="at most N, newest first (default 50)")
    p.set_defaults(func=cmd_list, which=None)
    s = p.add_subparsers(dest="deliveries_command", metavar="retry|flush")
    r = s.add_parser("retry", help="re-queue dead deliveries and try to send them now")
    r.add_argument("ids", type=int, nargs="*", metavar="ID")
    r.add_argument("--all-dead", action="store_true", help="every dead delivery")
    r.add_argument("--no-send", action="store_true", help="only re-queue")
    r.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    r.set_defaults(func=cmd_retry)
    f = s.add_parser("flush", help="send pending deliveries now (what `patrol run` does before it exits)")
    f.add_argument("--timeout", default="30s", metavar="DURATION", help="give up after this long (default 30s)")
    f.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    f.set_defaults(func=cmd_flush)


def _service(args: argparse.Namespace, resolve_secrets: bool) -> IncidentService:
    from ..config import load_config
    from ..errors import InputError
    from ..incidents.service import IncidentService

    config = load_config(getattr(args, "config", None))
    if not IncidentService.enabled(config):
        raise InputError("incidents are switched off in patrol.yaml (state: false)")
    return IncidentService.from_config(config, resolve_secrets=resolve_secrets)


def cmd_list(args: argparse.Namespace) -> int:
    from .. import console
    from ..incidents.display import fmt_time, table
    from ..notify import outbox

    svc = _service(args, resolve_secrets=False)
    rows = outbox.list_deliveries(svc.store, args.which, args.limit)
    if not rows:
        console.say("no deliveries" + (f" {args.which}" if args.which else ""))
        return 0
    out = []
    for d in rows:
        rec = svc.receivers.get(d["receiver"])
        url = rec.display_url if rec else "(no longer in patrol.yaml)"
        if d["status"] == DeliveryStatus.SENT:
            when = f"sent {fmt_time(d['sent_at'], svc)}"
        elif d["status"] == DeliveryStatus.PENDING:
            when = f"next {fmt_time(d['next_attempt_at'], svc)}"
        else:
            when = f"dead {fmt_time(d['last_attempt_at'] or d['created_at'], svc)}"
        incident = f"#{d['incident_id']}" if d["incident_id"] else "-"
        answer = d["last_error"] or (f"HTTP {d['last_status']}" if d["last_status"] else "")
        out.append([str(d["id"]), d["status"], d["receiver"], url, d["event_type"], incident, str(d["attempts"]),
                    fmt_time(d["created_at"], svc), when, answer])
    table(["ID", "STATUS", "RECEIVER", "URL", "EVENT", "INCIDENT", "TRIES", "CREATED", "WHEN", "LAST ANSWER"], out, max_width=60)
    counts = outbox.counts(svc.store)
    console.say(f"[dim]{counts.get(DeliveryStatus.PENDING, 0)} pending · {counts.get(DeliveryStatus.SENT, 0)} sent · "
                f"{counts.get(DeliveryStatus.DEAD, 0)} dead[/]")
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    from .. import console
    from ..errors import InputError
    from ..notify import outbox

    if not args.ids and not args.all_dead:
        raise InputError("say which deliveries: patrol deliveries retry ID [ID...] or --all-dead")
    svc = _service(args, resolve_secrets=True)
    n = outbox.requeue(svc.store, args.ids or None, svc.clock())
    console.say(f"re-queued {n} dead deliver{'y' if n == 1 else 'ies'}")
    if n and not args.no_send:
        _report(svc.flush_deliveries())
    return 0


def cmd_flush(args: argparse.Namespace) -> int:
    from ..durations import DurationError, parse_ms
    from ..errors import InputError

    try:
        timeout = parse_ms(args.timeout) / 1000
    except DurationError as e:
        raise InputError(f"--timeout: {e}") from None
    svc = _service(args, resolve_secrets=True)
    _report(svc.flush_deliveries(timeout))
    return 0


def _report(stats: DispatchStats) -> None:
    from .. import console

    console.say(f"notifications: {stats.sent} sent, {stats.pending} pending, {stats.dead} dead")
    for line in stats.errors[-5:]:
        console.say(f"  [yellow]{console.safe(line)}[/]")

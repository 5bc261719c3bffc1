"""``patrol incidents``: what is broken now, what was, and why.

Commands import what they need when they run, so ``patrol --help`` stays fast."""

from __future__ import annotations

import argparse
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ..core.vocabulary import DeliveryStatus, EventType, IncidentStatus, ResolvedBy
from ..incidents.display import fmt_time, table

if TYPE_CHECKING:
    from ..incidents.service import IncidentService

Console = ModuleType  # ``patrol.console``, imported by the command and handed to its helpers


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("incidents", help="list incidents (open by default); show one; resolve one by hand")
    p.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    which = p.add_mutually_exclusive_group()
    which.add_argument("--open", dest="which", action="store_const", const="open", help="only open incidents (default)")
    which.add_argument("--all", dest="which", action="store_const", const="all", help="open and resolved incidents")
    p.add_argument("--limit", type=int, default=50, metavar="N", help="at most N incidents, newest first (default 50)")
    p.set_defaults(func=cmd_list, which="open")
    s = p.add_subparsers(dest="incidents_command", metavar="show|resolve")
    show = s.add_parser("show", help="one incident: timeline, evidence, report links, notifications")
    show.add_argument("id", type=int, metavar="ID")
    show.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    show.set_defaults(func=cmd_show)
    res = s.add_parser("resolve", help="resolve an open incident by hand (receivers are told)")
    res.add_argument("id", type=int, metavar="ID")
    res.add_argument("--note", metavar="TEXT", help="why (shown in the notification)")
    res.add_argument("--no-send", action="store_true", help="queue the notification but do not send it now")
    res.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    res.set_defaults(func=cmd_resolve)


def _service(args: argparse.Namespace, resolve_secrets: bool = False) -> IncidentService:
    from ..config import load_config
    from ..errors import InputError
    from ..incidents.service import IncidentService

    config = load_config(getattr(args, "config", None))
    if not IncidentService.enabled(config):
        raise InputError("incidents are switched off in patrol.yaml (state: false)")
    return IncidentService.from_config(config, resolve_secrets=resolve_secrets)


def cmd_list(args: argparse.Namespace) -> int:
    from .. import console

    svc = _service(args)
    for r in svc.robot_status():
        names = ", ".join(f"{j.get('name')} ({j.get('reason')})" for j in (r["detail"] or {}).get("journeys", [])[:5])
        console.say(f"[magenta]robot failing[/] on {console.safe(r['target'])} since "
                    f"{console.safe(fmt_time(r['since'], svc))}: {console.safe(names)}")
    rows = svc.list_incidents(None if args.which == "all" else IncidentStatus.OPEN, args.limit)
    if not rows:
        console.say("no open incidents" if args.which == "open" else "no incidents yet")
        return 0
    out = []
    for r in rows:
        status = r["status"] + (" (flapping)" if r.get("flapping") else "")
        journey, step = r["journey"], f"{r['step_index']} {r['step_name'] or r['step_key']}"
        affected = r.get("affected") or []
        if len(affected) > 1 or sum(len(e.get("steps") or []) for e in affected) > 1:
            # A cause several steps share: how far it reaches, and what it is.
            journey = f"{len(affected)} journey(s): " + ", ".join(str(e.get("journey")) for e in affected)
            step = f"{sum(len(e.get('steps') or []) for e in affected)} steps"
        problem = (r.get("cause") or {}).get("title") or f"{r['kind']}/{r['reason']}"
        last = r["resolved_at"] if r["status"] == IncidentStatus.RESOLVED else r["last_seen_at"]
        out.append([f"#{r['id']}", status, r["severity"], journey, step, problem, r["device"], str(r["count"]),
                    fmt_time(r["opened_at"], svc), fmt_time(last, svc)])
    table(["ID", "STATUS", "SEVERITY", "JOURNEY", "STEP", "PROBLEM", "DEVICE", "COUNT", "FIRST SEEN", "LAST SEEN/RESOLVED"], out)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from .. import console

    svc = _service(args)
    d = svc.incident_detail(args.id)
    _show_header(console, svc, d)
    _show_evidence(console, d["object"]["evidence"])
    _show_reports(console, svc, d)
    _show_timeline(console, svc, d["events"])
    _show_notifications(console, svc, d["deliveries"])
    return 0


def _show_header(console: Console, svc: IncidentService, d: dict[str, Any]) -> None:
    inc, safe = d["incident"], console.safe
    is_open = inc["status"] == IncidentStatus.OPEN
    flapping = bool(d["journey_state"] and d["journey_state"]["flapping"] and is_open)
    colour = "red" if is_open else "green"
    console.say(f"[bold]Incident #{inc['id']}[/] · [{colour}]{inc['status'].upper()}[/]"
                + (" [yellow](journey flapping)[/]" if flapping else "") + f" · {safe(inc['severity'])}")
    console.say(f"  [bold]{safe(inc['kind'])} ({safe(inc['reason'])})[/]: {safe(inc['message'])}")
    obj = d["object"]
    scope, cause = obj.get("scope") or {}, obj.get("cause") or {}
    grouped = int(scope.get("journeys") or 1) > 1 or int(scope.get("steps") or 1) > 1
    lines: list[tuple[str, str]] = []
    if cause.get("title"):
        lines.append(("cause", cause["title"]))
    if grouped:
        # What it reaches first, then the step it was first seen in, with its picture.
        lines.append(("affected", f"{scope.get('journeys')} journey(s), {scope.get('steps')} step(s)"))
        for e in obj.get("affected") or []:
            steps = ", ".join(f"{s.get('index')} {s.get('name') or s.get('key')}" for s in e.get("steps") or [])
            lines.append(("", f"{e.get('journey')} ({e.get('target')}/{e.get('device')}): {steps}"))
        if len(cause.get("endpoints") or []) > 1:
            lines.append(("endpoints", ", ".join(cause["endpoints"])))
    lines += [
        ("first step" if grouped else "journey", f"{inc['journey']} ({inc['journey_file'] or '-'}) · {inc['target']}/{inc['device']}"
         + (f" · tags {', '.join(inc['tags'])}" if inc["tags"] else "")),
        ("step", f"{inc['step_index']} “{inc['step_name'] or inc['step_key']}” ({inc['action']})"),
        ("page", inc["page_url"] or "-"),
        ("seen", f"{inc['count']} run(s) · since {fmt_time(inc['opened_at'], svc)} · last {fmt_time(inc['last_seen_at'], svc)}"),
    ]
    ev = obj.get("evidence") or {}
    shot = ev.get("screenshot") or {}
    if shot:
        lines.append(("screenshot", shot.get("url") or shot.get("path") or "-"))
    diff = next((i for i in ev.get("images") or [] if i.get("label") == "diff"), None)
    if diff:
        lines.append(("diff", diff.get("url") or diff.get("path") or "-"))
    links = obj.get("console") or {}
    for label in ("incident", "compare"):
        if links.get(label):
            lines.append((label if label == "compare" else "console", links[label]))
    if inc["status"] == IncidentStatus.RESOLVED:
        if inc["resolved_by"] == ResolvedBy.MANUAL:
            how = "by hand" + (f": {inc['resolve_note']}" if inc["resolve_note"] else "")
        else:
            how = f"after {inc['healthy_streak']} healthy run(s) in a row"
        lines.append(("resolved", f"{fmt_time(inc['resolved_at'], svc)} ({how})"))
    elif inc["healthy_streak"]:
        lines.append(("healthy", f"{inc['healthy_streak']} healthy run(s) so far (resolves at {svc.settings.resolve_after})"))
    reopens = f" · reopens the problem of incident #{inc['previous_id']}" if inc["previous_id"] else ""
    lines.append(("fingerprint", inc["fingerprint"] + reopens))
    for k, v in lines:
        console.say(_row(k, f"{safe(v)}"))


def _row(label: str, value: str, width: int = 12) -> str:
    """A label and its value, never run together: a long label gets its own gap."""
    return f"  [dim]{label}[/]{' ' * max(1, width - len(label))}{value}"


def _show_evidence(console: Console, ev: dict[str, Any]) -> None:
    safe = console.safe
    console.say("[bold]Evidence[/] [dim](latest failure)[/]")
    files = []
    if ev.get("screenshot"):
        files.append(("screenshot", ev["screenshot"]))
    files += [(img["label"], img) for img in ev.get("images") or [] if img["label"] != "actual"]
    for label, lk in files:
        console.say(_row(label, f"{safe(lk.get('url') or lk.get('path'))}"))
    for r in ev.get("failed_requests") or []:
        what = f"HTTP {r['status']}" if r.get("status") else (r.get("error") or "failed")
        console.say(_row('request', f"{safe(r.get('method'))} {safe(r.get('url'))} → {safe(what)}"))
    for e in ev.get("page_errors") or []:
        console.say(_row('page error', f"{safe(e)}"))
    if ev.get("ocr_text"):
        console.say(_row('on screen', f"{safe(ev['ocr_text'])}"))
    for c in ev.get("consequences") or []:
        console.say(_row('then', f"{safe(c)}"))
    for k, v in (ev.get("details") or {}).items():
        console.say(_row(safe(k), safe(v)))


def _show_reports(console: Console, svc: IncidentService, d: dict[str, Any]) -> None:
    from ..incidents.documents import link

    inc = d["incident"]
    console.say("[bold]Reports[/]")
    for label, run_id in (("first run", inc["first_run_id"]), ("last run", inc["last_run_id"])):
        run = d["runs"].get(run_id)
        if run:
            lk = link(run["run_dir"], "index.html", svc.public_url) or {}
            console.say(_row(label, f"{console.safe(run_id)} {console.safe(lk.get('url') or lk.get('path') or '-')}"))


def _event_note(e: dict[str, Any]) -> str:
    """What a timeline entry adds to its type."""
    data = (e["payload"] or {}).get("data") or {}
    if e["type"] == EventType.OPENED:
        attempts = (data.get("run") or {}).get("attempts")
        return f"in run {e['run_id']}" + (f", confirmed by {attempts} attempts" if attempts and attempts > 1 else "")
    if e["type"] in (EventType.FLAPPING, EventType.FLAPPING_STOPPED):
        fl = data.get("flapping") or {}
        return f"{fl.get('percent', 0):.0f}% weighted state change; now {fl.get('state')}"
    if e["type"] == EventType.RESOLVED:
        inc_d = data.get("incident") or {}
        return "by hand" if inc_d.get("resolved_by") == ResolvedBy.MANUAL else f"after {inc_d.get('healthy_runs')} healthy run(s)"
    return ""


def _show_timeline(console: Console, svc: IncidentService, events: list[dict[str, Any]]) -> None:
    from ..incidents.documents import SUBSCRIPTION

    safe = console.safe
    console.say("[bold]Timeline[/]")
    pending_seen: list[dict[str, Any]] = []  # "seen again" entries, said as one line

    def flush_seen() -> None:
        if not pending_seen:
            return
        a, b = pending_seen[0], pending_seen[-1]
        if len(pending_seen) == 1:
            console.say(f"  {fmt_time(a['at'], svc)}  seen again (run {safe(a['run_id'])})")
        else:
            console.say(f"  {fmt_time(a['at'], svc)}  seen again ×{len(pending_seen)}, until {fmt_time(b['at'], svc)}")
        pending_seen.clear()

    for e in events:
        if e["type"] == EventType.SEEN:
            pending_seen.append(e)
            continue
        flush_seen()
        quiet = "" if e["notified"] else " [dim](not sent: journey flapping)[/]" if e["type"] in SUBSCRIPTION else ""
        console.say(f"  {fmt_time(e['at'], svc)}  [bold]{safe(e['type'].split('.', 1)[1])}[/] {safe(_event_note(e))}{quiet}")
    flush_seen()


def _show_notifications(console: Console, svc: IncidentService, deliveries: list[dict[str, Any]]) -> None:
    if not deliveries:
        return
    safe = console.safe
    console.say("[bold]Notifications[/]")
    for x in deliveries:
        state = {DeliveryStatus.SENT: "[green]sent[/]", DeliveryStatus.DEAD: "[red]dead[/]"}.get(x["status"], "[yellow]pending[/]")
        when = fmt_time(x["sent_at"] or x["last_attempt_at"] or x["created_at"], svc)
        tail = f" · last answer: {safe(x['last_error'])}" if x["last_error"] and x["status"] != DeliveryStatus.SENT else ""
        console.say(f"  #{x['id']} {safe(x['event_type'].split('.', 1)[1])} → {safe(x['receiver'])} ({safe(x['format'])}): "
                    f"{state} {when} · {x['attempts']} attempt(s){tail}")


def cmd_resolve(args: argparse.Namespace) -> int:
    from .. import console

    svc = _service(args, resolve_secrets=True)
    out = svc.resolve(args.id, args.note)
    console.say(f"resolved incident #{args.id} by hand; {out['queued']} notification(s) queued")
    if out["queued"] and not args.no_send:
        stats = svc.flush_deliveries()
        console.say(f"notifications: {stats.sent} sent, {stats.pending} pending, {stats.dead} dead")
    return 0

"""``patrol incidents``: what is broken now, what was, and why.

Commands import what they need when they run, so ``patrol --help`` stays fast."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from datetime import datetime
from types import ModuleType
from typing import TYPE_CHECKING

from ..core.jsontypes import as_object, as_objects, as_texts, json_list, json_objects
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
    for robot in svc.robot_status():
        names = ", ".join(f"{j.get('name')} ({j.get('reason')})" for j in json_objects(robot["detail"], "journeys")[:5])
        console.say(f"[magenta]robot failing[/] on {console.safe(robot['target'])} since "
                    f"{console.safe(fmt_time(robot['since'], svc))}: {console.safe(names)}")
    rows = svc.list_incidents(None if args.which == "all" else IncidentStatus.OPEN, args.limit)
    if not rows:
        console.say("no open incidents" if args.which == "open" else "no incidents yet")
        return 0
    out = []
    for r in rows:
        status = r["status"] + (" (flapping)" if r["flapping"] else "")
        journey, step = r["journey"], f"{r['step_index']} {r['step_name'] or r['step_key']}"
        affected = r["affected"] or []
        if len(affected) > 1 or sum(len(json_list(e, "steps")) for e in affected) > 1:
            # A cause several steps share: how far it reaches, and what it is.
            journey = f"{len(affected)} journey(s): " + ", ".join(str(e.get("journey")) for e in affected)
            step = f"{sum(len(json_list(e, 'steps')) for e in affected)} steps"
        problem = (r["cause"] or {}).get("title") or f"{r['kind']}/{r['reason']}"
        last = r["resolved_at"] if r["status"] == IncidentStatus.RESOLVED else r["last_seen_at"]
        out.append([f"#{r['id']}", status, r["severity"], journey, step, str(problem), r["device"], str(r["count"]),
                    fmt_time(r["opened_at"], svc), fmt_time(last, svc)])
    table(["ID", "STATUS", "SEVERITY", "JOURNEY", "STEP", "PROBLEM", "DEVICE", "COUNT", "FIRST SEEN", "LAST SEEN/RESOLVED"], out)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from .. import console

    svc = _service(args)
    d = svc.incident_detail(args.id)
    _show_header(console, svc, d)
    _show_evidence(console, as_object(as_object(d["object"])["evidence"]))
    _show_reports(console, svc, d)
    _show_timeline(console, svc, as_objects(d["events"]))
    _show_notifications(console, svc, as_objects(d["deliveries"]))
    return 0


# The incident's detail is JSON and database rows: each value is checked where it is read.
def _time(value: object) -> datetime | None:
    return value if isinstance(value, datetime) else None


def _count(value: object) -> int:
    return int(value) if isinstance(value, (int, float, str)) else 1


def _show_header(console: Console, svc: IncidentService, d: Mapping[str, object]) -> None:
    inc, safe = as_object(d["incident"]), console.safe
    is_open = inc["status"] == IncidentStatus.OPEN
    state = as_object(d["journey_state"])
    flapping = bool(state and state["flapping"] and is_open)
    colour = "red" if is_open else "green"
    console.say(f"[bold]Incident #{inc['id']}[/] · [{colour}]{str(inc['status']).upper()}[/]"
                + (" [yellow](journey flapping)[/]" if flapping else "") + f" · {safe(inc['severity'])}")
    console.say(f"  [bold]{safe(inc['kind'])} ({safe(inc['reason'])})[/]: {safe(inc['message'])}")
    obj = as_object(d["object"])
    scope, cause = as_object(obj.get("scope")), as_object(obj.get("cause"))
    grouped = _count(scope.get("journeys") or 1) > 1 or _count(scope.get("steps") or 1) > 1
    lines: list[tuple[str, str]] = []
    if cause.get("title"):
        lines.append(("cause", str(cause["title"])))
    if grouped:
        # What it reaches first, then the step it was first seen in, with its picture.
        lines.append(("affected", f"{scope.get('journeys')} journey(s), {scope.get('steps')} step(s)"))
        for e in as_objects(obj.get("affected")):
            steps = ", ".join(f"{s.get('index')} {s.get('name') or s.get('key')}" for s in as_objects(e.get("steps")))
            lines.append(("", f"{e.get('journey')} ({e.get('target')}/{e.get('device')}): {steps}"))
        if len(endpoints := as_texts(cause.get("endpoints"))) > 1:
            lines.append(("endpoints", ", ".join(endpoints)))
    lines += [
        ("first step" if grouped else "journey", f"{inc['journey']} ({inc['journey_file'] or '-'}) · {inc['target']}/{inc['device']}"
         + (f" · tags {', '.join(as_texts(inc['tags']))}" if inc["tags"] else "")),
        ("step", f"{inc['step_index']} “{inc['step_name'] or inc['step_key']}” ({inc['action']})"),
        ("page", str(inc["page_url"] or "-")),
        ("seen", f"{inc['count']} run(s) · since {fmt_time(_time(inc['opened_at']), svc)} · "
                 f"last {fmt_time(_time(inc['last_seen_at']), svc)}"),
    ]
    lines += _evidence_lines(obj)
    if inc["status"] == IncidentStatus.RESOLVED:
        if inc["resolved_by"] == ResolvedBy.MANUAL:
            how = "by hand" + (f": {inc['resolve_note']}" if inc["resolve_note"] else "")
        else:
            how = f"after {inc['healthy_streak']} healthy run(s) in a row"
        lines.append(("resolved", f"{fmt_time(_time(inc['resolved_at']), svc)} ({how})"))
    elif inc["healthy_streak"]:
        lines.append(("healthy", f"{inc['healthy_streak']} healthy run(s) so far (resolves at {svc.settings.resolve_after})"))
    reopens = f" · reopens the problem of incident #{inc['previous_id']}" if inc["previous_id"] else ""
    lines.append(("fingerprint", str(inc["fingerprint"]) + reopens))
    for k, v in lines:
        console.say(_row(k, f"{safe(v)}"))


def _evidence_lines(obj: Mapping[str, object]) -> list[tuple[str, str]]:
    """The incident's pictures and console links, as header rows."""
    lines: list[tuple[str, str]] = []
    ev = as_object(obj.get("evidence"))
    shot = as_object(ev.get("screenshot"))
    if shot:
        lines.append(("screenshot", str(shot.get("url") or shot.get("path") or "-")))
    diff = next((i for i in as_objects(ev.get("images")) if i.get("label") == "diff"), None)
    if diff:
        lines.append(("diff", str(diff.get("url") or diff.get("path") or "-")))
    links = as_object(obj.get("console"))
    for label in ("incident", "compare"):
        if links.get(label):
            lines.append((label if label == "compare" else "console", str(links[label])))
    return lines


def _row(label: str, value: str, width: int = 12) -> str:
    """A label and its value, never run together: a long label gets its own gap."""
    return f"  [dim]{label}[/]{' ' * max(1, width - len(label))}{value}"


def _show_evidence(console: Console, ev: Mapping[str, object]) -> None:
    safe = console.safe
    console.say("[bold]Evidence[/] [dim](latest failure)[/]")
    files: list[tuple[object, dict[str, object]]] = []
    if ev.get("screenshot"):
        files.append(("screenshot", as_object(ev["screenshot"])))
    files += [(img["label"], img) for img in as_objects(ev.get("images")) if img["label"] != "actual"]
    for label, lk in files:
        console.say(_row(str(label), f"{safe(lk.get('url') or lk.get('path'))}"))
    for r in as_objects(ev.get("failed_requests")):
        what = f"HTTP {r['status']}" if r.get("status") else (r.get("error") or "failed")
        console.say(_row('request', f"{safe(r.get('method'))} {safe(r.get('url'))} → {safe(what)}"))
    for e in as_texts(ev.get("page_errors")):
        console.say(_row('page error', f"{safe(e)}"))
    if ev.get("ocr_text"):
        console.say(_row('on screen', f"{safe(ev['ocr_text'])}"))
    for c in as_texts(ev.get("consequences")):
        console.say(_row('then', f"{safe(c)}"))
    for k, v in as_object(ev.get("details")).items():
        console.say(_row(safe(k), safe(v)))


def _show_reports(console: Console, svc: IncidentService, d: Mapping[str, object]) -> None:
    from ..incidents.documents import link

    inc, runs = as_object(d["incident"]), as_object(d["runs"])
    console.say("[bold]Reports[/]")
    for label, run_id in (("first run", inc["first_run_id"]), ("last run", inc["last_run_id"])):
        run = as_object(runs.get(str(run_id))) if run_id else {}
        if run:
            run_dir = run["run_dir"]
            lk = link(run_dir if isinstance(run_dir, str) else None, "index.html", svc.public_url) or {}
            console.say(_row(label, f"{console.safe(run_id)} {console.safe(lk.get('url') or lk.get('path') or '-')}"))


def _event_note(e: Mapping[str, object]) -> str:
    """What a timeline entry adds to its type."""
    data = as_object(as_object(e["payload"]).get("data"))
    if e["type"] == EventType.OPENED:
        attempts = as_object(data.get("run")).get("attempts")
        confirmed = isinstance(attempts, (int, float)) and attempts > 1
        return f"in run {e['run_id']}" + (f", confirmed by {attempts} attempts" if confirmed else "")
    if e["type"] in (EventType.FLAPPING, EventType.FLAPPING_STOPPED):
        fl = as_object(data.get("flapping"))
        return f"{fl.get('percent', 0):.0f}% weighted state change; now {fl.get('state')}"
    if e["type"] == EventType.RESOLVED:
        inc_d = as_object(data.get("incident"))
        return "by hand" if inc_d.get("resolved_by") == ResolvedBy.MANUAL else f"after {inc_d.get('healthy_runs')} healthy run(s)"
    return ""


def _show_timeline(console: Console, svc: IncidentService, events: Sequence[Mapping[str, object]]) -> None:
    from ..incidents.documents import SUBSCRIPTION

    safe = console.safe
    console.say("[bold]Timeline[/]")
    pending_seen: list[Mapping[str, object]] = []  # "seen again" entries, said as one line

    def flush_seen() -> None:
        if not pending_seen:
            return
        a, b = pending_seen[0], pending_seen[-1]
        if len(pending_seen) == 1:
            console.say(f"  {fmt_time(_time(a['at']), svc)}  seen again (run {safe(a['run_id'])})")
        else:
            console.say(f"  {fmt_time(_time(a['at']), svc)}  seen again ×{len(pending_seen)}, "
                        f"until {fmt_time(_time(b['at']), svc)}")
        pending_seen.clear()

    for e in events:
        if e["type"] == EventType.SEEN:
            pending_seen.append(e)
            continue
        flush_seen()
        quiet = "" if e["notified"] else " [dim](not sent: journey flapping)[/]" if e["type"] in SUBSCRIPTION else ""
        kind = str(e["type"]).split(".", 1)[1]
        console.say(f"  {fmt_time(_time(e['at']), svc)}  [bold]{safe(kind)}[/] {safe(_event_note(e))}{quiet}")
    flush_seen()


def _show_notifications(console: Console, svc: IncidentService, deliveries: Sequence[Mapping[str, object]]) -> None:
    if not deliveries:
        return
    safe = console.safe
    console.say("[bold]Notifications[/]")
    for x in deliveries:
        status = x["status"]
        state = ("[green]sent[/]" if status == DeliveryStatus.SENT else "[red]dead[/]" if status == DeliveryStatus.DEAD
                 else "[yellow]pending[/]")
        when = fmt_time(_time(x["sent_at"] or x["last_attempt_at"] or x["created_at"]), svc)
        tail = f" · last answer: {safe(x['last_error'])}" if x["last_error"] and status != DeliveryStatus.SENT else ""
        kind = str(x["event_type"]).split(".", 1)[1]
        console.say(f"  #{x['id']} {safe(kind)} → {safe(x['receiver'])} ({safe(x['format'])}): "
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

"""Plain aligned tables for `patrol incidents` and `patrol deliveries` (masked, escaped,
CJK-width aware), and the console lines a run prints about incidents.

``patrol.console`` is imported where it is used: it loads the runner, which the CLI
commands that import this module do not otherwise need at start-up."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from rich.cells import cell_len

from .. import console
from ..core.jsontypes import json_list, json_objects
from ..core.vocabulary import EventType, IncidentStatus
from ..secrets import mask

if TYPE_CHECKING:
    from ..notify.dispatcher import DispatchStats
    from .service import IncidentService, RecordResult


def fmt_time(dt: datetime | None, svc: IncidentService | None = None) -> str:
    if dt is None:
        return "-"
    tz = svc.settings.tz if svc is not None else None
    local = dt.astimezone(tz) if tz else dt
    return local.strftime("%Y-%m-%d %H:%M:%S") + (f" {local.tzname()}" if local.tzname() else "")


def _clip(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    if cell_len(text) <= width:
        return text
    out = ""
    for ch in text:
        if cell_len(out + ch) > width - 1:
            break
        out += ch
    return out + "…"


def table(headers: list[str], rows: list[list[str]], max_width: int = 48) -> None:
    rows = [[_clip(mask(str(c)), max_width) for c in r] for r in rows]
    widths = [max([cell_len(h)] + [cell_len(r[i]) for r in rows]) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(c + " " * (widths[i] - cell_len(c)) for i, c in enumerate(cells)).rstrip()

    console.say(f"[bold]{console.safe(line(headers))}[/]")
    for r in rows:
        console.say(console.safe(line(r)))


def reach(row: Mapping[str, object]) -> tuple[int, int]:
    """(journeys, steps) an incident affects (one and one for an incident about its step)."""
    affected = json_objects(row, "affected")
    if not affected:
        return 1, 1
    return len(affected), sum(len(json_list(e, "steps")) for e in affected)


def incident_line(row: Mapping[str, object]) -> str:
    """What an incident is, in one line: a cause several steps share by its message (the
    cause and its reach), one step's problem by where it is."""
    journeys, steps = reach(row)
    if journeys > 1 or steps > 1:
        return f"{row['message']} · {row['kind']}/{row['reason']}"
    return f"{row['journey']} · {row['step_name'] or row['step_key']} · {row['kind']}/{row['reason']}"


def describe_record(result: RecordResult, svc: IncidentService) -> str | None:
    """One console line about what a run did to incidents (None: nothing to say)."""
    parts = []
    if result.opened:
        rows = {r["id"]: r for r in svc.list_incidents(IncidentStatus.OPEN, 200)}
        said = []
        for i in result.opened:
            r = rows.get(i)
            said.append(f"#{i}" + (f" ({incident_line(r)})" if r else ""))
        parts.append("[red]opened[/] " + console.safe(", ".join(said)))
    if result.repeated:
        parts.append(f"still open {console.safe(', '.join(f'#{i}' for i in result.repeated))}")
    if result.resolved:
        parts.append("[green]resolved[/] " + console.safe(", ".join(f"#{i}" for i in result.resolved)))
    if result.unconfirmed:
        parts.append(f"{len(result.unconfirmed)} failure(s) not confirmed by the rerun: no incident")
    news: dict[str, str] = {
        EventType.FLAPPING: "[yellow]journey flapping[/]: notifications paused until it settles",
        EventType.FLAPPING_STOPPED: "journey stopped flapping",
        EventType.ROBOT_ERROR: "[magenta]robot error[/] reported",
        EventType.ROBOT_RECOVERED: "robot recovered",
    }
    parts += [news[t] for t in result.events if t in news]
    return "incidents: " + "; ".join(parts) if parts else None


def describe_flush(stats: DispatchStats) -> str | None:
    if not (stats.sent or stats.pending or stats.dead or stats.retrying):
        return None
    line = f"notifications: {stats.sent} sent"
    if stats.pending:
        line += f", [yellow]{stats.pending} pending[/] (retried by the next run or `patrol deliveries flush`)"
    if stats.dead:
        line += f", [red]{stats.dead} dead[/] (see `patrol deliveries --dead`)"
    if stats.errors and (stats.pending or stats.dead):
        line += f"; last error: {console.safe(stats.errors[-1])}"
    return line

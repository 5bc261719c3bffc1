"""The console's tables: users, API tokens, sessions, the audit log, baseline
history and silences. Plain functions over a connection, like the other repos;
the caller owns the transaction (so a change and its audit entry commit together)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TypedDict

from sqlalchemy import Connection, Insert, RowMapping, delete, func, insert, select, update

from .schema import (
    audit_log,
    baseline_history,
    console_sessions,
    console_tokens,
    console_users,
    incidents,
    runs,
    silences,
)

ROLES = ("viewer", "approver", "admin")

# A row as a plain dict: what the console shows and the API sends as JSON (values as the database gives them).
RowDict = dict[str, object]


class IncidentAction(TypedDict):
    """One thing people did about an incident (``incident_actions``)."""

    at: datetime
    action: str
    by: str | None
    via: str | None
    detail: str


class Silence(TypedDict):
    """A console silence (a row of ``silences``)."""

    id: int
    scope: str  # journey / tag
    value: str
    until: datetime
    reason: str | None
    created_by: str
    created_at: datetime
    ended_at: datetime | None


def _new_id(conn: Connection, stmt: Insert) -> int:
    key = conn.execute(stmt).inserted_primary_key
    assert key is not None  # every table here has an integer primary key
    return int(key[0])


# -- users ---------------------------------------------------------------------------------------------
def add_user(conn: Connection, name: str, role: str, password_hash: str, now: datetime) -> int:
    return _new_id(conn, insert(console_users).values(name=name, role=role, password_hash=password_hash, created_at=now))


def user_by_name(conn: Connection, name: str) -> RowMapping | None:
    return conn.execute(select(console_users).where(console_users.c.name == name)).mappings().first()


def users(conn: Connection) -> Sequence[RowMapping]:
    return conn.execute(select(console_users).order_by(console_users.c.name)).mappings().all()


def update_user(conn: Connection, user_id: int, **values: object) -> None:
    conn.execute(update(console_users).where(console_users.c.id == user_id).values(**values))


def remove_user(conn: Connection, user_id: int) -> None:
    conn.execute(delete(console_sessions).where(console_sessions.c.user_id == user_id))
    conn.execute(delete(console_tokens).where(console_tokens.c.user_id == user_id))
    conn.execute(delete(console_users).where(console_users.c.id == user_id))


# -- sessions ------------------------------------------------------------------------------------------
def add_session(conn: Connection, session_hash: str, user_id: int, csrf: str, now: datetime, expires_at: datetime) -> None:
    conn.execute(insert(console_sessions).values(id=session_hash, user_id=user_id, csrf=csrf, created_at=now, expires_at=expires_at))


def session_user(conn: Connection, session_hash: str, now: datetime) -> RowMapping | None:
    """The user of a live session, with the session's CSRF token as ``csrf``."""
    q = (select(console_users.c.id, console_users.c.name, console_users.c.role, console_sessions.c.csrf)
         .join(console_users, console_users.c.id == console_sessions.c.user_id)
         .where(console_sessions.c.id == session_hash, console_sessions.c.expires_at > now))
    return conn.execute(q).mappings().first()


def end_session(conn: Connection, session_hash: str) -> None:
    conn.execute(delete(console_sessions).where(console_sessions.c.id == session_hash))


def end_expired_sessions(conn: Connection, now: datetime) -> None:
    conn.execute(delete(console_sessions).where(console_sessions.c.expires_at <= now))


# -- API tokens ----------------------------------------------------------------------------------------
def add_token(conn: Connection, user_id: int, name: str, token_hash: str, now: datetime) -> int:
    return _new_id(conn, insert(console_tokens).values(user_id=user_id, name=name, token_hash=token_hash, created_at=now))


def token_user(conn: Connection, token_hash: str) -> RowMapping | None:
    q = (select(console_users.c.id, console_users.c.name, console_users.c.role, console_tokens.c.id.label("token_id"))
         .join(console_users, console_users.c.id == console_tokens.c.user_id)
         .where(console_tokens.c.token_hash == token_hash, console_tokens.c.revoked_at.is_(None)))
    return conn.execute(q).mappings().first()


def touch_token(conn: Connection, token_id: int, now: datetime) -> None:
    conn.execute(update(console_tokens).where(console_tokens.c.id == token_id).values(last_used_at=now))


def tokens_of(conn: Connection, user_id: int) -> Sequence[RowMapping]:
    q = select(console_tokens).where(console_tokens.c.user_id == user_id).order_by(console_tokens.c.id)
    return conn.execute(q).mappings().all()


def revoke_token(conn: Connection, token_id: int, now: datetime) -> bool:
    res = conn.execute(update(console_tokens).where(console_tokens.c.id == token_id, console_tokens.c.revoked_at.is_(None))
                       .values(revoked_at=now))
    return bool(res.rowcount)


# -- audit log -----------------------------------------------------------------------------------------
def audit(conn: Connection, now: datetime, actor: str, via: str, action: str, target: str,
          detail: Mapping[str, object] | None = None) -> None:
    conn.execute(insert(audit_log).values(at=now, actor=actor, via=via, action=action, target=target, detail=detail or {}))


def audit_entries(conn: Connection, limit: int = 200) -> list[RowDict]:
    q = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    return [dict(r) for r in conn.execute(q).mappings()]


# -- baseline history ----------------------------------------------------------------------------------
def add_approval(conn: Connection, **values: object) -> int:
    return _new_id(conn, insert(baseline_history).values(**values))


def approval(conn: Connection, approval_id: int) -> RowMapping | None:
    return conn.execute(select(baseline_history).where(baseline_history.c.id == approval_id)).mappings().first()


def approvals(conn: Connection, limit: int = 200) -> list[RowDict]:
    cols = [c for c in baseline_history.c if c.name != "previous_png"]  # the pictures stay in the database
    q = select(*cols, baseline_history.c.previous_png.is_(None).label("was_new")).order_by(baseline_history.c.id.desc()).limit(limit)
    return [dict(r) for r in conn.execute(q).mappings()]


def newer_live_approval(conn: Connection, row: RowMapping) -> bool:
    """Whether a later approval of the same screen still stands (undo must go newest first)."""
    q = select(baseline_history.c.id).where(
        baseline_history.c.journey == row["journey"], baseline_history.c.baseline == row["baseline"],
        baseline_history.c.device == row["device"], baseline_history.c.id > row["id"], baseline_history.c.undone_at.is_(None))
    return conn.execute(q).first() is not None


def mark_undone(conn: Connection, approval_id: int, who: str, now: datetime) -> None:
    conn.execute(update(baseline_history).where(baseline_history.c.id == approval_id).values(undone_by=who, undone_at=now))


# -- incidents: acknowledgement and silences --------------------------------------------------------------
def acknowledge(conn: Connection, incident_id: int, who: str, now: datetime) -> None:
    conn.execute(update(incidents).where(incidents.c.id == incident_id).values(acknowledged_by=who, acknowledged_at=now))


def incident(conn: Connection, incident_id: int) -> RowMapping | None:
    return conn.execute(select(incidents).where(incidents.c.id == incident_id)).mappings().first()


def incident_actions(conn: Connection, incident: RowMapping, now: datetime) -> list[RowDict]:
    """What people did about an incident, oldest first, each ``{at, action, by, via, detail}``:
    acknowledge and resolve (from the audit log, which says who), and the silences that
    covered its journey or one of its tags while it was open (made, ended by hand, ran out)."""
    out: list[IncidentAction] = []
    q = select(audit_log).where(audit_log.c.target == f"incident:{incident['id']}",
                                audit_log.c.action.in_(("incident.acknowledge", "incident.resolve")))
    for r in conn.execute(q).mappings():
        note = (r["detail"] or {}).get("note")
        out.append({"at": r["at"], "action": r["action"].removeprefix("incident."), "by": r["actor"], "via": r["via"],
                    "detail": f"note: {note}" if note else ""})
    tags = [str(t) for t in incident["tags"] or []]
    covers = ((silences.c.scope == "journey") & (silences.c.value == incident["journey"])) | (
        (silences.c.scope == "tag") & silences.c.value.in_(tags))
    open_until = incident["resolved_at"] or now
    for s in conn.execute(select(silences).where(covers).order_by(silences.c.id)).mappings():
        end = s["ended_at"] or s["until"]
        if s["created_at"] > open_until or end < incident["opened_at"]:
            continue  # not while this incident was open
        what = f"{s['scope']} {s['value']} until {s['until']:%Y-%m-%d %H:%M} UTC" + (f" ({s['reason']})" if s["reason"] else "")
        out.append({"at": s["created_at"], "action": "silence", "by": s["created_by"], "via": None, "detail": what})
        if s["ended_at"] is not None:
            q = select(audit_log.c.actor, audit_log.c.via).where(audit_log.c.action == "silence.end",
                                                                 audit_log.c.target == f"silence:{s['id']}")
            ender = conn.execute(q).first()
            out.append({"at": s["ended_at"], "action": "silence_end", "by": ender[0] if ender else None,
                        "via": ender[1] if ender else None, "detail": f"{s['scope']} {s['value']}"})
        elif s["until"] <= now:
            out.append({"at": s["until"], "action": "silence_over", "by": None, "via": None, "detail": f"{s['scope']} {s['value']}"})
    return [dict(a) for a in sorted(out, key=lambda e: e["at"])]


def add_silence(conn: Connection, **values: object) -> int:
    return _new_id(conn, insert(silences).values(**values))


def live_silences(conn: Connection, now: datetime) -> list[Silence]:
    """Silences in force now, the soonest over first."""
    q = select(silences).where(silences.c.until > now, silences.c.ended_at.is_(None)).order_by(silences.c.until)
    return [Silence(id=r["id"], scope=r["scope"], value=r["value"], until=r["until"], reason=r["reason"],
                    created_by=r["created_by"], created_at=r["created_at"], ended_at=r["ended_at"])
            for r in conn.execute(q).mappings()]


def active_silences(conn: Connection, now: datetime) -> list[RowDict]:
    """``live_silences`` as the console shows them."""
    return [dict(s) for s in live_silences(conn, now)]


def end_silence(conn: Connection, silence_id: int, now: datetime) -> bool:
    res = conn.execute(update(silences).where(silences.c.id == silence_id, silences.c.ended_at.is_(None)).values(ended_at=now))
    return bool(res.rowcount)


# -- runs (read) ------------------------------------------------------------------------------------------
def recent_runs(conn: Connection, limit: int) -> Sequence[RowMapping]:
    q = (select(runs.c.id, runs.c.started_at, runs.c.status, runs.c.duration_ms, runs.c.schedule, runs.c.summary,
                runs.c.report_pruned_at).order_by(runs.c.started_at.desc(), runs.c.recorded_at.desc()).limit(limit))
    return conn.execute(q).mappings().all()


def last_run_per_schedule(conn: Connection) -> dict[str, RowDict]:
    """Each schedule's newest run (id, status, when)."""
    newest = (select(runs.c.schedule, func.max(runs.c.started_at).label("at")).where(runs.c.schedule.is_not(None))
              .group_by(runs.c.schedule).subquery())
    q = select(runs.c.id, runs.c.schedule, runs.c.status, runs.c.started_at).join(
        newest, (runs.c.schedule == newest.c.schedule) & (runs.c.started_at == newest.c.at))
    return {r["schedule"]: dict(r) for r in conn.execute(q).mappings()}

"""The state database's tables (SQLAlchemy Core). The schema is changed only by a
new migration in ``migrations/versions/``; this module must always describe the
schema at the newest migration (a test compares the two).

Times are stored as naive UTC and come back as aware UTC datetimes.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    Unicode,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every database."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the state store; use an aware UTC datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: object, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        dt = datetime.fromisoformat(value) if isinstance(value, str) else value  # str: defensive, raw SQLite text
        if not isinstance(dt, datetime):
            raise TypeError(f"the state store gave {type(dt).__name__}, not a date and time")
        return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


# One patrol run: its verdict, where its report is, a small summary.
runs = Table(
    "runs",
    metadata,
    Column("id", String(64), primary_key=True),  # RunResult.run_id
    Column("started_at", UTCDateTime, nullable=True),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("recorded_at", UTCDateTime, nullable=False),
    Column("status", String(16), nullable=False),
    Column("duration_ms", Float, nullable=True),
    Column("run_dir", Text, nullable=True),
    Column("report_path", Text, nullable=True),
    Column("summary", JSON, nullable=False),
    Column("schedule", String(128), nullable=True),  # the schedule that fired it (None: `patrol run`)
    # What retention removed: the screenshots, then the whole report folder.
    Column("screenshots_pruned_at", UTCDateTime, nullable=True),
    Column("report_pruned_at", UTCDateTime, nullable=True),
    Index("ix_runs_started_at", "started_at"),
)

# One attempt of one journey in a run (a confirmation rerun is attempt 2...).
journey_runs = Table(
    "journey_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(64), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("journey", String(255), nullable=False),
    Column("file", Text, nullable=True),
    Column("attempt", Integer, nullable=False),
    Column("latest", Boolean, nullable=False),  # the attempt that decides the run's verdict
    Column("target", String(16), nullable=False),
    Column("device", String(64), nullable=False),
    Column("tags", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    # healthy / failing / robot_error: what this attempt says about the app
    Column("outcome", String(16), nullable=False),
    Column("started_at", UTCDateTime, nullable=True),
    Column("duration_ms", Float, nullable=True),
    Column("robot_error", JSON, nullable=True),
    Column("fingerprints", JSON, nullable=False),
    Index("ix_journey_runs_history", "journey", "target", "device", "id"),
)

step_results = Table(
    "step_results",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("journey_run_id", Integer, ForeignKey("journey_runs.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("step_index", Integer, nullable=False),
    Column("name", String(255), nullable=False),
    Column("action", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("duration_ms", Float, nullable=True),
    Column("budget_ms", Float, nullable=True),
    Column("url", Text, nullable=True),
    Column("screenshot", Text, nullable=True),
    Column("findings", JSON, nullable=False),
    Column("vitals", JSON, nullable=True),  # a web step's Web Vitals (core/vitals.py), as in the report
)

incidents = Table(
    "incidents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("fingerprint", String(32), nullable=False, index=True),
    Column("status", String(16), nullable=False),  # open / resolved
    Column("journey", String(255), nullable=False),
    Column("journey_file", Text, nullable=True),
    Column("tags", JSON, nullable=False),
    Column("target", String(16), nullable=False),
    Column("device", String(64), nullable=False),
    Column("step_key", String(255), nullable=False),
    Column("step_index", Integer, nullable=False),
    Column("step_name", String(255), nullable=False),
    Column("action", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("reason", String(64), nullable=False),
    Column("severity", String(16), nullable=False),  # critical (the flow cannot go on) / warning
    Column("message", Text, nullable=False),
    Column("page_url", Text, nullable=True),
    Column("count", Integer, nullable=False),
    Column("healthy_streak", Integer, nullable=False),
    Column("opened_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("resolved_at", UTCDateTime, nullable=True),
    Column("resolved_by", String(32), nullable=True),  # auto / manual
    Column("resolve_note", Text, nullable=True),
    Column("first_run_id", String(64), nullable=True),
    Column("last_run_id", String(64), nullable=True),
    Column("last_notified_at", UTCDateTime, nullable=True),
    Column("evidence", JSON, nullable=False),  # the latest failure's evidence summary
    Column("previous_id", Integer, nullable=True),
    # Acknowledged from the console: someone is on it, so no more reminders.
    Column("acknowledged_at", UTCDateTime, nullable=True),
    Column("acknowledged_by", String(64), nullable=True),
    # Grouped by cause (patrol.causes): what it is about, and per affected journey its steps,
    # first/last seen, count and healthy streak. None: an incident about its one step.
    Column("cause", JSON, nullable=True),
    Column("affected", JSON, nullable=True),
    # At most one open incident per fingerprint, even with two writers.
    Index("uq_incidents_open_fingerprint", "fingerprint", unique=True,
          sqlite_where=text("status = 'open'"), postgresql_where=text("status = 'open'")),
)

# Per journey (and device): flapping state.
journey_state = Table(
    "journey_state",
    metadata,
    Column("key", String(400), primary_key=True),  # journey \x1f target \x1f device
    Column("journey", String(255), nullable=False),
    Column("flapping", Boolean, nullable=False),
    Column("flap_percent", Float, nullable=False),
    Column("flapping_since", UTCDateTime, nullable=True),
    Column("flapping_incident_id", Integer, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Per target (web / app): is the robot itself failing?
robot_state = Table(
    "robot_state",
    metadata,
    Column("target", String(16), primary_key=True),
    Column("failing", Boolean, nullable=False),
    Column("since", UTCDateTime, nullable=True),
    Column("detail", JSON, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Everything that happened: incident timeline entries and notified events.
events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("uid", String(40), nullable=False, unique=True),  # becomes webhook-id msg_<uid>
    Column("incident_id", Integer, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=True, index=True),
    Column("type", String(40), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("run_id", String(64), nullable=True),
    Column("journey", String(255), nullable=True),
    Column("notified", Boolean, nullable=False),
    Column("payload", JSON, nullable=False),
)

# The outbox: one row per (event, receiver), written with the event.
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", Integer, ForeignKey("events.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("receiver", String(128), nullable=False),
    Column("format", String(32), nullable=False),
    Column("stream", String(128), nullable=False),  # per-receiver ordering key (incident / robot target)
    Column("status", String(16), nullable=False),  # pending / sent / dead
    Column("attempts", Integer, nullable=False),
    Column("parts_done", Integer, nullable=False),  # multi-message formats (WeCom text + image)
    Column("created_at", UTCDateTime, nullable=False),
    Column("queued_at", UTCDateTime, nullable=False),  # max_age counts from here (reset by retry)
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("last_attempt_at", UTCDateTime, nullable=True),
    Column("sent_at", UTCDateTime, nullable=True),
    Column("lease_owner", String(200), nullable=True),
    Column("lease_until", UTCDateTime, nullable=True),
    Column("last_status", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Index("ix_deliveries_status_next", "status", "next_attempt_at"),
    Index("ix_deliveries_receiver_stream", "receiver", "stream", "id"),
)

# APScheduler's job store (``apscheduler.jobstores.sqlalchemy``): one row per job,
# its pickled state and next run time (epoch seconds). Declared here so migrations
# own it; APScheduler only creates it when missing.
SCHEDULE_JOBS_TABLE = "patrol_schedule_jobs"
schedule_jobs = Table(
    SCHEDULE_JOBS_TABLE,
    metadata,
    Column("id", Unicode(191), primary_key=True),
    Column("next_run_time", Float(25), index=True),
    Column("job_state", LargeBinary, nullable=False),
)

# -- the console (``patrol serve``) ------------------------------------------------------------
# People who may sign in; the password is an argon2 hash, never the password.
console_users = Table(
    "console_users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),  # viewer / approver / admin
    Column("password_hash", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# API tokens for scripts: only a SHA-256 of the token is kept, so a copy of the database is no key.
console_tokens = Table(
    "console_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("console_users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("name", String(64), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_used_at", UTCDateTime, nullable=True),
    Column("revoked_at", UTCDateTime, nullable=True),
)

# Signed-in sessions, server side (a sign-out or a removed user ends them at once); the id is a SHA-256 of the cookie.
console_sessions = Table(
    "console_sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("console_users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("csrf", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)

# Every change made through the console, its API or the console's CLI commands.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False, index=True),
    Column("actor", String(64), nullable=False),
    Column("via", String(16), nullable=False),  # page / api / cli
    Column("action", String(64), nullable=False),
    Column("target", Text, nullable=False),
    Column("detail", JSON, nullable=False),
)

# Every baseline approved from the console, with what it replaced (None: there was none), for undo.
baseline_history = Table(
    "baseline_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("journey", String(255), nullable=False),
    Column("baseline", String(255), nullable=False),
    Column("device", String(64), nullable=False),
    Column("run_id", String(64), nullable=True),
    Column("step_index", Integer, nullable=True),
    Column("previous_png", LargeBinary, nullable=True),
    Column("previous_env", JSON, nullable=True),
    Column("approved_sha256", String(64), nullable=False),
    Column("approved_by", String(64), nullable=False),
    Column("approved_at", UTCDateTime, nullable=False),
    Column("undone_by", String(64), nullable=True),
    Column("undone_at", UTCDateTime, nullable=True),
    Index("ix_baseline_history_screen", "journey", "baseline", "device", "id"),
)

# A journey or tag silenced until a time: incidents still open and record, nothing is sent.
silences = Table(
    "silences",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("scope", String(16), nullable=False),  # journey / tag
    Column("value", String(255), nullable=False),
    Column("until", UTCDateTime, nullable=False),
    Column("reason", Text, nullable=True),
    Column("created_by", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime, nullable=True),
)

# Maintenance windows: one-off (starts_at..ends_at) or recurring (cron + duration in a time zone).
maintenance_windows = Table(
    "maintenance_windows",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False),
    Column("scope", String(16), nullable=False),  # all / journey / tag
    Column("value", String(255), nullable=True),
    Column("starts_at", UTCDateTime, nullable=True),
    Column("ends_at", UTCDateTime, nullable=True),
    Column("cron", String(128), nullable=True),
    Column("duration_s", Float, nullable=True),
    Column("timezone", String(64), nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime, nullable=True),
)

# The fleet: one row per firing of one journey (key: schedule job, journey, fire time),
# claimed by one worker at a time with a lease it renews while the journey runs.
fleet_firings = Table(
    "fleet_firings",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("job_id", String(160), nullable=False),
    Column("schedule", String(128), nullable=False),
    Column("journey", String(255), nullable=False),
    Column("fire_time", UTCDateTime, nullable=False),
    Column("queue", String(80), nullable=False),
    Column("state", String(16), nullable=False),  # queued / running / finished / dropped
    Column("enqueued_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime, nullable=True),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("worker", String(255), nullable=True),
    Column("lease_until", UTCDateTime, nullable=True),
    Column("run_id", String(64), nullable=True),  # the current attempt's run; the finished run once finished
    Column("attempts", Integer, nullable=False),
    Index("ix_fleet_firings_journey_state", "journey", "state"),
    Index("ix_fleet_firings_state", "state"),
)

# Every attempt at a firing: finished, or interrupted (its worker was lost mid-journey).
fleet_attempts = Table(
    "fleet_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("firing_key", String(255), ForeignKey("fleet_firings.key", ondelete="CASCADE"), nullable=False, index=True),
    Column("attempt", Integer, nullable=False),
    Column("run_id", String(64), nullable=False),
    Column("worker", String(255), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime, nullable=True),
    Column("status", String(16), nullable=False),  # running / finished / interrupted / error
)

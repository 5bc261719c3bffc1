"""Incident policy: what a run means for incidents, decided without the database.

Every decision here reads values (the run's attempts, an incident as stored, the
journey's recent outcomes, the silences in force) and the policy's clock; the lifecycle
(``lifecycle.py``) reads those values from the store and writes what was decided, in one
transaction. So each rule can be tested with real values and a fixed clock:

- a failure opens an incident only if every attempt of the run showed it
  (``incidents.confirm`` reruns; 0: at once), and a rerun is due while it could still confirm;
- an open incident seen again is a repeat; it resolves once every journey it affects has
  been healthy ``resolve_after`` runs in a row (a run that stopped before its steps neither
  counts nor resets);
- a cause back within ``group_window`` of its incident's resolution reopens it;
- flapping starts and settles by the weighted state change of the journey's last runs;
- a reminder is due every ``remind_every`` for an open incident nobody acknowledged whose
  journey is not flapping;
- a console silence covers a journey by name or tag.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TypedDict

from ..config.incidents import IncidentSettings
from ..core.isotime import iso, utcnow
from ..core.vocabulary import IncidentStatus, Outcome, Status
from ..results import JourneyResult, RunResult
from ..secrets import MASKER
from ..store.incident_repo import IncidentRow, state_key  # a record and the key's format: no database here
from .fingerprint import Observation, observations
from .flapping import FlapChange, decide, percent_state_change
from .grouping import AffectedEntry, read_affected

if TYPE_CHECKING:
    from ..store.console_repo import Silence

JourneyFilter = list[tuple[str, list[str]]]  # (journey, tags): which receivers want an event


def outcome(j: JourneyResult) -> Outcome:
    """What an attempt says about the app."""
    if j.status == Status.ERROR:
        return Outcome.ROBOT_ERROR
    if j.status == Status.INTERRUPTED:
        return Outcome.INTERRUPTED
    return Outcome.FAILING if j.status == Status.FAILED or j.findings else Outcome.HEALTHY


def attempt_groups(run: RunResult) -> list[list[JourneyResult]]:
    """The run's attempts per journey, target and device, first attempt first."""
    groups: dict[tuple[str, str, str], list[JourneyResult]] = {}
    for j in run.journeys:
        groups.setdefault((j.name, j.target, j.device), []).append(j)
    return [sorted(g, key=lambda j: j.attempt) for g in groups.values()]


def affected_of(row: IncidentRow) -> list[AffectedEntry]:
    """The journeys and steps an incident affects; an incident about its one step (opened
    before grouping, or stored without it) affects its own journey and step."""
    if row["affected"]:
        return read_affected(row["affected"])
    return [AffectedEntry(journey=row["journey"], target=row["target"], device=row["device"], tags=list(row["tags"]),
                          steps=[{"index": row["step_index"], "key": row["step_key"], "name": row["step_name"],
                                  "reason": row["reason"]}],
                          first_seen=iso(row["opened_at"]), last_seen=iso(row["last_seen_at"]), count=row["count"],
                          healthy_streak=row["healthy_streak"], last_run_id=row["last_run_id"])]


def journey_filter(affected: Sequence[AffectedEntry]) -> JourneyFilter:
    """The journeys (with their tags) an incident is about, each once."""
    out: JourneyFilter = []
    for e in affected:
        if all(e["journey"] != name for name, _ in out):
            out.append((e["journey"], list(e["tags"])))
    return out


def healthy_for(entry: AffectedEntry, latest: JourneyResult) -> bool:
    """Whether this run shows the problem gone from one journey it affects: the
    journey passed, or it got as far as one of the incident's steps there and the
    problem was not there."""
    if latest.status == Status.PASSED and not latest.findings:
        return True
    keys = {s["key"] for s in entry["steps"]}
    return any(st.key in keys and st.status not in (Status.SKIPPED, Status.RUNNING) for st in latest.steps)


def count_healthy(affected: list[AffectedEntry], fresh: Mapping[str, object], ran: Mapping[str, JourneyResult]) -> bool:
    """Add this run's healthy run to each affected journey it shows healthy (one that ran and
    did not show the problem again, ``fresh``); whether any did."""
    healthier = False
    for entry in affected:
        key = state_key(entry["journey"], entry["target"], entry["device"])
        latest = ran.get(key)
        if key not in fresh and latest is not None and healthy_for(entry, latest):
            entry["healthy_streak"] += 1
            healthier = True
    return healthier


class RobotFailure(TypedDict):
    """A journey the robot could not run, as its robot.error notice names it."""

    name: str
    file: str | None
    tags: list[str]
    device: str
    reason: str
    message: str  # masked


@dataclass
class RunSplit:
    """A run's journeys by what their deciding attempt says: the robot failed (per target), or
    the app was judged (its journeys per target, their attempts); an interrupted one says nothing."""

    robot_failed: dict[str, list[RobotFailure]] = field(default_factory=dict)
    robot_ok: dict[str, list[JourneyResult]] = field(default_factory=dict)
    app_groups: list[list[JourneyResult]] = field(default_factory=list)


def split_run(groups: Sequence[list[JourneyResult]]) -> RunSplit:
    """``groups``: the run's attempts per journey (``attempt_groups``)."""
    out = RunSplit()
    for group in groups:
        latest = group[-1]
        said = outcome(latest)
        if said == Outcome.ROBOT_ERROR:
            err = latest.robot_error or {}
            out.robot_failed.setdefault(latest.target, []).append(RobotFailure(
                name=latest.name, file=latest.file, tags=list(latest.tags), device=latest.device,
                reason=str(err.get("reason") or "robot_error"), message=MASKER.mask(str(err.get("message") or "")),
            ))
        elif said != Outcome.INTERRUPTED:
            out.robot_ok.setdefault(latest.target, []).append(latest)
            out.app_groups.append(group)
    return out


@dataclass
class Triage:
    """The run's problems sorted against the open incidents."""

    seen: dict[str, list[Observation]] = field(default_factory=dict)  # fingerprint -> one per journey that showed it
    new: list[str] = field(default_factory=list)  # confirmed new fingerprints, in the order first seen
    unconfirmed: list[tuple[str, str]] = field(default_factory=list)  # (journey, fingerprint)


@dataclass(frozen=True)
class FlapReading:
    """A journey's flapping after this run: its weighted state change and what changes."""

    was: bool
    percent: float
    change: FlapChange | None

    @property
    def now(self) -> bool:
        return (self.was or self.change == FlapChange.STARTED) and self.change != FlapChange.STOPPED


class IncidentPolicy:
    """The rules of ``incidents:`` in patrol.yaml, over values; ``clock`` is the one time source."""

    def __init__(self, settings: IncidentSettings | None = None, clock: Callable[[], datetime] = utcnow) -> None:
        self.settings = settings or IncidentSettings()
        self.clock = clock

    def now(self) -> datetime:
        return self.clock()

    # -- confirmation ---------------------------------------------------------------------------
    def rerun_could_confirm(self, group: Sequence[JourneyResult]) -> set[str]:
        """The fingerprints a confirmation rerun of this journey could confirm: those every
        attempt so far showed, while the latest fails and reruns are left (empty: no rerun)."""
        confirm = self.settings.confirm
        if confirm <= 0 or not group:
            return set()
        if outcome(group[-1]) != Outcome.FAILING or len(group) >= 1 + confirm:
            return set()
        seen = [set(observations(a, self.settings.group_by)) for a in group]
        return set.intersection(*seen)

    def confirmed(self, fingerprint: str, attempts: Sequence[Mapping[str, Observation]]) -> bool:
        """Whether every attempt (as many as ``confirm`` asks for) showed this fingerprint."""
        confirm = self.settings.confirm
        return confirm == 0 or (len(attempts) >= 1 + confirm and all(fingerprint in o for o in attempts))

    def triage(self, app_groups: Sequence[Sequence[JourneyResult]], open_fingerprints: set[str]) -> Triage:
        """What each journey's latest attempt shows: a repeat of an open incident, a confirmed
        new problem, or a blip the confirmation did not reproduce."""
        out = Triage()
        for group in app_groups:
            latest = group[-1]
            obs_latest = observations(latest, self.settings.group_by)
            obs_all = [observations(a, self.settings.group_by) for a in group]
            for fp in sorted(set().union(*obs_all), key=lambda f: (f not in obs_latest, f)):
                ob = obs_latest.get(fp)
                if fp in open_fingerprints:
                    if ob is not None:
                        out.seen.setdefault(fp, []).append(ob)
                elif ob is not None and self.confirmed(fp, obs_all):
                    if fp not in out.seen:
                        out.new.append(fp)
                    out.seen.setdefault(fp, []).append(ob)
                else:
                    out.unconfirmed.append((latest.name, fp))
        return out

    # -- resolving and reopening ------------------------------------------------------------------
    def resolves(self, affected: Sequence[AffectedEntry], healthier: bool) -> bool:
        """Whether a healthy run resolves the incident: every journey it affects is healthy
        ``resolve_after`` runs in a row."""
        return healthier and min(e["healthy_streak"] for e in affected) >= self.settings.resolve_after

    def reopen_since(self, cause_key: object, now: datetime) -> datetime | None:
        """How far back a resolved incident with this cause is reopened rather than a new one
        opened (None: never, for a problem of the step itself or with ``group_window: 0``)."""
        if not cause_key or self.settings.group_window_s <= 0:
            return None
        return now - timedelta(seconds=self.settings.group_window_s)

    def reopens(self, cause_key: object, resolved_at: datetime | None, now: datetime) -> bool:
        since = self.reopen_since(cause_key, now)
        return since is not None and resolved_at is not None and resolved_at >= since

    # -- flapping -----------------------------------------------------------------------------------
    def flapping(self, was: bool, recent: Sequence[Outcome]) -> FlapReading:
        """``recent``: the journey's last verdicts, newest first (this run's included)."""
        window = self.settings.flapping
        percent = percent_state_change([o == Outcome.FAILING for o in reversed(recent)], window.window)
        return FlapReading(was, percent, decide(was, percent, window.start, window.stop))

    # -- reminders ------------------------------------------------------------------------------------
    def reminder_cutoff(self, now: datetime) -> datetime | None:
        """Incidents last notified at or before this are due a reminder (None: reminders off)."""
        every = self.settings.remind_every_s
        return now - timedelta(seconds=every) if every else None

    def reminder_due(self, row: IncidentRow, *, flapping: bool, now: datetime) -> bool:
        """An open incident last notified ``remind_every`` ago, that nobody acknowledged (in
        the console) and whose journey is not flapping (its notices are paused)."""
        cutoff = self.reminder_cutoff(now)
        last = row["last_notified_at"]
        return (cutoff is not None and row["status"] == IncidentStatus.OPEN and last is not None and last <= cutoff
                and row["acknowledged_at"] is None and not flapping)

    # -- silences ---------------------------------------------------------------------------------------
    @staticmethod
    def silenced(silences: Sequence[Silence], journeys: JourneyFilter, now: datetime, *, every: bool = False) -> bool:
        """Whether a silence in force covers one of these journeys (by name or tag), or with
        ``every``, all of them (an incident still pages for the journeys nobody silenced)."""
        active = [s for s in silences if s["until"] > now and s["ended_at"] is None]
        if not active or not journeys:
            return False
        covered = [any((s["scope"] == "journey" and s["value"] == name) or (s["scope"] == "tag" and s["value"] in tags)
                       for s in active) for name, tags in journeys]
        return all(covered) if every else any(covered)

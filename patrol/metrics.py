"""Prometheus metrics for the backend monitoring Patrol complements, with the official
client library (``prometheus_client``). ``patrol schedule --metrics-port P`` serves
them at ``http://HOST:P/metrics``; in a fleet, ``patrol worker --metrics-port P`` too.

Series (all prefixed ``patrol_``):

====================================================  ========================================================
``patrol_runs_total{schedule,status}``                runs by outcome: passed / failed / error
``patrol_journey_runs_total{journey,status}``         journey attempts by outcome (passed / failed / error / interrupted)
``patrol_findings_total{journey,kind,reason}``        findings (breakpoint / stall / render)
``patrol_step_duration_seconds{journey,step}``        histogram of step durations
``patrol_journey_duration_seconds{journey}``          histogram of journey durations
``patrol_step_web_vital_seconds{journey,step,vital}`` histogram of web steps' Web Vitals: lcp, fcp, ttfb (steps that
                                                      opened a page), inp (steps with a timed interaction)
``patrol_step_layout_shift{journey,step}``            histogram of web steps' cumulative layout shift (CLS)
``patrol_journey_last_run_timestamp_seconds``         per journey: when it last ran (Unix time)
``patrol_journey_last_success_timestamp_seconds``     per journey: when it last passed; alert on ``time() - this``
``patrol_open_incidents{journey,kind,severity}``      open incidents (read from the state database at scrape time)
``patrol_pending_deliveries{receiver}``               notifications waiting to be sent (outbox, at scrape time)
``patrol_dead_deliveries{receiver}``                  notifications given up on (``patrol deliveries retry``)
``patrol_schedule_firings_total{schedule,result}``    firings: ran / skipped_overlap / missed / failed; in a fleet
                                                      sent / skipped_overlap / duplicate / missed / failed (a firing
                                                      counts once under each result its journeys had)
``patrol_schedule_next_fire_timestamp_seconds``       per schedule: its next firing (Unix time)
``patrol_running_journeys``                           journeys running now
``patrol_robot_errors_total{target,reason}``          the robot's own failures (browser crashed...)
``patrol_browser_restarts_total{target,why}``         engine restarts: crashed / recycled
``patrol_state_database_up``                          1 when the state database answered the last scrape
``patrol_build_info{version}``                        always 1
====================================================  ========================================================

A fleet adds (the runner series above come from the workers, which run the journeys;
incidents, the outbox and the firings from the schedulers):

====================================================  ========================================================
``patrol_fleet_leader``                               scheduler: 1 while it leads (fires), 0 on standby
``patrol_fleet_tasks_total{queue,verdict}``           worker: tasks taken: ran / done (its firing had its run) /
                                                      busy (another worker holds it) / unknown (no such journey
                                                      here) / error (the robot broke down)
``patrol_fleet_queue_wait_seconds{queue}``            worker: histogram, from the scheduler sending a firing to a
                                                      worker starting its journey (a redelivered or retried task
                                                      counts from its first sending)
``patrol_fleet_task_duration_seconds{queue}``         worker: histogram of a started journey's whole task (run,
                                                      confirmation reruns, reports, incidents)
``patrol_fleet_tasks_running``                        worker: tasks it runs now
``patrol_fleet_interrupted_attempts_total``           worker: attempts it found cut short by a lost worker
                                                      (recorded ``interrupted``, the firing run again)
====================================================  ========================================================

Labels stay bounded: queue names (``web``, ``app``, ``app:<device>``), never firing keys.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric

from . import __version__
from .core.vocabulary import DeliveryStatus, Status
from .results import JourneyResult, RunResult, StepResult
from .runner import Listener
from .store import incident_repo

if TYPE_CHECKING:
    from .journey.model import Journey
    from .store import Store

STEP_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 7.5, 10, 15, 30, 60, float("inf"))
JOURNEY_BUCKETS = (1, 2.5, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600, float("inf"))
# Web Vitals: around the lines Google draws between good, needs improvement and poor.
VITAL_BUCKETS = (0.05, 0.1, 0.2, 0.5, 0.8, 1, 1.8, 2.5, 3, 4, 6, 10, 20, float("inf"))
SHIFT_BUCKETS = (0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, float("inf"))
VITALS = ("lcp", "fcp", "ttfb", "inp")
# Seconds to hours: a healthy fleet starts a task within a second or two; a task redelivered
# after a lost worker waits out the visibility timeout (default 2 h).
QUEUE_WAIT_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, float("inf"))


class FiringResult(StrEnum):
    """What became of one schedule firing (``patrol_schedule_firings_total{result}``)."""

    RAN = "ran"
    SENT = "sent"  # fleet: its journeys' tasks went to the workers' queues
    SKIPPED_OVERLAP = "skipped_overlap"  # its journeys were still running (in a fleet: waiting or running) from an earlier firing
    DUPLICATE = "duplicate"  # fleet: this slot was sent already (by a dying leader, or a restarted scheduler)
    MISSED = "missed"  # later than its grace time
    FAILED = "failed"  # the firing itself broke (not its journeys); in a fleet also: the broker refused a task


class StateCollector:
    """Open incidents and the outbox, read from the state database when scraped
    (cached briefly, so a busy Prometheus does not hammer the database)."""

    def __init__(self, store: Store, ttl: float = 5.0) -> None:
        self.store = store
        self.ttl = ttl
        self._lock = threading.Lock()
        self._cached: tuple[float, list[Metric], int] | None = None

    def describe(self) -> list[Metric]:
        return []  # collected at scrape time only

    def _read(self) -> list[Metric]:
        with self.store.read() as conn:
            inc = incident_repo.open_counts(conn)
            dels = incident_repo.delivery_backlog(conn)
        open_ = GaugeMetricFamily("patrol_open_incidents", "Open incidents by journey, kind and severity",
                                  labels=["journey", "kind", "severity"])
        for journey, kind, sev, n in inc:
            open_.add_metric([journey, kind, sev], n)
        pending = GaugeMetricFamily("patrol_pending_deliveries", "Notification deliveries waiting to be sent", labels=["receiver"])
        dead = GaugeMetricFamily("patrol_dead_deliveries", "Notification deliveries given up on", labels=["receiver"])
        for receiver, status, n in dels:
            (pending if status == DeliveryStatus.PENDING else dead).add_metric([receiver], n)
        return [open_, pending, dead]

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            now = time.monotonic()
            if self._cached is None or now - self._cached[0] > self.ttl:
                try:
                    families, up = self._read(), 1
                except Exception:
                    families, up = [], 0
                self._cached = (now, families, up)
            _, families, up = self._cached
        yield from families
        yield GaugeMetricFamily("patrol_state_database_up", "1 when the state database answered", value=up)


class Metrics(Listener):
    """The registry, and a runner listener that feeds it."""

    def __init__(self, store: Store | None = None, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.runs = Counter("patrol_runs", "Patrol runs by outcome", ["schedule", "status"], registry=r)
        self.journeys = Counter("patrol_journey_runs", "Journey attempts by outcome", ["journey", "status"], registry=r)
        self.findings = Counter("patrol_findings", "Findings by journey, kind and reason", ["journey", "kind", "reason"], registry=r)
        self.step_duration = Histogram("patrol_step_duration_seconds", "Step durations", ["journey", "step"],
                                       buckets=STEP_BUCKETS, registry=r)
        self.journey_duration = Histogram("patrol_journey_duration_seconds", "Journey durations", ["journey"],
                                          buckets=JOURNEY_BUCKETS, registry=r)
        self.web_vital = Histogram("patrol_step_web_vital_seconds", "Web Vitals of web steps (lcp, fcp, ttfb, inp)",
                                   ["journey", "step", "vital"], buckets=VITAL_BUCKETS, registry=r)
        self.layout_shift = Histogram("patrol_step_layout_shift", "Cumulative layout shift of web steps",
                                      ["journey", "step"], buckets=SHIFT_BUCKETS, registry=r)
        self.last_run = Gauge("patrol_journey_last_run_timestamp_seconds", "When the journey last ran", ["journey"], registry=r)
        self.last_success = Gauge("patrol_journey_last_success_timestamp_seconds", "When the journey last passed",
                                  ["journey"], registry=r)
        self.firings = Counter("patrol_schedule_firings", "Schedule firings by result", ["schedule", "result"], registry=r)
        self.next_fire = Gauge("patrol_schedule_next_fire_timestamp_seconds", "Next firing of the schedule", ["schedule"],
                               registry=r)
        self.running = Gauge("patrol_running_journeys", "Journeys running now", registry=r)
        self.robot_errors = Counter("patrol_robot_errors", "The robot's own failures", ["target", "reason"], registry=r)
        self.restarts = Counter("patrol_browser_restarts", "Engine (browser) restarts", ["target", "why"], registry=r)
        info = Gauge("patrol_build_info", "Patrol's version", ["version"], registry=r)
        info.labels(__version__).set(1)
        if store is not None:
            r.register(StateCollector(store))
        self._stepped: dict[int, set[int]] = {}
        self._leader: Gauge | None = None
        self._leader_lock = threading.Lock()

    # -- runner listener -------------------------------------------------------------
    def journey_started(self, journey: Journey, result: JourneyResult) -> None:
        self.running.inc()

    def step_finished(self, journey: Journey, result: JourneyResult, step: StepResult) -> None:
        self._stepped.setdefault(id(result), set()).add(step.index)
        if step.status != Status.SKIPPED and step.duration_ms is not None:
            self.step_duration.labels(result.name, step.key).observe(step.duration_ms / 1000)
        self._vitals(result.name, step)
        for f in step.findings:
            self.findings.labels(result.name, f.kind, f.reason).inc()

    def _vitals(self, journey: str, step: StepResult) -> None:
        vitals = step.artifacts.get("vitals")
        if not isinstance(vitals, dict):
            return
        for vital in VITALS:
            value = vitals.get(f"{vital}_ms")
            if isinstance(value, (int, float)):
                self.web_vital.labels(journey, step.key, vital).observe(value / 1000)
        if isinstance(vitals.get("cls"), (int, float)):
            self.layout_shift.labels(journey, step.key).observe(vitals["cls"])

    def journey_finished(self, journey: Journey, result: JourneyResult) -> None:
        if result.started_at is not None:
            self.running.dec()
        self.journeys.labels(result.name, result.status).inc()
        now = time.time()
        if result.started_at is not None:
            self.last_run.labels(result.name).set(now)
            if result.duration_ms is not None:
                self.journey_duration.labels(result.name).observe(result.duration_ms / 1000)
        if result.status == Status.PASSED and not result.findings:
            self.last_success.labels(result.name).set(now)
        if result.robot_error:
            self.robot_errors.labels(result.target, str(result.robot_error.get("reason") or "robot_error")).inc()
        # Findings added when the journey was cut off (a timeout) belong to a step that never "finished".
        seen = self._stepped.pop(id(result), set())
        for step in result.steps:
            if step.index not in seen:
                for f in step.findings:
                    self.findings.labels(result.name, f.kind, f.reason).inc()

    def run_recorded(self, run: RunResult, schedule: str | None) -> None:
        self.runs.labels(schedule or "", run.status).inc()

    def firing(self, schedule: str, result: FiringResult) -> None:
        self.firings.labels(schedule, result).inc()

    def leading(self, leads: bool) -> None:
        """Fleet: whether this scheduler leads. The series appears once a fleet scheduler
        says so (a scheduler without a fleet has no leader to show)."""
        with self._leader_lock:
            if self._leader is None:
                self._leader = Gauge("patrol_fleet_leader", "1 while this scheduler leads the fleet, 0 on standby",
                                     registry=self.registry)
        self._leader.set(1 if leads else 0)

    def restarted(self, target: str, why: str) -> None:
        self.restarts.labels(target, why).inc()

    def scheduled(self, schedule: str, when: datetime | None) -> None:
        if when is None:
            try:
                self.next_fire.remove(schedule)  # paused: no next firing
            except KeyError:
                pass
        else:
            self.next_fire.labels(schedule).set(when.timestamp())


class WorkerMetrics(Metrics):
    """``patrol worker``: the runner series of the journeys it runs, and its tasks'."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        # No state collector: incidents and the outbox are the schedulers' to show (a
        # dozen workers showing them too would count every incident a dozen times in a sum).
        super().__init__(None, registry)
        r = self.registry
        self.tasks = Counter("patrol_fleet_tasks", "Fleet tasks taken, by queue and verdict", ["queue", "verdict"],
                             registry=r)
        self.queue_wait = Histogram("patrol_fleet_queue_wait_seconds", "From sending a firing to starting its journey",
                                    ["queue"], buckets=QUEUE_WAIT_BUCKETS, registry=r)
        self.task_duration = Histogram("patrol_fleet_task_duration_seconds", "Tasks that ran a journey, start to end",
                                       ["queue"], buckets=JOURNEY_BUCKETS, registry=r)
        self.tasks_running = Gauge("patrol_fleet_tasks_running", "Fleet tasks running now", registry=r)
        self.interrupted = Counter("patrol_fleet_interrupted_attempts",
                                   "Attempts found cut short by a lost worker (recorded interrupted)", registry=r)

    def task_done(self, queue: str, verdict: str) -> None:
        self.tasks.labels(queue, verdict).inc()

    def waited(self, queue: str, seconds: float) -> None:
        # Clocks of two machines differ a little: a wait is never negative.
        self.queue_wait.labels(queue).observe(max(0.0, seconds))

    def task_took(self, queue: str, seconds: float) -> None:
        self.task_duration.labels(queue).observe(seconds)

    def found_interrupted(self, count: int) -> None:
        if count:
            self.interrupted.inc(count)

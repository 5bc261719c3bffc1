"""The outbox dispatcher: sends pending deliveries, in order per incident and
receiver, with exponential backoff and jitter, ``Retry-After``, per-receiver rate
limits and leases (several dispatchers may run at once; a crashed one's rows are
taken over).

Rules:
- 2xx (and, for the group-robot formats, ``errcode`` 0) -> sent.
- 4xx other than 408 and 429, or a refusal the format calls permanent -> dead,
  with the answer kept; ``patrol deliveries retry ID`` re-queues it.
- anything else (5xx, 408, 429, 3xx, timeouts, refused connections) -> retried
  after ``backoff * 2^(attempt-1)`` (equal jitter, at most ``max_backoff``) or after
  ``Retry-After`` when the receiver says so, until the delivery is ``max_age`` old;
  then dead.

Reusable by a scheduler: ``Dispatcher.run_once()`` sends what is due now;
``run_forever(stop_event)`` keeps doing so until the event is set; ``flush(timeout)``
is what ``patrol run`` does before exiting.
"""

from __future__ import annotations

import os
import random
import secrets as _random
import socket
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from email.utils import parsedate_to_datetime
from enum import StrEnum

import httpx

from ..config.escalation import EscalationSettings
from ..config.incidents import DeliverySettings
from ..core.clock import SYSTEM_CLOCK, Clock, SystemClock
from ..maintenance.settings import MaintenanceSpec
from ..maintenance.storage import held as held_rows
from ..maintenance.windows import release
from ..secrets import MASKER
from ..store import Store
from ..store import outbox_repo as repo
from ..store.outbox_repo import Attempt, Delivery
from .escalation import Action, TimedDeliveries
from .formats import FORMATS, Context, Request, Verdict
from .receivers import Receiver
from .text import Doc

LEASE_GRACE_S = 30.0
MAX_ANSWER = 600


class SendResult(StrEnum):
    """What became of one delivery this round."""

    DONE = "done"  # sent, given up on, or another dispatcher has it
    FAILED = "failed"  # to be retried later
    DEFERRED = "deferred"  # a rate limit holds it: the next round sends it


class _WallOnly(SystemClock):
    """A plain ``() -> datetime`` (the incident service's clock) for wall time; the
    system clock for intervals and sleeps."""

    def __init__(self, wall: Callable[[], datetime]):
        self._wall = wall

    def now(self) -> datetime:
        return self._wall()


def as_clock(clock: Clock | Callable[[], datetime]) -> Clock:
    return clock if isinstance(clock, Clock) else _WallOnly(clock)


@dataclass
class DispatchStats:
    sent: int = 0
    retrying: int = 0  # failed attempts that will be retried
    dead: int = 0
    deferred: int = 0  # held back by a rate limit
    errors: list[str] = field(default_factory=list)  # one line per failed attempt (masked)
    pending: int = 0  # still pending after the flush

    def add(self, other: DispatchStats) -> None:
        self.sent += other.sent
        self.retrying += other.retrying
        self.dead += other.dead
        self.deferred += other.deferred
        self.errors += other.errors

    @property
    def progress(self) -> int:
        return self.sent + self.retrying + self.dead


class RateLimiter:
    """Sliding window: at most ``count`` requests in any ``per`` seconds."""

    def __init__(self, count: int, per: float, seeds: list[float] | None = None) -> None:
        self.count, self.per = count, per
        self.sent: deque[float] = deque(sorted(seeds or [])[-count:])
        self.lock = threading.Lock()

    def wait_time(self, now: float) -> float:
        with self.lock:
            while self.sent and self.sent[0] <= now - self.per:
                self.sent.popleft()
            if len(self.sent) < self.count:
                return 0.0
            return self.sent[0] + self.per - now

    def record(self, now: float) -> None:
        with self.lock:
            self.sent.append(now)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Dispatcher:
    def __init__(
        self,
        store: Store,
        receivers: dict[str, Receiver],
        settings: DeliverySettings | None = None,
        *,
        tz: tzinfo = UTC,
        clock: Clock | Callable[[], datetime] = SYSTEM_CLOCK,
        transport: httpx.BaseTransport | None = None,
        maintenance: tuple[MaintenanceSpec, ...] | None = (),
        escalation: EscalationSettings | None = None,
    ) -> None:
        self.store = store
        # Escalation levels, re-notifications and re-sends: deliveries that wait for their time.
        self.timed = TimedDeliveries(escalation, maintenance)
        # Windows from patrol.yaml (the console's are read from the database each round); None: not consulted.
        self.maintenance = maintenance
        self.receivers = receivers
        self.settings = settings or DeliverySettings()
        self.tz = tz
        # Wall time (queued/next attempt, Retry-After dates, max age), intervals and
        # sleeps (flush deadline, rate limits, backoff waits): all from one clock.
        self.time = as_clock(clock)
        self.clock: Callable[[], datetime] = self.time.now
        self.transport = transport
        self.host = socket.gethostname()
        self.owner = f"{self.host}:{os.getpid()}:{_random.token_hex(4)}"
        self._limiters: dict[str, RateLimiter] = {}
        self._limiter_lock = threading.Lock()
        self._client: httpx.Client | None = None
        # Receivers that asked us to wait (Retry-After): name -> not before.
        self._paused: dict[str, datetime] = {}

    # -- selection -----------------------------------------------------------------------
    def _lease_free(self, row: Delivery, now: datetime) -> bool:
        if row.lease_owner is None or row.lease_owner == self.owner:
            return True
        if row.lease_until is None or row.lease_until <= now:
            return True
        host, _, rest = row.lease_owner.partition(":")
        pid = rest.split(":", 1)[0]
        # The process that leased it on this machine is gone (killed, crashed): take over.
        return host == self.host and pid.isdigit() and not _pid_alive(int(pid))

    def _due(self, now: datetime, receiver: str | None = None) -> list[Delivery]:
        """Heads of their streams (order per incident) that may be tried now."""
        with self.store.read() as conn:
            rows = repo.heads(conn, receiver)
        return [r for r in rows if r.next_attempt_at <= now and self._lease_free(r, now)
                and self._paused.get(r.receiver, now) <= now]

    def next_due(self) -> datetime | None:
        """When the next pending delivery may be tried (None: nothing pending)."""
        now = self.clock()
        with self.store.read() as conn:
            rows = repo.heads(conn)
        times = []
        for r in rows:
            t = r.next_attempt_at
            if not self._lease_free(r, now) and r.lease_until is not None:
                t = max(t, r.lease_until)
            t = max(t, self._paused.get(r.receiver, t))
            times.append(t)
        return min(times) if times else None

    def pending_count(self) -> int:
        """Pending deliveries, leaving out those scheduled on purpose (escalation levels, re-sends)."""
        with self.store.read() as conn:
            return repo.pending_count(conn, scheduled=False)

    # -- rate limits -----------------------------------------------------------------------
    def _limiter(self, receiver: Receiver) -> RateLimiter | None:
        if not receiver.rate_limit:
            return None
        with self._limiter_lock:
            lim = self._limiters.get(receiver.name)
            if lim is None:
                count, per = receiver.rate_limit
                since = self.clock() - timedelta(seconds=per)
                with self.store.read() as conn:
                    seeds = repo.attempts_since(conn, receiver.name, since)
                # The limiter counts on the monotonic clock; the rows hold wall times.
                offset = self.time.monotonic() - self.clock().timestamp()
                lim = RateLimiter(count, per, [s.timestamp() + offset for s in seeds])
                self._limiters[receiver.name] = lim
            return lim

    # -- one delivery ------------------------------------------------------------------------
    def _claim(self, row: Delivery, now: datetime, receiver: Receiver | None) -> bool:
        parts = 2 if receiver is not None and receiver.format == "wecom" else 1
        timeout = receiver.timeout_s if receiver else 5.0
        until = now + timedelta(seconds=timeout * parts + LEASE_GRACE_S)
        with self.store.write() as conn:  # one transaction: read-and-lease is atomic
            return repo.claim(conn, row, self.owner, until)

    def _dead(self, row_id: int, error: str, attempt: Attempt | None = None) -> None:
        with self.store.write() as conn:
            repo.mark_dead(conn, row_id, self.owner, error, attempt)

    def _backoff(self, attempts: int) -> float:
        s = self.settings
        delay = min(float(s.max_backoff_s), s.backoff_s * (2.0 ** max(0, attempts - 1)))
        return delay / 2 + random.uniform(0, delay / 2)  # equal jitter

    def _send_one(self, row: Delivery, client: httpx.Client, deadline: float | None, stats: DispatchStats) -> SendResult:
        now = self.clock()
        receiver = self.receivers.get(row.receiver)
        if not self._claim(row, now, receiver):
            return SendResult.DONE  # someone else has it
        if receiver is None:
            self._dead(row.id, f"receiver {row.receiver!r} is no longer in patrol.yaml")
            stats.dead += 1
            return SendResult.DONE
        fmt = FORMATS[receiver.format]
        with self.store.read() as conn:
            doc = repo.event_payload(conn, row.event_id)
            plan = self.timed.plan(conn, row, receiver, doc, now) if self.timed.concerns(row, receiver, fmt) else None
        if plan is not None:
            if plan.action != Action.SEND or plan.doc is None:
                with self.store.write() as conn:
                    if plan.action == Action.WAIT and plan.until is not None:
                        repo.reschedule(conn, row.id, self.owner, plan.until, plan.note)
                    else:
                        repo.finish(conn, row.id, self.owner, plan.note)
                return SendResult.DONE
            doc = plan.doc
        try:
            reqs = fmt.requests(doc, receiver, Context(tz=self.tz, now=self.clock))
        except Exception as e:  # a bug or a broken document: retrying will not help
            self._dead(row.id, MASKER.mask(f"could not build the message: {type(e).__name__}: {e}"))
            stats.dead += 1
            return SendResult.DONE
        sent = self._send_parts(row, receiver, reqs, client, deadline)
        if sent is None:
            stats.deferred += 1
            return SendResult.DEFERRED
        verdict, status_code, parts_done = sent
        return self._conclude(row, receiver, verdict, status_code, parts_done, stats, doc)

    def _send_parts(self, row: Delivery, receiver: Receiver, reqs: list[Request], client: httpx.Client,
                    deadline: float | None) -> tuple[Verdict, int | None, int] | None:
        """Post the parts not sent yet; None when a rate limit defers the rest."""
        limiter = self._limiter(receiver)
        parts_done: int = row.parts_done
        verdict, status_code = Verdict(True), None
        for req in reqs[parts_done:]:
            if limiter is not None:
                wait = limiter.wait_time(self.time.monotonic())
                if wait > 0:
                    if deadline is not None and self.time.monotonic() + wait > deadline:
                        with self.store.write() as conn:
                            repo.release(conn, row.id, self.owner, parts_done)
                        return None
                    self.time.sleep(wait)
                limiter.record(self.time.monotonic())
            timeout = receiver.timeout_s
            if deadline is not None:
                timeout = min(timeout, max(1.0, deadline - self.time.monotonic()))
            verdict, status_code = self._post(client, receiver, req, timeout)
            if not verdict.ok:
                break
            parts_done += 1
            if parts_done < len(reqs):
                self._progress(row.id, parts_done)  # a crash now does not resend this part
        return verdict, status_code, parts_done

    def _conclude(self, row: Delivery, receiver: Receiver, verdict: Verdict, status_code: int | None, parts_done: int,
                  stats: DispatchStats, doc: Doc | None = None) -> SendResult:
        now = self.clock()
        attempts = row.attempts + 1
        attempt = Attempt(attempts=attempts, at=now, status_code=status_code, parts_done=parts_done)
        if verdict.ok:
            fmt = FORMATS[receiver.format]
            again = self.timed.next_round(row, receiver, fmt, now)
            with self.store.write() as conn:
                if again is not None:  # a re-send or re-notification: pending again, for its next round
                    repo.reschedule(conn, row.id, self.owner, again[0], again[1], attempt)
                else:
                    repo.mark_sent(conn, row.id, self.owner, attempt)
                if doc is not None and self.timed.concerns(row, receiver, fmt):
                    self.timed.after_sent(conn, row, receiver, fmt, doc, now)
            stats.sent += 1
            return SendResult.DONE
        error = MASKER.mask((verdict.error or "failed")[:MAX_ANSWER])
        stats.errors.append(f"{receiver.name}: {error}")
        age = (now - row.queued_at).total_seconds()
        if verdict.permanent:
            self._dead(row.id, error, attempt)
            stats.dead += 1
            return SendResult.DONE
        if age >= self.settings.max_age_s:
            self._dead(row.id, f"gave up after {attempts} attempts over {age:.0f}s: {error}", attempt)
            stats.dead += 1
            return SendResult.DONE
        delay = verdict.retry_after if verdict.retry_after is not None else self._backoff(attempts)
        next_at = min(now + timedelta(seconds=delay), row.queued_at + timedelta(seconds=self.settings.max_age_s))
        if verdict.retry_after is not None:
            self._paused[receiver.name] = next_at  # the receiver said so: all its messages wait
        with self.store.write() as conn:
            repo.mark_retry(conn, row.id, self.owner, attempt, error, next_at)
        stats.retrying += 1
        return SendResult.FAILED

    def _progress(self, row_id: int, parts_done: int) -> None:
        with self.store.write() as conn:
            repo.save_progress(conn, row_id, self.owner, parts_done)

    def _post(self, client: httpx.Client, receiver: Receiver, req: Request, timeout: float) -> tuple[Verdict, int | None]:
        fmt = FORMATS[receiver.format]
        try:
            resp = client.post(req.url, content=req.body, headers=req.headers, timeout=timeout)
        except httpx.TimeoutException as e:
            return Verdict(False, error=f"no answer within {timeout:.1f}s ({type(e).__name__})"), None
        except httpx.HTTPError as e:
            return Verdict(False, error=f"could not reach the receiver: {type(e).__name__}: {e}"), None
        code = resp.status_code
        body = resp.content[:2000]
        if 200 <= code < 300:
            v = fmt.judge(code, body)
            return v, code
        answer = f"HTTP {code}: {body[:300].decode('utf-8', 'replace').strip()}".strip()
        retry_after = parse_retry_after(resp.headers.get("retry-after"), self.clock())
        if 400 <= code < 500 and code not in (408, 429):
            return Verdict(False, permanent=True, error=answer), code
        return Verdict(False, error=answer, retry_after=retry_after), code

    # -- loops ---------------------------------------------------------------------------------
    def _work_receiver(self, name: str, deadline: float | None) -> DispatchStats:
        stats = DispatchStats()
        tried: set[int] = set()
        client = self._http()
        while deadline is None or self.time.monotonic() < deadline:
            # Oldest first, one at a time: a receiver gets events in the order they
            # happened (strictly so per incident; blocked incidents do not hold up others).
            row = next((r for r in self._due(self.clock(), name) if r.id not in tried), None)
            if row is None:
                break
            tried.add(row.id)
            if self._send_one(row, client, deadline, stats) in (SendResult.DEFERRED, SendResult.FAILED):
                # Rate-limited, down or failing: its other messages wait for the next round
                # (a hanging receiver costs one timeout per round, not one per message).
                break
        return stats

    def _http(self) -> httpx.Client:
        # One client (connection pool, TLS context) shared by the receiver threads.
        with self._limiter_lock:
            if self._client is None:
                self._client = httpx.Client(transport=self.transport, follow_redirects=False)
            return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def release_held(self, now: datetime) -> int:
        """Messages held by a maintenance window that has ended: one per stream becomes due."""
        if self.maintenance is None:
            return 0
        with self.store.read() as conn:
            if not any(r["next_attempt_at"] <= now for r in held_rows(conn)):
                return 0
        with self.store.write() as conn:
            return release(conn, self.maintenance, now)

    def run_once(self, deadline: float | None = None) -> DispatchStats:
        """Try every delivery that is due now (once each), receivers in parallel."""
        now = self.clock()
        self.release_held(now)  # with the same "now" as the selection: nothing held slips through uncollapsed
        due = self._due(now)
        names = sorted({r.receiver for r in due})
        total = DispatchStats()
        if not names:
            return total
        with ThreadPoolExecutor(max_workers=min(8, len(names)), thread_name_prefix="patrol-notify") as pool:
            for s in pool.map(lambda n: self._work_receiver(n, deadline), names):
                total.add(s)
        return total

    def flush(self, timeout: float | None = None) -> DispatchStats:
        """Send what can be sent within ``timeout`` seconds (retries included)."""
        timeout = self.settings.flush_timeout_s if timeout is None else timeout
        clock = self.time
        deadline = clock.monotonic() + timeout
        total = DispatchStats()
        while clock.monotonic() < deadline:
            stats = self.run_once(deadline)
            total.add(stats)
            if stats.deferred and not stats.progress:
                break
            nxt = self.next_due()
            if nxt is None:
                break
            wait = (nxt - self.clock()).total_seconds()
            if clock.monotonic() + max(wait, 0) >= deadline:
                break
            clock.sleep(min(max(wait, 0.05), max(0.0, deadline - clock.monotonic())))
        total.pending = self.pending_count()
        return total

    def __enter__(self) -> Dispatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run_forever(self, stop: threading.Event, idle: float = 5.0) -> None:
        """Deliver until ``stop`` is set (for a long-running scheduler)."""
        while not stop.is_set():
            try:
                self.run_once(self.time.monotonic() + max(idle, 1.0))
                nxt = self.next_due()
            except Exception:  # the database blinked: try again later rather than die
                nxt = None
            wait = idle if nxt is None else min(idle, max(0.05, (nxt - self.clock()).total_seconds()))
            self.time.wait(stop, wait)
        self.close()

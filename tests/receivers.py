"""Test helpers for incidents and notifications.

``ReceiverServer``: a real HTTP server on 127.0.0.1 that records what Patrol's
notifiers send and answers as scripted (status, body, headers, delay, hold), so
the tests exercise real sockets, real timeouts and real signatures - never a
mocked HTTP client. It can be stopped and started again on the same port
("the receiver is down").

``make_run`` / ``journey``: synthetic ``RunResult`` objects for lifecycle tests.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from patrol.results import BREAKPOINT, ERROR, FAILED, PASSED, SKIPPED, Finding, JourneyResult, RunResult, StepResult

OK_BODY = b'{"errcode":0,"errmsg":"ok","code":0}'


@dataclass
class Answer:
    status: int = 200
    body: bytes = OK_BODY
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (a hang past the client's timeout)
    hold: threading.Event | None = None  # answer only once this is set (or 60 s)


@dataclass
class Received:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    at: float
    answered: int | None = None  # status sent back (None: client was gone / held)

    @property
    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))

    @property
    def webhook_id(self) -> str | None:
        return self.headers.get("webhook-id")


class ReceiverServer:
    def __init__(self, port: int = 0):
        self.requests: list[Received] = []
        self._scripts: dict[str, list[Answer]] = {}
        self._defaults: dict[str, Answer] = {}
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = port
        self.start()

    # -- life ------------------------------------------------------------------------
    def start(self) -> ReceiverServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                rec = Received(parts.path, parse_qs(parts.query), {k.lower(): v for k, v in self.headers.items()}, body, time.time())
                answer = owner._next(parts.path)
                with owner._cond:
                    owner.requests.append(rec)
                    owner._cond.notify_all()
                if answer.hold is not None:
                    answer.hold.wait(60)
                if answer.delay:
                    time.sleep(answer.delay)
                try:
                    # Marked before the client can read the answer: a test reads it right after.
                    rec.answered = answer.status
                    self.send_response(answer.status)
                    for k, v in answer.headers.items():
                        self.send_header(k, v)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(answer.body)))
                    self.end_headers()
                    self.wfile.write(answer.body)
                    self.wfile.flush()
                except OSError:
                    rec.answered = None

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    close = stop

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def url(self, path: str = "/hook", query: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}" + (f"?{query}" if query else "")

    # -- scripting -----------------------------------------------------------------------
    def script(self, path: str, *answers: Answer) -> None:
        """Answer the next requests to ``path`` with these, in order, then the default."""
        with self._lock:
            self._scripts.setdefault(path, []).extend(answers)

    def default(self, path: str, answer: Answer) -> None:
        with self._lock:
            self._defaults[path] = answer

    def _next(self, path: str) -> Answer:
        with self._lock:
            queue = self._scripts.get(path)
            if queue:
                return queue.pop(0)
            return self._defaults.get(path, Answer())

    # -- reading ---------------------------------------------------------------------------
    def at(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def accepted(self, path: str) -> list[Received]:
        """What the receiver counts: one per webhook-id (or per body when unsigned),
        first arrival, among requests it answered with 2xx."""
        seen, out = set(), []
        for r in self.at(path):
            if r.answered is None or not 200 <= r.answered < 300:
                continue
            key = r.webhook_id or r.body
            if key not in seen:
                seen.add(key)
                out.append(r)
        return out

    def wait_for(self, path: str, n: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.time() + timeout
        with self._cond:
            while len([r for r in self.requests if r.path == path]) < n:
                left = deadline - time.time()
                if left <= 0:
                    break
                self._cond.wait(left)
        return self.at(path)


# -- synthetic runs -------------------------------------------------------------------------
STEPS = ("login", "open transfer", "confirm transfer", "see success")
_counter = [0]


def journey(
    name: str = "transfer",
    fail: dict[str, tuple] | None = None,
    *,
    attempt: int = 1,
    robot: str | None = None,
    steps: tuple[str, ...] = STEPS,
    device: str = "desktop",
    target: str = "web",
    tags: tuple[str, ...] = ("money",),
) -> JourneyResult:
    """A journey result. ``fail`` maps a step name to (kind, reason, message[, fatal]);
    after a fatal finding the remaining steps are skipped, as the runner does."""
    fail = fail or {}
    j = JourneyResult(name=name, file=f"journeys/{name}.yaml", target=target, device=device, tags=list(tags),
                      attempt=attempt, started_at="2026-11-21T10:00:00+00:00", duration_ms=1000.0)
    if robot:
        j.status = ERROR
        j.robot_error = {"reason": robot, "message": f"{robot}: the robot could not start"}
        j.steps = [StepResult(i + 1, s, "click", status=SKIPPED) for i, s in enumerate(steps)]
        return j
    stopped = False
    for i, s in enumerate(steps):
        st = StepResult(i + 1, s, "click", url=f"http://bank.test/{i + 1}", screenshot=f"{name}/{i + 1:02d}.png")
        if stopped:
            st.status = SKIPPED
        elif s in fail:
            kind, reason, message, *rest = fail[s]
            fatal = rest[0] if rest else kind == BREAKPOINT
            st.status = FAILED
            st.findings = [Finding(kind=kind, reason=reason, message=message, evidence={"url": st.url, "screenshot": st.screenshot}, fatal=fatal)]
            stopped = fatal
        j.steps.append(st)
    j.status = FAILED if j.findings else PASSED
    return j


DEAD_BUTTON = {"confirm transfer": (BREAKPOINT, "expect_failed", "#transfer-success did not become visible within 3.0s")}


def make_run(*journeys: JourneyResult, run_dir: str | None = None) -> RunResult:
    _counter[0] += 1
    run = RunResult(run_id=f"run-{_counter[0]:05d}-{time.time_ns() % 10**6}", started_at="2026-11-21T10:00:00+00:00",
                    journeys=list(journeys), run_dir=run_dir, finished_at="2026-11-21T10:00:05+00:00", duration_ms=5000.0)
    run.compute_status()
    return run


class Clock:
    """A settable clock for the lifecycle (reminders, ages)."""

    def __init__(self, start=None):
        from datetime import datetime

        self.t = start or datetime(2026, 11, 21, 10, 0, tzinfo=UTC)

    def __call__(self):
        return self.t

    def advance(self, **kw):
        from datetime import timedelta

        self.t = self.t + timedelta(**kw)
        return self.t


def whsec() -> str:
    import base64
    import os

    return "whsec_" + base64.b64encode(os.urandom(24)).decode()


def service(tmp_path, receivers=None, *, clock=None, public_url=None, url=None, **settings):
    """An IncidentService on a real SQLite file under tmp_path (or the database at ``url``).

    ``settings``: confirm, resolve_after, remind_every_s, and delivery knobs
    (backoff_s, max_backoff_s, max_age_s, flush_timeout_s), fast by default."""
    from patrol.config.incidents import DeliverySettings, IncidentSettings
    from patrol.incidents.service import IncidentService
    from patrol.store import open_store

    delivery = DeliverySettings(
        flush_timeout_s=settings.pop("flush_timeout_s", 5.0),
        max_age_s=settings.pop("max_age_s", 3600.0),
        backoff_s=settings.pop("backoff_s", 0.05),
        max_backoff_s=settings.pop("max_backoff_s", 0.2),
    )
    s = IncidentSettings(delivery=delivery, **settings)
    store = open_store(url or f"sqlite:///{tmp_path}/state.db")
    kw = {"clock": clock} if clock is not None else {}
    return IncidentService(store, s, receivers or {}, public_url, **kw)


def receiver(name, fmt, url, **kw):
    from patrol.notify.receivers import DEFAULT_EVENTS, Receiver

    events = frozenset(kw.pop("events", DEFAULT_EVENTS))
    return Receiver(name=name, format=fmt, url=url, url_template=kw.pop("url_template", url), events=events, **kw)


def confirmed_run(fail=None, run_dir=None, **kw):
    """A run whose failure was confirmed by a rerun (attempt 1 and 2 alike)."""
    if not fail:
        return make_run(journey(**kw), run_dir=run_dir)
    return make_run(journey(fail=fail, **kw), journey(fail=fail, attempt=2, **kw), run_dir=run_dir)

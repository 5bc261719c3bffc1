"""OpenTelemetry for journeys: with ``tracing: {enabled: true}`` a trace per journey
attempt and a span per step (the step span is what the app's own requests name as their
parent in ``traceparent``: ``core.tracecontext``), exported over OTLP/HTTP (protobuf)
with the official SDK and exporter.

Export never blocks or fails a patrol: spans wait in the SDK's bounded queue
(``MAX_QUEUED_SPANS``; past it the oldest are dropped) and a background thread sends
them. At the end of a run Patrol waits at most ``FLUSH_S`` for them to go; a collector
that does not take them is one warning in the run, and later runs do not wait for it
until it answers again. The SDK loads on the first traced journey only.

The journey key ``tracing:`` (the same keys as patrol.yaml's section, over it) is
registered here."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast
from urllib.parse import urlsplit

from ..config.reader import Reader
from ..config.tracing import TRACING_KEYS, TracingSettings, parse_tracing
from ..core.tracecontext import TraceContext
from ..core.urls import RequestPolicy
from ..journey.loader import journey_key
from ..journey.parsing import INVALID, Invalid, ParseContext, YamlPath
from ..results import FAILED, Finding, JourneyResult, StepResult
from ..secrets import MASKER, interpolate

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
    from opentelemetry.trace import Span

    from ..journey.model import Journey, Step

MAX_QUEUED_SPANS = 2048  # spans held for a collector that is away: the memory export may take
EXPORT_TIMEOUT_S = 3.0  # one export, its retries included (OTEL_EXPORTER_OTLP_TIMEOUT wins)
FLUSH_S = 2.0  # the longest a run's end waits for its spans to leave
_ENV_ENDPOINTS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
_ENV_TIMEOUTS = ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT")

TRACING_SCHEMA = {"oneOf": [{"type": "boolean"}, {
    "type": "object", "additionalProperties": False,
    "properties": {"enabled": {"type": "boolean"}, "otlp": {"type": "string"}, "link": {"type": "string"},
                   "allow_origins": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}}}]}


@journey_key("tracing", "trace context and OpenTelemetry spans, over patrol.yaml's: " + "; ".join(TRACING_KEYS),
             TRACING_SCHEMA)
def _tracing_key(value: object, path: YamlPath, ctx: ParseContext) -> TracingSettings | Invalid:
    reader = Reader(ctx.file, ctx.located)
    parsed = parse_tracing(reader, value, path)
    ctx.problems.extend(reader.problems)
    return INVALID if reader.problems else parsed


def settings_for(project: TracingSettings, journey: Journey) -> TracingSettings:
    own = journey.options.get("tracing")
    return project.under(own if isinstance(own, TracingSettings) else None)


def endpoint_of(settings: TracingSettings) -> str | None:
    """Where spans go: ``tracing.otlp`` (a bare address gets OTLP/HTTP's /v1/traces),
    else "" when an OTEL_EXPORTER_OTLP_* variable says (the exporter reads it), else None.
    ``MissingVariable`` or ``ValueError`` when ``${...}`` in it resolves to nothing usable."""
    if settings.otlp:
        url = interpolate(settings.otlp)
        if not url.lower().startswith(("http://", "https://")):
            raise ValueError(f"expected an http:// or https:// URL, got {MASKER.mask(url)!r}")
        return url.rstrip("/") + "/v1/traces" if urlsplit(url).path in ("", "/") else url
    return "" if any(os.environ.get(name) for name in _ENV_ENDPOINTS) else None


class _Guarded:
    """The OTLP exporter, wrapped so a collector that is away is said once (not logged
    per batch) and what was sent or lost is counted."""

    def __init__(self, inner: SpanExporter, where: str):
        self.inner, self.where = inner, where
        self.sent = self.failed = 0
        self.problem: str | None = None  # the latest failure; None once a batch went through
        self._said = False
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        from opentelemetry.sdk.trace.export import SpanExportResult

        error: Exception | None = None
        try:
            result = self.inner.export(spans)
        except Exception as e:  # a broken exporter is the same to Patrol as a collector away
            result, error = SpanExportResult.FAILURE, e
        with self._lock:
            if result is SpanExportResult.SUCCESS:
                self.sent += len(spans)
                self.problem, self._said = None, False
            else:
                self.failed += len(spans)
                self.problem = f"{type(error).__name__}: {error}" if error else "the collector did not take them"
        return result

    def take_warning(self) -> str | None:
        """The one warning about a collector that is away, once until it answers again."""
        with self._lock:
            if self.problem is None or self._said:
                return None
            self._said = True
            return (f"tracing: spans could not be exported to {MASKER.mask(self.where)} ({self.problem}); "
                    f"the patrol goes on, up to {MAX_QUEUED_SPANS} spans wait and older ones are dropped")

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


@dataclass
class Export:
    """One tracer provider and exporter per endpoint, shared by every run of the process."""

    where: str  # the endpoint as said (masked where shown), "" for none
    provider: TracerProvider
    exporter: _Guarded | None
    pending_warning: str | None = None

    def flush(self, limit_s: float = FLUSH_S) -> None:
        """Send what is queued, waiting at most ``limit_s`` (none at all while the collector is known
        to be away: the spans wait in the queue). The SDK's flush blocks on the export, so it runs
        on a thread of its own that may outlive the wait."""
        if self.exporter is None:
            return
        if self.exporter.problem is None:
            worker = threading.Thread(target=self.provider.force_flush, name="patrol-otlp-flush", daemon=True)
            worker.start()
            worker.join(limit_s)
            if worker.is_alive() and self.exporter.problem is None:
                self.exporter.problem = f"no answer within {limit_s:g}s"
        self.pending_warning = self.exporter.take_warning()

    def queued(self) -> int:
        """Spans waiting to be sent (bounded by MAX_QUEUED_SPANS)."""
        processor = getattr(self.provider, "_active_span_processor", None)
        count = 0
        for p in getattr(processor, "_span_processors", ()):
            queue = getattr(getattr(p, "_batch_processor", None), "_queue", None)
            count += len(queue) if queue is not None else 0
        return count


_EXPORTS: dict[str | None, Export] = {}
_EXPORTS_LOCK = threading.Lock()


def export_for(settings: TracingSettings) -> Export:
    endpoint = endpoint_of(settings)
    with _EXPORTS_LOCK:
        if endpoint not in _EXPORTS:
            _EXPORTS[endpoint] = _make_export(endpoint)
        return _EXPORTS[endpoint]


def _make_export(endpoint: str | None) -> Export:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from .. import __version__

    # Patrol says what went wrong with the collector itself, once: the SDK would log every batch.
    logging.getLogger("opentelemetry").setLevel(logging.CRITICAL)
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME") or "patrol",
                                "service.version": __version__})
    provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    if endpoint is None:
        return Export("", provider, None)  # ids for the app's requests, nothing exported
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    timeout = None if any(os.environ.get(n) for n in _ENV_TIMEOUTS) else EXPORT_TIMEOUT_S
    exporter = _Guarded(OTLPSpanExporter(endpoint=endpoint or None, timeout=timeout),
                        endpoint or os.environ.get(_ENV_ENDPOINTS[0]) or os.environ.get(_ENV_ENDPOINTS[1]) or "")
    provider.add_span_processor(BatchSpanProcessor(
        cast("SpanExporter", exporter), max_queue_size=MAX_QUEUED_SPANS, schedule_delay_millis=1000, max_export_batch_size=256))
    return Export(exporter.where, provider, exporter)


def _hex(value: int, digits: int) -> str:
    return format(value, f"0{digits}x")


@dataclass
class _OpenStep:
    span: Span
    start_ns: int


@dataclass
class JourneyTrace:
    """The trace of one journey attempt: its root span and the spans of its steps."""

    export: Export
    settings: TracingSettings
    journey: Journey
    run_id: str
    report_url: str | None = None
    policy: RequestPolicy = field(default_factory=RequestPolicy)
    span: Span | None = None
    trace_id: str = ""
    link: str | None = None
    _steps: dict[int, _OpenStep] = field(default_factory=dict)

    @classmethod
    def start(cls, settings: TracingSettings, journey: Journey, run_id: str, attempt: int,
              report_url: str | None, first_party: tuple[str, ...] = ()) -> JourneyTrace:
        export = export_for(settings)
        tracer = export.provider.get_tracer("patrol")
        span = tracer.start_span(f"journey {journey.name}", attributes={
            "patrol.journey": journey.name, "patrol.journey.file": journey.file, "patrol.target": str(journey.target),
            "patrol.attempt": attempt, "patrol.run_id": run_id, **({"patrol.report": report_url} if report_url else {})})
        policy = RequestPolicy.for_journey(journey.base_url, first_party)
        trace = cls(export, settings, journey, run_id, report_url, policy, span)
        trace.trace_id = _hex(span.get_span_context().trace_id, 32)
        trace.link = settings.link_to(trace.trace_id)
        return trace

    def begin_step(self, key: int, step: Step) -> TraceContext:
        """A span for the step, child of the journey's; what the driver sends with its requests."""
        from opentelemetry import trace

        assert self.span is not None
        tracer = self.export.provider.get_tracer("patrol")
        start = time.time_ns()
        span = tracer.start_span(f"step {step.key}", context=trace.set_span_in_context(self.span), start_time=start,
                                 attributes={"patrol.step": step.key, "patrol.step.index": step.index,
                                             "patrol.step.action": step.action})
        self._steps[key] = _OpenStep(span, start)
        return TraceContext(self.trace_id, _hex(span.get_span_context().span_id, 16), self.journey.name, step.key,
                            self.run_id, self.settings.allow_origins, self.policy)

    def end_step(self, key: int, sr: StepResult) -> None:
        """The step's span ends when the customer's wait did (start + the step's duration),
        with its status, timings and findings as attributes."""
        from opentelemetry.trace import Status, StatusCode

        open_step = self._steps.pop(key, None)
        if open_step is None:
            return
        span = open_step.span
        span.set_attribute("patrol.status", str(sr.status))
        if sr.duration_ms is not None:
            span.set_attribute("patrol.duration_ms", sr.duration_ms)
        if sr.budget_ms is not None:
            span.set_attribute("patrol.budget_ms", sr.budget_ms)
        if sr.url:
            span.set_attribute("url.full", sr.url)
        if sr.screenshot:
            span.set_attribute("patrol.screenshot", sr.screenshot)
        _finding_attributes(span, sr.findings)
        if sr.findings:
            span.set_status(Status(StatusCode.ERROR, MASKER.mask(sr.findings[0].message)[:300]))
        end = open_step.start_ns + int((sr.duration_ms or 0) * 1e6) if sr.duration_ms is not None else time.time_ns()
        span.end(end_time=max(end, open_step.start_ns))

    def end(self, result: JourneyResult) -> None:
        from opentelemetry.trace import Status, StatusCode

        for key in list(self._steps):
            self._steps.pop(key).span.end()
        if self.span is None:
            return
        self.span.set_attribute("patrol.status", str(result.status))
        findings = result.findings
        _finding_attributes(self.span, findings)
        if result.robot_error:
            self.span.set_attribute("patrol.robot_error", MASKER.mask(str(result.robot_error.get("message")))[:300])
        if result.status == FAILED or result.robot_error:
            text = findings[0].message if findings else str((result.robot_error or {}).get("message", ""))
            self.span.set_status(Status(StatusCode.ERROR, MASKER.mask(text)[:300]))
        self.span.end()
        self.span = None


def _finding_attributes(span: Span, findings: list[Finding]) -> None:
    span.set_attribute("patrol.findings", len(findings))
    if findings:
        first = findings[0]
        span.set_attribute("patrol.finding.kind", str(first.kind))
        span.set_attribute("patrol.finding.reason", str(first.reason))
        span.set_attribute("patrol.finding.cause", MASKER.mask(first.cause.describe())[:300])
        span.set_attribute("patrol.finding.kinds", sorted({str(f.kind) for f in findings}))

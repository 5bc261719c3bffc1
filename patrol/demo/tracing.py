"""The demo bank, traced: a server span per request, exported over OTLP/HTTP, so a
patrol's step span can be seen as the parent of what the backend did for it.

The bank is the standard library's ``http.server``, for which OpenTelemetry has no
instrumentation package; this is what such an instrumentation does, with the official
SDK: the incoming ``traceparent``/``tracestate`` (and ``baggage``) extracted with the
W3C propagators, a ``SERVER`` span named ``METHOD /path`` with the HTTP semantic
attributes, its status an error for a 5xx. Switched on with ``patrol demo serve --otlp
URL`` (or ``PATROL_DEMO_OTLP``); without it nothing of OpenTelemetry is loaded."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer

ENV = "PATROL_DEMO_OTLP"
SERVICE = "demo-bank"


def otlp_from_env() -> str | None:
    return os.environ.get(ENV) or None


def traces_url(otlp: str) -> str:
    """A bare collector address gets OTLP/HTTP's /v1/traces."""
    return otlp.rstrip("/") + "/v1/traces" if urlsplit(otlp).path in ("", "/") else otlp


class ServerTracing:
    """The bank's tracer provider and its server spans."""

    def __init__(self, otlp: str):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        self.endpoint = traces_url(otlp)
        self.provider: TracerProvider = TracerProvider(resource=Resource.create({"service.name": SERVICE}),
                                                       shutdown_on_exit=False)
        self.provider.add_span_processor(BatchSpanProcessor(
            OTLPSpanExporter(endpoint=self.endpoint, timeout=3), max_queue_size=2048, schedule_delay_millis=200))
        self.tracer: Tracer = self.provider.get_tracer("patrol.demo")

    @contextlib.contextmanager
    def server_span(self, method: str, path: str, headers: Mapping[str, str], host: str,
                    client: str) -> Iterator[Span]:
        """The request's span, child of the caller's span when it sent ``traceparent``."""
        from opentelemetry.baggage.propagation import W3CBaggagePropagator
        from opentelemetry.trace import SpanKind
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        carrier = {k.lower(): v for k, v in headers.items()}
        parent = TraceContextTextMapPropagator().extract(carrier)
        parent = W3CBaggagePropagator().extract(carrier, context=parent)
        route = urlsplit(path).path
        attributes: dict[str, str] = {"http.request.method": method, "url.path": route, "server.address": host,
                                      "client.address": client}
        with self.tracer.start_as_current_span(f"{method} {route}", context=parent, kind=SpanKind.SERVER,
                                               attributes=attributes, record_exception=False,
                                               set_status_on_exception=True) as span:
            yield span

    def finished(self, span: Span, status: int | None) -> None:
        from opentelemetry.trace import Status, StatusCode

        if status is not None:
            span.set_attribute("http.response.status_code", status)
            if status >= 500:
                span.set_status(Status(StatusCode.ERROR, f"HTTP {status}"))

    def flush(self, timeout_ms: int = 3000) -> None:
        self.provider.force_flush(timeout_ms)

    def shutdown(self) -> None:
        self.provider.shutdown()

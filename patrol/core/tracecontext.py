"""W3C Trace Context as Patrol sends it on the app's own requests: which trace and span
a request belongs to (``traceparent``), Patrol's entry in ``tracestate`` and the journey
and step names in ``baggage`` (https://www.w3.org/TR/trace-context/,
https://www.w3.org/TR/baggage/). Pure data: the spans themselves are made and exported
by ``runner.tracing``; the drivers only read this to set headers."""

from __future__ import annotations

import re
from contextvars import ContextVar
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Protocol, runtime_checkable
from urllib.parse import quote, urlsplit

from .urls import RequestPolicy

# tracestate values: printable ASCII without "," and "=" (and no trailing space).
_STATE_UNSAFE = re.compile(r"[^\x21-\x2b\x2d-\x3c\x3e-\x7e]")
MAX_BAGGAGE_VALUE = 120  # a step name is a label, not a payload: clipped


@dataclass(frozen=True)
class TraceContext:
    """Where a request sent during a step belongs: the journey's trace, the step's span."""

    trace_id: str  # 32 lower-case hex digits
    span_id: str  # 16 lower-case hex digits: the step's span, the parent of what the backend does
    journey: str
    step: str
    run_id: str = ""
    allow_origins: tuple[str, ...] = ()  # origins beyond the first party that get the headers too
    # Which hosts are the app's own (``network.first_party`` beside base_url's site). Without a
    # base_url nothing is known to be first party here: only ``allow_origins`` get the headers
    # (the browser learns the app's site from the first page it opens: ``drivers._network``).
    policy: RequestPolicy = RequestPolicy()

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-01"  # version 00, sampled

    def headers(self) -> dict[str, str]:
        state = _STATE_UNSAFE.sub("_", f"r:{self.run_id}" if self.run_id else "1")[:256]
        baggage = ",".join(f"{k}={quote(v[:MAX_BAGGAGE_VALUE], safe='')}"
                           for k, v in (("patrol.journey", self.journey), ("patrol.step", self.step)))
        return {"traceparent": self.traceparent, "tracestate": f"patrol={state}", "baggage": baggage}

    def sends_to(self, url: str, policy: RequestPolicy | None = None) -> bool:
        """The trace headers go with a request to ``url``: the app's own, or an allowed origin;
        never a third party's (``policy``: the driver's, when it knows the app's site better)."""
        rule = policy or self.policy
        if not url.lower().startswith(("http://", "https://")):
            return False
        return (bool(rule.own_site) and rule.is_first_party(url)) or self.allows(url)

    def allows(self, url: str) -> bool:
        """``url`` is on an origin of ``tracing.allow_origins`` (``*`` in the host allowed)."""
        return bool(self.allow_origins) and origin_allowed(url, self.allow_origins)


def origin_of(url: str) -> str:
    """scheme://host[:port] of ``url``, lower-case, the default port left out."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ""
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}" + (f":{port}" if port is not None and port != default else "")


def origin_allowed(url: str, origins: tuple[str, ...]) -> bool:
    origin = origin_of(url)
    return bool(origin) and any(fnmatchcase(origin, pattern.lower().rstrip("/")) for pattern in origins)


# The trace context of the step running in this task (the runner sets it for the step's
# work): what a ``request:`` step sends with its call.
STEP_TRACE: ContextVar[TraceContext | None] = ContextVar("patrol_step_trace", default=None)


@runtime_checkable
class SendsTraceContext(Protocol):
    """A driver that puts the step's trace headers on the app's requests itself (the browser's)."""

    def trace_with(self, context: TraceContext | None) -> None: ...

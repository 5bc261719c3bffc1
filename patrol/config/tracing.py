"""``tracing:`` in patrol.yaml (and the same keys in a journey, over it)::

    tracing:
      enabled: true
      otlp: http://collector:4318          # OTLP/HTTP (protobuf); /v1/traces is added to a bare address
      link: "http://tempo:3000/explore?trace={trace_id}"   # where people open a trace
      allow_origins: ["https://api.partner.example"]      # beyond the first party, these get traceparent too

Without ``otlp`` the standard ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` /
``OTEL_EXPORTER_OTLP_ENDPOINT`` variables say where spans go; with neither, spans are
made (their ids are sent and recorded) but not exported."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..yamlpos import Path
from .reader import Reader, has_variable

TRACING_KEYS = {
    "enabled": "true: a trace per journey attempt, a span per step, traceparent on the app's own requests",
    "otlp": "OTLP/HTTP endpoint spans are exported to, e.g. http://collector:4318 (default: OTEL_EXPORTER_OTLP_* variables)",
    "link": "URL of a trace in your tracing UI, with {trace_id}, e.g. http://tempo:3000/trace/{trace_id}",
    "allow_origins": "origins beyond the first party that get the trace headers too, e.g. https://api.example.net",
}
_ORIGIN = re.compile(r"^https?://[^\s/]+/?$", re.IGNORECASE)


@dataclass(frozen=True)
class TracingSettings:
    """None: not said here (patrol.yaml's value, else the default, applies)."""

    enabled: bool | None = None
    otlp: str | None = None  # as written: ${...} is resolved where the exporter is made
    link: str | None = None
    allow_origins: tuple[str, ...] = ()

    @property
    def on(self) -> bool:
        return bool(self.enabled)

    def under(self, journey: TracingSettings | None) -> TracingSettings:
        """A journey's settings over these: allow_origins add up, values it gives win."""
        if journey is None:
            return self
        return TracingSettings(
            journey.enabled if journey.enabled is not None else self.enabled,
            journey.otlp or self.otlp, journey.link or self.link, self.allow_origins + journey.allow_origins)

    def link_to(self, trace_id: str) -> str | None:
        return self.link.replace("{trace_id}", trace_id) if self.link else None


def parse_tracing(r: Reader, raw: object, path: Path = ("tracing",)) -> TracingSettings:
    if isinstance(raw, bool):  # tracing: true / false
        return TracingSettings(enabled=raw)
    f = r.fields(raw, path, TRACING_KEYS, expected="true, false, or a mapping with " + ", ".join(TRACING_KEYS))
    enabled = f.boolean("enabled", False) if "enabled" in f else None
    link = f.string("link", None)
    if link is not None and "{trace_id}" not in link:
        f.error("link", f"{link!r}: expected a URL with {{trace_id}} where the trace's id goes, "
                        "e.g. http://tempo:3000/trace/{trace_id}")
        link = None
    elif link is not None and not has_variable(link) and not re.match(r"^https?://", link, re.IGNORECASE):
        f.error("link", f"expected an http:// or https:// URL, got {link!r}")
        link = None
    origins = f.strings("allow_origins")
    for i, origin in enumerate(origins):
        if not _ORIGIN.match(origin):
            r.error(f.at("allow_origins") + ((i,) if isinstance(f.raw.get("allow_origins"), list) else ()),
                    f"{origin!r}: expected an origin such as https://api.example.net (scheme, host and port; "
                    "* allowed in the host)")
    return TracingSettings(enabled, f.url("otlp", None, hint=" such as http://collector:4318"), link,
                           tuple(o.rstrip("/") for o in origins))

"""Journey keys for web journeys, over patrol.yaml's (see ``config.web``):

- ``network``: first-party hosts, ignored and blocked requests, slow and error
  thresholds (lists add to patrol.yaml's, values override);
- ``browser``: locale, timezone, color_scheme, trace;
- ``busy``: selectors of this app's own busy indicators;
- ``clock``: freeze the page's clock at an ISO 8601 time (screens that show dates).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from ...config.reader import Reader
from ...config.web import COLOR_SCHEMES, NETWORK_KEYS, PAGE_KEYS, TRACE_MODES, parse_busy, parse_network, parse_page
from ...core.capabilities import Capability
from ...journey.loader import journey_key
from ...journey.parsing import INVALID, ParseContext, YamlPath

_STRINGS = {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
NETWORK_SCHEMA = {
    "type": "object", "additionalProperties": False,
    "properties": {"first_party": _STRINGS, "ignore": _STRINGS, "block": _STRINGS,
                   "slow": {"type": "string"},
                   "error_statuses": {"type": "array", "items": {"type": "integer", "minimum": 400, "maximum": 499}}},
}
BROWSER_SCHEMA = {
    "type": "object", "additionalProperties": False,
    "properties": {"locale": {"type": "string"}, "timezone": {"type": "string"},
                   "color_scheme": {"enum": list(COLOR_SCHEMES)}, "trace": {"enum": list(TRACE_MODES)}},
}


def _web_only(path: YamlPath, ctx: ParseContext) -> bool:
    if ctx.target != "web":
        ctx.error(path, f"'{path[-1]}' is for web journeys", key=True)
        return False
    return True


def _read(ctx: ParseContext, parse: Callable[[Reader, object, YamlPath], object], value: object,
          path: YamlPath) -> object:
    """Parse with patrol.yaml's own section parser, its problems positioned in the journey."""
    reader = Reader(ctx.file, ctx.located)
    parsed = parse(reader, value, path)
    ctx.problems.extend(reader.problems)
    return INVALID if reader.problems else parsed


@journey_key("network", "which requests count: " + "; ".join(NETWORK_KEYS), NETWORK_SCHEMA,
             needs=frozenset({Capability.NETWORK}))
def _network(value: object, path: YamlPath, ctx: ParseContext) -> object:
    return _read(ctx, parse_network, value, path)


@journey_key("browser", "the page: " + "; ".join(PAGE_KEYS), BROWSER_SCHEMA)
def _browser(value: object, path: YamlPath, ctx: ParseContext) -> object:
    return _read(ctx, parse_page, value, path) if _web_only(path, ctx) else INVALID


@journey_key("busy", "selectors of this app's own busy indicators (spinners)", _STRINGS)
def _busy(value: object, path: YamlPath, ctx: ParseContext) -> object:
    return _read(ctx, parse_busy, value, path) if _web_only(path, ctx) else INVALID


@journey_key("clock", "freeze the page's clock at this time (ISO 8601 with offset, e.g. 2026-01-01T09:00:00+08:00)",
             {"type": "string"})
def _clock(value: object, path: YamlPath, ctx: ParseContext) -> object:
    if not _web_only(path, ctx):
        return INVALID
    # Unquoted, YAML reads the time itself: a datetime (a date alone has no time of day).
    text = value.isoformat() if isinstance(value, datetime) else ctx.string(value, path)
    if text is INVALID:
        return INVALID
    try:
        when = datetime.fromisoformat(str(text))
    except ValueError:
        return ctx.error(path, f"{text!r} is not an ISO 8601 time such as 2026-01-01T09:00:00+08:00")
    if when.tzinfo is None:
        return ctx.error(path, "give the time's offset (e.g. +08:00): the page's time zone is a separate setting")
    return when

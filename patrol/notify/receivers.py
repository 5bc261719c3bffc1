"""The ``receivers`` section of patrol.yaml: where incident events go.

::

    receivers:
      oncall:                         # a name of your choice (shown in `patrol deliveries`)
        format: webhook               # webhook / alertmanager / pagerduty / dingtalk / wecom / feishu / slack
        url: https://hooks.example.com/patrol
        secret: ${secret:PATROL_WEBHOOK_SECRET}
        events: [opened, resolved, reminder, flapping]   # the default; add robot_error to get the robot's own failures
        journeys: ["transfer*"]       # optional: only these journeys (glob patterns)
        tags: [payments]              # optional: only journeys with any of these tags
        timeout: 5s                   # per request (default 5s)
        rate_limit: 20/min            # default per format (DingTalk/WeCom 20/min, Feishu 5/s); "off" for none
        language: en                  # en / zh: the language of the labels (default zh for DingTalk/WeCom/Feishu)
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..config import Config
from ..durations import DurationError, parse_ms
from ..secrets import MASK, MASKER, MissingVariable, interpolate

EVENT_NAMES = ("opened", "resolved", "reminder", "flapping", "robot_error")
DEFAULT_EVENTS = frozenset({"opened", "resolved", "reminder", "flapping"})
KEYS = ("format", "url", "secret", "events", "journeys", "tags", "timeout", "rate_limit", "language")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(s|sec|second|m|min|minute|h|hour)\s*$")
_RATE_UNITS = {"s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0, "minute": 60.0, "h": 3600.0, "hour": 3600.0}
_TOKENISH = re.compile(r"^(?=.*[0-9])(?=.*[A-Za-z])[A-Za-z0-9_\-]{16,}$")  # long, letters and digits


@dataclass
class Receiver:
    name: str
    format: str
    url: str
    url_template: str  # as written in patrol.yaml, ${secret:...} unexpanded
    secret: str | None = None
    events: frozenset[str] = DEFAULT_EVENTS
    journeys: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    timeout_s: float = 5.0
    rate_limit: tuple[int, float] | None = None  # (count, per seconds)
    language: str = "en"

    @property
    def display_url(self) -> str:
        return mask_url(self.url_template)

    def wants(self, subscription: str, journeys: list[tuple[str, list[str]]]) -> bool:
        """Whether an event (by its subscription name) about these journeys
        (name, tags) goes to this receiver."""
        if subscription not in self.events:
            return False
        if not journeys:
            return not (self.journeys or self.tags)
        for name, tags in journeys:
            if self.journeys and not any(fnmatch.fnmatchcase(name, p) for p in self.journeys):
                continue
            if self.tags and not set(tags or ()) & set(self.tags):
                continue
            return True
        return False


def mask_url(url: str) -> str:
    """A receiver URL fit to print: query values, passwords and token-like path
    segments hidden (webhook URLs usually carry their credential)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    netloc = parts.netloc
    if "@" in netloc:
        netloc = MASK + "@" + netloc.rsplit("@", 1)[1]
    segments = [MASK if (_TOKENISH.match(s) or s.startswith("${")) else s for s in parts.path.split("/")]
    if parts.netloc.endswith("hooks.slack.com") and len(segments) > 2:
        segments = segments[:2] + [MASK for _ in segments[2:]]
    query = urlencode([(k, MASK) for k, _ in parse_qsl(parts.query, keep_blank_values=True)], safe="*")
    return MASKER.mask(urlunsplit((parts.scheme, netloc, "/".join(segments), query, "")))


def _register_url_secrets(url: str) -> None:
    try:
        parts = urlsplit(url)
    except ValueError:
        return
    for _, value in parse_qsl(parts.query):
        if len(value) >= 8:
            MASKER.add(value)
    for seg in parts.path.split("/"):
        if _TOKENISH.match(seg):
            MASKER.add(seg)
    if parts.password:
        MASKER.add(parts.password)


def parse_rate(value: Any) -> tuple[int, float] | None:
    if value is False or value == "off":
        return None
    m = _RATE.match(str(value)) if isinstance(value, str) else None
    if not m or int(m.group(1)) < 1:
        raise ValueError(f"expected a rate such as 20/min or 5/s, or off (got {value!r})")
    return int(m.group(1)), _RATE_UNITS[m.group(2)]


def load_receivers(config: Config, resolve_secrets: bool = True) -> dict[str, Receiver]:
    """Validate ``receivers``; problems are ConfigErrors positioned in patrol.yaml.
    With ``resolve_secrets=False`` (listing commands), ``${...}`` stay unexpanded."""
    from .formats import FORMATS

    raw = config.section("receivers")
    if raw is None:
        return {}
    base = ("receivers",)
    if not isinstance(raw, dict):
        raise config.problem(base, "expected a mapping of receiver name -> {format, url, secret, events...}")
    out: dict[str, Receiver] = {}
    for name, spec in raw.items():
        path = base + (name,)
        if not isinstance(name, str) or not _NAME.match(name):
            raise config.problem(path, "a receiver name is letters, digits, '.', '_' or '-' (at most 64)", key=True)
        if not isinstance(spec, dict):
            raise config.problem(path, "expected a mapping with at least format and url")
        for key in spec:
            if key not in KEYS:
                raise config.problem(path + (key,), f"unknown key; allowed: {', '.join(KEYS)}", key=True)
        fmt_name = spec.get("format")
        if fmt_name is None:
            raise config.problem(path, f"format is required: one of {', '.join(sorted(FORMATS))}", key=True)
        if fmt_name not in FORMATS:
            raise config.problem(path + ("format",), f"unknown format {fmt_name!r}; one of {', '.join(sorted(FORMATS))}")
        fmt = FORMATS[fmt_name]

        def expand(key: str) -> str | None:
            value = spec.get(key)
            if value is None:
                return None
            if not isinstance(value, str) or not value.strip():
                raise config.problem(path + (key,), "expected a non-empty string")
            if not resolve_secrets:
                return value
            try:
                return interpolate(value)
            except MissingVariable as e:
                raise config.problem(path + (key,), str(e)) from None

        url_template = spec.get("url") or fmt.default_url
        url = expand("url") or fmt.default_url
        if url is None:
            raise config.problem(path, f"url is required for format {fmt_name}", key=True)
        if resolve_secrets and not url.startswith(("http://", "https://")):
            raise config.problem(path + ("url",), "expected an http:// or https:// URL")
        if resolve_secrets:
            _register_url_secrets(url)
        secret = expand("secret")
        if fmt.secret == "required" and secret is None:
            raise config.problem(path, f"secret is required for format {fmt_name}: {fmt.secret_help}", key=True)
        if fmt.secret == "none" and secret is not None:
            raise config.problem(path + ("secret",), f"format {fmt_name} takes no secret: {fmt.secret_help}")
        if secret is not None and resolve_secrets:
            MASKER.add(secret)
            problem = fmt.check_secret(secret)
            if problem:
                raise config.problem(path + ("secret",), problem)

        events = DEFAULT_EVENTS
        if "events" in spec:
            ev = spec["events"]
            if isinstance(ev, str):
                ev = [ev]
            if not isinstance(ev, list) or not ev or not all(isinstance(e, str) for e in ev):
                raise config.problem(path + ("events",), f"expected a list of: {', '.join(EVENT_NAMES)}")
            for i, e in enumerate(ev):
                if e not in EVENT_NAMES:
                    raise config.problem(path + ("events", i), f"unknown event {e!r}; one of {', '.join(EVENT_NAMES)}")
            events = frozenset(ev)

        def str_list(key: str) -> tuple[str, ...]:
            value = spec.get(key)
            if value is None:
                return ()
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise config.problem(path + (key,), "expected a list of names")
            return tuple(value)

        timeout_s = 5.0
        if "timeout" in spec:
            try:
                timeout_s = parse_ms(spec["timeout"]) / 1000
            except DurationError as e:
                raise config.problem(path + ("timeout",), str(e)) from None
            if not 0.05 <= timeout_s <= 120:
                raise config.problem(path + ("timeout",), "expected between 50ms and 120s")
        rate = fmt.default_rate
        if "rate_limit" in spec:
            try:
                rate = parse_rate(spec["rate_limit"])
            except ValueError as e:
                raise config.problem(path + ("rate_limit",), str(e)) from None
        language = spec.get("language", fmt.default_language)
        if language not in ("en", "zh"):
            raise config.problem(path + ("language",), "expected en or zh")
        out[name] = Receiver(
            name=name, format=fmt_name, url=url, url_template=str(url_template), secret=secret, events=events,
            journeys=str_list("journeys"), tags=str_list("tags"), timeout_s=timeout_s, rate_limit=rate,
            language=language,
        )
    return out

"""The ``receivers`` section of patrol.yaml: where incident events go.

::

    receivers:
      oncall:                         # a name of your choice (shown in `patrol deliveries`)
        format: webhook               # webhook / alertmanager_api / alertmanager_webhook / pagerduty / dingtalk / wecom / feishu / slack
        url: https://hooks.example.com/patrol
        secret: ${secret:PATROL_WEBHOOK_SECRET}
        events: [opened, resolved, reminder, flapping]   # the default; add robot_error to get the robot's own failures
        journeys: ["transfer*"]       # optional: only these journeys (glob patterns)
        tags: [payments]              # optional: only journeys with any of these tags
        timeout: 5s                   # per request (default 5s)
        rate_limit: 20/min            # default per format (DingTalk/WeCom 20/min, Feishu 5/s); "off" for none
        language: en                  # en / zh: the language of the labels (default zh for DingTalk/WeCom/Feishu)

Parsed at load as ``ReceiverConfig`` (everything but ``${...}``, which
``notify.receivers.load_receivers`` resolves into a ``Receiver``).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..core.text import suggest
from ..secrets import MASK, MASKER
from .reader import Fields, Reader, has_variable

EVENT_NAMES = ("opened", "resolved", "reminder", "flapping", "robot_error")
DEFAULT_EVENTS = frozenset({"opened", "resolved", "reminder", "flapping"})
KEYS = {
    "format": "webhook, alertmanager_api, alertmanager_webhook, pagerduty, dingtalk, wecom, feishu or slack",
    "url": "where to send", "secret": "signing secret or token", "events": "which events",
    "journeys": "only these journeys (globs)", "tags": "only journeys with any of these tags",
    "timeout": "per request", "rate_limit": "e.g. 20/min, or off", "language": "en or zh",
    "resend": "alertmanager_api: re-send a firing alert this often (default 1m; your run interval with `patrol run` from cron)",
}
# Names that meant something else once: what to write instead.
RETIRED_FORMATS = {
    "alertmanager": "format 'alertmanager' is now two formats; choose alertmanager_api to push alerts into "
                    "Alertmanager (url: its address, e.g. http://alertmanager:9093), or alertmanager_webhook to send "
                    "the body Alertmanager sends to its webhook receivers (for bridges and relays built for it)",
}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(s|sec|second|m|min|minute|h|hour)\s*$")
_RATE_UNITS = {"s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0, "minute": 60.0, "h": 3600.0, "hour": 3600.0}
_TOKENISH = re.compile(r"^(?=.*[0-9])(?=.*[A-Za-z])[A-Za-z0-9_\-]{16,}$")  # long, letters and digits


class ReceiverFormat(Protocol):
    """What reading a receiver needs of its message format. The formats live in
    ``notify/formats/`` and put themselves in ``RECEIVER_FORMATS`` when they register,
    so configuration never imports them."""

    @property
    def secret(self) -> str: ...  # required / optional / none
    @property
    def secret_help(self) -> str: ...
    @property
    def default_url(self) -> str | None: ...
    @property
    def default_rate(self) -> tuple[int, float] | None: ...
    @property
    def default_language(self) -> str: ...
    @property
    def resend_every_s(self) -> float | None: ...
    def check_secret(self, secret: str) -> str | None: ...


RECEIVER_FORMATS: dict[str, ReceiverFormat] = {}  # filled by notify.formats.register


@dataclass(frozen=True)
class ReceiverConfig:
    """A receiver as written in patrol.yaml, checked; ``url``/``secret`` may hold ``${...}``."""

    name: str
    format: str
    url: str
    secret: str | None = None
    events: frozenset[str] = DEFAULT_EVENTS
    journeys: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    timeout_s: float = 5.0
    rate_limit: tuple[int, float] | None = None  # (count, per seconds)
    language: str = "en"
    resend_s: float | None = None  # alertmanager_api: re-send a firing alert this often (None: the format's default)


@dataclass(frozen=True)
class Receiver(ReceiverConfig):
    """A receiver ready to send to: its settings with ``url``/``secret`` resolved."""

    url_template: str = ""  # the url as written in patrol.yaml, ${secret:...} unexpanded

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


def register_url_secrets(url: str) -> None:
    """Credentials a webhook URL carries are masked in everything Patrol writes."""
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


def parse_rate(value: object) -> tuple[int, float] | None:
    if value is False or value == "off":
        return None
    m = _RATE.match(str(value)) if isinstance(value, str) else None
    if not m or int(m.group(1)) < 1:
        raise ValueError(f"expected a rate such as 20/min or 5/s, or off (got {value!r})")
    return int(m.group(1)), _RATE_UNITS[m.group(2)]


def parse_receivers(r: Reader, raw: object) -> dict[str, ReceiverConfig]:
    """Every receiver; problems are collected with their positions."""
    base = ("receivers",)
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        r.error(base, "expected a mapping of receiver name -> {format, url, secret, events...}")
        return {}
    out: dict[str, ReceiverConfig] = {}
    for name, spec in raw.items():
        path = base + (name,)
        if not isinstance(name, str) or not _NAME.match(name):
            r.error(path, "a receiver name is letters, digits, '.', '_' or '-' (at most 64)", key=True)
            continue
        before = len(r.problems)
        f = r.fields(spec, path, KEYS, expected="a mapping with at least format and url")
        receiver = _receiver(r, name, f) if isinstance(spec, dict) else None
        if receiver is not None and len(r.problems) == before:
            out[name] = receiver
    return out


def _receiver(r: Reader, name: str, f: Fields) -> ReceiverConfig | None:
    if not RECEIVER_FORMATS:  # a programming error, not the user's: every entry point loads the plugins
        raise RuntimeError("no message formats registered: import patrol.plugins before reading receivers")
    fmt_name = f.raw.get("format")
    if fmt_name is None:
        r.error(f.path, f"format is required: one of {', '.join(sorted(RECEIVER_FORMATS))}", key=True)
        return None
    if not isinstance(fmt_name, str):
        f.error("format", f"expected a format name, one of {', '.join(sorted(RECEIVER_FORMATS))}")
        return None
    if fmt_name in RETIRED_FORMATS:
        f.error("format", RETIRED_FORMATS[fmt_name])
        return None
    if fmt_name not in RECEIVER_FORMATS:
        f.error("format", f"unknown format {fmt_name!r}{suggest(fmt_name, RECEIVER_FORMATS)}; one of {', '.join(sorted(RECEIVER_FORMATS))}")
        return None
    fmt = RECEIVER_FORMATS[fmt_name]
    url = f.string("url", None) or fmt.default_url
    if url is None:
        r.error(f.path, f"url is required for format {fmt_name}", key=True)
    elif not has_variable(url) and not url.startswith(("http://", "https://")):
        f.error("url", f"expected an http:// or https:// URL, got {url!r}")
    secret = f.string("secret", None)
    if fmt.secret == "required" and secret is None and "secret" not in f:
        r.error(f.path, f"secret is required for format {fmt_name}: {fmt.secret_help}", key=True)
    if fmt.secret == "none" and secret is not None:
        f.error("secret", f"format {fmt_name} takes no secret: {fmt.secret_help}")
    if secret is not None and not has_variable(secret):
        problem = fmt.check_secret(secret)
        if problem:
            f.error("secret", problem)
    timeout = f.duration_ms("timeout", 5000.0, minimum_ms=50, maximum_ms=120_000)
    language = f.raw.get("language", fmt.default_language)
    if language not in ("en", "zh"):
        f.error("language", "expected en or zh")
    resend = f.duration_ms("resend", None, minimum_ms=10_000, maximum_ms=86400_000)
    if resend is not None and not fmt.resend_every_s:
        f.error("resend", f"format {fmt_name} does not re-send; only alertmanager_api does")
    return ReceiverConfig(name=name, format=fmt_name, url=url or "", secret=secret, events=_events(f),
                          journeys=f.strings("journeys"), tags=f.strings("tags"), timeout_s=timeout / 1000,
                          rate_limit=_rate(f, fmt.default_rate), language=str(language),
                          resend_s=resend / 1000 if resend is not None and fmt.resend_every_s else None)


def _events(f: Fields) -> frozenset[str]:
    if "events" not in f:
        return DEFAULT_EVENTS
    ev = f.raw["events"]
    if isinstance(ev, str):
        ev = [ev]
    if not isinstance(ev, list) or not ev or not all(isinstance(e, str) for e in ev):
        f.error("events", f"expected a list of: {', '.join(EVENT_NAMES)}")
        return DEFAULT_EVENTS
    for i, e in enumerate(ev):
        if e not in EVENT_NAMES:
            f.reader.error(f.at("events") + (i,), f"unknown event {e!r}{suggest(e, EVENT_NAMES)}; one of {', '.join(EVENT_NAMES)}")
    return frozenset(e for e in ev if e in EVENT_NAMES)


def _rate(f: Fields, default: tuple[int, float] | None) -> tuple[int, float] | None:
    if "rate_limit" not in f:
        return default
    try:
        return parse_rate(f.raw["rate_limit"])
    except ValueError as e:
        f.error("rate_limit", str(e))
        return default

"""What a web journey's browser page is like and which requests count, as settings:
``network:``, the page half of ``browser:`` and ``busy:`` in patrol.yaml, and the same
keys in a journey (which add to lists and override values; see ``drivers.web.web_keys``)::

    network:
      first_party: ["*.example.com"]       # hosts (globs) that are the app's own, beside base_url's site
      ignore: ["*/telemetry/*"]            # URL globs recorded but never a finding
      block: ["*://updates.example.org/*"] # URL globs never requested (update checks, analytics)
      slow: 3s                             # a first-party request slower than this is named (default: the step budget)
      error_statuses: [401, 403, 404, 409, 429]   # fetch/XHR 4xx answers that are findings
    browser: {locale: zh-CN, timezone: Asia/Shanghai, color_scheme: light, trace: retain-on-failure}
    busy: [".ant-spin-spinning", "[data-loading]"]   # the app's own spinners, beside the built-in patterns
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from ..yamlpos import Path
from .reader import Fields, Reader

DEFAULT_ERROR_STATUSES = (401, 403, 404, 409, 429)
COLOR_SCHEMES = ("light", "dark", "no-preference")
TRACE_MODES = ("retain-on-failure", "on", "off")
_LOCALE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
NETWORK_KEYS = {
    "first_party": "hosts (globs) that are the app's own, beside base_url's registrable domain",
    "ignore": "URL globs recorded as evidence but never a finding",
    "block": "URL globs never requested (analytics, update checks)",
    "slow": "a first-party request slower than this is named in the stall (default: the step budget)",
    "error_statuses": "4xx answers to fetch/XHR that are findings (default 401, 403, 404, 409, 429)",
}
PAGE_KEYS = {
    "locale": "the browser's language, e.g. zh-CN (default) or en-US",
    "timezone": "IANA time zone of the page, e.g. Asia/Shanghai (default)",
    "color_scheme": "light (default), dark or no-preference",
    "trace": "Playwright trace per journey: retain-on-failure (default), on, off",
}


@dataclass(frozen=True)
class NetworkSettings:
    first_party: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    block: tuple[str, ...] = ()
    slow_ms: float | None = None  # None: the step's budget
    error_statuses: tuple[int, ...] | None = None  # None: DEFAULT_ERROR_STATUSES

    @property
    def statuses(self) -> tuple[int, ...]:
        return DEFAULT_ERROR_STATUSES if self.error_statuses is None else self.error_statuses

    def under(self, journey: NetworkSettings | None) -> NetworkSettings:
        """A journey's settings over these: lists add up, values it gives win."""
        if journey is None:
            return self
        return NetworkSettings(
            self.first_party + journey.first_party, self.ignore + journey.ignore, self.block + journey.block,
            journey.slow_ms if journey.slow_ms is not None else self.slow_ms,
            journey.error_statuses if journey.error_statuses is not None else self.error_statuses)


@dataclass(frozen=True)
class PageSettings:
    """None: not said here (the project's, else the default, applies)."""

    locale: str | None = None
    timezone: str | None = None
    color_scheme: str | None = None
    trace: str | None = None

    def under(self, journey: PageSettings | None) -> PageSettings:
        if journey is None:
            return self
        return replace(self, **{k: v for k, v in vars(journey).items() if v is not None})

    @property
    def effective(self) -> PageSettings:
        """Every value, the defaults where nobody said."""
        return PageSettings(self.locale or "zh-CN", self.timezone or "Asia/Shanghai",
                            self.color_scheme or "light", self.trace or "retain-on-failure")


def parse_network(r: Reader, raw: object, path: Path = ("network",)) -> NetworkSettings:
    f = r.fields(raw, path, NETWORK_KEYS, expected="a mapping with " + ", ".join(NETWORK_KEYS))
    statuses: tuple[int, ...] | None = None
    if "error_statuses" in f:
        value = f.raw["error_statuses"]
        if isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) and 400 <= v <= 499 for v in value):
            statuses = tuple(value)
        else:
            f.error("error_statuses", "expected a list of 4xx status codes, e.g. [401, 403, 429] ([] for none)")
    return NetworkSettings(f.strings("first_party"), f.strings("ignore"), f.strings("block"),
                           f.duration_ms("slow", None, minimum_ms=1), statuses)


def parse_page(r: Reader, raw: object, path: Path = ("browser",), *, keys: dict[str, str] | None = None) -> PageSettings:
    """The page half of ``browser:`` (``keys``: the whole section's keys, when it has more)."""
    f = r.fields(raw, path, keys or PAGE_KEYS, expected="a mapping with " + ", ".join(keys or PAGE_KEYS))
    locale = f.string("locale", None, pattern=_LOCALE, hint="expected a language tag such as zh-CN or en-US")
    timezone = f.timezone("timezone", None) if "timezone" in f else None
    scheme = _one_of(f, "color_scheme", COLOR_SCHEMES)
    trace = _one_of(f, "trace", TRACE_MODES)
    return PageSettings(locale, timezone, scheme, trace)


def _one_of(f: Fields, key: str, allowed: tuple[str, ...]) -> str | None:
    value = f.raw.get(key)
    if value is None:
        return None
    if value not in allowed:
        f.error(key, f"{value!r} is not one of: {', '.join(allowed)}")
        return None
    return str(value)


def parse_busy(r: Reader, raw: object, path: Path = ("busy",)) -> tuple[str, ...]:
    if raw is None:
        return ()
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not all(isinstance(v, str) and v.strip() for v in raw):
        r.error(path, "expected a selector or a list of selectors of the app's busy indicators")
        return ()
    return tuple(raw)

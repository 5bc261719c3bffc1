"""Which requests are the app's own, and URLs safe to write down.

``site(host)`` is the registrable domain a person would call "the site"
(``static.bank.com.cn`` -> ``bank.com.cn``; a loopback or IP address is itself).
``RequestPolicy`` sorts a request's URL: first party (the journey's own site, or a
``first_party`` glob), ignored, blocked. ``mask_url`` hides token-like query values,
so request lists can go into reports. Pure: no I/O, nothing of Patrol's imported.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Second-level labels under which companies register (bank.com.cn, shop.co.uk): a small
# list for the common cases, since a full public-suffix list needs the internet to stay fresh.
_SECOND_LEVEL = {"com", "net", "org", "gov", "edu", "co", "ac", "or", "ne", "go", "mil", "int"}
_SECRET_KEYS = re.compile(r"(token|secret|password|passwd|pwd|key|sig|signature|auth|session|code|ticket|credential)",
                          re.IGNORECASE)
_TOKEN_LIKE = re.compile(r"^(?=.*\d)(?=.*[A-Za-z])[A-Za-z0-9._~+/=-]{20,}$")
MASK = "***"


def host_of(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def site(host: str) -> str:
    host = host.lower().rstrip(".")
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    labels = host.split(".")
    if len(labels) <= 2:
        return host
    if labels[-2] in _SECOND_LEVEL and len(labels[-1]) == 2:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


@dataclass(frozen=True)
class RequestPolicy:
    own_site: str = ""  # site() of the journey's base URL; "" = every host counts as first party
    first_party: tuple[str, ...] = ()  # host globs
    ignore: tuple[str, ...] = ()  # URL globs
    block: tuple[str, ...] = ()  # URL globs

    @classmethod
    def for_journey(cls, base_url: str | None, first_party: tuple[str, ...] = (), ignore: tuple[str, ...] = (),
                    block: tuple[str, ...] = ()) -> RequestPolicy:
        return cls(site(host_of(base_url)) if base_url else "", first_party, ignore, block)

    def is_first_party(self, url: str) -> bool:
        if url.startswith(("data:", "blob:", "about:")):
            return True
        host = host_of(url)
        if not self.own_site or site(host) == self.own_site:
            return True
        return any(fnmatchcase(host, glob.lower()) for glob in self.first_party)

    def is_ignored(self, url: str) -> bool:
        return any(fnmatchcase(url, glob) for glob in self.ignore)

    def is_blocked(self, url: str) -> bool:
        return any(fnmatchcase(url, glob) for glob in self.block)

    def counts(self, url: str) -> bool:
        """A failure of this request may be a finding (first party, not ignored)."""
        return self.is_first_party(url) and not self.is_ignored(url)


def mask_url(url: str, limit: int = 500) -> str:
    """The URL with token-like query values and any user:password replaced, clipped."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url[:limit]
    netloc = parts.netloc
    if "@" in netloc:
        netloc = MASK + "@" + netloc.rsplit("@", 1)[1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        masked = [(k, MASK if v and (_SECRET_KEYS.search(k) or _TOKEN_LIKE.match(v)) else v) for k, v in pairs]
        if masked != pairs:
            query = urlencode(masked, safe="*/:,")
    out = urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    return out if len(out) <= limit else out[: limit - 1] + "…"

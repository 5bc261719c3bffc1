"""Faults the demo bank can be told to have.

A fault is ``NAME`` or ``NAME=VALUE`` (CLI: ``--fault NAME[=VALUE]``, repeatable;
admin endpoint: ``POST /__admin/faults``). List-valued faults take several
comma-separated items (``api_500=transfer,cards``). Setting a fault again
replaces its previous value.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable

# API endpoint names used by slow_api / api_500 (see ENDPOINTS for the routes).
ENDPOINTS: dict[str, str] = {
    "login": "POST /api/login, POST /api/logout",
    "account": "GET /api/account (holder, account number, total assets, promo)",
    "nav": "GET /api/nav (net-value curve)",
    "funds": "GET /api/funds (fund list)",
    "fund": "GET /api/funds/CODE (one fund)",
    "buy": "POST /api/funds/CODE/buy",
    "transfer": "POST /api/transfer (confirm a transfer)",
    "receipt": "GET /api/transfer/ID (the transfer success page's receipt)",
    "cards": "GET /api/cards (bound cards), POST /api/cards (bind a card), POST /api/cards/ID/photo (ID photo)",
    "benefits": "GET /api/benefits",
    "claim": "POST /api/benefits/ID/claim",
}

# Page names used by blank_page / frozen_spinner.
PAGES: dict[str, str] = {
    "login": "/login",
    "home": "/home",
    "funds": "/funds",
    "fund": "/funds/CODE",
    "sign": "/funds/CODE/sign (product agreement; buy success is shown here)",
    "transfer": "/transfer",
    "confirm": "/transfer/confirm",
    "success": "/transfer/success",
    "cards": "/cards/bind",
    "benefits": "/benefits",
    "compare": "/funds/compare (drag funds to compare them)",
    "prospectus": "/funds/CODE/prospectus (opens in a new window from the sign page)",
}

# Element ids of the buttons dead_button can kill.
BUTTONS: tuple[str, ...] = (
    "login-submit",
    "buy-submit",
    "sign-submit",
    "transfer-next",
    "transfer-confirm",
    "bind-submit",
    "claim-b101",
    "claim-b102",
    "claim-b103",
    "page-retry",
    "logout",
)

# What clipped_text can break: the total on /home, the logout button, two labels on /home.
CLIPPED_TEXT: dict[str, str] = {
    "amount": "the total assets on /home are cut to '¥128,4…' (a box too narrow, with an ellipsis)",
    "button": "the logout button (every page) is too narrow for its label, which sticks out of its border",
    "overlap": "the chart's caption on /home is drawn over its title (净值走势)",
}

# Static files static_500 can break (what the pages load from /static/).
STATIC_FILES: tuple[str, ...] = ("app.js", "app.css", "promo.svg", "favicon.svg")
# Error statuses api_status may answer with (a 429 says Retry-After: RETRY_AFTER_S).
API_STATUSES: tuple[int, ...] = (400, 401, 403, 404, 409, 422, 429, 500, 502, 503, 504)
RETRY_AFTER_S = 7
DEFAULT_THIRD_PARTY_STATUS = 500

DEFAULT_TOAST = "系统繁忙"
DEFAULT_SHIFT_MS = 500
# What restyle may change: the colours only, or the spacing only (the match levels' pairs).
RESTYLES: dict[str, str] = {
    "color": ".topbar{background:#1565c0}.nav a.active{color:#1565c0}.assets-value{color:#1565c0}",
    "spacing": ".main{padding-top:64px}",
    # the promo banner on /home shown first (a block moved up, the cards above it moved down)
    "order": ".home-grid{display:flex;flex-direction:column;gap:20px}.home-grid>*+*{margin-top:0}.promo{order:-1}",
}
MAX_DELAY_MS = 600_000
HANG_AFTER_MS = 300  # frozen_script / dialog_flood start this long after the page has loaded
HUGE_DOM_ROWS = 150_000
WS_CLOSE_CODE, WS_CLOSE_REASON = 1011, "quote feed unavailable"  # what ws_drop closes the live quote with

_ep = ", ".join(ENDPOINTS)
_pg = ", ".join(PAGES)
FAULTS: dict[str, str] = {
    "slow_api": f"slow_api=MS or slow_api=ENDPOINT:MS[,ENDPOINT:MS...]: delay every API response, "
    f"or only the named endpoints, by MS milliseconds (endpoints: {_ep})",
    "api_500": f"api_500=ENDPOINT[,ENDPOINT...]: the endpoint answers HTTP 500 JSON (endpoints: {_ep})",
    "dead_button": "dead_button=ID[,ID...]: the button with that element id does nothing when clicked "
    f"(ids: {', '.join(BUTTONS)})",
    "blank_page": f"blank_page=PAGE[,PAGE...]: the page answers 200 but renders a blank white screen "
    f"(pages: {_pg})",
    "nan_balance": "nan_balance: total assets on /home show '¥ NaN' (no value)",
    "no_chart": "no_chart: the net-value chart on /home stays empty (no value)",
    "error_toast": f"error_toast[=TEXT]: a toast #toast with TEXT (default {DEFAULT_TOAST}) shows over "
    "every page after load; the flow still works",
    "broken_image": "broken_image: the promo banner on /home points to a 404 (no value)",
    "layout_shift": f"layout_shift[=MS]: MS ms (default {DEFAULT_SHIFT_MS}) after load a 300px banner "
    "is inserted at the top and pushes the content down",
    "slow_hero": "slow_hero=MS: every page's main content (all below the header) shows MS ms after the page "
    "started, as a slow client-side render would: its largest contentful paint (LCP) comes late",
    "restyle": "restyle=color|spacing|order: every page is restyled: color, the header bar and the total assets "
    "turn blue (text and layout unchanged); spacing, the page's content starts 40 px lower (text and colours "
    "unchanged); order, the promo banner on /home comes first (a block moved)",
    "as_of": "as_of=YYYY-MM-DD: the net-value chart's caption on /home ends with 截至 YYYY-MM-DD (a date that "
    "changes from day to day, as real statements' do)",
    "frozen_spinner": f"frozen_spinner=PAGE[,PAGE...]: the page's spinner never goes away and its content "
    f"never shows (pages: {_pg})",
    "static_500": f"static_500=FILE[,FILE...]: the static file answers HTTP 500 (files: {', '.join(STATIC_FILES)}; "
    "app.js is every page's script, app.css its stylesheet)",
    "broken_font": "broken_font: every page asks for a web font (the brand name's) that answers 404 (no value)",
    "api_status": f"api_status=ENDPOINT:STATUS[,ENDPOINT:STATUS...]: the endpoint answers that error status "
    f"(one of {', '.join(map(str, API_STATUSES))}; a 429 says Retry-After: {RETRY_AFTER_S}) (endpoints: {_ep})",
    "third_party": "third_party[=STATUS]: every page loads an analytics script from another site (the other "
    "loopback name: localhost for 127.0.0.1 and back) that answers STATUS (default "
    f"{DEFAULT_THIRD_PARTY_STATUS}; 200 for a healthy one)",
    "frozen_script": f"frozen_script=PAGE[,PAGE...]: {HANG_AFTER_MS} ms after the page has loaded its script loops "
    f"forever (the tab's main thread never answers again) (pages: {_pg})",
    "dialog_flood": f"dialog_flood=PAGE[,PAGE...]: {HANG_AFTER_MS} ms after the page has loaded it calls alert() "
    f"in a loop, one dialog after another, forever (pages: {_pg})",
    "huge_dom": f"huge_dom=PAGE[,PAGE...]: the page arrives with a {HUGE_DOM_ROWS:,}-row table after its content "
    f"(slow to load and lay out, but it answers) (pages: {_pg})",
    "ws_drop": "ws_drop: the live quote's WebSocket (/live/quotes, on /funds) is closed by the server right after "
    f"every handshake (code {WS_CLOSE_CODE}, reason {WS_CLOSE_REASON!r}); the page keeps reconnecting (no value)",
    "clipped_text": "clipped_text=ITEM[,ITEM...]: text a person cannot read whole: "
    + "; ".join(f"{k}: {v}" for k, v in CLIPPED_TEXT.items()),
    "ws_delay": "ws_delay=MS: every message of the live quote's WebSocket (/live/quotes, on /funds) arrives MS "
    "milliseconds late (the first quote MS after the handshake)",
}
# Faults that name the pages they break (PAGES).
HANG_FAULTS = ("frozen_script", "dialog_flood", "huge_dom")

_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


def _allowed_names() -> str:
    return ", ".join(FAULTS)


def _items(name: str, value: str | None, what: str) -> list[str]:
    if value is None or not value.strip():
        raise ValueError(f"fault {name} needs a value: {FAULTS[name]}")
    items = [v.strip() for v in value.split(",")]
    if any(not v for v in items):
        raise ValueError(f"fault {name}: empty {what} in {value!r}")
    return items


def _ms(name: str, text: str) -> int:
    if not re.fullmatch(r"\d+", text.strip()):
        raise ValueError(f"fault {name}: {text!r} is not a whole number of milliseconds")
    ms = int(text)
    if ms > MAX_DELAY_MS:
        raise ValueError(f"fault {name}: {ms} ms is more than the maximum {MAX_DELAY_MS} ms")
    return ms


def _one_of(name: str, items: list[str], allowed: Iterable[str], kind: str) -> None:
    for item in items:
        if item not in allowed:
            raise ValueError(f"fault {name}: unknown {kind} {item!r}; allowed: {', '.join(allowed)}")


# Faults whose value is a list of names from a fixed set: (the set, what one item is).
_NAMED_ITEMS: dict[str, tuple[Iterable[str], str]] = {
    "api_500": (ENDPOINTS, "endpoint"), "blank_page": (PAGES, "page"), "frozen_spinner": (PAGES, "page"),
    **{name: (PAGES, "page") for name in HANG_FAULTS}, "clipped_text": (CLIPPED_TEXT, "item"),
}


def _slow_api(name: str, value: str | None) -> str:
    items = _items(name, value, "delay")
    seen = set()
    for item in items:
        ep, sep, ms = item.rpartition(":")
        if sep:
            _one_of(name, [ep.strip()], ENDPOINTS, "endpoint")
            if ep.strip() in seen:
                raise ValueError(f"fault {name}: endpoint {ep.strip()!r} given twice")
            seen.add(ep.strip())
        elif "" in seen:
            raise ValueError(f"fault {name}: more than one delay for all endpoints in {value!r}")
        else:
            seen.add("")
        _ms(name, ms)
    return ",".join(items)


def normalize(name: str, value: str | None) -> str | None:
    """Validate ``value`` for fault ``name``; return the value to store.

    Raises ValueError with a message meant for a human."""
    if name not in FAULTS:
        raise ValueError(f"unknown fault {name!r}; allowed: {_allowed_names()}")
    if value is not None and not isinstance(value, str):
        raise ValueError(f"fault {name}: value must be a string, got {type(value).__name__}")
    if name in ("nan_balance", "no_chart", "broken_image", "broken_font", "ws_drop"):
        if value not in (None, ""):
            raise ValueError(f"fault {name} takes no value (got {value!r})")
        return None
    if name == "slow_api":
        return _slow_api(name, value)
    if name in _NAMED_ITEMS:
        allowed, kind = _NAMED_ITEMS[name]
        items = _items(name, value, kind)
        _one_of(name, items, allowed, kind)
        return ",".join(items)
    if name in ("static_500", "api_status", "third_party"):
        return _network_fault(name, value)
    if name == "dead_button":
        items = _items(name, value, "button id")
        for item in items:
            if not _ID.match(item):
                raise ValueError(f"fault {name}: {item!r} is not an element id")
        _one_of(name, items, BUTTONS, "button id")
        return ",".join(items)
    if name == "error_toast":
        text = (value or "").strip() or DEFAULT_TOAST
        if len(text) > 200:
            raise ValueError(f"fault {name}: text longer than 200 characters")
        return text
    if name == "layout_shift":
        if value in (None, ""):
            return None
        return str(_ms(name, value))
    if name == "slow_hero":
        if value is None or not value.strip():
            raise ValueError(f"fault {name} needs a value: {FAULTS[name]}")
        return str(_ms(name, value))
    if name == "restyle":
        if value not in RESTYLES:
            raise ValueError(f"fault {name}: {value!r} is not one of {', '.join(RESTYLES)}")
        return value
    if name == "as_of":
        if value is None or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
            raise ValueError(f"fault {name}: {value!r} is not a date like 2026-01-05")
        return value.strip()
    if name == "ws_delay":
        if value is None or not value.strip():
            raise ValueError(f"fault {name} needs a value: {FAULTS[name]}")
        return str(_ms(name, value))
    raise AssertionError(name)  # pragma: no cover


def _network_fault(name: str, value: str | None) -> str | None:
    if name == "static_500":
        items = _items(name, value, "file")
        _one_of(name, items, STATIC_FILES, "file")
        return ",".join(items)
    if name == "api_status":
        return _api_status(name, value)
    if value in (None, ""):  # third_party
        return None
    if not re.fullmatch(r"[1-5]\d\d", value.strip()):
        raise ValueError(f"fault {name}: {value!r} is not an HTTP status")
    return value.strip()


def _api_status(name: str, value: str | None) -> str:
    items = _items(name, value, "endpoint:status")
    seen = set()
    for item in items:
        ep, sep, code = item.rpartition(":")
        if not sep:
            raise ValueError(f"fault {name}: {item!r} is not ENDPOINT:STATUS (e.g. transfer:429)")
        _one_of(name, [ep], ENDPOINTS, "endpoint")
        if not code.isdigit() or int(code) not in API_STATUSES:
            raise ValueError(f"fault {name}: status {code!r} is not one of {', '.join(map(str, API_STATUSES))}")
        if ep in seen:
            raise ValueError(f"fault {name}: endpoint {ep!r} given twice")
        seen.add(ep)
    return ",".join(items)


def parse_fault(spec: str) -> tuple[str, str | None]:
    """``"slow_api=800"`` -> ``("slow_api", "800")``; ``"nan_balance"`` -> ``("nan_balance", None)``.

    The value is validated; a bad name or value raises ValueError."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"empty fault; allowed: {_allowed_names()}")
    name, sep, value = spec.strip().partition("=")
    name = name.strip()
    normalize(name, value if sep else None)
    return name, (value if sep else None)


class FaultSet:
    """The faults a server currently has. Thread-safe; read on every request."""

    def __init__(self, specs: list[str] | None = None) -> None:
        self._lock = threading.Lock()
        self._faults: dict[str, str | None] = {}
        for spec in specs or []:
            self.set(*parse_fault(spec))

    # -- changing -----------------------------------------------------------
    def set(self, name: str, value: str | None = None) -> None:
        stored = normalize(name, value)
        with self._lock:
            self._faults[name] = stored

    def update(self, set_: dict[str, str | None] | None = None, clear: list[str] | str | None = None) -> None:
        """Clear then set, all-or-nothing: nothing changes if any item is invalid."""
        if clear == "all":
            names: list[str] | None = None
        else:
            names = list(clear or [])
            for n in names:
                if n not in FAULTS:
                    raise ValueError(f"cannot clear unknown fault {n!r}; allowed: {_allowed_names()}")
        staged = {n: normalize(n, v) for n, v in (set_ or {}).items()}
        with self._lock:
            if names is None:
                self._faults.clear()
            else:
                for n in names:
                    self._faults.pop(n, None)
            self._faults.update(staged)

    def clear(self, name: str | None = None) -> None:
        with self._lock:
            if name is None:
                self._faults.clear()
            else:
                self._faults.pop(name, None)

    def active(self) -> dict[str, str | None]:
        with self._lock:
            return dict(self._faults)

    # -- queries used by the server -----------------------------------------
    def _get(self, name: str) -> tuple[bool, str | None]:
        with self._lock:
            return name in self._faults, self._faults.get(name)

    def has(self, name: str) -> bool:
        return self._get(name)[0]

    def _list(self, name: str) -> list[str]:
        on, value = self._get(name)
        return value.split(",") if on and value else []

    def api_delay(self, endpoint: str) -> float:
        """Seconds to hold a response of ``endpoint`` back (0.0 = none)."""
        default = 0
        for item in self._list("slow_api"):
            ep, sep, ms = item.rpartition(":")
            if not sep:
                default = int(ms)
            elif ep == endpoint:
                return int(ms) / 1000.0
        return default / 1000.0

    def api_fails(self, endpoint: str) -> bool:
        return endpoint in self._list("api_500")

    def page_blank(self, page: str) -> bool:
        return page in self._list("blank_page")

    def spinner_frozen(self, page: str) -> bool:
        return page in self._list("frozen_spinner")

    def script_frozen(self, page: str) -> bool:
        return page in self._list("frozen_script")

    def dialog_flood(self, page: str) -> bool:
        return page in self._list("dialog_flood")

    def huge_dom(self, page: str) -> bool:
        return page in self._list("huge_dom")

    def clipped_text(self) -> list[str]:
        """What clipped_text breaks (CLIPPED_TEXT's items)."""
        return self._list("clipped_text")

    def dead_buttons(self) -> list[str]:
        return self._list("dead_button")

    def toast(self) -> str | None:
        on, value = self._get("error_toast")
        return (value or DEFAULT_TOAST) if on else None

    def layout_shift_ms(self) -> int | None:
        on, value = self._get("layout_shift")
        if not on:
            return None
        return int(value) if value else DEFAULT_SHIFT_MS

    def restyle(self) -> str | None:
        """How every page is restyled (RESTYLES), or None."""
        on, value = self._get("restyle")
        return value if on else None

    def as_of(self) -> str | None:
        """The date the home page's chart caption shows, or None."""
        on, value = self._get("as_of")
        return value if on else None

    def slow_hero_ms(self) -> int | None:
        """How late every page's main content shows (None: on time)."""
        on, value = self._get("slow_hero")
        return int(value) if on and value else None

    def nan_balance(self) -> bool:
        return self.has("nan_balance")

    def no_chart(self) -> bool:
        return self.has("no_chart")

    def broken_image(self) -> bool:
        return self.has("broken_image")

    def static_fails(self, file: str) -> bool:
        return file in self._list("static_500")

    def broken_font(self) -> bool:
        return self.has("broken_font")

    def api_status(self, endpoint: str) -> int | None:
        """The error status ``endpoint`` answers with (None: it works)."""
        for item in self._list("api_status"):
            ep, _, code = item.rpartition(":")
            if ep == endpoint:
                return int(code)
        return None

    def third_party_status(self) -> int | None:
        """What the third-party script answers (None: pages do not load one)."""
        on, value = self._get("third_party")
        return (int(value) if value else DEFAULT_THIRD_PARTY_STATUS) if on else None

    def ws_dropped(self) -> bool:
        """The live quote's WebSocket is closed right after its handshake."""
        return self.has("ws_drop")

    def ws_delay(self) -> float:
        """Seconds every live quote message is held back (0.0 = none)."""
        on, value = self._get("ws_delay")
        return int(value) / 1000.0 if on and value else 0.0

"""The demo bank: a small Chinese-language fintech front end for Patrol to patrol.

Standard library only (``http.server.ThreadingHTTPServer``); the pages are plain
HTML + vanilla JS + CSS from ``patrol/demo/static/`` that fetch JSON from the API
behind them. Nothing on screen depends on clocks or randomness, so a healthy
server gives the same pixels on every run for the same data. Fixed-width desktop
layout (1280x800) and a responsive mobile layout (390x844).

Run it::

    patrol demo serve [--port 8800] [--fault NAME[=VALUE]]...
    python -m patrol.demo --port 8800 --fault slow_api=transfer:3000

Demo credentials: user ``demo``, password from ``$DEMO_PASSWORD`` at server start
(default ``patrol-demo-2026``). The session is an HttpOnly cookie holding a
random token; state (transfers, bound cards, claimed benefits) lives in that
session, so every fresh login starts from the same data and journeys can run
again and again.

Pages (every page but /login needs the session, otherwise 302 to /login?next=...)
-------------------------------------------------------------------------------
Every page shows ``#spinner`` (class ``spinner``, ``aria-busy="true"``) while its
data loads, then removes it and shows ``#content``. A failed API call removes the
spinner and shows ``#page-error`` (加载失败，请稍后重试 / 操作失败，请稍后重试)
instead of the content. Logged-in pages carry the menu ``#nav-home``,
``#nav-funds`` (基金), ``#nav-transfer`` (转入资金), ``#nav-cards`` (绑定银行卡),
``#nav-benefits`` (权益领取) and the button ``#logout``; the footer is ``#footer``.

=======================  ==========  ==========================================================
route                    page name   key elements
=======================  ==========  ==========================================================
/login                   login       #login-form, #username, #password, #login-submit,
                                     #login-error (用户名或密码错误); success -> /home (or ?next=)
/home                    home        #total-assets (¥ 128,460.52), #account-name, #account-no,
                                     <canvas id="nav-chart"> (净值走势), <img id="promo-banner">
/funds                   funds       #live-quote: the live quote over a WebSocket (/live/quotes):
                                     aria-busy "连接中…" until #live-quote-price shows;
                                     #fund-list, a.fund-link[data-code=CODE] -> /funds/CODE; the menu
                                     #fund-tools-menu opens only on hover over #fund-tools (基金工具):
                                     a#tool-compare (基金对比) -> /funds/compare
/funds/compare           compare     基金对比: drag li.compare-fund[data-code=CODE] (#compare-fund-CODE)
                                     onto #compare-zone -> li.compare-item in #compare-list,
                                     #compare-count (已选 N 只)
/funds/CODE              fund        #fund-name, #fund-nav, #fund-desc, #buy-amount, #buy-error,
                                     #buy-submit -> /funds/CODE/sign?amount=..
/funds/CODE/sign         sign        产品签约: #sign-fund-name, #sign-amount, #agree, #sign-error,
                                     #sign-submit -> POST /api/funds/CODE/buy; success is shown on
                                     this same page: #buy-success (购买成功), #back-funds;
                                     a#prospectus-link (target=_blank) opens the prospectus in a new
                                     window. The risk disclosure /funds/CODE/risk shows in
                                     iframe#risk-frame; its checkbox #risk-agree must be ticked too
                                     (else #sign-error 请先阅读《风险揭示书》并勾选确认)
/funds/CODE/prospectus   prospectus  招募说明书: #prospectus-title (NAME 招募说明书), #prospectus-code
/transfer                transfer    转入资金: #source-card (<select>), #amount, #amount-error,
                                     #transfer-next -> /transfer/confirm?amount=..&card=..
/transfer/confirm        confirm     #confirm-amount, #confirm-card, #transfer-confirm ->
                                     POST /api/transfer -> /transfer/success?id=..; from 1,000.00
                                     元 a confirm() dialog asks first (确认从CARD转入 ¥ AMOUNT？):
                                     Cancel transfers nothing and shows #transfer-cancelled
/transfer/success        success     #transfer-success (转入成功), #success-amount, #back-home
/cards/bind              cards       绑定银行卡: #card-no, #card-holder, #bind-submit ->
                                     POST /api/cards (Luhn); #card-error (卡号无效),
                                     #bind-success (绑定成功), #card-list; after binding the
                                     ID-photo form #id-form shows: input[type=file]#id-photo,
                                     #id-photo-submit -> POST /api/cards/ID/photo ->
                                     #id-photo-result (已上传：NAME（SIZE 字节）), #id-photo-error
/benefits                benefits    权益领取: #benefit-list, button.claim[data-id=ID] (id claim-ID)
                                     -> POST /api/benefits/ID/claim -> #claim-success (领取成功)
=======================  ==========  ==========================================================

Fund codes: 880001 880002 880003 880004. Transfer source cards (option values):
``icbc-3307``, ``cmb-5566``. Benefit ids: ``b101 b102 b103``. A card number that
passes the Luhn check: ``6222021234567890128`` (``6222021234567890123`` fails).
``/logout`` (GET) also ends the session; ``/`` redirects to ``/home``.

API (JSON; 401 ``{"error": ...}`` without a session, except /api/login)
--------------------------------------------------------------------------
``POST /api/login`` {username, password} · ``POST /api/logout`` ·
``GET /api/account`` · ``GET /api/nav`` · ``GET /api/funds`` · ``GET /api/funds/CODE`` ·
``POST /api/funds/CODE/buy`` {amount} · ``POST /api/transfer`` {amount, card} ·
``GET /api/transfer/ID`` · ``GET|POST /api/cards`` {card_no, holder} ·
``POST /api/cards/ID/photo`` {name, data: base64 of a PNG/JPEG up to 512 KB} ·
``GET /api/benefits`` · ``POST /api/benefits/ID/claim`` (idempotent).
Money is sent as strings with two decimals ("100.00").
WebSocket ``/live/quotes?fund=CODE&token=T`` (the session's stream token, written into the funds
page): a quote ``{"type": "quote", "code", "name", "nav", "seq"}`` at once, then every second.

Faults (``--fault NAME[=VALUE]``, repeatable; lists are comma-separated)
-----------------------------------------------------------------------
Endpoint names: login (POST /api/login, /api/logout), account (GET /api/account), nav
(GET /api/nav), funds (GET /api/funds), fund (GET /api/funds/CODE), buy (POST
/api/funds/CODE/buy), transfer (POST /api/transfer), receipt (GET /api/transfer/ID),
cards (GET|POST /api/cards; the transfer and confirm pages load the card list too),
benefits (GET /api/benefits), claim (POST /api/benefits/ID/claim).
Page names: login, home, funds, fund, sign, transfer, confirm, success, cards, benefits.

- ``slow_api=MS`` | ``slow_api=ENDPOINT:MS[,ENDPOINT:MS]``: delay all / the named API responses
- ``api_500=ENDPOINT[,..]``: the endpoint answers HTTP 500 JSON
- ``dead_button=ID[,..]``: the button with that id ignores clicks (e.g. ``transfer-confirm``)
- ``blank_page=PAGE[,..]``: the page answers 200 with an empty body (a white screen, a JS crash)
- ``nan_balance``: ``#total-assets`` shows ``¥ NaN``
- ``no_chart``: the ``#nav-chart`` canvas stays empty
- ``error_toast[=TEXT]``: a toast ``#toast`` (default 系统繁忙) over every page after load
- ``broken_image``: the promo banner's src is a 404
- ``layout_shift[=MS]``: MS ms (default 500) after load a 300px ``#late-banner`` pushes content down
- ``slow_hero=MS``: every page's main content (below the header) shows MS ms after the page started (LCP late)
- ``restyle=color|spacing``: every page's colours (header, total assets) or spacing (content 40 px lower) change
- ``as_of=YYYY-MM-DD``: the home page's chart caption ends with 截至 that date
- ``frozen_spinner=PAGE[,..]``: that page's spinner never goes away, its content never shows
- ``frozen_script=PAGE[,..]``: 0.3 s after that page has loaded, its script loops forever (a frozen tab)
- ``dialog_flood=PAGE[,..]``: 0.3 s after that page has loaded, ``alert()`` in a loop, forever
- ``huge_dom=PAGE[,..]``: that page arrives with a 150,000-row ``#huge-table`` after its content
- ``static_500=FILE[,..]``: ``/static/FILE`` answers 500 (``app.js`` every page's script, ``app.css`` its styles)
- ``broken_font``: every page asks for a web font ``/static/fonts/brand.woff2`` that answers 404
- ``api_status=ENDPOINT:STATUS[,..]``: the endpoint answers that error status (a 429 with ``Retry-After: 7``)
- ``third_party[=STATUS]``: every page loads ``/__third_party__/analytics.js`` from the other loopback name
  (``localhost`` for ``127.0.0.1`` and back: another site), answered with STATUS (default 500);
  ``DemoBank.third_party_hits`` counts the requests that reached the server

- ``ws_drop``: the live quote's WebSocket is closed (1011) right after every handshake; the page reconnects
- ``ws_delay=MS``: every live quote message arrives MS ms late
- ``clipped_text=ITEM[,..]``: text cut or drawn over other text (body class ``fault-ITEM``): ``amount`` the
  total on /home cut to ``¥128,4…``; ``button`` the logout button's label sticks out of its border; ``overlap``
  the chart caption on /home drawn over its title

Admin endpoint (no session; loopback clients only) on the same server:
``GET /__admin/faults`` -> ``{"faults": {...}, "available": {...}}``;
``POST /__admin/faults`` with ``{"set": {"slow_api": "800"}}`` and/or ``{"clear": ["slow_api"]}``
or ``{"clear": "all"}`` (clear first, then set; all-or-nothing) -> ``{"faults": {...}}``;
``DELETE /__admin/faults`` clears all. A bad body answers 400 ``{"error": "..."}``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import json
import os
import re
import secrets
import signal
import socket
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from decimal import Decimal
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import TypeAlias
from urllib.parse import parse_qs, quote, urlsplit

from ..core.jsontypes import JsonObject, JsonValue
from . import data, live
from .faults import FAULTS, HUGE_DOM_ROWS, RESTYLES, RETRY_AFTER_S, FaultSet, parse_fault
from .tracing import ServerTracing, otlp_from_env

Body: TypeAlias = dict[str, object]  # a request's JSON object, as read (each value checked where used)
Headers: TypeAlias = Mapping[str, str | list[str]]  # an answer's extra headers (a list: the header repeated)
Answer: TypeAlias = "JsonObject | tuple[JsonObject, Headers]"  # an API handler's JSON, with its headers

STATIC_DIR = Path(__file__).resolve().parent / "static"
PAGES_DIR = STATIC_DIR / "pages"
COOKIE = "patrol_bank_session"
THIRD_PARTY_PATH = "/__third_party__/"
MAX_SESSIONS = 2000
MAX_BODY = 64 * 1024
MAX_PHOTO = 512 * 1024  # an ID photo, decoded
MAX_UPLOAD_BODY = 1024 * 1024  # the photo as base64 in JSON

_STATIC_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}

# (regex, page name, title, needs session, menu item)
_PAGES: list[tuple[str, str, str, bool, str | None]] = [
    (r"/login", "login", "登录", False, None),
    (r"/home", "home", "首页", True, "nav-home"),
    (r"/funds", "funds", "基金", True, "nav-funds"),
    (r"/funds/(?P<code>\d{6})", "fund", "基金详情", True, "nav-funds"),
    (r"/funds/(?P<code>\d{6})/sign", "sign", "产品签约", True, "nav-funds"),
    (r"/funds/compare", "compare", "基金对比", True, "nav-funds"),
    (r"/funds/(?P<code>\d{6})/prospectus", "prospectus", "招募说明书", True, "nav-funds"),
    (r"/transfer", "transfer", "转入资金", True, "nav-transfer"),
    (r"/transfer/confirm", "confirm", "确认转入", True, "nav-transfer"),
    (r"/transfer/success", "success", "转入成功", True, "nav-transfer"),
    (r"/cards/bind", "cards", "绑定银行卡", True, "nav-cards"),
    (r"/benefits", "benefits", "权益领取", True, "nav-benefits"),
]
# Documents shown inside a page (an iframe), without the app's header and menu.
_RISK_DOCUMENT = re.compile(r"/funds/(?P<code>\d{6})/risk\Z")
_PAGE_ROUTES: list[tuple[re.Pattern[str], str, str, bool, str | None]] = [
    (re.compile(rx + r"\Z"), name, title, needs, menu) for rx, name, title, needs, menu in _PAGES]

_MENU = [
    ("nav-home", "/home", "首页"),
    ("nav-funds", "/funds", "基金"),
    ("nav-transfer", "/transfer", "转入资金"),
    ("nav-cards", "/cards/bind", "绑定银行卡"),
    ("nav-benefits", "/benefits", "权益领取"),
]

# (method, regex, endpoint name, handler method, needs session)
_API: list[tuple[str, str, str, str, bool]] = [
    ("POST", r"/api/login", "login", "api_login", False),
    ("POST", r"/api/logout", "login", "api_logout", False),
    ("GET", r"/api/account", "account", "api_account", True),
    ("GET", r"/api/nav", "nav", "api_nav", True),
    ("GET", r"/api/funds", "funds", "api_funds", True),
    ("GET", r"/api/funds/(?P<code>[^/]+)", "fund", "api_fund", True),
    ("POST", r"/api/funds/(?P<code>[^/]+)/buy", "buy", "api_buy", True),
    ("POST", r"/api/transfer", "transfer", "api_transfer", True),
    ("GET", r"/api/transfer/(?P<tid>[^/]+)", "receipt", "api_transfer_get", True),
    ("GET", r"/api/cards", "cards", "api_cards", True),
    ("POST", r"/api/cards", "cards", "api_bind", True),
    ("POST", r"/api/cards/(?P<card_id>[^/]+)/photo", "cards", "api_card_photo", True),
    ("GET", r"/api/benefits", "benefits", "api_benefits", True),
    ("POST", r"/api/benefits/(?P<bid>[^/]+)/claim", "claim", "api_claim", True),
]
_API_ROUTES: list[tuple[str, re.Pattern[str], str, str, bool]] = [
    (m, re.compile(rx + r"\Z"), endpoint, handler, needs) for m, rx, endpoint, handler, needs in _API]


class Session:
    def __init__(self, token: str, user: str) -> None:
        self.token = token
        self.user = user
        self.lock = threading.Lock()
        self.cards: list[JsonObject] = [dict(c) for c in data.BASE_CARDS]
        self.claimed: set[str] = set()
        self.transfers: dict[str, JsonObject] = {}
        self.orders: list[JsonObject] = []
        self.deposited = Decimal("0")


class ApiError(Exception):
    def __init__(self, status: int, message: str, code: str = "error") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


def _json_script(obj: JsonValue) -> str:
    text = json.dumps(obj, ensure_ascii=False, sort_keys=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


class DemoBank:
    """The demo bank server. ``port=0`` picks a free port; ``url`` is known after construction."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: list[str] | None = None,
        *,
        password: str | None = None,
        quiet: bool = True,
        otlp: str | None = None,
    ) -> None:
        self.faults = FaultSet(faults)  # validates before binding the port
        # A server span per request, exported over OTLP/HTTP (``demo.tracing``): --otlp or PATROL_DEMO_OTLP.
        otlp = otlp or otlp_from_env()
        self.tracing = ServerTracing(otlp) if otlp else None
        self.user = data.DEMO_USER
        env_password = os.environ.get("DEMO_PASSWORD")
        self.password_from_env = password is None and bool(env_password)
        self.password = password if password is not None else (env_password or data.DEFAULT_PASSWORD)
        self.quiet = quiet
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._sessions_lock = threading.Lock()
        self.third_party_hits = 0  # requests that reached /__third_party__/ (a blocked one never does)
        self._hits_lock = threading.Lock()
        self.live = live.LiveStats()  # the live quote's connections and the closes the server began
        self._stream_secret = secrets.token_bytes(32)  # signs the live quote's per-session stream tokens
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._httpd = _Server((host, port), _Handler)
        self._httpd.bank = self
        h, p = str(self._httpd.server_address[0]), int(self._httpd.server_address[1])
        shown = f"[{h}]" if ":" in h else h
        self.host, self.port = h, p
        self.url = f"http://{shown}:{p}"

    # -- lifecycle ------------------------------------------------------------
    def start(self) -> DemoBank:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2},
                name=f"demo-bank-{self.port}", daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
        self._httpd.server_close()
        if self.tracing is not None:
            self.tracing.shutdown()

    def __enter__(self) -> DemoBank:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- sessions ---------------------------------------------------------------
    def new_session(self, user: str) -> Session:
        s = Session(secrets.token_urlsafe(32), user)
        with self._sessions_lock:
            self._sessions[s.token] = s
            while len(self._sessions) > MAX_SESSIONS:
                self._sessions.popitem(last=False)
        return s

    def session(self, token: str | None) -> Session | None:
        if not token:
            return None
        with self._sessions_lock:
            return self._sessions.get(token)

    def end_session(self, token: str | None) -> None:
        if token:
            with self._sessions_lock:
                self._sessions.pop(token, None)

    def check_login(self, user: object, password: object) -> bool:
        if not isinstance(user, str) or not isinstance(password, str):
            return False
        ok_user = hmac.compare_digest(user.encode(), self.user.encode())
        ok_pw = hmac.compare_digest(password.encode(), self.password.encode())
        return ok_user and ok_pw


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    bank: DemoBank

    def handle_error(self, request: socket.socket | tuple[bytes, socket.socket], client_address: object) -> None:
        # A browser hanging up mid-response is normal; keep the console quiet.
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)) or self.bank.quiet:
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "PatrolDemoBank/1.0"
    sys_version = ""

    @property
    def bank(self) -> DemoBank:
        return self.server.bank

    def log_message(self, format: str, *args: object) -> None:
        if not self.bank.quiet:
            super().log_message(format, *args)

    # -- plumbing -------------------------------------------------------------------
    _status: int | None = None  # the answer's status, for the request's span

    def send_response(self, code: int, message: str | None = None) -> None:
        self._status = code
        super().send_response(code, message)

    def _send(self, status: int, body: bytes, ctype: str, headers: Headers | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        for k, v in (headers or {}).items():
            if isinstance(v, list):
                for item in v:
                    self.send_header(k, item)
            else:
                self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj: JsonValue, headers: Headers | None = None) -> None:
        body = json.dumps(obj, ensure_ascii=False).encode("utf-8")
        h: dict[str, str | list[str]] = {"Cache-Control": "no-store"}
        h.update(headers or {})
        self._send(status, body, "application/json; charset=utf-8", h)

    def _html(self, status: int, text: str, headers: Headers | None = None) -> None:
        h: dict[str, str | list[str]] = {"Cache-Control": "no-store"}
        h.update(headers or {})
        self._send(status, text.encode("utf-8"), "text/html; charset=utf-8", h)

    def _redirect(self, location: str, headers: Headers | None = None) -> None:
        h: dict[str, str | list[str]] = {"Location": location, "Cache-Control": "no-store"}
        h.update(headers or {})
        self._send(HTTPStatus.FOUND, b"", "text/plain; charset=utf-8", h)

    def _cookie(self) -> str | None:
        raw = self.headers.get("Cookie") or ""
        for part in raw.split(";"):
            k, _, v = part.strip().partition("=")
            if k == COOKIE:
                return v
        return None

    def _session(self) -> Session | None:
        return self.bank.session(self._cookie())

    def _body(self, limit: int = MAX_BODY) -> Body:
        length = self.headers.get("Content-Length")
        if length is None:
            raise ApiError(411, "缺少请求体长度", "length_required")
        try:
            n = int(length)
        except ValueError:
            raise ApiError(400, "请求体长度无效", "bad_request") from None
        if n < 0 or n > limit:
            raise ApiError(413, "请求体过大", "too_large")
        raw = self.rfile.read(n) if n else b""
        if not raw.strip():
            return {}
        try:
            obj = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ApiError(400, "请求体不是合法的 JSON", "bad_json") from None
        if not isinstance(obj, dict):
            raise ApiError(400, "请求体必须是 JSON 对象", "bad_json")
        return obj

    # -- dispatch ---------------------------------------------------------------------
    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def _dispatch(self, method: str) -> None:
        """The request, in a server span of its own when the bank is traced (the live quote's
        stream, open for minutes, is not)."""
        tracing = self.bank.tracing
        if tracing is None or urlsplit(self.path).path == live.PATH:
            return self._handle(method)
        with tracing.server_span(method, self.path, dict(self.headers.items()), self.headers.get("Host") or "",
                                 str(self.client_address[0])) as span:
            self._status = None
            try:
                self._handle(method)
            finally:
                tracing.finished(span, self._status)

    def _handle(self, method: str) -> None:
        parts = urlsplit(self.path)
        path = parts.path
        if len(path) > 1 and path.endswith("/"):
            path = path.rstrip("/") or "/"
        query = parse_qs(parts.query)
        try:
            if path == "/__admin/faults":
                return self._admin(method)
            if path == live.PATH:
                return self._live(method, query)
            if path.startswith("/api/"):
                return self._api(method, path)
            if path.startswith(THIRD_PARTY_PATH):
                return self._third_party()
            if method != "GET":
                return self._html(405, _simple_page("405", "不支持的请求方法"), {"Allow": "GET"})
            if path.startswith("/static/"):
                return self._static(path[len("/static/"):])
            if path == "/favicon.ico":
                return self._static("favicon.svg")
            if path == "/":
                return self._redirect("/home")
            if path == "/logout":
                self.bank.end_session(self._cookie())
                return self._redirect("/login", {"Set-Cookie": _clear_cookie()})
            return self._page(path, parts.query, query)
        except (ConnectionError, TimeoutError):
            raise
        except Exception:  # a bug in the demo must not kill the thread silently
            if not self.bank.quiet:
                import traceback

                traceback.print_exc()
            try:
                if path.startswith("/api/") or path.startswith("/__admin/"):
                    self._json(500, {"error": "服务器内部错误", "code": "internal"})
                else:
                    self._html(500, _simple_page("500", "服务器内部错误"))
            except OSError:
                pass

    # -- static ---------------------------------------------------------------------------
    def _static(self, rel: str) -> None:
        target = (STATIC_DIR / rel).resolve()
        ok = (
            target.is_file()
            and STATIC_DIR in target.parents
            and PAGES_DIR not in target.parents
            and target.suffix in _STATIC_TYPES
        )
        if not ok:
            return self._html(404, _simple_page("404", "页面不存在"))
        if self.bank.faults.static_fails(rel):
            return self._send(500, b"internal error", "text/plain; charset=utf-8", {"Cache-Control": "no-store"})
        self._send(200, target.read_bytes(), _STATIC_TYPES[target.suffix], {"Cache-Control": "no-cache"})

    # -- pages ----------------------------------------------------------------------------
    def _page(self, path: str, raw_query: str, query: dict[str, list[str]]) -> None:
        risk = _RISK_DOCUMENT.match(path)
        if risk and risk["code"] in data.FUNDS_BY_CODE:
            if self._session() is None:
                return self._redirect("/login?next=" + quote(path, safe="/"))
            return self._html(200, _risk_document(data.FUNDS_BY_CODE[risk["code"]]))
        for route in _PAGE_ROUTES:
            m = route[0].match(path)
            if m:
                break
        else:
            return self._html(404, _simple_page("404", "页面不存在"))
        _rx, name, title, needs_session, menu = route
        if needs_session and self._session() is None:
            target = path + (f"?{raw_query}" if raw_query else "")
            return self._redirect("/login?next=" + quote(target, safe="/"))
        faults = self.bank.faults
        if faults.page_blank(name):
            return self._html(200, _blank_page(title))
        config: JsonObject = {
            "page": name,
            "params": dict(m.groupdict()),
            "dead": list(faults.dead_buttons()),
            "clip": list(faults.clipped_text()),
            "frozen": faults.spinner_frozen(name),
            "toast": faults.toast(),
            "shift": faults.layout_shift_ms(),
            "hero": faults.slow_hero_ms(),
            "hang": faults.script_frozen(name),
            "flood": faults.dialog_flood(name),
            "live": self._live_config(name),
        }
        page = _render_page(name, title, menu, config, self._extra_head())
        if faults.huge_dom(name):
            page = page.replace("</main>", _huge_table() + "</main>", 1)
        self._html(200, page)

    def _live_config(self, page: str) -> JsonObject | None:
        """What the funds page needs to open the live quote: its fund and the session's stream token."""
        session = self._session()
        if page != "funds" or session is None:
            return None
        return {"path": live.PATH, "fund": data.FUNDS[0]["code"],
                "token": live.stream_token(self.bank._stream_secret, session.token)}

    def _live(self, method: str, query: dict[str, list[str]]) -> None:
        """The live quote's WebSocket (``patrol.demo.live``): signed in, with the session's token."""
        accept = live.handshake_headers(self.headers)
        if method != "GET" or accept is None:
            return self._json(400, {"error": "WebSocket upgrade expected", "code": "bad_request"})
        session = self._session()
        token = (query.get("token") or [""])[0]
        expected = live.stream_token(self.bank._stream_secret, session.token) if session is not None else ""
        if session is None or not hmac.compare_digest(token.encode(), expected.encode()):
            return self._json(401, {"error": "登录已过期，请重新登录", "code": "unauthorized"})
        self.close_connection = True  # the connection is the stream's from here on
        self.protocol_version = "HTTP/1.1"  # a browser takes a 101 only over HTTP/1.1
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.flush()
        live.serve(self.connection, self.bank.faults, self.bank.live, lambda: self.bank._stopped)

    def _extra_head(self) -> str:
        """What the broken_font and third_party faults add to every page's head."""
        faults, extra = self.bank.faults, ""
        if faults.slow_hero_ms() is not None:  # hidden from the first paint; app.js shows it late
            extra += "<style>#main:not(.shown){display:none}</style>\n"
        if (restyle := faults.restyle()) is not None:
            extra += f"<style>{RESTYLES[restyle]}</style>\n"
        if faults.broken_font():
            extra += ('<style>@font-face{font-family:"Patrol Brand";src:url(/static/fonts/brand.woff2) format("woff2")}'
                      '.brand{font-family:"Patrol Brand","Noto Sans CJK SC",sans-serif}</style>\n')
        if faults.third_party_status() is not None:
            # The other loopback name is another site to the browser (127.0.0.1 vs localhost).
            own = (self.headers.get("Host") or "").split(":")[0]
            other = "127.0.0.1" if own == "localhost" else "localhost"
            extra += f'<script async src="http://{other}:{self.bank.port}{THIRD_PARTY_PATH}analytics.js"></script>\n'
        return extra

    def _third_party(self) -> None:
        """Someone else's analytics script (the third_party fault): counted, answered
        with the fault's status."""
        with self.bank._hits_lock:
            self.bank.third_party_hits += 1
        status = self.bank.faults.third_party_status() or 200
        body = b"/* analytics */" if status == 200 else b"error"
        self._send(status, body, "text/javascript; charset=utf-8", {"Cache-Control": "no-store"})

    # -- admin ----------------------------------------------------------------------------
    def _admin(self, method: str) -> None:
        try:
            loopback = ipaddress.ip_address(self.client_address[0].split("%")[0]).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            return self._json(403, {"error": "the admin endpoint only answers loopback clients"})
        faults = self.bank.faults
        if method == "GET":
            return self._json(200, {"faults": dict(faults.active()), "available": dict(FAULTS)})
        if method == "DELETE":
            faults.clear()
            return self._json(200, {"faults": dict(faults.active())})
        if method != "POST":
            return self._json(405, {"error": f"method {method} not allowed; use GET, POST or DELETE"},
                              {"Allow": "GET, POST, DELETE"})
        try:
            body = self._body()
        except ApiError as e:
            return self._json(e.status, {"error": e.message})
        unknown = set(body) - {"set", "clear"}
        if unknown or not body:
            return self._json(400, {"error": 'body must be a JSON object with "set" and/or "clear": '
                                             '{"set": {"slow_api": "800"}, "clear": ["api_500"] or "all"}'})
        to_set = body.get("set") or {}
        clear = body.get("clear")
        if not isinstance(to_set, dict):
            return self._json(400, {"error": '"set" must be an object of fault name -> value (string or null)'})
        values: dict[str, str | None] = {}
        for k, v in to_set.items():
            if v is None or v is True:
                values[k] = None
            elif isinstance(v, (str, int)) and not isinstance(v, bool):
                values[k] = str(v)
            else:
                return self._json(400, {"error": f'fault {k}: value must be a string, a number or null'})
        if clear is not None and clear != "all" and not (
            isinstance(clear, list) and all(isinstance(c, str) for c in clear)
        ):
            return self._json(400, {"error": '"clear" must be a list of fault names or "all"'})
        try:
            faults.update(values, clear)
        except ValueError as e:
            return self._json(400, {"error": str(e)})
        return self._json(200, {"faults": dict(faults.active())})

    # -- API ------------------------------------------------------------------------------
    def _api(self, method: str, path: str) -> None:
        if method == "HEAD":
            method = "GET"
        route = None
        allowed = []
        for m, rx, endpoint, handler, needs_session in _API_ROUTES:
            match = rx.match(path)
            if match:
                if m == method:
                    route = (match, endpoint, handler, needs_session)
                    break
                allowed.append(m)
        if route is None:
            if allowed:
                return self._json(405, {"error": "不支持的请求方法", "code": "method_not_allowed"},
                                  {"Allow": ", ".join(sorted(set(allowed)))})
            return self._json(404, {"error": "接口不存在", "code": "not_found"})
        match, endpoint, handler, needs_session = route
        faults = self.bank.faults
        delay = faults.api_delay(endpoint)
        if delay > 0:
            time.sleep(delay)
        session = self._session()
        if needs_session and session is None:
            return self._json(401, {"error": "登录已过期，请重新登录", "code": "unauthorized"})
        if faults.api_fails(endpoint):
            return self._json(500, {"error": "服务器内部错误", "code": "internal"})
        status = faults.api_status(endpoint)
        if status is not None:
            limited = {"Retry-After": str(RETRY_AFTER_S)} if status == 429 else None
            return self._json(status, {"error": "请求失败", "code": f"http_{status}"}, limited)
        try:
            if method == "POST" and "json" not in (self.headers.get("Content-Type") or ""):
                raise ApiError(415, "请求体必须是 application/json", "unsupported_media_type")
            limit = MAX_UPLOAD_BODY if handler == "api_card_photo" else MAX_BODY
            body = self._body(limit) if method == "POST" else {}
            result = getattr(self, handler)(session, body, **match.groupdict())
        except ApiError as e:
            return self._json(e.status, {"error": e.message, "code": e.code})
        if isinstance(result, tuple):
            obj, headers = result
        else:
            obj, headers = result, None
        self._json(200, obj, headers)

    def api_login(self, session: Session | None, body: Body) -> Answer:
        if not self.bank.check_login(body.get("username"), body.get("password")):
            raise ApiError(401, "用户名或密码错误", "bad_credentials")
        self.bank.end_session(self._cookie())
        s = self.bank.new_session(self.bank.user)
        cookie = f"{COOKIE}={s.token}; Path=/; HttpOnly; SameSite=Lax"
        return {"ok": True, "user": s.user}, {"Set-Cookie": cookie}

    def api_logout(self, session: Session | None, body: Body) -> Answer:
        self.bank.end_session(self._cookie())
        return {"ok": True}, {"Set-Cookie": _clear_cookie()}

    def api_account(self, session: Session, body: Body) -> Answer:
        with session.lock:
            total = data.ACCOUNT["total_assets"] + session.deposited
        total_text = data.money(total)
        if self.bank.faults.nan_balance():
            # The bug: the backend started sending a display string; Number("128,460.52") is NaN.
            int_part, _, frac = total_text.partition(".")
            total_text = f"{int(int_part):,}.{frac}"
        promo = "/static/promo-missing.png" if self.bank.faults.broken_image() else "/static/promo.svg"
        return {
            "name": data.ACCOUNT["name"],
            "account_no": data.ACCOUNT["account_no"],
            "total_assets": total_text,
            "currency": "CNY",
            "promo": {"image": promo, "alt": "稳健理财 新客专享", "link": "/benefits"},
        }

    def api_nav(self, session: Session, body: Body) -> Answer:
        key = "series" if self.bank.faults.no_chart() else "points"  # the bug: a renamed field
        as_of = self.bank.faults.as_of()
        period = "近 90 日" + (f" · 截至 {as_of}" if as_of else "")
        return {"fund": data.FUNDS[0]["name"], "period": period, key: data.nav_points()}

    def api_funds(self, session: Session, body: Body) -> Answer:
        return {"funds": [{k: f[k] for k in ("code", "name", "type", "nav", "change", "risk")} for f in data.FUNDS]}

    def _fund(self, code: str) -> dict[str, str]:
        fund = data.FUNDS_BY_CODE.get(code)
        if fund is None:
            raise ApiError(404, "未找到该基金", "fund_not_found")
        return fund

    def api_fund(self, session: Session, body: Body, code: str) -> Answer:
        return {"fund": dict(self._fund(code)), "min_purchase": data.money(data.MIN_PURCHASE)}

    def api_buy(self, session: Session, body: Body, code: str) -> Answer:
        fund = self._fund(code)
        amount = data.parse_amount(body.get("amount"))
        if amount is None:
            raise ApiError(400, "请输入有效的购买金额", "bad_amount")
        if amount < data.MIN_PURCHASE:
            raise ApiError(400, f"最低购买金额为 {data.money(data.MIN_PURCHASE)} 元", "below_minimum")
        if body.get("agree") is not True:
            raise ApiError(400, "请先阅读并同意产品协议", "not_agreed")
        with session.lock:
            order_id = f"F{len(session.orders) + 1:06d}"
            order: JsonObject = {"id": order_id, "code": code, "fund": fund["name"], "amount": data.money(amount)}
            session.orders.append(order)
        return {"ok": True, "order": order}

    def _card(self, session: Session, card_id: object) -> JsonObject:
        with session.lock:
            for c in session.cards:
                if c["id"] == card_id:
                    return c
        raise ApiError(400, "请选择转出银行卡", "bad_card")

    def api_transfer(self, session: Session, body: Body) -> Answer:
        amount = data.parse_amount(body.get("amount"))
        if amount is None:
            raise ApiError(400, "请输入大于 0 的金额", "bad_amount")
        if amount > data.TRANSFER_LIMIT:
            raise ApiError(400, "超出单笔限额 50,000.00 元", "over_limit")
        card = self._card(session, body.get("card"))
        with session.lock:
            tid = f"T{len(session.transfers) + 1:06d}"
            record: JsonObject = {"id": tid, "amount": data.money(amount), "card": _card_view(card), "status": "success"}
            session.transfers[tid] = record
            session.deposited += amount
        return {"ok": True, "transfer": record}

    def api_transfer_get(self, session: Session, body: Body, tid: str) -> Answer:
        with session.lock:
            record = session.transfers.get(tid)
        if record is None:
            raise ApiError(404, "未找到该笔转入记录", "transfer_not_found")
        return {"transfer": record}

    def api_cards(self, session: Session, body: Body) -> Answer:
        with session.lock:
            return {"cards": [_card_view(c) for c in session.cards]}

    def api_bind(self, session: Session, body: Body) -> Answer:
        number = body.get("card_no")
        holder = body.get("holder")
        if not isinstance(holder, str) or not holder.strip():
            raise ApiError(400, "请输入持卡人姓名", "bad_holder")
        if not isinstance(number, str):
            raise ApiError(400, "卡号无效", "bad_card_no")
        number = re.sub(r"[\s-]", "", number)
        if not data.luhn_ok(number):
            raise ApiError(400, "卡号无效", "bad_card_no")
        holder = holder.strip()[:40]
        card_id = f"card-{number[-4:]}-{len(number)}"
        with session.lock:
            existing = next((c for c in session.cards if c.get("number") == number), None)
            if existing is None:
                existing = {"id": card_id, "bank": _bank_of(number), "last4": number[-4:],
                            "holder": holder, "number": number}
                session.cards.append(existing)
            view = _card_view(existing)
        return {"ok": True, "card": view}

    def api_card_photo(self, session: Session, body: Body, card_id: str) -> Answer:
        name, raw = body.get("name"), body.get("data")
        if not isinstance(name, str) or not name.strip() or not isinstance(raw, str):
            raise ApiError(400, "请选择身份证照片", "no_photo")
        try:
            photo = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(400, "照片数据无效", "bad_photo") from None
        if not photo:
            raise ApiError(400, "照片是空文件", "empty_photo")
        if len(photo) > MAX_PHOTO:
            raise ApiError(413, "照片不能超过 512 KB", "photo_too_large")
        if not photo.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")):
            raise ApiError(400, "请上传 JPG 或 PNG 格式的照片", "not_an_image")
        # Only the name the browser sent, never a path: shown back to the customer as-is.
        shown = re.split(r"[\\/]", name.strip())[-1][:80]
        with session.lock:
            card = next((c for c in session.cards if c["id"] == card_id), None)
            if card is None:
                raise ApiError(404, "未找到该银行卡", "card_not_found")
            card["id_photo"] = {"name": shown, "size": len(photo)}
        return {"ok": True, "photo": {"name": shown, "size": len(photo)}}

    def api_benefits(self, session: Session, body: Body) -> Answer:
        with session.lock:
            claimed = set(session.claimed)
        return {"benefits": [dict(b, claimed=b["id"] in claimed) for b in data.BENEFITS]}

    def api_claim(self, session: Session, body: Body, bid: str) -> Answer:
        benefit = data.BENEFITS_BY_ID.get(bid)
        if benefit is None:
            raise ApiError(404, "未找到该权益", "benefit_not_found")
        with session.lock:
            already = bid in session.claimed
            session.claimed.add(bid)
        # Idempotent: claiming again is a success too, so journeys can repeat.
        return {"ok": True, "benefit": dict(benefit, claimed=True), "already_claimed": already}


def _card_view(card: JsonObject) -> JsonObject:
    return {"id": card["id"], "bank": card["bank"], "last4": card["last4"], "holder": card["holder"],
            "label": f"{card['bank']}（尾号 {card['last4']}）"}


def _bank_of(number: str) -> str:
    prefixes = {"6222": "工商银行", "6212": "工商银行", "6225": "招商银行", "6214": "招商银行",
                "6217": "中国银行", "6228": "农业银行", "6227": "建设银行", "6226": "光大银行"}
    return prefixes.get(number[:4], "银联卡")


def _clear_cookie() -> str:
    return f"{COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"


_HEAD = """<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - {bank}</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/app.css">
</head>
"""


def _fragment(name: str) -> str:
    return (PAGES_DIR / f"{name}.html").read_text(encoding="utf-8")


def _render_page(name: str, title: str, menu: str | None, config: JsonObject, extra_head: str = "") -> str:
    if menu is not None:
        active = ' class="active" aria-current="page"'
        links = "\n".join(
            f'      <a id="{i}" href="{href}"{active if i == menu else ""}>{text}</a>'
            for i, href, text in _MENU
        )
        nav = (f'    <nav id="main-nav" class="nav" aria-label="主菜单">\n{links}\n'
               f'      <button id="logout" type="button" class="nav-logout">退出</button>\n    </nav>\n')
    else:
        nav = ""
    head = _HEAD.format(title=_esc(title), bank=data.BANK_NAME).replace("</head>", extra_head + "</head>")
    return (
        f"{head}<body class=\"page-{name}\">\n"
        f"<header class=\"topbar\">\n  <div class=\"topbar-inner\">\n"
        f"    <a class=\"brand\" href=\"/home\"><span class=\"brand-mark\" aria-hidden=\"true\"></span>"
        f"{data.BANK_NAME}</a>\n{nav}  </div>\n</header>\n"
        f"<main id=\"main\" class=\"main\">\n"
        f"  <div id=\"spinner\" class=\"spinner\" role=\"status\" aria-busy=\"true\">"
        f"<span class=\"spinner-ring\" aria-hidden=\"true\"></span><span class=\"spinner-text\">加载中…</span></div>\n"
        f"  <div id=\"page-error\" class=\"page-error\" role=\"alert\" hidden>"
        f"<p id=\"page-error-text\" class=\"page-error-text\">加载失败，请稍后重试</p>"
        f"<p id=\"page-error-code\" class=\"page-error-code\"></p>"
        f"<button id=\"page-retry\" type=\"button\" class=\"btn\">重试</button></div>\n"
        f"  <section id=\"content\" class=\"content\" hidden>\n{_fragment(name)}  </section>\n"
        f"</main>\n"
        f"<footer id=\"footer\" class=\"footer\">{data.BANK_NAME} 演示系统 · 仅供 Patrol 巡检演示使用 · "
        f"<span class=\"nowrap\">客服热线 95500-0000</span></footer>\n"
        f"<script>window.__BANK__ = {_json_script(config)};</script>\n"
        f"<script src=\"/static/app.js\"></script>\n"
        f"</body>\n</html>\n"
    )


def _risk_document(fund: Mapping[str, str]) -> str:
    """The risk disclosure the sign page shows in an iframe: its own document, with
    the checkbox the customer must tick before buying."""
    head = _HEAD.format(title="风险揭示书", bank=data.BANK_NAME)
    return (
        f"{head}<body class=\"risk-doc\">\n"
        f"<h1 id=\"risk-title\" class=\"risk-title\">{_esc(fund['name'])} 风险揭示书</h1>\n"
        f"<p>本基金风险等级为<strong id=\"risk-level\">{_esc(fund['risk'])}</strong>。基金净值会因市场波动而涨跌，"
        "投资人可能损失部分本金。</p>\n"
        "<p>过往业绩不代表未来表现，基金管理人不保证基金一定盈利，也不保证最低收益。</p>\n"
        "<label class=\"check\"><input id=\"risk-agree\" name=\"risk_agree\" type=\"checkbox\"> "
        "本人已阅读并理解上述风险，自愿承担投资风险</label>\n"
        "</body>\n</html>\n"
    )


def _huge_table() -> str:
    """The huge_dom fault: a statement of HUGE_DOM_ROWS rows sent with the page."""
    rows = "".join(f"<tr><td>{i}</td><td>交易流水 {i:06d}</td><td>¥ {i % 997}.00</td></tr>\n"
                   for i in range(1, HUGE_DOM_ROWS + 1))
    return f'<table id="huge-table" class="huge-table"><tbody>\n{rows}</tbody></table>\n'


def _blank_page(title: str) -> str:
    # The HTML arrives, but the app crashes before it renders anything: a white screen.
    head = _HEAD.format(title=_esc(title), bank=data.BANK_NAME)
    return (
        f"{head}<body class=\"blank\">\n<div id=\"app\"></div>\n"
        "<script>(function(){var app=undefined;app.mount(document.getElementById('app'));})();</script>\n"
        "</body>\n</html>\n"
    )


def _simple_page(code: str, message: str) -> str:
    head = _HEAD.format(title=_esc(message), bank=data.BANK_NAME)
    return (
        f"{head}<body class=\"page-simple\">\n<main class=\"main\"><div class=\"card simple\">"
        f"<h1>{_esc(code)}</h1><p>{_esc(message)}</p><a class=\"btn\" href=\"/home\">返回首页</a></div></main>\n"
        "</body>\n</html>\n"
    )


def serve_forever(host: str = "127.0.0.1", port: int = 8800, faults: list[str] | None = None,
                  otlp: str | None = None) -> None:
    """Serve in the foreground until Ctrl-C, SIGTERM or SIGHUP (a closed terminal); print
    the URL and demo credentials."""
    bank = DemoBank(host, port, faults, otlp=otlp)
    stop = threading.Event()
    previous: dict[int, Callable[[int, FrameType | None], object] | int | None] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            try:
                previous[sig] = signal.signal(sig, lambda *_: stop.set())
            except (ValueError, OSError):  # pragma: no cover
                pass
    bank.start()
    try:
        pw = "(from $DEMO_PASSWORD)" if bank.password_from_env else bank.password
        print(f"Demo bank serving at {bank.url}", flush=True)
        print(f"  login: user {bank.user}, password {pw}", flush=True)
        active = bank.faults.active()
        if active:
            shown = ", ".join(k if v is None else f"{k}={v}" for k, v in sorted(active.items()))
            print(f"  faults: {shown}", flush=True)
        print(f"  faults at run time: {bank.url}/__admin/faults", flush=True)
        if bank.tracing is not None:
            print(f"  traces: a server span per request, OTLP to {bank.tracing.endpoint}", flush=True)
        print("  press Ctrl-C to stop", flush=True)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        bank.stop()
        for signum, handler in previous.items():
            try:
                signal.signal(signum, handler)
            except (ValueError, OSError):  # pragma: no cover
                pass
        print("Demo bank stopped.", flush=True)


__all__ = ["DemoBank", "serve_forever", "parse_fault", "FaultSet", "FAULTS"]

"""What a finding is about, apart from what it looks like: its cause.

A finding's *reason* is the symptom (``over_budget``, ``visual_diff``); its ``Cause`` is
the thing on the app's side that explains it: a request or resource of the app's own
(method and URL *template*: ids, UUIDs, hashes and content-hashed file names written as
``{id}``/``{hash}``, so the same endpoint is the same cause in every journey), a host, a
WebSocket, an uncaught page error, a message the app showed on screen, or the step
itself when nothing else explains it. Checks set it; incidents group by it
(``group_key``); ``fold`` makes the symptoms that follow from a cause in the same step
its evidence. Pure data: nothing of Patrol's above the contracts layer is imported.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Protocol, TypeVar
from urllib.parse import urlsplit

from .core.jsontypes import growing_list, json_objects
from .core.vocabulary import Kind, Reason


class CauseKind(StrEnum):
    REQUEST = "request"  # an API call or page of the app's own: method + URL template
    RESOURCE = "resource"  # a file of the app's own (script, stylesheet, font, image, media)
    HOST = "host"  # a whole host (not resolved, refused, unreachable)
    WEBSOCKET = "websocket"  # a WebSocket of the app's own: URL template
    PAGE_ERROR = "page_error"  # an uncaught script error: message + source
    APP_MESSAGE = "app_message"  # an error message the app showed on screen (a toast)
    STEP = "step"  # nothing else explains it: the step itself


class Problem(StrEnum):
    """What went wrong with the cause (part of its identity: slow and failing are two problems)."""

    SLOW = "slow"
    FAILED = "failed"  # a server error (5xx), a network error, a file that did not load
    ERROR = "error"  # a client error status (4xx): a bug of one endpoint, not the backend
    CLOSED = "closed"  # a WebSocket that closed or kept reconnecting
    SILENT = "silent"  # a WebSocket with no message for longer than the step's budget
    SHOWN = "shown"  # a page error thrown, a message shown


# Path segments that are values, not names: numbers, UUIDs, long hex or token-like strings.
_NUMBER = re.compile(r"^[A-Za-z]{0,3}\d{3,}$|^\d+$")  # 42, 000001, b102
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_HEX = re.compile(r"^(?=.*\d)[0-9a-fA-F]{8,}$")
_TOKEN = re.compile(r"^(?=.*\d)(?=.*[A-Za-z])[A-Za-z0-9_-]{16,}$")
# A content hash inside a file name: ``index.3f2a9c1b.js``, ``main-BkX7a9Qz.js``, ``app_5f1e2d3c.css``.
_HASH_PART = re.compile(r"^(?=.*\d)[0-9a-fA-F]{6,}$|^(?=.*\d)(?=.*[a-z])(?=.*[A-Z])[A-Za-z0-9_-]{8,}$|^(?=.*\d)[a-z0-9]{8,}$")
_HASH_SUFFIX = re.compile(r"^(?P<stem>.+?)[-_.](?P<hash>[A-Za-z0-9_]{8,})$")
# Request types that are files of the page, not calls of its code.
FILE_TYPES = frozenset({"script", "stylesheet", "font", "image", "media", "manifest", "texttrack", "other"})
API_TYPES = frozenset({"fetch", "xhr"})


def _segment(seg: str, last: bool) -> str:
    if not seg:
        return seg
    if _NUMBER.match(seg) or _UUID.match(seg) or _HEX.match(seg) or _TOKEN.match(seg):
        return "{id}"
    if "." not in seg and sum(c.isdigit() for c in seg) >= 4:
        return "{id}"  # a value with a prefix: card-0128-19, order_20261206_7
    if last and "." in seg:
        return _file_name(seg)
    return seg


def _file_name(name: str) -> str:
    """``index.3f2a9c1b.js`` -> ``index.{hash}.js``; ``main-BkX7a9Qz.js`` -> ``main-{hash}.js``."""
    parts = name.split(".")
    ext, stems = parts[-1], parts[:-1]
    out = []
    for i, part in enumerate(stems):
        if i > 0 and _HASH_PART.match(part):
            out.append("{hash}")
            continue
        m = _HASH_SUFFIX.match(part)
        if m and _HASH_PART.match(m.group("hash")):
            sep = part[len(m.group("stem"))]
            out.append(f"{m.group('stem')}{sep}{{hash}}")
            continue
        out.append(part)
    return ".".join(out + [ext])


def url_template(url: str) -> tuple[str, str]:
    """``(host[:port], path template)`` of a URL; the query is left out (values, not names).
    A relative URL (the fake driver's) has no host."""
    try:
        parts = urlsplit(url)
        host = parts.netloc.rpartition("@")[2].lower()
        path = parts.path
    except ValueError:
        host, path = "", url.split("?", 1)[0]
    segs = (path or "/").split("/")
    return host, "/".join(_segment(s, i == len(segs) - 1) for i, s in enumerate(segs)) or "/"


def api_prefix(template: str) -> str:
    """The part of an API path that names the backend: its first segment (``/api``),
    or the first two when the first is a version or a generic word (``/api/v2``)."""
    segs = [s for s in template.split("/") if s]
    if not segs:
        return "/"
    if len(segs) > 2 and re.fullmatch(r"v\d+", segs[1]):
        return f"/{segs[0]}/{segs[1]}"
    return f"/{segs[0]}"


@dataclass(frozen=True, kw_only=True)
class Cause:
    kind: CauseKind = CauseKind.STEP
    problem: Problem | None = None
    method: str | None = None  # request: GET, POST...
    host: str | None = None  # host[:port]
    template: str | None = None  # URL path template: /api/transfer/{id}
    resource_type: str | None = None  # request/resource: fetch, xhr, document, script, font...
    status: int | None = None  # the answer's status (request/resource)
    text: str | None = None  # page error message, app message text, or a short description
    source: str | None = None  # page error: the script it came from (template)
    ms: float | None = None  # slow: how long it took

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", CauseKind(self.kind))
        if self.problem is not None:
            object.__setattr__(self, "problem", Problem(self.problem))

    # -- made by checks ------------------------------------------------------------------------
    @classmethod
    def step(cls) -> Cause:
        return cls()

    @classmethod
    def of_request(cls, method: str | None, url: str, problem: Problem, *, resource_type: str | None = None,
                   status: int | None = None, ms: float | None = None) -> Cause:
        """A request of the app's own: a file of the page (script, font...) is a resource,
        anything else (an API call, a page) a request."""
        host, template = url_template(url)
        kind = CauseKind.RESOURCE if resource_type in FILE_TYPES else CauseKind.REQUEST
        return cls(kind=kind, problem=problem, method=(method or "GET").upper() if kind == CauseKind.REQUEST else None,
                   host=host or None, template=template, resource_type=resource_type, status=status,
                   ms=round(ms, 1) if ms is not None else None)

    @classmethod
    def of_websocket(cls, url: str, problem: Problem, *, text: str | None = None, ms: float | None = None) -> Cause:
        host, template = url_template(url)
        return cls(kind=CauseKind.WEBSOCKET, problem=problem, host=host or None, template=template, text=text,
                   ms=round(ms, 1) if ms is not None else None)

    @classmethod
    def of_host(cls, host: str, text: str | None = None) -> Cause:
        return cls(kind=CauseKind.HOST, problem=Problem.FAILED, host=host.lower(), text=text)

    @classmethod
    def of_page_error(cls, message: str, source: str | None) -> Cause:
        src = None
        source = re.sub(r"(:\d+){1,2}$", "", source or "")  # a console location's :line:column
        if source:
            h, t = url_template(source)
            src = t if h else source
        return cls(kind=CauseKind.PAGE_ERROR, problem=Problem.SHOWN, text=_first_line(message, 200), source=src)

    @classmethod
    def of_app_message(cls, text: str) -> Cause:
        return cls(kind=CauseKind.APP_MESSAGE, problem=Problem.SHOWN, text=_first_line(text, 200))

    @classmethod
    def from_dict(cls, raw: object) -> Cause:
        """From a stored finding (report.json, the state database); anything unreadable is the step."""
        if isinstance(raw, Cause):
            return raw
        if not isinstance(raw, dict):
            return cls()
        def text(key: str) -> str | None:
            value = raw.get(key)
            return None if value is None else str(value)

        status, ms = raw.get("status"), raw.get("ms")
        try:
            return cls(kind=CauseKind(raw.get("kind") or CauseKind.STEP),
                       problem=Problem(raw["problem"]) if raw.get("problem") is not None else None,
                       method=text("method"), host=text("host"), template=text("template"),
                       resource_type=text("resource_type"), text=text("text"), source=text("source"),
                       status=status if isinstance(status, int) and not isinstance(status, bool) else None,
                       ms=float(ms) if isinstance(ms, (int, float)) and not isinstance(ms, bool) else None)
        except (TypeError, ValueError):
            return cls()

    def to_dict(self) -> dict[str, str | int | float]:
        return {k: (str(v) if isinstance(v, StrEnum) else v) for k, v in asdict(self).items() if v is not None}

    # -- what it is called ------------------------------------------------------------------
    @property
    def is_step(self) -> bool:
        return self.kind == CauseKind.STEP

    @property
    def is_backend(self) -> bool:
        """A slow or failing API call: grouped with every other one under the same API
        (one incident about the backend, not one per endpoint)."""
        return self.kind == CauseKind.REQUEST and self.resource_type in API_TYPES and self.problem in (Problem.SLOW, Problem.FAILED)

    @property
    def endpoint(self) -> str:
        """What a person names it by: ``GET /api/transfer/{id}``, ``/static/js/index.{hash}.js``."""
        if self.kind == CauseKind.REQUEST:
            return f"{self.method or 'GET'} {self.template or '/'}"
        if self.kind in (CauseKind.RESOURCE, CauseKind.WEBSOCKET):
            return self.template or "/"
        if self.kind == CauseKind.HOST:
            return self.host or ""
        return self.text or ""

    def group_key(self) -> str:
        """The identity incidents group by ("" for the step: the step is its own group)."""
        if self.kind == CauseKind.STEP:
            return ""
        if self.is_backend:
            return f"backend {self.problem} {self.host or ''}{api_prefix(self.template or '/')}"
        if self.kind == CauseKind.REQUEST:
            return f"request {self.problem} {self.method} {self.host or ''}{self.template} {self.status or ''}".rstrip()
        if self.kind in (CauseKind.RESOURCE, CauseKind.WEBSOCKET):
            return f"{self.kind} {self.problem} {self.host or ''}{self.template}"
        if self.kind == CauseKind.HOST:
            return f"host {self.host}"
        if self.kind == CauseKind.PAGE_ERROR:
            return f"page_error {_normal_text(self.text or '')} @ {self.source or ''}"
        return f"app_message {_normal_text(self.text or '')}"

    def describe(self) -> str:
        """One line: what is wrong, in plain words."""
        k, p = self.kind, self.problem
        if k == CauseKind.REQUEST or k == CauseKind.RESOURCE:
            what = self.endpoint if k == CauseKind.REQUEST else f"the {self.resource_type or 'file'} {self.template}"
            if p == Problem.SLOW:
                return f"{what} answered in {self.ms / 1000:.1f} s" if self.ms else f"{what} is slow"
            if self.status:
                return f"{what} answered HTTP {self.status}"
            return f"{what} did not load" if k == CauseKind.RESOURCE else f"{what} failed"
        if k == CauseKind.WEBSOCKET:
            return f"WebSocket {self.template}: {self.text or p}"
        if k == CauseKind.HOST:
            return f"host {self.host} unreachable" + (f" ({self.text})" if self.text else "")
        if k == CauseKind.PAGE_ERROR:
            return f"page error: {self.text}" + (f" ({self.source})" if self.source else "")
        if k == CauseKind.APP_MESSAGE:
            return f"the screen shows {self.text!r}"
        return "the step itself"


def _first_line(text: str, limit: int) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _normal_text(text: str) -> str:
    """A message as identity: numbers in it (ids, counts, times) do not make another cause."""
    return re.sub(r"\d+", "#", text.lower())[:160]


# -- one cause per step: the symptoms that follow from it are its evidence ---------------------------
# Symptoms on the screen that a failed file or call explains (and a slow one, too, when the
# screen was judged while it was still coming).
_SCREEN_SYMPTOMS = frozenset({Reason.VISUAL_DIFF, Reason.BROKEN_IMAGE, Reason.BLANK_REGION, Reason.BLANK_SCREEN,
                              Reason.MISSING_TEXT, Reason.WRONG_VALUE, Reason.SCREEN_UNSETTLED})
_STALL_SYMPTOMS = frozenset({Reason.SPINNER_STUCK, Reason.FROZEN_SCREEN, Reason.OVER_BUDGET, Reason.SCREEN_UNSETTLED})
SYMPTOM_KEYS = ("images", "diff", "diff_ratio", "changed_percent", "broken", "region", "duration_ms", "budget_ms")


class Finding(Protocol):
    """What ``fold`` reads and changes of a finding (``results.Finding``, which holds a
    ``Cause``: named here so this module stays below it)."""

    kind: Kind
    reason: Reason
    message: str
    evidence: dict[str, object]
    fatal: bool
    cause: Cause


F = TypeVar("F", bound=Finding)


def _explains(lead: Cause, symptom: Finding, still_loading: bool) -> bool:
    if lead.kind == CauseKind.APP_MESSAGE:
        # Text the screen shows ("NaN", an error toast) is itself what the customer sees, not why a
        # chart is blank beside it: two faults on one screen stay two findings.
        return False
    if lead.problem == Problem.SLOW:
        # A slow call explains the wait and, while it was still coming, what the screen lacked.
        return symptom.reason in _STALL_SYMPTOMS or (still_loading and (symptom.reason in _SCREEN_SYMPTOMS or symptom.fatal))
    return True  # a failed file, call, socket or a thrown error explains whatever the step then showed


# Files whose failure changes every later screen of the journey (a font, a stylesheet, a
# picture): the page keeps them as they first came, so a later screen's visual symptom is theirs.
LASTING_FILES = frozenset({"font", "stylesheet", "image"})
_LASTING_SYMPTOMS = frozenset({Reason.VISUAL_DIFF, Reason.BLANK_REGION, Reason.MISSING_TEXT})


def lasting_file(cause: Cause) -> bool:
    return cause.kind == CauseKind.RESOURCE and cause.problem == Problem.FAILED and cause.resource_type in LASTING_FILES


def fold(findings: list[F], earlier: tuple[Cause, ...] = ()) -> list[F]:
    """The step's findings with the symptoms that follow from a cause folded into the
    finding that names it (``evidence.symptoms``: reason, message and the pictures), so a
    failed font and its visual diff are one finding. A visual symptom of a later step
    with nothing in its own step to explain it takes the cause of a file that failed
    earlier in the journey (``earlier``: ``lasting_file`` causes), so the font is one
    incident, not one per screen it changed. Findings with a cause of their own, and
    symptoms no cause explains, stay apart. Idempotent."""
    leads = [f for f in findings if not f.cause.is_step]
    if not leads:
        for f in findings:
            if earlier and f.reason in _LASTING_SYMPTOMS and not f.fatal:
                f.cause = earlier[0]
                f.evidence["explained_by"] = f"{earlier[0].describe()} (earlier in the journey)"
        return findings
    out: list[F] = []
    for f in findings:
        if not f.cause.is_step:
            out.append(f)
            continue
        lead = next((c for c in leads if _explains(c.cause, f, bool(c.evidence.get("still_loading")))), None)
        if lead is None:
            out.append(f)
            continue
        symptom: dict[str, object] = {"kind": str(f.kind), "reason": str(f.reason), "message": f.message}
        symptom.update({k: f.evidence[k] for k in SYMPTOM_KEYS if k in f.evidence})
        growing_list(lead.evidence, "symptoms").append(symptom)
        for image in json_objects(f.evidence, "images"):
            images = growing_list(lead.evidence, "images")
            if image not in images:
                images.append(image)
        if f.fatal and not lead.fatal:
            # The flow broke because of it: the cause is what broke the flow.
            lead.fatal = True
            lead.kind = Kind.BREAKPOINT if lead.kind == Kind.RENDER else lead.kind
    return out

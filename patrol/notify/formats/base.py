"""What a format is: it turns an event document into HTTP requests (signed at send
time), and judges a 2xx answer (some services answer 200 even on failure)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, ClassVar, TypeVar

from ... import __version__
from ...secrets import MASKER

if TYPE_CHECKING:
    from ...config.receivers import Receiver
    from ..text import Doc

T = TypeVar("T")

USER_AGENT = f"Patrol/{__version__} (+incident notifier)"


@dataclass
class Request:
    url: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    label: str = "message"


@dataclass
class Verdict:
    ok: bool
    permanent: bool = False  # give up at once (the delivery is dead)
    error: str | None = None
    retry_after: float | None = None


@dataclass
class Context:
    tz: tzinfo = UTC
    now: Callable[[], datetime] = lambda: datetime.now(UTC)


def json_bytes(obj: object) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def masked(obj: T) -> T:
    """Mask the content before any credential is added to it (the same shape, every string masked)."""
    out: T = MASKER.mask_obj(obj)
    return out


def json_headers(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {"content-type": "application/json; charset=utf-8", "user-agent": USER_AGENT, **(extra or {})}


class Format:
    name: ClassVar[str] = ""
    secret: ClassVar[str] = "optional"  # required / optional / none
    secret_help: ClassVar[str] = ""
    default_url: ClassVar[str | None] = None
    default_rate: ClassVar[tuple[int, float] | None] = None
    default_language: ClassVar[str] = "en"
    # Event types this format carries; None = all.
    event_types: ClassVar[frozenset[str] | None] = None
    # Re-send a firing event this often while it still fires (None: once); the dispatcher schedules it.
    resend_every_s: ClassVar[float | None] = None

    def handles(self, event_type: str) -> bool:
        return self.event_types is None or event_type in self.event_types

    def check_secret(self, secret: str) -> str | None:
        """A problem with the configured secret, or None."""
        return None

    def requests(self, doc: Doc, receiver: Receiver, ctx: Context) -> list[Request]:
        raise NotImplementedError

    def judge(self, status: int, body: bytes) -> Verdict:
        """A 2xx answer: was it really accepted?"""
        return Verdict(True)


def errcode_verdict(body: bytes, keys: tuple[str, ...], retryable: set[int], service: str) -> Verdict:
    """Group-robot APIs answer HTTP 200 with a JSON error code: non-zero is a failure."""
    try:
        data = json.loads(body.decode("utf-8", "replace") or "{}")
    except ValueError:
        return Verdict(False, error=f"{service} answered 200 without JSON: {body[:200].decode('utf-8', 'replace')}")
    if not isinstance(data, dict):
        return Verdict(False, error=f"{service} answered 200 with unexpected JSON")
    for key in keys:
        if key in data:
            try:
                code = int(data[key])
            except (TypeError, ValueError):
                return Verdict(False, error=f"{service}: {key}={data[key]!r}")
            if code == 0:
                return Verdict(True)
            msg = data.get("errmsg") or data.get("msg") or data.get("StatusMessage") or ""
            text = f"{service} refused the message: {key} {code} {msg}".strip()
            return Verdict(False, permanent=code not in retryable, error=text)
    return Verdict(True)

"""``dingtalk``: DingTalk (钉钉) group robot, markdown message.

With ``secret`` (the robot's 加签 secret) each request is signed: ``timestamp`` in
milliseconds, ``sign`` = URL-encoded base64 HMAC-SHA256 of ``"timestamp\\nsecret"``
keyed with the secret, both appended to the URL. DingTalk answers HTTP 200 even
when it refuses a message: a non-zero ``errcode`` is a failure (130101 / 410100
"too fast" are retried, others such as 310000 "sign/keyword/IP not allowed" are
dead at once). Limit: 20 messages a minute per robot. Robots secured by keyword
need "Patrol" as keyword (every title starts with it).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import TYPE_CHECKING
from urllib.parse import quote_plus

from ..text import Doc, clean, message
from . import markdown, register
from .base import Context, Format, Request, Verdict, errcode_verdict, json_bytes, json_headers, masked

if TYPE_CHECKING:
    from ...config.receivers import Receiver


def sign(secret: str, timestamp_ms: int) -> str:
    to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode("utf-8"), to_sign, hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest).decode())


def signed_url(url: str, secret: str | None, timestamp_ms: int) -> str:
    if not secret:
        return url
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}timestamp={timestamp_ms}&sign={sign(secret, timestamp_ms)}"


@register
class DingTalk(Format):
    name = "dingtalk"
    secret = "optional"
    secret_help = "the robot's signing secret (加签, SEC...)"
    default_rate = (20, 60.0)
    default_language = "zh"

    def requests(self, doc: Doc, receiver: Receiver, ctx: Context) -> list[Request]:
        msg = message(doc, receiver.language, ctx.tz)
        body = masked({
            "msgtype": "markdown",
            "markdown": {"title": clean(msg.title, 100), "text": markdown.render(msg, limit_bytes=18000)},
        })
        ts = int(ctx.now().timestamp() * 1000)
        return [Request(signed_url(receiver.url, receiver.secret, ts), json_bytes(body), json_headers())]

    def judge(self, status: int, body: bytes) -> Verdict:
        return errcode_verdict(body, ("errcode",), {130101, 410100, -1}, "DingTalk")

"""``feishu``: Feishu / Lark (飞书) custom bot, an interactive card with markdown.

With ``secret`` (签名校验) the body carries ``timestamp`` (seconds) and ``sign`` =
base64 of HMAC-SHA256 keyed with ``"timestamp\\nsecret"`` over an empty message.
Feishu answers HTTP 200 even on failure: a non-zero ``code`` (or ``StatusCode``) is a
failure (11232 / 9499 "too many requests" are retried; 19021 "sign match fail",
19024 "keyword not found" and the like are dead at once). Limit: 5 a second.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import TYPE_CHECKING

from ..text import Doc, clean, message
from . import markdown, register
from .base import Context, Format, Request, Verdict, errcode_verdict, json_bytes, json_headers, masked

if TYPE_CHECKING:
    from ...config.receivers import Receiver

TEMPLATES = {"critical": "red", "error": "red", "warning": "orange", "ok": "green"}


def sign(secret: str, timestamp_s: int) -> str:
    key = f"{timestamp_s}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


@register
class Feishu(Format):
    name = "feishu"
    secret = "optional"
    secret_help = "the bot's signing secret (签名校验)"
    default_rate = (5, 1.0)
    default_language = "zh"

    def requests(self, doc: Doc, receiver: Receiver, ctx: Context) -> list[Request]:
        msg = message(doc, receiver.language, ctx.tz)
        body_md = markdown.render(msg, heading="", limit_bytes=20000)
        # The title goes into the card header (plain text); drop it from the body.
        body_md = body_md.split("\n", 2)[2] if body_md.count("\n") >= 2 else body_md
        card = {
            "config": {"wide_screen_mode": True},
            "header": {"template": TEMPLATES.get(msg.severity, "grey"),
                       "title": {"tag": "plain_text", "content": clean(msg.title, 200)}},
            "elements": [{"tag": "markdown", "content": body_md}],
        }
        body = masked({"msg_type": "interactive", "card": card})
        if receiver.secret:
            ts = int(ctx.now().timestamp())
            body = {"timestamp": str(ts), "sign": sign(receiver.secret, ts), **body}
        return [Request(receiver.url, json_bytes(body), json_headers())]

    def judge(self, status: int, body: bytes) -> Verdict:
        return errcode_verdict(body, ("code", "StatusCode"), {11232, 9499}, "Feishu")

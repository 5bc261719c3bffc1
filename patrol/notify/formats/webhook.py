"""``webhook``: Patrol's own JSON (schema: ``patrol/notify/schemas/webhook-v1.schema.json``),
signed per Standard Webhooks (https://www.standardwebhooks.com/):

- ``webhook-id``: ``msg_<event id>``, the same on every retry of one event;
- ``webhook-timestamp``: seconds since the epoch, at sending;
- ``webhook-signature``: ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``, keyed
  with the base64-decoded secret (``whsec_...``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import TYPE_CHECKING

from ..text import Doc
from . import register
from .base import Context, Format, Request, json_bytes, json_headers, masked

if TYPE_CHECKING:
    from ...config.receivers import Receiver


def secret_key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix("whsec_"), validate=True)


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    to_sign = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), to_sign, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


@register
class Webhook(Format):
    name = "webhook"
    secret = "required"
    secret_help = (
        "a Standard Webhooks secret, whsec_ followed by base64 (make one with: "
        "python -c \"import base64,os;print('whsec_'+base64.b64encode(os.urandom(32)).decode())\")"
    )

    def check_secret(self, secret: str) -> str | None:
        try:
            key = secret_key(secret)
        except (binascii.Error, ValueError):
            return f"not a valid secret: expected {self.secret_help}"
        if len(key) < 16:
            return "the secret is too short: use at least 16 random bytes (24+ recommended)"
        return None

    def requests(self, doc: Doc, receiver: Receiver, ctx: Context) -> list[Request]:
        assert receiver.secret is not None  # required by this format, checked at load
        body = json_bytes(masked(doc))
        msg_id = doc["id"]
        ts = int(ctx.now().timestamp())
        headers = json_headers({
            "webhook-id": msg_id,
            "webhook-timestamp": str(ts),
            "webhook-signature": sign(receiver.secret, msg_id, ts, body),
        })
        return [Request(receiver.url, body, headers)]

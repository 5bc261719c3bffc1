"""``wecom``: WeCom (企业微信) group robot. A markdown message, then, for a newly
opened incident, its screenshot as an image message (base64 + md5 of the image,
which must be under 2 MB; a larger screenshot is re-encoded smaller or left out).
The robot's key is part of the URL (keep it in ``${secret:...}``); there is no
signing. HTTP 200 with a non-zero ``errcode`` is a failure (45009 "too fast" and
-1 "busy" are retried). Limit: 20 messages a minute per robot."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from ...core.vocabulary import EventType as E
from ..text import Doc, message
from . import markdown, register
from .base import Context, Format, Request, Verdict, errcode_verdict, json_bytes, json_headers, masked

if TYPE_CHECKING:
    from ...config.receivers import Receiver

MAX_IMAGE = 2 * 1024 * 1024
MAX_MARKDOWN = 4096  # bytes, UTF-8


def image_bytes(path: str | None) -> bytes | None:
    """The screenshot, under 2 MB (re-encoded as JPEG when the PNG is too big)."""
    if not path:
        return None
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    if len(data) < MAX_IMAGE:
        return data
    try:
        import cv2  # OpenCV/NumPy only for an oversized screenshot, not with every format
        import numpy as np

        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if img is None:
            return None
        for scale, quality in ((1.0, 85), (1.0, 70), (0.75, 70), (0.5, 70), (0.35, 60)):
            resized = img if scale == 1.0 else cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            ok, buf = cv2.imencode(".jpg", resized, [cv2.IMWRITE_JPEG_QUALITY, quality])
            if ok and len(buf) < MAX_IMAGE:
                return buf.tobytes()
    except Exception:
        return None
    return None


@register
class WeCom(Format):
    name = "wecom"
    secret = "none"
    secret_help = "WeCom robots are not signed; the key is part of the url (use ${secret:...} in url)"
    default_rate = (20, 60.0)
    default_language = "zh"

    def requests(self, doc: Doc, receiver: Receiver, ctx: Context) -> list[Request]:
        msg = message(doc, receiver.language, ctx.tz)
        text = markdown.render(msg, colour_tags=True, limit_bytes=MAX_MARKDOWN)
        out = [Request(receiver.url, json_bytes(masked({"msgtype": "markdown", "markdown": {"content": text}})),
                       json_headers(), "markdown")]
        inc = doc["data"].get("incident")
        if doc["type"] == E.OPENED and inc:
            shot = (inc.get("evidence") or {}).get("screenshot") or {}
            data = image_bytes(shot.get("path"))
            if data:
                image = {"base64": base64.b64encode(data).decode(), "md5": hashlib.md5(data).hexdigest()}
                out.append(Request(receiver.url, json_bytes({"msgtype": "image", "image": image}), json_headers(), "image"))
        return out

    def judge(self, status: int, body: bytes) -> Verdict:
        return errcode_verdict(body, ("errcode",), {45009, -1}, "WeCom")

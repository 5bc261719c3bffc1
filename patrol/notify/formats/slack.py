"""``slack``: Slack incoming webhook with Block Kit blocks (and ``text`` as the
notification fallback). The URL is the credential (keep it in ``${secret:...}``).
Untrusted text is escaped for mrkdwn (``&``, ``<``, ``>``), so page text cannot
mention @channel or make links. Limit: about one message a second."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..text import Doc, Message, clean, message
from . import register
from .base import Context, Format, Request, json_bytes, json_headers, masked

if TYPE_CHECKING:
    from ...config.receivers import Receiver

ICONS = {"critical": ":red_circle:", "error": ":red_circle:", "warning": ":large_orange_circle:", "ok": ":large_green_circle:"}


def esc(text: str, limit: int = 1900) -> str:
    return clean(text, limit).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link_url(url: str) -> str:
    return url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C").replace(" ", "%20")


def blocks(msg: Message) -> list[dict[str, object]]:
    out: list[dict[str, object]] = [
        {"type": "header", "text": {"type": "plain_text", "text": clean(msg.title, 150), "emoji": True}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{ICONS.get(msg.severity, '')} *{esc(msg.headline, 2900)}*"}},
    ]
    fields = [{"type": "mrkdwn", "text": f"*{esc(label, 100)}*\n{esc(value, 1800)}"} for label, value in msg.facts]
    for i in range(0, len(fields), 10):
        out.append({"type": "section", "fields": fields[i: i + 10]})
    links = []
    for lk in msg.links:
        if lk.url:
            links.append(f"<{link_url(lk.url)}|{esc(lk.label, 50)}>")
        elif lk.path:
            links.append(f"*{esc(lk.label, 50)}*: `{esc(lk.path, 400)}`")
    if links:
        out.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(links)}})
    if msg.footer:
        out.append({"type": "context", "elements": [{"type": "mrkdwn", "text": esc(msg.footer, 300)}]})
    return out


@register
class Slack(Format):
    name = "slack"
    secret = "none"
    secret_help = "Slack incoming webhooks are not signed; the URL is the credential (use ${secret:...} in url)"
    default_rate = (1, 1.0)

    def requests(self, doc: Doc, receiver: Receiver, ctx: Context) -> list[Request]:
        msg = message(doc, receiver.language, ctx.tz)
        body = masked({"text": esc(f"{msg.title}: {msg.headline}", 3000), "blocks": blocks(msg)})
        return [Request(receiver.url, json_bytes(body), json_headers())]

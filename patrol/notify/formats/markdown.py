"""Markdown shared by DingTalk, WeCom and Feishu. Untrusted text is escaped: HTML
specials become entities (these renderers honour some tags, e.g. <font>, <at>),
markdown specials are backslash-escaped, and newlines are folded so page text
cannot start a heading, a list or a quote."""

from __future__ import annotations

import re
from urllib.parse import quote

from ..text import Message, clean

# ``_`` inside a word (expect_failed) is not emphasis in markdown; escape it only at word edges.
_MD = re.compile(r"([\\`*\[\]~]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")


def escape(text: str) -> str:
    s = clean(text, 2000)
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD.sub(r"\\\1", s)


def safe_url(url: str) -> str:
    """A link target that cannot break out of ``(...)``."""
    return quote(url, safe=":/?#=&%@+,;~-._!$'*")


def render(msg: Message, heading: str = "###", colour_tags: bool = False, limit_bytes: int | None = None) -> str:
    title = escape(msg.title)
    if colour_tags:
        colour = {"critical": "warning", "error": "warning", "warning": "warning", "ok": "info"}.get(msg.severity, "comment")
        title = f'<font color="{colour}">{title}</font>'
    head = [f"{heading} {title}".strip(), "", f"**{escape(msg.headline)}**", ""]
    facts = [f"- **{escape(label)}**: {escape(value)}" for label, value in msg.facts]
    links = []
    for link in msg.links:
        if link.url:
            links.append(f"- [{escape(link.label)}]({safe_url(link.url)})")
        elif link.path:
            links.append(f"- **{escape(link.label)}**: {escape(link.path)}")
    tail = ["", f"> {escape(msg.footer)}"] if msg.footer else []
    body = head + facts + ([""] + links if links else []) + tail
    text = "\n".join(body)
    if limit_bytes is not None:
        while len(text.encode("utf-8")) > limit_bytes and facts:
            facts.pop()  # least important facts are last
            body = head + facts + ["- …"] + ([""] + links if links else []) + tail
            text = "\n".join(body)
        if len(text.encode("utf-8")) > limit_bytes:
            text = text.encode("utf-8")[: limit_bytes - 3].decode("utf-8", "ignore") + "…"
    return text

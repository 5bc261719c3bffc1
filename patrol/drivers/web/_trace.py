"""A Playwright trace per web journey (``browser.trace``: retain-on-failure, on, off),
written as ``trace.zip`` into the journey's folder of the run and opened with
``playwright show-trace``.

What it records: DOM snapshots before and after every action, the network and the
console; not screencast frames, since pixels would carry what a person typed into a
plain text field (Patrol's own step screenshots, redacted, are in the report).

No secret leaves in it. Playwright writes what the journey typed (a fill's text),
the DOM's input values and the request bodies (a login POST) into the trace, so
every file in the zip is rewritten with each ``${secret:...}`` value masked, also as
it appears JSON-, URL- and HTML-escaped.
"""

from __future__ import annotations

import html
import json
import re
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, quote_plus

from ...secrets import MASK, MASKER

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext

MODES = ("retain-on-failure", "on", "off")


class Tracer:
    """Starts tracing a browser context and, at the journey's end, keeps or drops it."""

    def __init__(self, context: BrowserContext, mode: str):
        self.context = context
        self.mode = mode
        self.recording = False

    async def start(self, title: str) -> None:
        if self.mode == "off":
            return
        await self.context.tracing.start(title=title, screenshots=False, snapshots=True, sources=False)
        self.recording = True

    def keeps(self, failed: bool) -> bool:
        return self.mode == "on" or (self.mode == "retain-on-failure" and failed)

    async def save(self, path: Path, failed: bool) -> bool:
        """Stop tracing; True when the trace was written (masked) to ``path``."""
        if not self.recording:
            return False
        self.recording = False
        if not self.keeps(failed):
            await self.context.tracing.stop()
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        raw = path.with_name(path.name + ".part")
        try:
            await self.context.tracing.stop(path=str(raw))
            mask_trace(raw, path, secret_values())
        finally:
            raw.unlink(missing_ok=True)  # an unmasked trace never stays on disk
        return True


def secret_values() -> list[str]:
    """The secret values this process has resolved so far (the masker's own list)."""
    return sorted(MASKER.values())


def variants(value: str) -> set[str]:
    """How a typed value can appear in a trace's files."""
    found = {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1],
             quote(value, safe=""), quote(value), quote_plus(value), html.escape(value), html.escape(value, quote=False)}
    return {v for v in found if len(v) >= 3}


def mask_trace(source: Path, target: Path, secrets: list[str]) -> None:
    """Copy the trace zip ``source`` to ``target`` with every secret masked in every file."""
    pattern = _pattern(secrets)
    mask = MASK.encode()
    tmp = target.with_name(target.name + ".masking")
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if pattern is not None:
                data = pattern.sub(mask, data)
            zout.writestr(info.filename, data)
    tmp.replace(target)


def _pattern(secrets: list[str]) -> re.Pattern[bytes] | None:
    forms = {v.encode() for s in secrets for v in variants(s)}
    if not forms:
        return None
    return re.compile(b"|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True)))

from __future__ import annotations

import fnmatch
import re
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ..core.vocabulary import Reason
from ..results import BREAKPOINT, Finding
from . import register
from .base import Check, parsed_as, wait_for_condition

if TYPE_CHECKING:
    from .. import yamlpos
    from ..journey.parsing import Invalid, ParseContext
    from ..step.evidence import StepContext


def url_matches(pattern: str, url: str) -> bool:
    """``re:...`` is a regular expression; a pattern starting with ``/`` is a glob on
    the path (and query); anything else a glob on the whole URL."""
    if pattern.startswith("re:"):
        return re.search(pattern[3:], url) is not None
    if pattern.startswith("/"):
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        return fnmatch.fnmatchcase(target, pattern) or fnmatch.fnmatchcase(parts.path, pattern)
    return fnmatch.fnmatchcase(url, pattern)


@register
class ExpectUrl(Check):
    name = "expect_url"
    phase = "live"
    expect_key = "url"
    summary = "where the customer must have arrived: /path glob, full-URL glob, or re:REGEX"
    schema = {"type": "string", "minLength": 1}

    def parse(self, value: object, path: yamlpos.Path, ctx: ParseContext) -> str | Invalid:
        pattern: str | Invalid = ctx.string(value, path)
        if isinstance(pattern, str) and pattern.startswith("re:"):
            try:
                re.compile(pattern[3:])
            except re.error as e:
                return ctx.error(path, f"bad regular expression: {e}")
        return pattern

    async def run(self, sc: StepContext, params: object) -> list[Finding]:
        pattern = parsed_as(params, str)
        driver = sc.driver

        async def arrived() -> bool:
            return url_matches(pattern, await driver.current_url())

        if await wait_for_condition(sc, arrived):
            return []
        url = await driver.current_url()
        return [
            Finding(
                kind=BREAKPOINT,
                reason=Reason.EXPECT_FAILED,
                message=f"expected to arrive at {pattern} but the page stayed at {url}",
                evidence={"expected_url": pattern, "url": url, "waited_ms": sc.timeout_ms},
                fatal=True,
            )
        ]

"""Strict locators: an action on a selector that matches several elements does not
quietly take the first. Playwright's locators refuse it already ("strict mode
violation"); this turns its refusal into Patrol's ``ambiguous_locator`` breakpoint
with the count and the first three matches, and the way out (``nth:``/``first:``).
Assertions that read every match (count, texts, values) never ask for strictness.
"""

from __future__ import annotations

import re

from ...core.vocabulary import Reason
from ...errors import ActionFailed

_VIOLATION = re.compile(r"strict mode violation: (.*?) resolved to (\d+) elements", re.IGNORECASE)
_MATCH = re.compile(r"^\s*\d+\)\s+(.*?)(?:\s+aka\s+.*)?$")
SHOWN = 3
CLIP = 160


def ambiguous(what: str, error: str) -> ActionFailed | None:
    """The ``ambiguous_locator`` failure for a Playwright strict-mode error; None for any other error."""
    m = _VIOLATION.search(error)
    if m is None:
        return None
    located, count = m.group(1), int(m.group(2))
    matches: list[str] = []
    for line in error[m.end():].splitlines():
        hit = _MATCH.match(line)
        if hit and len(matches) < SHOWN:
            html = hit.group(1).strip()
            matches.append(html if len(html) <= CLIP else html[: CLIP - 1] + "…")
    listed = "; ".join(f"{i}) {h}" for i, h in enumerate(matches, 1))
    return ActionFailed(
        f"{what}: it matches {count} elements, so which one is meant would be a guess "
        f"(say which with {{css: ..., nth: N}} or {{css: ..., first: true}}, or make the selector precise): {listed}",
        reason=Reason.AMBIGUOUS_LOCATOR,
        evidence={"locator": located, "count": count, "matches": matches},
    )

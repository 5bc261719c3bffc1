"""Small text helpers every layer uses."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

# What drivers append after the sentence that matters: Playwright's call log,
# Selenium's stack trace and documentation link.
_TRAILERS = ("\nCall log:", "\nStacktrace:", "; For documentation on this error")


def first_line(e: BaseException | str, limit: int | None = None) -> str:
    """The first line of an error message, without the driver's trailers."""
    text = str(getattr(e, "msg", None) or e).strip()
    for trailer in _TRAILERS:
        text = text.split(trailer)[0].strip()
    line = text.splitlines()[0] if text else type(e).__name__
    return line[:limit] if limit else line


def suggest(word: object, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for a near miss among ``choices``, else ``""``."""
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def type_name(value: object) -> str:
    """What a YAML value is, in a person's words (for validation messages)."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__

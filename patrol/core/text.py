"""Small text helpers every layer uses."""

from __future__ import annotations

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

"""Screen filters: run on every screenshot before anything stores, compares, reads
or sends it (redaction registers one). A registry with no registrants of its own;
``patrol/plugins.py`` imports the modules that fill it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..step.evidence import StepContext

ScreenFilter = Callable[["StepContext", bytes], Awaitable[bytes]]
SCREEN_FILTERS: list[ScreenFilter] = []


def screen_filter(fn: ScreenFilter) -> ScreenFilter:
    """Register ``fn`` (a decorator)."""
    SCREEN_FILTERS.append(fn)
    return fn

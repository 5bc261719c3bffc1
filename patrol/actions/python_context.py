"""What a ``python:`` step's function is called with: one ``PythonContext``.

Kept apart from the action so a helper module can import it for its annotations
(``from patrol.actions.python_context import PythonContext``) without pulling in
anything else of Patrol's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from appium.webdriver.webdriver import WebDriver
    from playwright.async_api import Page

    from ..drivers.base import Driver

T = TypeVar("T")


@dataclass(frozen=True)
class PythonContext:
    """Everything a ``python:`` step's function may use (the fields are fixed; ``vars``
    is the one thing meant to change).

    page       the Playwright ``Page`` (async API) of a web journey, else None
    session    the Appium (Selenium) webdriver of an app journey, else None
    driver     Patrol's ``Driver`` for the journey (``await driver.click(...)``...)
    vars       the journey's stored values (``${vars.NAME}``), by name: read them, and
               set entries to store values (or return a dict, see the action's doc)
    args       the step's ``args:`` (``${...}`` already filled in), {} when none
    timeout_ms the step's hard timeout: finish well within it
    run_id     the run's id (``${run.id}``)
    base_url   the journey's base URL, or None
    """

    page: Page | None
    session: WebDriver | None
    driver: Driver
    vars: dict[str, str]
    args: dict[str, object]  # as the journey wrote them
    timeout_ms: float
    run_id: str
    base_url: str | None
    _loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False, compare=False)

    def run(self, awaitable: Awaitable[T]) -> T:
        """From a sync function (it runs in a worker thread): run a coroutine of the
        async Playwright page or the driver on the journey's event loop and return its
        result, e.g. ``ctx.run(ctx.page.title())``. Async functions just ``await``."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("ctx.run() needs the journey's event loop; this context has none")
        if _on_loop_thread(loop):
            raise RuntimeError("ctx.run() is for sync functions; an async function awaits instead")
        return asyncio.run_coroutine_threadsafe(_as_coroutine(awaitable), loop).result()


def _on_loop_thread(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:  # no loop in this thread: a worker thread
        return False


async def _as_coroutine(awaitable: Awaitable[T]) -> T:
    return await awaitable

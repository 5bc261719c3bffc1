"""The recording session: a headed Chromium, the page script in every page, and the
events it reports turned into steps until the person stops (Ctrl+C, SIGTERM, SIGHUP,
closing the window). ``save`` runs as soon as they stop, before the browser is closed:
closing may hang or fail (the terminal's Ctrl+C reaches Playwright's driver too), and
what was recorded is already in memory."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

from playwright.async_api import BrowserContext, Frame, Page, Playwright, Response, ViewportSize, async_playwright
from playwright.async_api import Error as PlaywrightError

from ..drivers.chromium import ARGS, find_chromium
from ..errors import InputError, RobotError
from .display import open_display
from .page_script import BINDING, RECORDER_JS
from .steps import RecordedStep, Recording

VIEWPORT: ViewportSize = {"width": 1280, "height": 800}  # the journey's `device: desktop`
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@dataclass
class SessionOptions:
    url: str
    cdp_port: int | None = None
    on_step: Callable[[RecordedStep], None] = lambda step: None
    on_note: Callable[[str], None] = lambda text: None


def record(options: SessionOptions, recording: Recording, save: Callable[[], None]) -> str:
    """Record until stopped; returns what stopped it. Raises RobotError (the browser
    could not start) or InputError (the URL could not be opened)."""
    display = open_display()
    if display.virtual:
        options.on_note(f"no desktop display: recording on a virtual one ({display.env['DISPLAY']})")
    try:
        return asyncio.run(_Session(options, recording, display.env).run(save))
    finally:
        display.close()


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else repr(e)


class _Session:
    def __init__(self, options: SessionOptions, recording: Recording, display_env: dict[str, str]):
        self.options = options
        self.recording = recording
        self.display_env = display_env
        self.page: Page | None = None
        self.stopped: asyncio.Future[str] | None = None

    def stop(self, why: str) -> None:
        if self.stopped is not None and not self.stopped.done():
            self.stopped.set_result(why)

    async def run(self, save: Callable[[], None]) -> str:
        loop = asyncio.get_running_loop()
        self.stopped = loop.create_future()
        for sig in STOP_SIGNALS:  # from the start: a Ctrl+C while Chromium starts still saves
            loop.add_signal_handler(sig, self.stop, signal.Signals(sig).name)
        path = find_chromium()
        pw = await async_playwright().start()
        try:
            # A closed window's Chromium may still be writing its profile as we clean up;
            # the profile is throwaway, so a straggling file is not an error.
            with tempfile.TemporaryDirectory(prefix="patrol-record-", ignore_cleanup_errors=True) as profile:
                context = await self._launch(pw, path, profile)
                try:
                    why = await self._watch(context)
                    save()
                    return why
                finally:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(context.close(), 10)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(pw.stop(), 10)
            for sig in STOP_SIGNALS:
                loop.remove_signal_handler(sig)

    async def _launch(self, pw: Playwright, path: str, profile: str) -> BrowserContext:
        args = ARGS + [f"--window-size={VIEWPORT['width'] + 20},{VIEWPORT['height'] + 140}"]
        if self.options.cdp_port is not None:
            args += [f"--remote-debugging-port={self.options.cdp_port}", "--remote-debugging-address=127.0.0.1"]
        try:
            # The signals are ours: Playwright's own handlers would kill the browser first.
            return await pw.chromium.launch_persistent_context(
                profile, executable_path=path, headless=False, args=args, viewport=VIEWPORT,
                env={**os.environ, **self.display_env}, handle_sigint=False, handle_sigterm=False,
                handle_sighup=False, timeout=60_000,
            )
        except PlaywrightError as e:
            raise RobotError(f"could not start Chromium at {path}: {_first_line(e)}") from None

    async def _watch(self, context: BrowserContext) -> str:
        assert self.stopped is not None
        page = self.page = context.pages[0] if context.pages else await context.new_page()
        await context.expose_binding(BINDING, self._on_event)
        await context.add_init_script(RECORDER_JS)
        context.on("page", lambda _p: self.options.on_note("a new tab opened: only the first tab is recorded"))
        context.on("close", lambda _c: self.stop("window closed"))
        page.on("close", lambda _p: self.stop("window closed"))
        opening = asyncio.ensure_future(page.goto(self.options.url, wait_until="domcontentloaded", timeout=30_000))
        waiters: list[asyncio.Future[Response | None] | asyncio.Future[str]] = [opening, self.stopped]
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        if not opening.done():  # stopped while the first page loads: nothing to record yet
            opening.cancel()
            return await self.stopped
        try:
            opening.result()
        except PlaywrightError as e:
            raise InputError(f"could not open {self.options.url}: {_first_line(e)}") from None
        self._announce(0, lambda: self.recording.opened(self.options.url))
        page.on("framenavigated", self._on_navigated)
        return await self.stopped

    def _on_event(self, source: dict[str, object], payload: object) -> None:
        # Only the recorded tab's own document: a journey has one page, and a selector
        # cannot reach into an iframe.
        page = self.page
        if page is not None and source.get("frame") is page.main_frame and source.get("page") is page:
            self._announce(len(self.recording.steps), lambda: self.recording.event(payload, time.monotonic()))

    def _on_navigated(self, frame: Frame) -> None:
        page = self.page
        if page is not None and frame is page.main_frame:
            self._announce(len(self.recording.steps), lambda: self.recording.navigated(frame.url, time.monotonic()))

    def _announce(self, before: int, change: Callable[[], object]) -> None:
        """Apply a change; tell the person about each new step (typing that extends a
        fill is not news)."""
        change()
        for step in self.recording.steps[before:]:
            self.options.on_step(step)

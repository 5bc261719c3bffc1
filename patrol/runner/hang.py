"""A page that hangs never hangs Patrol.

While a step runs, a watcher beside it asks the page's (app's) own UI thread to run
something trivial (``Driver.answers``), again and again. The wait is measured on
Patrol's side, so it holds whatever the page does: a script that loops forever keeps
the renderer's main thread, and every call into the page (an evaluate, a screenshot,
a locator count) would wait with it. Not answered within the step's hard timeout, the
page's script is interrupted for a moment (``Driver.script_running``: the debugger's
pause request, taken between two statements of a running script): found running, twice,
the page is unresponsive (``page_unresponsive``; on the app path, where a driver cannot
look inside, ``app_not_responding`` on time alone) and the step is cut off there. A page
parsing or laying out a huge document takes no script's pause meanwhile: it is slow, and
the step budget judges it, as before.

A dialog answered at once is not a hang, but a page that opens one after another (an
``alert()`` in a loop) never gets anywhere either: more than ``FLOOD_AFTER`` unexpected
dialogs in one step is ``dialog_flood``.

The robot's own CPU wait (``cpu_wait.py``) excuses nothing here: a frozen renderer
is runnable all the time, so it always "waits for a CPU", and a healthy one answers a
trivial script the moment it runs at all.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..core.vocabulary import Kind, Reason

if TYPE_CHECKING:
    from ..drivers.base import Driver

# How often a page that answered is asked again: a freeze is seen at most this much late.
PROBE_INTERVAL_S = 0.25
# How often the watcher looks at the dialogs while a probe waits for its answer.
LOOK_INTERVAL_S = 0.05
# Not answered for the hard timeout, the page's script is interrupted to see whether it
# is what holds the page: taken within this long, it was running (a page laying out
# takes it only at its next script); asked again this often while the page stays silent.
PAUSED_WITHIN_S = 0.5
SCRIPT_ASK_S = 1.0
# Between the two times a script is found running.
CONFIRM_AFTER_S = 0.3
# Unexpected dialogs in one step past which the page is flooding the customer with them.
FLOOD_AFTER = 5


@dataclass(frozen=True)
class Hang:
    """Why a step was cut off: the finding's kind, reason, words and evidence."""

    kind: Kind
    reason: Reason
    message: str
    evidence: dict[str, object] = field(default_factory=dict)


async def watch_for_hang(driver: Driver, timeout_s: float, *, app: bool = False) -> Hang:
    """Returns only when the page stops answering for ``timeout_s`` or floods dialogs;
    the runner cancels it when the step is over."""
    base = driver.dialogs_seen()
    probing = True
    silent_since: float | None = None  # the page has not answered since (a pause of ours does not count)
    while True:
        sent = time.monotonic()
        since = sent if silent_since is None else silent_since
        ask_after = since + timeout_s
        paused = False
        probe: asyncio.Future[bool | None] | None = asyncio.ensure_future(driver.answers()) if probing else None
        try:
            while True:
                flood = _flood(driver, base)
                if flood is not None:
                    return flood
                now = time.monotonic()
                if probe is None:
                    if now - sent >= PROBE_INTERVAL_S:
                        break
                    await asyncio.sleep(LOOK_INTERVAL_S)
                    continue
                if probe.done():
                    # A driver that cannot tell is not asked again; one whose probe failed
                    # (the page went away) was answered as far as a hang goes. A page paused
                    # by us answers from the debugger's loop: that is no answer of the page's.
                    probing = probe.cancelled() or probe.exception() is not None or probe.result() is not None
                    silent_since = since if paused else None
                    break
                if now >= ask_after:
                    paused = paused or driver.sees_scripts
                    hang = await _judge(driver, now - since, app)
                    if hang is not None:
                        return hang
                    ask_after = time.monotonic() + SCRIPT_ASK_S
                await asyncio.wait([probe], timeout=LOOK_INTERVAL_S)
        finally:
            if probe is not None and not probe.done():
                probe.cancel()
        await _sleep_watching(driver, base, PROBE_INTERVAL_S)


async def _sleep_watching(driver: Driver, base: int, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if _flood(driver, base) is not None:
            return
        await asyncio.sleep(min(LOOK_INTERVAL_S, max(0.0, end - time.monotonic())))


def _flood(driver: Driver, base: int) -> Hang | None:
    count = driver.dialogs_seen() - base
    if count <= FLOOD_AFTER:
        return None
    last = driver.last_dialog() or {}
    kind, words = last.get("type", "alert"), str(last.get("message", ""))
    return Hang(Kind.BREAKPOINT, Reason.DIALOG_FLOOD,
                f"the page opened {count} {kind} dialogs one after another in this step ({words!r}): "
                "a customer could only keep closing them",
                {"dialog": {"type": kind, "message": words}, "dialogs": count})


async def _judge(driver: Driver, waited_s: float, app: bool) -> Hang | None:
    """Not answered for the hard timeout: a hang when a script of the page's is what
    holds it (or the driver cannot tell); a page still parsing or laying out a huge
    document is slow, not hung (its time is the step budget's to judge). A pause request
    is taken at the next statement of script, which after a long layout may be any
    script: a script that never yields is found running at once, twice in a row."""
    evidence: dict[str, object] = {"unresponsive_ms": round(waited_s * 1000)}
    if app:
        return Hang(Kind.STALL, Reason.APP_NOT_RESPONDING,
                    f"the app stopped responding: its UI thread has not answered for {waited_s:.1f} s", evidence)
    if not driver.sees_scripts:
        return Hang(Kind.STALL, Reason.PAGE_UNRESPONSIVE,
                    f"the page stopped responding: it has not answered for {waited_s:.1f} s", evidence)
    where = await driver.script_running(PAUSED_WITHIN_S)
    if where is not None:
        await asyncio.sleep(CONFIRM_AFTER_S)
        where = await driver.script_running(PAUSED_WITHIN_S)
    if where is None:
        return None
    evidence["script"] = where
    at = f" (in {where['function']} at {where['url']}:{where['line']})" if where.get("url") else ""
    return Hang(Kind.STALL, Reason.PAGE_UNRESPONSIVE,
                f"the page stopped responding: its script has been running for {waited_s:.1f} s{at}", evidence)

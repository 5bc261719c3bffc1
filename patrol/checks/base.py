"""The check interface.

A check turns step evidence into findings. It may own a key of a step's ``expect:``
mapping (``expect_key``), and/or run on every step (``always``). ``phase`` says when:
- ``live``: right after the action, against the live screen, inside the step's
  timing (e.g. waiting for an element to become visible);
- ``evidence``: after the screenshot, on the evidence (network errors, budget,
  pixels, OCR).

An evidence check that does slow work on the pixels (OCR, comparing) splits itself:
``look`` asks the live page what it needs (element boxes, where words are) and
returns a ``Verdict``, the rest of the work on the evidence alone. The runner reaches
verdicts in step order while the journey goes on to its next step; they never end a
journey (their findings are not fatal) and never touch the driver.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, ClassVar, TypeVar

from ..core.capabilities import NONE, Capability
from ..core.jsontypes import JsonObject

if TYPE_CHECKING:
    from .. import yamlpos
    from ..journey.parsing import ParseContext
    from ..results import Finding
    from ..step.evidence import StepContext

# The part of a check that works on the step's evidence alone (no driver calls).
Verdict = Callable[[], Awaitable["list[Finding]"]]
P = TypeVar("P")


def parsed_as(params: object, kind: type[P]) -> P:
    """A step's expectation as its check's ``parse`` made it (a ``kind``): the journey
    model holds each check's own type as ``object``, so the check narrows it back."""
    if not isinstance(params, kind):
        raise TypeError(f"expected the parsed {kind.__name__}, got {type(params).__name__}")
    return params


class Check:
    name: ClassVar[str]
    phase: ClassVar[str] = "evidence"
    expect_key: ClassVar[str | None] = None
    always: ClassVar[bool] = False  # runs on every step, expectation or not
    schema: ClassVar[JsonObject] = {}
    summary: ClassVar[str] = ""
    # Declared hooks the runner reads (never looked up with getattr):
    settle: ClassVar[bool] = False  # wants a settled screen (animations off, quiet window) before the screenshot
    # Among evidence checks of the same group (always-on detectors, then expectations),
    # lower runs first, so findings come in a fixed order whatever the import order:
    # network -40, budget -30, blank_screen -20, broken_image -10, forbidden_text 0;
    # not_blank 0, text 1, not_text 2, visual 10.
    order: ClassVar[int] = 0
    # An always-on check that still judges a step whose flow already broke (a white
    # page after a breakpoint is still worth saying); ``budget`` does not: a broken
    # step is not also "slow". Expectations are never judged on a broken step.
    runs_on_broken_step: ClassVar[bool] = True
    # Driver capabilities an ``expect:`` of this check needs beyond the core
    # (``core.capabilities``); on a target that lacks one, the step is a validate error.
    needs: ClassVar[frozenset[Capability]] = NONE

    def parse(self, value: object, path: yamlpos.Path, ctx: ParseContext) -> object:
        """The expectation's parameters (a frozen dataclass of the check's module), or
        ``INVALID`` after recording a problem in ``ctx``."""
        return value

    def enabled(self, sc: StepContext) -> bool:
        """For always-on checks: whether this journey/config leaves it on."""
        return True

    async def run(self, sc: StepContext, params: object) -> list[Finding]:
        """The whole check: what ``look`` saw, judged now."""
        seen = await self.look(sc, params)
        return seen if isinstance(seen, list) else await seen()

    async def look(self, sc: StepContext, params: object) -> list[Finding] | Verdict:
        """What needs the live page, now; returns the findings, or the verdict still to
        reach on the evidence. A check overrides ``run`` or ``look``."""
        if type(self).run is Check.run:
            raise NotImplementedError(f"{type(self).__name__} overrides neither run nor look")
        return await self.run(sc, params)


# Once the app has visibly failed (a 5xx, a crashed script), waiting out the whole
# timeout for an element proves nothing more; a short grace lets a page that
# recovers on its own still pass.
FAILURE_GRACE_S = 1.0


# Time the robot lost waiting for a CPU of its own machine lengthens the hard timeout
# (the app's time is what it measures), by at most one more hard timeout, in steps of
# at least this much.
ROBOT_WAIT_STEP_MS = 250.0


async def wait_for_condition(sc: StepContext, predicate: Callable[[], Awaitable[bool]]) -> bool:
    """Wait up to the step's hard timeout for ``predicate``; stop early once the app
    has failed for longer than a short grace. True when the condition holds. The
    timeout is the app's: the time the robot itself waited for a CPU during the step
    (step/cpu_wait.py) is added, up to one more hard timeout."""
    failed_at: list[float] = []

    async def done() -> bool:
        if await predicate():
            return True
        if sc.driver.failure_seen():
            if not failed_at:  # the grace counts from the failure, which may have come during the action
                failed_at.append(sc.driver.failed_at() or time.monotonic())
            return time.monotonic() - failed_at[0] > FAILURE_GRACE_S
        return False

    stopped = await sc.driver.wait_until(done, timeout_ms=sc.timeout_ms)
    granted = 0.0
    while not stopped:
        more, _waited = await robot_wait_owed(sc, granted)
        if not more:
            break
        granted += more
        stopped = await sc.driver.wait_until(done, timeout_ms=more)
    return await predicate()


async def robot_wait_owed(sc: StepContext, granted_ms: float = 0.0) -> tuple[float, float]:
    """(more, waited): the time (ms) the robot has waited for a CPU during the step so
    far, and how much of it the step is still owed beyond ``granted_ms`` (at most one
    hard timeout in all; 0 when less than ``ROBOT_WAIT_STEP_MS`` or not measured)."""
    if sc.evidence.cpu_wait is None:
        return 0.0, 0.0
    waited = await asyncio.to_thread(sc.evidence.cpu_wait.stop) or 0.0
    more = min(waited, sc.timeout_ms) - granted_ms
    return (more if more >= ROBOT_WAIT_STEP_MS else 0.0), waited

"""Verdicts reached while the journey goes on.

The slow part of the eye checks (OCR, pixel comparisons) works on a step's evidence
alone, so it need not hold the browser up: the next step's action runs while one
worker reaches the verdicts, strictly in step order (what a journey reports once,
what the previous screen was, stay as they were). A step is recorded (status,
findings, ``step_finished``) when its verdicts are in, and the journey's result is
only read once every step is recorded. Verdicts are never fatal, so whether the
journey goes on is known before they are reached.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..results import SKIPPED

if TYPE_CHECKING:
    from ..checks.base import Verdict
    from ..results import Finding, StepResult
    from ..step.evidence import StepContext


@dataclass
class _Step:
    sc: StepContext
    sr: StepResult
    parts: list[list[Finding] | Verdict]
    done: int = 0  # parts already added to the step's findings
    recorded: bool = False


@dataclass
class Judging:
    """One journey's queue of steps waiting for their verdicts."""

    record: Callable[[StepContext, StepResult], None]  # status, findings, listeners
    _steps: list[_Step] = field(default_factory=list)
    _worker: asyncio.Task[None] | None = None

    def add(self, sc: StepContext, sr: StepResult, parts: list[list[Finding] | Verdict]) -> None:
        self._steps.append(_Step(sc, sr, parts))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.ensure_future(self._work())

    def raise_if_failed(self) -> None:
        """A verdict that raised (a robot error) ends the journey at the next step."""
        if self._worker is not None and self._worker.done() and not self._worker.cancelled():
            self._worker.result()

    async def drain(self) -> None:
        """Every step recorded. Shielded: a journey cut off while waiting here leaves
        the worker running, for ``finish`` to bound."""
        while self._worker is not None and not self._worker.done():
            await asyncio.shield(self._worker)
        self.raise_if_failed()

    async def finish(self, within_s: float, *, record_unjudged: bool = True) -> None:
        """After the journey ended early: give pending verdicts ``within_s``, then
        ``abort``."""
        worker = self._worker
        if worker is not None and not worker.done():
            try:
                await asyncio.wait_for(asyncio.shield(worker), within_s)
            except (TimeoutError, Exception):
                pass
        self.abort(record_unjudged=record_unjudged)

    def abort(self, *, record_unjudged: bool = True) -> None:
        """Stop the worker. A step whose verdicts were all reached is recorded. One still
        waiting is recorded with the findings it has when ``record_unjudged`` (a journey
        cut off by its time limit: the verdicts had their grace), else it stays running,
        so the journey's end (interrupted, error) is its status, never "passed" for
        checks that did not run. After a verdict raised (a robot error), its step stays
        running and the steps after it are as if never reached."""
        worker = self._worker
        failed = worker is not None and worker.done() and not worker.cancelled() and worker.exception() is not None
        if worker is not None and not worker.done():
            worker.cancel()
        waiting = [s for s in self._steps if not s.recorded]
        if failed and waiting:
            for step in waiting[1:]:
                step.sr.status = SKIPPED
            return
        for step in waiting:
            if record_unjudged or step.done == len(step.parts):
                self._record(step)

    async def _work(self) -> None:
        for step in self._steps:
            while step.done < len(step.parts):
                part = step.parts[step.done]
                # In order, into the step's findings as they come: a later check (visual)
                # reads what is already wrong with this screen.
                step.sc.findings += part if isinstance(part, list) else await part()
                step.done += 1
            if not step.recorded:
                self._record(step)

    def _record(self, step: _Step) -> None:
        for part in step.parts[step.done:]:
            if isinstance(part, list):  # a verdict never reached adds nothing
                step.sc.findings += part
        step.done = len(step.parts)
        step.recorded = True
        self.record(step.sc, step.sr)

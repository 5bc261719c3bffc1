"""Walks a journey's steps as written: groups, ``if:`` conditions, ``repeat:`` rounds
and ``frame:`` scopes. What one step does is the runner's ``run_step``; this module
only decides which steps run, how often, and inside which frames."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..journey.model import Condition, Group, Locator, Node, Step, leaves
from . import conditions

if TYPE_CHECKING:
    from ..config import Config
    from ..drivers.base import Driver
    from ..journey.placeholders import Scope

Frames = tuple[Locator, ...]


@contextlib.asynccontextmanager
async def within_frames(driver: Driver, frames: Frames) -> AsyncIterator[None]:
    """Inside each frame in turn (outermost first); nothing to do without frames."""
    async with contextlib.AsyncExitStack() as stack:
        for frame in frames:
            await stack.enter_async_context(driver.within_frame(frame))
        yield


@dataclass
class Program:
    driver: Driver
    scope: Scope
    config: Config
    run_step: Callable[[Step, Frames], Awaitable[bool]]  # True when the flow broke at the step
    note: Callable[[list[Step], str, bool], None]  # steps, words, skipped (never run) or not
    exhausted: Callable[[Group], Awaitable[None]]  # a repeat whose until never held: a breakpoint

    async def run(self, nodes: list[Node], frames: Frames = ()) -> bool:
        """True when the flow broke (the steps after it are not run)."""
        for node in nodes:
            if await self._node(node, frames):
                return True
        return False

    async def _node(self, node: Node, frames: Frames) -> bool:
        inner = frames + ((node.frame,) if node.frame is not None else ())
        steps = list(leaves([node]))
        if node.condition is not None:
            met = await self._holds(node.condition, frames)
            self.note(steps, f"condition {'met' if met else 'not met'}: {node.condition.describe()}", not met)
            if not met:
                return False
        if isinstance(node, Step):
            return await self.run_step(node, inner)
        if node.repeat is None:
            return await self.run(node.steps, inner)
        return await self._repeat(node, inner)

    async def _repeat(self, group: Group, frames: Frames) -> bool:
        rounds = group.repeat
        assert rounds is not None
        for _ in range(rounds.max):
            if await self.run(group.steps, frames):
                return True
            if rounds.until is not None and await self._holds(rounds.until, frames):
                return False
        if rounds.until is None:
            return False
        await self.exhausted(group)
        return True

    async def _holds(self, condition: Condition, frames: Frames) -> bool:
        async with within_frames(self.driver, frames):
            return await conditions.holds(condition, self.driver, self.scope, self.config)

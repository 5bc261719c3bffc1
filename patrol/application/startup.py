"""What ``patrol run`` opens before patrolling: the incident service (the state database
and the receivers, so a bad receiver stops the run at once), the report writers warmed
up, and Chromium started while both load."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from ..config import Config
from ..core.vocabulary import Target
from ..journey.model import Journey
from ..runner import Runner
from ..runner.runner import engine_target

if TYPE_CHECKING:
    from ..incidents.service import IncidentService

T = TypeVar("T")


def incident_service(config: Config) -> IncidentService | None:
    """The incident lifecycle + delivery (None when ``state: false`` in patrol.yaml)."""
    from ..incidents.service import IncidentService

    if not IncidentService.enabled(config):
        return None
    return IncidentService.from_config(config)


def open_state(config: Config) -> IncidentService | None:
    """``incident_service``, then what the end of the run needs loaded ahead (report
    writers and their templates): `patrol run` does it while Chromium starts."""
    incidents = incident_service(config)
    from .. import reports

    try:
        importlib.import_module("patrol.incidents.display")  # the lines a run prints about incidents
        reports.warm_up()
    except Exception:
        pass  # only a head start: writing the reports says what is wrong
    return incidents


async def start_browser_while(runner: Runner, journeys: list[Journey], work: Callable[[], T]) -> T:
    """``work()`` (blocking: opening the state database) in a thread while Chromium
    starts for the web journeys on this loop, so its launch (~0.6 s, mostly waiting for
    the browser's processes) overlaps the imports and the database. Run the journeys
    on the same loop afterwards: they get the started browser. When ``work`` fails,
    the browser is closed and its error raised, as if nothing had started."""
    warm = asyncio.ensure_future(_start_browser(runner, journeys))
    await asyncio.sleep(0)  # let it import Playwright and spawn its driver before the thread takes the GIL
    try:
        return await asyncio.to_thread(work)
    except BaseException:
        await asyncio.wait([warm])
        await runner.close()
        raise


async def _start_browser(runner: Runner, journeys: list[Journey]) -> None:
    target = Target.WEB
    if not any(engine_target(j) == target for j in journeys):
        return  # no browser to warm up (app journeys, or API probes that run without one)
    try:
        await runner.engines.acquire(target)
    except Exception:
        return  # the first journey starts it again and reports what is wrong
    runner.engines.release(target)

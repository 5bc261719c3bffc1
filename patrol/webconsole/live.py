"""The overview's live part: "running now" as Server-Sent Events, and the step-duration
trends (the charts of the static reports index, drawn by patrol/reports/trends.py)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TypedDict

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ..reports.trends import JourneyHistory, load_history
from ..schedule.desk import PlanDesk
from .auth import Principal
from .web import console_of, guarded

CHECK_EVERY_S = 1.0  # how often the stream looks at what runs
KEEP_ALIVE_S = 15.0  # a comment now and then, so proxies keep an idle stream open
# A stream ends after this long; the browser's EventSource reconnects by itself (after ``retry``),
# so no connection (and no server shutdown) waits on a page left open for days.
STREAM_FOR_S = 300.0
NOT_LIVE = ("This console was started with patrol serve: it does not see runs in progress. "
            "Start it with the scheduler (patrol schedule --console-port P) to see them here.")


class RunningJourney(TypedDict):
    journey: str
    schedules: list[str]


class Running(TypedDict):
    """What the overview's "running now" shows (and the stream sends)."""

    live: bool
    running: list[RunningJourney]
    note: str


def running_now(desk: PlanDesk | None) -> Running:
    """The journeys the scheduler runs now, each with the schedules that run it."""
    if desk is None or not desk.live:
        return {"live": False, "running": [], "note": NOT_LIVE}
    plan = desk.plan()
    running: list[RunningJourney] = []
    for name in desk.running():
        schedules = sorted(plan.specs[job].name for job, js in plan.selected.items()
                           if job in plan.specs and any(j.name == name for j in js))
        running.append({"journey": name, "schedules": schedules})
    return {"live": True, "running": running, "note": "" if running else "Nothing is running now."}


async def _events(request: Request, desk: PlanDesk | None) -> AsyncIterator[str]:
    yield "retry: 3000\n\n"
    last, quiet, deadline = "", time.monotonic(), time.monotonic() + STREAM_FOR_S
    while time.monotonic() < deadline and not await request.is_disconnected():
        now = json.dumps(await asyncio.to_thread(running_now, desk))
        if now != last:
            yield f"event: running\ndata: {now}\n\n"
            last, quiet = now, time.monotonic()
        elif time.monotonic() - quiet > KEEP_ALIVE_S:
            yield ": still here\n\n"
            quiet = time.monotonic()
        await asyncio.sleep(CHECK_EVERY_S)


@guarded("viewer")
async def running_stream(request: Request, who: Principal) -> Response:
    """``text/event-stream``: a ``running`` event with the list whenever it changes."""
    headers = {"X-Accel-Buffering": "no"}  # nginx: pass each event on at once
    return StreamingResponse(_events(request, request.app.state.schedules), media_type="text/event-stream", headers=headers)


def trends(request: Request) -> list[JourneyHistory]:
    """Per journey, per step: p50/p95 durations over 30 days as the static index draws them."""
    # The console links runs by id itself, so the report-folder links trends computes are not used.
    return load_history(console_of(request).store, Path.cwd())

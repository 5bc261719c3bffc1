"""``schedules:`` in patrol.yaml (parsed at load, see ``patrol.config.schedules``) and
``schedule:`` in a journey file; ``${...}`` in a schedule's base_url is resolved here."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from ..config import Config
from ..config.resolve import resolve_url
from ..config.schedules import ScheduleSpec

if TYPE_CHECKING:
    from ..journey.model import Journey


def parse_schedules(config: Config) -> list[ScheduleSpec]:
    """Every schedule in patrol.yaml, with ``${...}`` in base_url resolved (a missing
    variable is a ``ConfigError`` positioned at the base_url)."""
    out = []
    for spec in config.settings.schedules:
        if spec.base_url and "${" in spec.base_url:
            spec = replace(spec, base_url=resolve_url(config, spec.path + ("base_url",), spec.base_url))
        out.append(spec)
    return out


def journey_schedule(journey: Journey) -> ScheduleSpec | None:
    """The schedule a journey file carries (parsed by the loader), with its job id."""
    spec = journey.options.get("schedule")
    if not isinstance(spec, ScheduleSpec):
        return None
    return replace(spec, job_id=f"journey:{journey.name}", name=journey.name, origin=journey.file)


__all__ = ["journey_schedule", "parse_schedules"]

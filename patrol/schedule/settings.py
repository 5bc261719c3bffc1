"""``schedules:`` in patrol.yaml (parsed at load, see ``patrol.config.schedules``) and
``schedule:`` in a journey file; ``${...}`` in a schedule's base_url is resolved here."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from ..config import Config
from ..config.schedules import (
    DAY_NAMES,
    MIN_INTERVAL_S,
    NAME_RE,
    SELECTION_KEYS,
    TIMING_KEYS,
    ScheduleSpec,
    SpecProblem,
    local_zone_name,
    parse_spec,
)

if TYPE_CHECKING:
    from ..journey.model import Journey


def parse_schedules(config: Config) -> list[ScheduleSpec]:
    """Every schedule in patrol.yaml, with ``${...}`` in base_url resolved (a missing
    variable is a ``ConfigError`` positioned at the base_url)."""
    from ..secrets import MissingVariable, interpolate

    out = []
    for spec in config.schedules:
        if spec.base_url and "${" in spec.base_url:
            where = spec.path + ("base_url",)
            try:
                url = interpolate(spec.base_url)
            except MissingVariable as e:
                raise config.problem(where, str(e)) from None
            if not url.startswith(("http://", "https://")):
                raise config.problem(where, f"expected an http:// or https:// URL, got {url!r}")
            spec = replace(spec, base_url=url)
        out.append(spec)
    return out


def journey_schedule(journey: Journey) -> ScheduleSpec | None:
    """The schedule a journey file carries (parsed by the loader), with its job id."""
    spec = journey.options.get("schedule")
    if not isinstance(spec, ScheduleSpec):
        return None
    return replace(spec, job_id=f"journey:{journey.name}", name=journey.name, origin=journey.file)


__all__ = ["DAY_NAMES", "MIN_INTERVAL_S", "NAME_RE", "SELECTION_KEYS", "TIMING_KEYS", "ScheduleSpec", "SpecProblem",
           "journey_schedule", "local_zone_name", "parse_schedules", "parse_spec"]

"""``schedule:`` in a journey file: the journey runs on its own schedule under
``patrol schedule`` (job id ``journey:<name>``), besides any patrol.yaml schedule
that selects it."""

from __future__ import annotations

from ..config.schedules import TIMING_KEYS, SpecProblem, parse_spec
from ..journey.loader import journey_key
from ..journey.parsing import ParseContext
from ..yamlpos import Path

_DURATION = {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*(ms|s|m|h|d)\s*$"}
SCHEMA = {
    "oneOf": [
        {"type": "string", "examples": ["0 2 * * *", "*/10 8-20 * * 1-5", "@daily", "5m"]},
        {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "cron": {"type": "string", "description": TIMING_KEYS["cron"]},
                "every": {**_DURATION, "description": TIMING_KEYS["every"]},
                "timezone": {"type": "string", "description": TIMING_KEYS["timezone"], "examples": ["Asia/Shanghai"]},
                "jitter": {**_DURATION, "description": TIMING_KEYS["jitter"]},
                "grace": {**_DURATION, "description": TIMING_KEYS["grace"]},
                "active": {
                    "type": "object",
                    "additionalProperties": False,
                    "description": TIMING_KEYS["active"],
                    "properties": {
                        "hours": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
                        "days": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
                    },
                },
                "enabled": {"type": "boolean", "description": TIMING_KEYS["enabled"]},
            },
        },
    ]
}


@journey_key("schedule", "when `patrol schedule` runs this journey: a crontab string, an interval (5m), "
                         "or {cron|every, timezone, jitter, grace, active, enabled}", SCHEMA)
def _schedule(value: object, path: Path, ctx: ParseContext) -> object:
    try:
        return parse_spec(value, path, job_id="journey:", name="", origin=ctx.file, selection=False)
    except SpecProblem as e:
        return ctx.error(e.path, e.message, key=e.key)

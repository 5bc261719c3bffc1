"""``detectors:`` (journey key): the always-on rendering-error detectors, each of
which a journey can switch off: ``detectors: {blank_screen: false}``."""

from __future__ import annotations

from ..journey.loader import journey_key
from ..journey.parsing import INVALID

ALWAYS_ON = ("blank_screen", "broken_image", "forbidden_text")


@journey_key(
    "detectors",
    "switch always-on detectors off: {blank_screen|broken_image|forbidden_text: false}",
    {"type": "object", "additionalProperties": False, "properties": {k: {"type": "boolean"} for k in ALWAYS_ON}},
)
def _detectors(value, path, ctx):
    if ctx.mapping(value, path, {k: "true/false" for k in ALWAYS_ON}) is INVALID:
        return INVALID
    out = {}
    for k, v in value.items():
        b = ctx.boolean(v, path + (k,))
        if b is INVALID:
            return INVALID
        out[k] = b
    return out


def detector_on(sc, name: str) -> bool:
    journey_setting = (sc.journey.options.get("detectors") or {}).get(name)
    if journey_setting is not None:
        return journey_setting
    return sc.config.detectors.on(name)

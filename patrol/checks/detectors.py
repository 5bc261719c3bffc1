"""``detectors:`` (journey key): the always-on rendering-error detectors, each of
which a journey can switch off: ``detectors: {blank_screen: false}``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..journey.loader import journey_key
from ..journey.parsing import INVALID, Invalid, ParseContext

if TYPE_CHECKING:
    from .. import yamlpos
    from ..step.evidence import StepContext

ALWAYS_ON = ("blank_screen", "broken_image", "forbidden_text", "clipped_text", "overlapping_text")


@journey_key(
    "detectors",
    "switch always-on detectors off: {blank_screen|broken_image|forbidden_text|clipped_text|overlapping_text: false}",
    {"type": "object", "additionalProperties": False, "properties": {k: {"type": "boolean"} for k in ALWAYS_ON}},
)
def _detectors(value: object, path: yamlpos.Path, ctx: ParseContext) -> dict[str, bool] | Invalid:
    switches = ctx.mapping(value, path, {k: "true/false" for k in ALWAYS_ON})
    if isinstance(switches, Invalid):
        return INVALID
    out: dict[str, bool] = {}
    for k, v in switches.items():
        b: bool | Invalid = ctx.boolean(v, path + (k,))
        if isinstance(b, Invalid):
            return INVALID
        out[k] = bool(b)
    return out


def detector_on(sc: StepContext, name: str) -> bool:
    """The journey's setting if it has one, else patrol.yaml's (on by default)."""
    journey_setting = (sc.journey.option("detectors", dict) or {}).get(name)
    if journey_setting is not None:
        return bool(journey_setting)
    return sc.config.settings.detectors.on(name) if sc.config is not None else True

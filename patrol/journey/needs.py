"""The capability check of ``patrol validate`` (and of ``patrol run``, which loads
journeys the same way): a step, an ``expect:`` or a journey key that needs a driver
capability its journey's target lacks is a positioned problem, so "not supported" is
never a surprise at run time. What needs what is declared where it is defined
(``Action.needs``, ``Check.needs``, a key's ``needs``); what a target offers is the
table in ``core.capabilities``."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from ..core.capabilities import NONE, Capability, Profile, lacking, profile_for, refusal
from ..errors import Problem
from .model import Journey, leaves
from .parsing import ParseContext, YamlPath

# The loader's own step and group keys that need a capability.
FRAME_NEEDS = frozenset({Capability.FRAMES})


def profile_of(ctx: ParseContext) -> Profile:
    return ctx.profile or profile_for(ctx.target)


def refused(needs: Iterable[Capability], path: YamlPath, ctx: ParseContext) -> bool:
    """True (after recording the problem at the key ``path`` ends with) when the target
    lacks something ``needs`` names."""
    profile = profile_of(ctx)
    missing = lacking(needs, profile)
    if missing:
        ctx.error(path, refusal(str(path[-1]), missing[0], profile), key=True)
    return bool(missing)


# -- after parsing: an app journey whose session a patrol.yaml device describes ---------------
def device_refusals(journey: Journey, profile: Profile, actions: Mapping[str, frozenset[Capability]],
                    step_keys: Mapping[str, frozenset[Capability]]) -> list[Problem]:
    """The same check for a journey parsed before its target was known: an app journey
    on a patrol.yaml device (``appium_device``) learns native or browser from the device's
    capabilities, which the journey file does not hold. ``actions`` and ``step_keys``: the
    registries' needs by name. Positions are found again in the step's file."""
    problems = []
    for step in leaves([*(journey.program or journey.steps), *journey.teardown]):
        wanted = [(step.action, actions.get(step.action, NONE))]
        wanted += [(key, step_keys.get(key, NONE)) for key in step.options]
        wanted += [("frame", FRAME_NEEDS)] if step.frame is not None else []
        for key, needs in wanted:
            for missing in lacking(needs, profile)[:1]:
                line, column = _key_at(step.file or journey.file, step.line, key)
                problems.append(Problem(step.file or journey.file, line, column, key,
                                        f"step {step.index} {refusal(key, missing, profile)}; its session is "
                                        f"patrol.yaml appium.devices.{journey.options.get('appium_device')}"))
    return problems


def _key_at(file: str, from_line: int, key: str) -> tuple[int, int]:
    """Where ``key:`` is written at or after ``from_line`` (1-based); the step's line when not found."""
    try:
        lines = Path(file).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return from_line, 1
    pattern = re.compile(rf"^(\s*(?:-\s+)?){re.escape(key)}\s*:")
    for n in range(max(from_line, 1), len(lines) + 1):
        found = pattern.match(lines[n - 1])
        if found:
            return n, len(found.group(1)) + 1
    return from_line, 1

"""The capability check of ``patrol validate`` (and of ``patrol run``, which loads
journeys the same way): a step, an ``expect:`` or a journey key that needs a driver
capability its journey's target lacks is a positioned problem, so "not supported" is
never a surprise at run time. What needs what is declared where it is defined
(``Action.needs``, ``Check.needs``, a key's ``needs``); what a target offers is the
table in ``core.capabilities``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..core.capabilities import Capability, Profile, lacking, profile_for, refusal
from .parsing import ParseContext

# The loader's own step and group keys that need a capability.
FRAME_NEEDS = frozenset({Capability.FRAMES})


def profile_of(ctx: ParseContext) -> Profile:
    return ctx.profile or profile_for(ctx.target)


def refused(needs: Iterable[Capability], path: tuple[Any, ...], ctx: ParseContext) -> bool:
    """True (after recording the problem at the key ``path`` ends with) when the target
    lacks something ``needs`` names."""
    profile = profile_of(ctx)
    missing = lacking(needs, profile)
    if missing:
        ctx.error(path, refusal(str(path[-1]), missing[0], profile), key=True)
    return bool(missing)

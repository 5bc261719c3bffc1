"""Action registry. To add an action: write one module with an ``Action`` subclass
decorated with ``@register`` and import it in ``patrol/plugins.py`` (the composition
root). This package imports none of its actions."""

from __future__ import annotations

from typing import Any

from .base import Action, ActionContext, P

# Each action performs with its own parameters (``P``); a step carries the ones its
# action's parse made, so the registry holds actions of every ``P`` (Python has no
# "some P" type: ``Action[Any]`` is that, and nothing else here is untyped).
ACTIONS: dict[str, Action[Any]] = {}


def register(cls: type[Action[P]]) -> type[Action[P]]:
    ACTIONS[cls.name] = cls()
    return cls


__all__ = ["ACTIONS", "Action", "ActionContext", "register"]

"""Action registry. To add an action: write one module with an ``Action`` subclass
decorated with ``@register`` and add its module name to ``_MODULES``."""

from __future__ import annotations

import importlib

from .base import Action, ActionContext

ACTIONS: dict[str, Action] = {}


def register(cls: type[Action]) -> type[Action]:
    ACTIONS[cls.name] = cls()
    return cls


_MODULES = ("goto", "click", "fill", "press", "select", "scroll", "wait_for", "back", "app")
for _m in _MODULES:
    importlib.import_module(f"{__name__}.{_m}")

__all__ = ["ACTIONS", "Action", "ActionContext", "register"]

"""Action registry. To add an action: write one module with an ``Action`` subclass
decorated with ``@register`` and import it in ``patrol/plugins.py`` (the composition
root). This package imports none of its actions."""

from __future__ import annotations

from typing import Any, TypeVar

from .base import Action, ActionContext

A = TypeVar("A", bound=Action[Any])

ACTIONS: dict[str, Action[Any]] = {}


def register(cls: type[A]) -> type[A]:
    ACTIONS[cls.name] = cls()
    return cls


__all__ = ["ACTIONS", "Action", "ActionContext", "register"]

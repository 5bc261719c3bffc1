"""Check registry. To add a check: one module with a ``Check`` subclass decorated
with ``@register``, imported in ``patrol/plugins.py`` (the composition root). This
package imports none of its checks."""

from __future__ import annotations

from typing import TypeVar

from .base import Check

C = TypeVar("C", bound=Check)

CHECKS: dict[str, Check] = {}


def register(cls: type[C]) -> type[C]:
    CHECKS[cls.name] = cls()
    return cls


def expect_keys() -> dict[str, Check]:
    return {c.expect_key: c for c in CHECKS.values() if c.expect_key}


__all__ = ["CHECKS", "Check", "register", "expect_keys"]

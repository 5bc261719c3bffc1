"""Check registry. To add a check: one module with a ``Check`` subclass decorated
with ``@register``, and its module name in ``_MODULES``."""

from __future__ import annotations

import importlib

from .base import Check

CHECKS: dict[str, Check] = {}


def register(cls: type[Check]) -> type[Check]:
    CHECKS[cls.name] = cls()
    return cls


def expect_keys() -> dict[str, Check]:
    return {c.expect_key: c for c in CHECKS.values() if c.expect_key}


_MODULES = (
    "expect_visible", "expect_url", "network", "budget",
    "detectors", "visual", "blank_screen", "blank_region", "broken_image", "text",
)
for _m in _MODULES:
    importlib.import_module(f"{__name__}.{_m}")

__all__ = ["CHECKS", "Check", "register", "expect_keys"]

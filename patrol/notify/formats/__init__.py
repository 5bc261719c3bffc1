"""Message formats. To add one: a module with a ``Format`` subclass decorated with
``@register``, and its module name in ``_MODULES``."""

from __future__ import annotations

import importlib

from .base import Context, Format, Request, Verdict

FORMATS: dict[str, Format] = {}


def register(cls: type[Format]) -> type[Format]:
    FORMATS[cls.name] = cls()
    return cls


_MODULES = ("webhook", "alertmanager_api", "alertmanager_webhook", "pagerduty", "dingtalk", "wecom", "feishu", "slack")
for _m in _MODULES:
    importlib.import_module(f"{__name__}.{_m}")

__all__ = ["FORMATS", "Format", "Request", "Verdict", "Context", "register"]

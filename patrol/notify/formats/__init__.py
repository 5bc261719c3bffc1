"""Message formats. To add one: a module with a ``Format`` subclass decorated with
``@register``, imported in ``patrol/plugins.py`` (the composition root). This package
imports none of its formats."""

from __future__ import annotations

from ...config.receivers import RECEIVER_FORMATS
from .base import Context, Format, Request, Verdict

FORMATS: dict[str, Format] = {}


def register(cls: type[Format]) -> type[Format]:
    FORMATS[cls.name] = RECEIVER_FORMATS[cls.name] = cls()  # reading patrol.yaml checks receivers against it
    return cls


__all__ = ["FORMATS", "Format", "Request", "Verdict", "Context", "register"]

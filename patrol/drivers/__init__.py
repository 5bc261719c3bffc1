"""Drivers: one interface (``base.Driver``), one implementation per platform.

To add a platform: a package (as ``web/`` and ``app/``, which import nothing of each
other) or one module (as ``http.py``) with an ``Engine`` and a ``Driver``, and a line in
``ENGINES`` naming the journey ``target`` it serves. What several platforms use lives
here beside ``base.py``.
"""

from __future__ import annotations

import importlib

from .base import Driver, DriverEvents, Engine

# journey target -> "module:EngineClass", imported lazily so a web run never loads Appium.
ENGINES = {
    "web": "patrol.drivers.web.playwright:PlaywrightEngine",
    "app": "patrol.drivers.app.appium:AppiumEngine",
    # Not a target a journey names: a web journey of request: steps only runs on it (no browser).
    "http": "patrol.drivers.http:HttpEngine",
}


def engine_class(target: str) -> type[Engine]:
    module, _, name = ENGINES[target].partition(":")
    cls = getattr(importlib.import_module(module), name)
    assert isinstance(cls, type) and issubclass(cls, Engine), f"{ENGINES[target]} is not an Engine"
    return cls


__all__ = ["Driver", "DriverEvents", "Engine", "ENGINES", "engine_class"]

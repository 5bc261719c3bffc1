"""Project configuration: ``patrol.yaml``.

The file is optional. Each subsystem owns one top-level section and validates it
itself (``browser``, ``budgets``, ``forbidden_text``, ``state``, ``incidents``,
``receivers``, ``schedules``...), reporting problems with ``file:line:column``
through ``Config.problem()``. Unknown top-level sections are refused so a typo
does not silently switch a feature off.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import yamlpos
from .errors import ConfigError, Problem

# Sections this version understands; a subsystem adds its name here when it lands.
SECTIONS = {
    "browser": "Chromium executable, extra arguments, headless",
    "budgets": "default step budget and hard timeout",
    "forbidden_text": "text that must never be on screen",
    "detectors": "rendering-error detectors switched on/off",
    "ocr": "OCR languages and fuzzy-match score",
    "visual": "visual comparison defaults",
    "state": "state database URL",
    "incidents": "incident lifecycle settings",
    "receivers": "where incident notifications go",
    "public_url": "base URL under which report folders are served",
    "schedules": "when journeys run",
    "concurrency": "journeys at once",
    "retention": "how long runs and screenshots are kept",
    "appium": "Appium server URL and devices",
    "journeys": "default journey folder",
    "reports": "default reports folder",
}


@dataclass
class Config:
    file: str | None = None
    root: Path = field(default_factory=Path.cwd)  # paths in the config are relative to this
    located: yamlpos.Located | None = None

    @property
    def data(self) -> dict[str, Any]:
        return (self.located.data if self.located else None) or {}

    def section(self, name: str, default: Any = None) -> Any:
        return self.data.get(name, default)

    def problem(self, path: tuple, message: str, key: bool = False) -> ConfigError:
        line, col = self.located.pos(path, key=key) if self.located else (1, 1)
        p = Problem(self.file or "patrol.yaml", line, col, ".".join(map(str, path)), message)
        return ConfigError(str(p), [p])

    def path(self, value: str) -> Path:
        p = Path(value)
        return p if p.is_absolute() else self.root / p


def find_config(explicit: str | None = None) -> Path | None:
    if explicit:
        return Path(explicit)
    env = os.environ.get("PATROL_CONFIG")
    if env:
        return Path(env)
    here = Path.cwd() / "patrol.yaml"
    return here if here.exists() else None


def load_config(explicit: str | None = None) -> Config:
    path = find_config(explicit)
    if path is None:
        return Config()
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        text = path.read_text(encoding="utf-8")
        located = yamlpos.load(text, str(path))
    except yamlpos.YamlSyntaxError as e:
        raise ConfigError(f"{path}:{e.line}:{e.column}: {e}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read: {e}") from None
    cfg = Config(file=str(path), root=path.resolve().parent, located=located)
    if cfg.located.data is not None and not isinstance(cfg.located.data, dict):
        raise cfg.problem((), "the file must be a mapping of sections")
    for key in cfg.data:
        if key not in SECTIONS:
            raise cfg.problem((key,), f"unknown section; allowed: {', '.join(sorted(SECTIONS))}", key=True)
    return cfg

"""Project configuration: ``patrol.yaml``.

The file is optional. It is parsed whole when loaded (``load_config``) into one typed,
frozen ``PatrolConfig``, ``Config.settings`` (a section per subsystem: ``settings.visual``,
``settings.state``, ``settings.receivers``...; a feature package's own section by its key,
``settings[RETENTION]``; ``Config`` itself adds only what is computed from them: paths relative
to the file and the link base): every unknown key (with a suggestion), wrong type, bad
duration, time zone, URL or cron expression is a ``Problem`` with
``file:line:column``, and all of them are raised together as one ``ConfigError``
(exit code 2) before anything runs. Only ``${VAR}``/``${secret:NAME}`` values are
resolved later, where they are used (so validating needs no secrets), and their
problems are positioned the same way through ``Config.problem()``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from .. import yamlpos
from ..errors import ConfigError, Problem
from .incidents import DeliverySettings, FlappingSettings, IncidentSettings
from .model import SECTIONS, PatrolConfig, parse_config
from .reader import Reader
from .receivers import ReceiverConfig
from .schedules import ScheduleSpec
from .sections import (
    AppiumConfig,
    AppiumDevice,
    BrowserConfig,
    BudgetDefaults,
    DetectorsConfig,
    ForbiddenTextConfig,
    OcrConfig,
    PublicUrl,
    StateConfig,
    VisualConfig,
    console_url_of,
    link_base,
)


@dataclass
class Config:
    """Where patrol.yaml is (paths in it are relative to ``root``) and what it says."""

    file: str | None = None
    root: Path = field(default_factory=Path.cwd)
    located: yamlpos.Located | None = None

    @property
    def data(self) -> object:
        return self.located.data if self.located else None

    @cached_property
    def settings(self) -> PatrolConfig:
        """The typed file; raises ``ConfigError`` with every problem (``load_config``
        reads it at once, so a loaded Config never raises here)."""
        reader = Reader(self.file or "patrol.yaml", self.located)
        parsed = parse_config(reader, self.data)
        if reader.problems:
            problems = sorted(reader.problems, key=lambda p: (p.line, p.column))
            raise ConfigError("\n".join(map(str, problems)), problems)
        return parsed

    # -- computed from the sections (read a section itself as ``settings.X``) -----------
    @property
    def public_url(self) -> str | None:
        """public_url, with console_url carried along when set (see ``PublicUrl``)."""
        return link_base(self.settings.public_url, self.settings.console_url)

    @property
    def journeys_dir(self) -> Path:
        return self.path(self.settings.journeys)

    @property
    def reports_dir(self) -> Path:
        return self.path(self.settings.reports)

    @property
    def baselines_dir(self) -> Path:
        return self.path(self.settings.visual.baselines)

    # -- helpers --------------------------------------------------------------------------
    def problem(self, path: yamlpos.Path, message: str, key: bool = False) -> ConfigError:
        """A positioned error about a value found bad where it is used (e.g. a ``${secret:...}``)."""
        line, col = self.located.pos(path, key=key) if self.located else (1, 1)
        p = Problem(self.file or "patrol.yaml", line, col, ".".join(map(str, path)), message)
        return ConfigError(str(p), [p])

    def path(self, value: str | Path) -> Path:
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
    """Read and check patrol.yaml whole; ``ConfigError`` (exit 2) lists every problem."""
    path = find_config(explicit)
    if path is None:
        return Config()
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        text = yamlpos.read(path)
        located = yamlpos.load(text, str(path))
    except yamlpos.YamlSyntaxError as e:
        raise ConfigError(f"{path}:{e.line}:{e.column}: {e}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read: {e}") from None
    cfg = Config(file=str(path), root=path.resolve().parent, located=located)
    _ = cfg.settings  # parse now: every problem before anything runs
    return cfg


__all__ = [
    "SECTIONS", "AppiumConfig", "AppiumDevice", "BrowserConfig", "BudgetDefaults", "Config", "DeliverySettings",
    "DetectorsConfig", "FlappingSettings", "ForbiddenTextConfig", "IncidentSettings", "OcrConfig", "PatrolConfig",
    "PublicUrl", "ReceiverConfig", "ScheduleSpec", "StateConfig", "VisualConfig", "console_url_of", "find_config",
    "link_base", "load_config",
]

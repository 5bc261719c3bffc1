"""Helpers that actions, checks and journey keys use to parse their part of a
journey file. They collect ``Problem``s (with positions) instead of raising, so
``patrol validate`` reports every problem in one go.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Final, TypeAlias

from .. import durations, yamlpos
from ..core.capabilities import Profile
from ..core.geometry import Region
from ..core.text import suggest, type_name
from ..errors import Problem
from .model import LOCATOR_STRATEGIES, SCREEN_STRATEGIES, Budgets, Locator


class Invalid(Enum):
    """Returned by the helpers after recording a problem (a typed sentinel)."""

    INVALID = "invalid"


INVALID: Final = Invalid.INVALID
# Where a value is in its file: the keys and list indexes leading to it.
YamlPath: TypeAlias = "tuple[str | int, ...]"
# Beside a locator's strategy: which of several matching elements the step means.
WHICH_KEYS = ("nth", "first")


@dataclass
class ParseContext:
    located: yamlpos.Located
    target: str = "web"
    budgets: Budgets = field(default_factory=Budgets)  # the project's defaults
    problems: list[Problem] = field(default_factory=list)
    # Legal but probably unwise (an explicit wait): ``patrol validate`` shows them.
    warnings: list[Problem] = field(default_factory=list)
    # Values stored by the steps parsed so far (``store:``), shared with included flows:
    # a ``${vars.NAME}`` before any step stores NAME is a problem.
    vars_known: set[str] = field(default_factory=set)
    in_flow: bool = False  # a flow's own ``${params.X}`` problems are reported by the flow
    # What the journey's target can do (``core.capabilities``); None: decided by ``target``
    # alone (``journey.needs.profile_of``).
    profile: Profile | None = None

    @property
    def file(self) -> str:
        return self.located.file

    def error(self, path: yamlpos.Path, message: str, key: bool = False) -> Invalid:
        line, col = self.located.pos(path, key=key)
        field_name = ".".join(str(p) for p in path) or "(journey)"
        self.problems.append(Problem(self.file, line, col, field_name, message))
        return INVALID

    def warn(self, path: yamlpos.Path, message: str) -> None:
        line, col = self.located.pos(path)
        self.warnings.append(Problem(self.file, line, col, ".".join(str(p) for p in path) or "(journey)", message))

    # -- typed getters ---------------------------------------------------------------
    def string(self, value: object, path: yamlpos.Path, *, allow_empty: bool = False) -> str | Invalid:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)  # `text: 100` in YAML is a number; people mean the text "100"
        if not isinstance(value, str):
            return self.error(path, f"expected a string, got {type_name(value)}")
        if not allow_empty and not value.strip():
            return self.error(path, "must not be empty")
        return value

    def number(self, value: object, path: yamlpos.Path, *, minimum: float | None = None, maximum: float | None = None) -> float | Invalid:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return self.error(path, f"expected a number, got {type_name(value)}")
        if minimum is not None and value < minimum or maximum is not None and value > maximum:
            if maximum is None:
                return self.error(path, f"must be at least {minimum}, got {value}")
            if minimum is None:
                return self.error(path, f"must be at most {maximum}, got {value}")
            return self.error(path, f"must be between {minimum} and {maximum}, got {value}")
        return value

    def boolean(self, value: object, path: yamlpos.Path) -> bool | Invalid:
        if not isinstance(value, bool):
            return self.error(path, f"expected true or false, got {type_name(value)}")
        return value

    def duration(self, value: object, path: yamlpos.Path) -> float | Invalid:
        try:
            return durations.parse_ms(value)
        except durations.DurationError as e:
            return self.error(path, str(e))

    def choice(self, value: object, path: yamlpos.Path, allowed: Iterable[str]) -> str | Invalid:
        allowed = list(allowed)
        if not isinstance(value, str) or value not in allowed:
            return self.error(
                path, f"{value!r} is not allowed; allowed values: {', '.join(allowed)}{suggest(value, allowed)}"
            )
        return value

    def string_list(self, value: object, path: yamlpos.Path) -> list[str] | Invalid:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            return self.error(path, f"expected a list of strings, got {type_name(value)}")
        out: list[str] = []
        for i, v in enumerate(value):
            text = self.string(v, path + (i,))
            if not isinstance(text, Invalid):
                out.append(text)
        return out if len(out) == len(value) else INVALID

    def mapping(
        self, value: object, path: yamlpos.Path, allowed: dict[str, str], required: Iterable[str] = ()
    ) -> dict[str, object] | Invalid:
        """Check ``value`` is a mapping with only ``allowed`` keys (name -> description)."""
        if not isinstance(value, dict):
            return self.error(path, f"expected a mapping with keys {', '.join(allowed)}, got {type_name(value)}")
        ok = True
        for key in value:
            if key not in allowed:
                self.error(
                    path + (key,),
                    f"unknown key '{key}'; allowed: {', '.join(allowed)}{suggest(key, allowed)}",
                    key=True,
                )
                ok = False
        for key in required:
            if key not in value:
                self.error(path, f"missing required key '{key}'")
                ok = False
        return value if ok else INVALID

    def locator(self, value: object, path: yamlpos.Path) -> Locator | Invalid:
        """A locator: a selector string (web), or a mapping naming one strategy."""
        if isinstance(value, str):
            if not value.strip():
                return self.error(path, "selector must not be empty")
            if self.target == "app":
                return self.error(
                    path,
                    "app journeys need a named locator, e.g. {id: ...}, {accessibility_id: ...}, "
                    "{xpath: ...}, {text: ...}; strategies: " + ", ".join(LOCATOR_STRATEGIES),
                )
            return Locator("css", value)
        if isinstance(value, dict):
            which = {k: value[k] for k in WHICH_KEYS if k in value}
            if which:
                located = self.locator({k: v for k, v in value.items() if k not in which}, path)
                return located if located is INVALID else self._which(located, which, path)
            if len(value) != 1:
                return self.error(
                    path, "a locator names exactly one strategy; strategies: " + ", ".join(LOCATOR_STRATEGIES)
                )
            (strategy, arg), = value.items()
            if strategy not in LOCATOR_STRATEGIES:
                return self.error(
                    path + (strategy,),
                    f"unknown locator strategy '{strategy}'; allowed: {', '.join(LOCATOR_STRATEGIES)}"
                    f"{suggest(strategy, LOCATOR_STRATEGIES)}",
                    key=True,
                )
            if strategy == "point":
                if (
                    not isinstance(arg, list)
                    or len(arg) != 2
                    or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1 for v in arg)
                ):
                    return self.error(path + (strategy,), "point is [x, y] with both fractions from 0 to 1")
                return Locator.at(float(arg[0]), float(arg[1]))
            s = self.string(arg, path + (strategy,))
            return INVALID if s is INVALID else Locator(strategy, s)
        return self.error(path, f"expected a selector string or a locator mapping, got {type_name(value)}")

    def _which(self, loc: Locator, which: dict[str, object], path: yamlpos.Path) -> Locator | Invalid:
        """``nth: N`` (from 1) or ``first: true`` beside a web locator's strategy."""
        key = next(iter(which))
        if len(which) > 1:
            return self.error(path + ("first",), "give nth or first, not both", key=True)
        if self.target == "app" or loc.strategy in SCREEN_STRATEGIES:
            where = "app journeys" if self.target == "app" else f"'{loc.strategy}' locators (found on the screenshot)"
            return self.error(path + (key,), f"'{key}' picks among the elements a web selector matches; "
                                             f"not available for {where}", key=True)
        n = which[key]
        if key == "nth":
            if not isinstance(n, int) or isinstance(n, bool) or n < 1:
                return self.error(path + (key,), f"nth counts matches from 1 (1 is the first), got {n!r}")
            return replace(loc, nth=n)
        if not isinstance(n, bool):
            return self.error(path + (key,), f"first is true or false, got {n!r}")
        return replace(loc, first=n)

    def region(self, value: object, path: yamlpos.Path) -> Region | Invalid:
        """A screen region: [x, y, width, height] in pixels, or all four as fractions 0-1.

        The unit is decided here, once, from what was written (fractions need a decimal
        point: ``[0, 0, 1, 1]`` is one pixel, ``[0.0, 0.0, 1.0, 1.0]`` the whole screen);
        every later stage resolves the ``Region`` against the real screen size."""
        if (
            isinstance(value, list)
            and len(value) == 4
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in value)
        ):
            if all(v <= 1 for v in value) and any(isinstance(v, float) for v in value):
                return Region.fraction(*(float(v) for v in value))
            return Region.px(*(int(v) for v in value))
        return self.error(
            path, "a region is [x, y, width, height] in pixels, or all four as fractions 0-1 of the screen"
        )

"""``${VAR}``/``${secret:NAME}`` in patrol.yaml values, resolved where they are used
(validating needs no secrets), with the problem positioned at the value."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, overload

from ..errors import ConfigError
from ..secrets import MissingVariable, interpolate
from ..yamlpos import Path

URL_SCHEMES = ("http://", "https://")


class PositionedConfig(Protocol):
    """What resolving needs of the loaded ``patrol.config.Config`` (which imports this
    module's users while it loads): an error positioned at a path in patrol.yaml."""

    def problem(self, path: Path, message: str, key: bool = False) -> ConfigError: ...


class UrlProblem(ValueError):
    """Why a value is not a usable URL (the message, without a position)."""


def expand_url(value: object, show: Callable[[str], str] = str) -> str:
    """``value`` with ``${...}`` resolved, if it then is an http(s) URL; ``show``
    renders a bad URL in the message (e.g. with its password masked)."""
    if not isinstance(value, str):
        raise UrlProblem("expected an http:// or https:// URL")
    try:
        url = interpolate(value)
    except MissingVariable as e:
        raise UrlProblem(str(e)) from None
    if not url.startswith(URL_SCHEMES):
        raise UrlProblem(f"expected an http:// or https:// URL, got {show(url)!r}")
    return url


def resolve_url(config: PositionedConfig, path: Path, value: object, show: Callable[[str], str] = str) -> str:
    """A URL in patrol.yaml at ``path``, resolved; a problem is a ``ConfigError`` there."""
    try:
        return expand_url(value, show)
    except UrlProblem as e:
        raise config.problem(path, str(e)) from None


@overload
def resolve_tree(config: PositionedConfig, path: Path, value: dict[str, object]) -> dict[str, object]: ...
@overload
def resolve_tree(config: PositionedConfig, path: Path, value: object) -> object: ...
def resolve_tree(config: PositionedConfig, path: Path, value: object) -> object:
    """Every string in a mapping/list tree resolved (e.g. capabilities); a missing
    variable is a ``ConfigError`` at the string's own position."""
    if isinstance(value, str):
        try:
            return interpolate(value)
        except MissingVariable as e:
            raise config.problem(path, str(e)) from None
    if isinstance(value, dict):
        return {k: resolve_tree(config, path + (k,), v) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_tree(config, path + (i,), v) for i, v in enumerate(value)]
    return value

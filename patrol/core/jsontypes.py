"""JSON as Python holds it: what a report, the store and a finding's evidence are made
of, and the few typed reads code does on it (a list under a key, the objects in it)."""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import TypeAlias

JsonValue: TypeAlias = "str | int | float | bool | None | list[JsonValue] | dict[str, JsonValue]"
JsonObject: TypeAlias = "dict[str, JsonValue]"


def to_json_value(value: object) -> JsonValue:
    """``value`` as JSON: mappings and sequences converted all the way down (a record's
    ``to_json`` TypedDict, a tuple), enums by their value, anything else by its words
    (as the report's writer would have)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value.value if isinstance(value, Enum) and isinstance(value.value, str) else value
    if isinstance(value, Mapping):
        return {str(k): to_json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json_value(v) for v in value]
    return str(value)


def json_object(value: Mapping[str, object]) -> JsonObject:
    """A mapping (a TypedDict a record wrote) as a JSON object."""
    return {str(k): to_json_value(v) for k, v in value.items()}


def as_object(value: object) -> dict[str, object]:
    """``value`` when it is a JSON object; {} otherwise."""
    return value if isinstance(value, dict) else {}


def as_objects(value: object) -> list[dict[str, object]]:
    """The objects in ``value`` when it is a list (anything else in it skipped); [] otherwise."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def as_texts(value: object) -> list[str]:
    """Each item of ``value`` as text when it is a list; [] otherwise."""
    return [str(v) for v in value] if isinstance(value, list) else []


def json_list(obj: Mapping[str, object], key: str) -> list[object]:
    """The list under ``key``; [] when it is missing or not a list."""
    value = obj.get(key)
    return value if isinstance(value, list) else []


def json_objects(obj: Mapping[str, object], key: str) -> list[dict[str, object]]:
    """The objects in the list under ``key`` (anything else in it skipped)."""
    return as_objects(obj.get(key))


def growing_list(obj: dict[str, object], key: str) -> list[object]:
    """The list under ``key`` to append to, made when missing (a non-list is replaced)."""
    value = obj.get(key)
    if not isinstance(value, list):
        value = obj[key] = []
    return value


def json_str(obj: Mapping[str, object], key: str) -> str | None:
    """The text under ``key``; None when missing or not text."""
    value = obj.get(key)
    return value if isinstance(value, str) else None


def json_number(obj: Mapping[str, object], key: str) -> float | None:
    """The number under ``key`` (not a bool); None when missing or not a number."""
    value = obj.get(key)
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None

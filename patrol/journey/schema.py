"""The JSON Schema of journey files, built from the registries (so a new action or
check shows up in editors without editing a schema by hand). The shipped copy,
``journey.schema.json``, is checked against this by the tests."""

from __future__ import annotations

from pathlib import Path

from .control import CONDITION_SCHEMA, REPEAT_KEYS, STORE_KEYS
from .flows import INCLUDE_KEYS
from .language import LANGUAGE, LOCATOR_SCHEMA
from .loader import BUDGET_KEYS, CORE_JOURNEY_KEYS, CORE_STEP_KEYS, GROUP_KEYS, JOURNEY_KEYS, STEP_KEYS
from .model import DEVICES

SCHEMA_PATH = Path(__file__).with_name("journey.schema.json")
DURATION = {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*(ms|s|m|h|d)\s*$", "examples": ["500ms", "5s", "2m"]}


INCLUDE_STEP = {
    "type": "object",
    "additionalProperties": False,
    "required": ["include"],
    "description": "the steps of a flow file, with its params",
    "properties": {
        "include": {"type": "string", "description": INCLUDE_KEYS["include"]},
        "with": {"type": "object", "description": INCLUDE_KEYS["with"]},
        "if": {"$ref": "#/$defs/condition"},
    },
}
STEPS = {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/step"}}
GROUP_STEP = {
    "type": "object",
    "additionalProperties": False,
    "required": ["steps"],
    "description": "steps under one if:, repeat: or frame:",
    "properties": {
        "steps": STEPS,
        "name": {"type": "string", "description": GROUP_KEYS["name"]},
        "if": {"$ref": "#/$defs/condition"},
        "frame": {"$ref": "#/$defs/locator", "description": GROUP_KEYS["frame"]},
        "repeat": {
            "type": "object", "additionalProperties": False, "description": GROUP_KEYS["repeat"],
            "properties": {"times": {"type": "integer", "minimum": 1, "description": REPEAT_KEYS["times"]},
                           "until": {"$ref": "#/$defs/condition"},
                           "max": {"type": "integer", "minimum": 1, "description": REPEAT_KEYS["max"]}},
        },
    },
    "anyOf": [{"required": ["if"]}, {"required": ["repeat"]}, {"required": ["frame"]}],
}
_STORE_SOURCE = {"$ref": "#/$defs/locator"}
STORE = {
    "type": "object",
    "description": CORE_STEP_KEYS["store"],
    "additionalProperties": {
        "type": "object", "additionalProperties": False, "minProperties": 1,
        "properties": {
            "text_of": _STORE_SOURCE, "number_of": _STORE_SOURCE, "value": _STORE_SOURCE,
            "attribute": {"type": "object", "required": ["selector", "name"], "additionalProperties": False,
                          "properties": {"selector": _STORE_SOURCE, "name": {"type": "string"}}},
            "url": {"type": "string", "description": STORE_KEYS["url"]},
            "secret": {"type": "boolean", "description": STORE_KEYS["secret"]},
        },
    },
}


def _step_schema() -> dict[str, object]:
    """One step: exactly one action with its options, or an include of a flow."""
    step_props: dict[str, object] = {
        "name": {"type": "string", "description": "step name, unique in the journey"},
        "budget": {**DURATION, "description": "stall budget for this step"},
        "expect": {
            "type": "object",
            "additionalProperties": False,
            "properties": {k: {**c.schema, "description": c.summary} for k, c in LANGUAGE.expect_keys().items()},
        },
        "if": {"$ref": "#/$defs/condition"},
        "optional": {"type": "boolean", "description": CORE_STEP_KEYS["optional"]},
        "frame": {"$ref": "#/$defs/locator", "description": CORE_STEP_KEYS["frame"]},
        "store": STORE,
    }
    for name, action in sorted(LANGUAGE.actions.items()):  # sorted: the schema does not depend on import order
        step_props[name] = {**action.schema, "description": action.summary}
    for name, spec in STEP_KEYS.items():
        step_props[name] = {**spec.schema, "description": spec.description}
    action_step = {
        "type": "object",
        "additionalProperties": False,
        "properties": step_props,
        "oneOf": [{"required": [name]} for name in sorted(LANGUAGE.actions)],
    }
    return {"oneOf": [action_step, INCLUDE_STEP, GROUP_STEP]}


def build_schema() -> dict[str, object]:
    props: dict[str, object] = {
        "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]*$"},
        "description": {"type": "string"},
        "base_url": {"type": "string"},
        "target": {"enum": ["web", "app"], "default": "web"},
        "device": {
            "oneOf": [
                {"enum": list(DEVICES)},
                {
                    "type": "object",
                    "required": ["width", "height"],
                    "additionalProperties": False,
                    "properties": {
                        "width": {"type": "integer"}, "height": {"type": "integer"}, "scale": {"type": "number"},
                        "mobile": {"type": "boolean"}, "user_agent": {"type": "string"},
                    },
                },
            ]
        },
        "tags": {"type": "array", "items": {"type": "string"}},
        "budgets": {"type": "object", "additionalProperties": False,
                    "properties": {k: {**DURATION, "description": v} for k, v in BUDGET_KEYS.items()}},
        "steps": {**STEPS, "description": CORE_JOURNEY_KEYS["steps"]},
        "setup": {**STEPS, "description": CORE_JOURNEY_KEYS["setup"]},
        "teardown": {**STEPS, "description": CORE_JOURNEY_KEYS["teardown"]},
    }
    for name, spec in JOURNEY_KEYS.items():
        props[name] = {**spec.schema, "description": spec.description}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://patrol.dev/schema/journey.schema.json",
        "title": "Patrol journey",
        "type": "object",
        "required": ["name", "steps"],
        "additionalProperties": False,
        "properties": props,
        "$defs": {"locator": LOCATOR_SCHEMA, "condition": CONDITION_SCHEMA, "step": _step_schema()},
    }

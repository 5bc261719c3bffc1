"""The parts of a step that steer the journey rather than act: ``if:`` conditions,
``repeat:``, ``store:`` and ``optional:`` (the runner gives them meaning; this module
only parses, with positions)::

    - if: {visible: "#welcome-dialog"}       # visible | not_visible | text | url | var
      click: "#welcome-close"
    - repeat: {until: {visible: "#done"}, max: 5}   # or {times: 3}
      steps: [...]
    - goto: /account
      store: {balance: {number_of: "#balance"}, ref: {text_of: "#ref", secret: true}}
"""

from __future__ import annotations

import re

from ..core.jsontypes import JsonObject
from ..core.text import suggest
from .model import Condition, Repeat, StoreSpec, TextCondition, UrlCondition, VarCondition, VisibleCondition
from .parsing import INVALID, Invalid, ParseContext, YamlPath

CONDITION_KEYS = {
    "visible": "an element is on screen (selector)",
    "not_visible": "an element is not on screen (selector)",
    "text": "words on screen, read by OCR",
    "url": "the page's URL matches a regular expression",
    "var": "a stored value's name (with equals)",
}
REPEAT_KEYS = {"times": "how many rounds", "until": "a condition that ends the rounds", "max": "rounds at most (with until)"}
STORE_SOURCES = {
    "text_of": "an element's text (selector)",
    "number_of": "the number an element shows (selector)",
    "value": "a form field's value (selector)",
    "attribute": "an element's attribute: {selector, name}",
    "url": "the page's URL, or group 1 of a regular expression over it",
}
STORE_KEYS = {**STORE_SOURCES, "secret": "mask the value in every report and log"}
VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_ROUNDS = 100

CONDITION_SCHEMA: JsonObject = {
    "type": "object", "minProperties": 1, "additionalProperties": False,
    "properties": {"visible": {"$ref": "#/$defs/locator"}, "not_visible": {"$ref": "#/$defs/locator"},
                   "text": {"type": "string"}, "url": {"type": "string"}, "var": {"type": "string"},
                   "equals": {"type": ["string", "number"]}},
}


def _pattern(value: object, path: YamlPath, ctx: ParseContext) -> re.Pattern[str] | Invalid:
    text = ctx.string(value, path)
    if text is INVALID:
        return Invalid.INVALID
    try:
        return re.compile(text)
    except re.error as e:
        return ctx.error(path, f"bad regular expression: {e}")


def condition(raw: object, path: YamlPath, ctx: ParseContext) -> Condition | Invalid:
    value = ctx.mapping(raw, path, {**CONDITION_KEYS, "equals": "with var: the value it must have"})
    if value is INVALID:
        return Invalid.INVALID
    kinds = [k for k in value if k in CONDITION_KEYS]
    if len(kinds) != 1:
        return ctx.error(path, f"a condition asks one thing; give exactly one of: {', '.join(CONDITION_KEYS)}")
    kind = kinds[0]
    at = path + (kind,)
    if "equals" in value and kind != "var":
        return ctx.error(path + ("equals",), "equals goes with var: {var: NAME, equals: VALUE}", key=True)
    if kind in ("visible", "not_visible"):
        loc = ctx.locator(value[kind], at)
        return INVALID if loc is INVALID else VisibleCondition(loc, visible=kind == "visible")
    if kind == "url":
        pattern = _pattern(value[kind], at, ctx)
        return pattern if isinstance(pattern, Invalid) else UrlCondition(pattern)
    if kind == "text":
        words = ctx.string(value[kind], at)
        return INVALID if words is INVALID else TextCondition(words)
    return _var_condition(value, at, ctx)


def _var_condition(value: dict[str, object], at: YamlPath, ctx: ParseContext) -> Condition | Invalid:
    name = ctx.string(value["var"], at)
    if name is INVALID:
        return Invalid.INVALID
    name = name.removeprefix("vars.")
    if name not in ctx.vars_known:
        return unknown_var(name, at, ctx)
    if "equals" not in value:
        return ctx.error(at[:-1], "a var condition needs equals: {var: NAME, equals: VALUE}")
    equals = ctx.string(value["equals"], at[:-1] + ("equals",), allow_empty=True)
    return INVALID if equals is INVALID else VarCondition(name, equals)


def unknown_var(name: str, path: YamlPath, ctx: ParseContext) -> Invalid:
    known = sorted(ctx.vars_known)
    stored = f"stored before this point: {', '.join(known)}" if known else "no step before this point stores one"
    return ctx.error(path, f"unknown variable '{name}': a step must store it first (store: {{{name}: ...}}, "
                           f"or a python step's stores: [{name}]); "
                           f"{stored}{suggest(name, known)}")


def repeat(raw: object, path: YamlPath, ctx: ParseContext) -> Repeat | Invalid:
    """Parsed after the group's steps (``until`` may ask about values they store)."""
    value = ctx.mapping(raw, path, REPEAT_KEYS)
    if value is INVALID:
        return Invalid.INVALID
    if ("times" in value) == ("until" in value):
        return ctx.error(path, "give times: N, or until: CONDITION (with max: N)")
    if "times" in value:
        if "max" in value:
            return ctx.error(path + ("max",), "max goes with until", key=True)
        n = _rounds(value["times"], path + ("times",), ctx)
        return INVALID if n is INVALID else Repeat(times=n, max=n)
    until = condition(value["until"], path + ("until",), ctx)
    if "max" not in value:
        return ctx.error(path, "until needs max: N (the rounds at most: a journey never loops forever)")
    n = _rounds(value["max"], path + ("max",), ctx)
    return INVALID if isinstance(n, Invalid) or isinstance(until, Invalid) else Repeat(until=until, max=n)


def _rounds(value: object, path: YamlPath, ctx: ParseContext) -> int | Invalid:
    n = ctx.number(value, path, minimum=1, maximum=MAX_ROUNDS)
    if n is INVALID:
        return Invalid.INVALID
    return int(n) if float(n).is_integer() else ctx.error(path, "expected a whole number")


def store(value: object, path: YamlPath, ctx: ParseContext) -> dict[str, StoreSpec] | Invalid:
    """``store:`` entries; their names become known to the steps after this one."""
    if not isinstance(value, dict) or not value:
        return ctx.error(path, "store is a mapping NAME: {text_of | number_of | value | attribute | url: ...}")
    specs: dict[str, StoreSpec] = {}
    for name, spec in value.items():
        at = path + (name,)
        if not isinstance(name, str) or not VAR_NAME.match(name):
            ctx.error(at, f"{name!r} is not a variable name (letters, digits and _)", key=True)
            continue
        parsed = _store_spec(spec, at, ctx)
        if parsed is not INVALID:
            specs[name] = parsed
    ok = len(specs) == len(value)
    ctx.vars_known.update(specs)
    return specs if ok else INVALID


def _store_spec(raw_spec: object, at: YamlPath, ctx: ParseContext) -> StoreSpec | Invalid:
    spec = ctx.mapping(raw_spec, at, STORE_KEYS)
    if spec is INVALID:
        return Invalid.INVALID
    sources = [k for k in spec if k in STORE_SOURCES]
    if len(sources) != 1:
        return ctx.error(at, f"give exactly one of: {', '.join(STORE_SOURCES)}")
    source = sources[0]
    secret = ctx.boolean(spec.get("secret", False), at + ("secret",))
    where = at + (source,)
    if source == "url":
        pattern = _pattern(spec[source], where, ctx)
        if isinstance(pattern, Invalid) or isinstance(secret, Invalid):
            return Invalid.INVALID
        return StoreSpec("url", pattern=pattern, secret=secret)
    attribute: str | Invalid = ""
    raw = spec[source]
    if source == "attribute":
        pair = ctx.mapping(raw, where, {"selector": "the element", "name": "the attribute"}, ("selector", "name"))
        if pair is INVALID:
            return Invalid.INVALID
        attribute = ctx.string(pair["name"], where + ("name",))
        raw, where = pair["selector"], where + ("selector",)
    loc = ctx.locator(raw, where)
    if isinstance(loc, Invalid) or isinstance(secret, Invalid) or isinstance(attribute, Invalid):
        return Invalid.INVALID
    return StoreSpec(source, loc, attribute, secret=secret)

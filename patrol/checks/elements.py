"""Element assertions: what the page's elements say (the DOM, not OCR).

    expect:
      text_of:   {selector: "#total-assets", contains: "128,460"}     # equals | contains | matches
      count:     {selector: ".fund-link", min: 3}                      # equals | min | max
      attribute: {selector: "#promo-banner", name: alt, matches: "理财"}  # equals | matches
      value:     {selector: "#amount", equals: "100"}
      number_of: {selector: "#total-assets", min: 0, approx: 128460.52}  # equals | min | max | approx

Each waits, like ``visible``, up to the step's hard timeout for the condition to hold
(a balance that is still loading is not yet wrong). A value that never comes right is
a rendering error (``wrong_value``): the customer sees the wrong thing, the flow may go
on. ``number_of`` reads numbers as people write them ("¥1,234.50", "(12.00)", "1.2万");
``approx`` passes within 0.5% or 0.01, whichever is larger. Web journeys read the DOM,
app journeys the UI tree (a label's text, an attribute, a field's value).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING, TypeAlias

from ..core.jsontypes import JsonObject
from ..core.vocabulary import Kind, Reason
from ..journey.expressions import ExpressionError, evaluate, parse_number
from ..journey.model import Locator
from ..journey.parsing import INVALID, Invalid, ParseContext
from ..journey.placeholders import PLACEHOLDER
from ..results import Finding
from . import register
from .base import Check, parsed_as, wait_for_condition

if TYPE_CHECKING:
    from .. import yamlpos
    from ..step.evidence import StepContext

_SELECTOR: JsonObject = {"$ref": "#/$defs/locator"}
# What an assertion expects: text, a count, a pattern, a number; for ``number_of``, arithmetic
# over stored values (text with ``${...}``) until the values are known.
Expected: TypeAlias = "str | int | Decimal | re.Pattern[str]"
# What the page shows: text, a count, a number (``number_of``: the text when it is none).
Reading: TypeAlias = "str | int | Decimal"


@dataclass(frozen=True)
class Assertion:
    """One element assertion, parsed: what to read, and the tests its reading must pass."""

    locator: Locator
    tests: tuple[tuple[str, Expected], ...]  # (operator, expected), all must hold
    name: str = ""  # the attribute, for ``attribute``


def _schema(ops: JsonObject, extra: JsonObject | None = None) -> JsonObject:
    return {"type": "object", "required": ["selector"], "additionalProperties": False,
            "properties": {"selector": _SELECTOR, **(extra or {}), **ops}, "minProperties": 2}


class _ElementCheck(Check):
    phase = "live"
    ops: dict[str, str] = {}
    extra: dict[str, str] = {}

    def parse(self, value: object, path: yamlpos.Path, ctx: ParseContext) -> Assertion | Invalid:
        allowed = {"selector": "the element(s)", **self.extra, **self.ops}
        if ctx.mapping(value, path, allowed, ("selector", *self.extra)) is INVALID or not isinstance(value, dict):
            return Invalid.INVALID
        tests = [(op, self.expected(op, value[op], path + (op,), ctx)) for op in self.ops if op in value]
        if not tests:
            return ctx.error(path, f"give one of: {', '.join(self.ops)}")
        locator: Locator | Invalid = ctx.locator(value["selector"], path + ("selector",))
        name: str | Invalid = ctx.string(value["name"], path + ("name",)) if "name" in self.extra else ""
        valid = tuple((op, e) for op, e in tests if not isinstance(e, Invalid))
        if isinstance(locator, Invalid) or isinstance(name, Invalid) or len(valid) < len(tests):
            return INVALID
        return Assertion(locator, valid, name)

    def expected(self, op: str, value: object, path: yamlpos.Path, ctx: ParseContext) -> Expected | Invalid:
        if op == "matches":
            pattern: str | Invalid = ctx.string(value, path)
            try:
                return re.compile(pattern) if isinstance(pattern, str) else INVALID
            except re.error as e:
                return ctx.error(path, f"bad regular expression: {e}")
        text: str | Invalid = ctx.string(value, path, allow_empty=True)
        return text

    async def readings(self, sc: StepContext, a: Assertion) -> list[Reading]:
        raise NotImplementedError

    def holds(self, readings: list[Reading], a: Assertion) -> bool:
        if not readings:
            return False
        return all(_test(op, readings[0], expected) for op, expected in a.tests)

    def describe(self, a: Assertion) -> str:
        return f"{self.expect_key} {a.locator.describe()}"

    async def run(self, sc: StepContext, params: object) -> list[Finding]:
        a = parsed_as(params, Assertion)
        last: list[Reading] = []

        async def holds() -> bool:
            nonlocal last
            last = await self.readings(sc, a)
            return self.holds(last, a)

        if await wait_for_condition(sc, holds):
            return []
        wanted = ", ".join(f"{op} {_shown(e)}" for op, e in a.tests)
        seen = _shown(last[0]) if len(last) == 1 else ("[" + ", ".join(map(_shown, last[:5])) + "]" if last else "no such element")
        return [Finding(kind=Kind.RENDER, reason=Reason.WRONG_VALUE,
                        message=f"{self.describe(a)}: expected {wanted}, but the page shows {seen}",
                        evidence={"selector": a.locator.describe(), "expected": wanted, "seen": [str(v) for v in last[:20]],
                                  "waited_ms": sc.timeout_ms, "url": await sc.driver.current_url()})]


def _shown(value: Expected) -> str:
    """A value as the message shows it: numbers as people write them, text quoted."""
    if isinstance(value, re.Pattern):
        return repr(value.pattern)
    if isinstance(value, Decimal):
        return f"{value:,}"
    return repr(value)


def _test(op: str, reading: Reading, expected: Expected) -> bool:
    if op == "equals":
        return reading == expected
    if op == "contains":
        return str(expected) in str(reading)
    if op == "matches":
        return isinstance(expected, re.Pattern) and expected.search(str(reading)) is not None
    if isinstance(reading, str) or isinstance(expected, (str, re.Pattern)):
        raise TypeError(f"{op} compares numbers, not {reading!r} and {expected!r}")
    if op == "min":
        return reading >= expected
    if op == "max":
        return reading <= expected
    if op == "approx":
        want = Decimal(expected)
        return abs(Decimal(reading) - want) <= max(Decimal("0.01"), abs(want) * Decimal("0.005"))
    raise ValueError(op)


def _squash(text: str) -> str:
    """Text as a person reads it: runs of white space are one space."""
    return " ".join(text.split())


@register
class TextOf(_ElementCheck):
    name = "text_of"
    expect_key = "text_of"
    summary = "the text of an element: {selector, equals|contains|matches}"
    ops = {"equals": "the whole text", "contains": "a part of it", "matches": "a regular expression"}
    schema = _schema({op: {"type": "string"} for op in ops})

    def expected(self, op: str, value: object, path: yamlpos.Path, ctx: ParseContext) -> Expected | Invalid:
        e = super().expected(op, value, path, ctx)
        return _squash(e) if isinstance(e, str) else e

    async def readings(self, sc: StepContext, a: Assertion) -> list[Reading]:
        return [_squash(t) for t in await sc.driver.texts_of(a.locator)]


@register
class Count(_ElementCheck):
    name = "count"
    expect_key = "count"
    summary = "how many elements match: {selector, equals|min|max}"
    ops = {"equals": "exactly", "min": "at least", "max": "at most"}
    schema = _schema({op: {"type": "integer", "minimum": 0} for op in ops})

    def expected(self, op: str, value: object, path: yamlpos.Path, ctx: ParseContext) -> Expected | Invalid:
        n: float | Invalid = ctx.number(value, path, minimum=0)
        if isinstance(n, Invalid):
            return INVALID
        return int(n) if float(n).is_integer() else ctx.error(path, "expected a whole number")

    async def readings(self, sc: StepContext, a: Assertion) -> list[Reading]:
        return [len(await sc.driver.texts_of(a.locator))]


@register
class Attribute(_ElementCheck):
    name = "attribute"
    expect_key = "attribute"
    summary = "an attribute of an element: {selector, name, equals|matches}"
    ops = {"equals": "the whole value", "matches": "a regular expression"}
    extra = {"name": "the attribute's name"}
    schema = _schema({op: {"type": "string"} for op in ops}, {"name": {"type": "string"}})

    async def readings(self, sc: StepContext, a: Assertion) -> list[Reading]:
        found: list[Reading] = [v for v in await sc.driver.attributes_of(a.locator, a.name) if v is not None]
        return found[:1]

    def describe(self, a: Assertion) -> str:
        return f"attribute {a.name} of {a.locator.describe()}"


@register
class Value(_ElementCheck):
    name = "value"
    expect_key = "value"
    summary = "the value of a form field: {selector, equals}"
    ops = {"equals": "the field's value"}
    schema = _schema({"equals": {"type": ["string", "number"]}})

    async def readings(self, sc: StepContext, a: Assertion) -> list[Reading]:
        return list(await sc.driver.values_of(a.locator))


@register
class NumberOf(_ElementCheck):
    name = "number_of"
    expect_key = "number_of"
    summary = "the number an element shows (¥1,234.50, (12.00), 1.2万): {selector, equals|min|max|approx}"
    ops = {"equals": "exactly", "min": "at least", "max": "at most", "approx": "within 0.5% (or 0.01)"}
    schema = _schema({op: {"type": ["number", "string"]} for op in ops})

    def expected(self, op: str, value: object, path: yamlpos.Path, ctx: ParseContext) -> Expected | Invalid:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            return ctx.error(path, "expected a number, or arithmetic such as 2362.46 - 12.34")
        text = str(value)
        try:
            if "${" in text:
                # ``${vars.balance} - 12.34``: the shape is checked now, the sum when the value is known.
                evaluate(PLACEHOLDER.sub("0", text))
                return text
            return evaluate(text)
        except ExpressionError as e:
            return ctx.error(path, str(e))

    async def readings(self, sc: StepContext, a: Assertion) -> list[Reading]:
        numbers: list[Reading] = []
        for text in await sc.driver.texts_of(a.locator):
            try:
                numbers.append(parse_number(text))
            except ExpressionError:
                numbers.append(text)  # shown as seen; never equal to a number
        return numbers

    def holds(self, readings: list[Reading], a: Assertion) -> bool:
        return bool(readings) and isinstance(readings[0], Decimal) and super().holds(readings, a)

    async def run(self, sc: StepContext, params: object) -> list[Finding]:
        a = parsed_as(params, Assertion)
        if any(isinstance(e, str) for _, e in a.tests):  # arithmetic over stored values, filled in by now
            try:
                a = replace(a, tests=tuple((op, evaluate(e) if isinstance(e, str) else e) for op, e in a.tests))
            except ExpressionError as e:
                return [Finding(kind=Kind.RENDER, reason=Reason.WRONG_VALUE,
                                message=f"{self.describe(a)}: cannot compute the expected value: {e}",
                                evidence={"selector": a.locator.describe()})]
        return await super().run(sc, a)

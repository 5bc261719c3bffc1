"""The words of the journey language that other packages define: the actions a step
can take (``actions/``) and the checks its ``expect:`` can hold (``checks/``). Both
sit above the journey model (they act on it and judge it), so the journey package
never imports them: it reads them from ``LANGUAGE``, which the composition root
(``patrol/plugins.py``) hands the live registries to. The locator's JSON Schema lives
here too, beside the ``Locator`` it describes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from ..core.jsontypes import JsonObject

if TYPE_CHECKING:
    from ..core.capabilities import Capability
    from .parsing import ParseContext, YamlPath


class Word(Protocol):
    """What parsing a step and writing the JSON Schema need of an action or a check."""

    @property
    def name(self) -> str: ...
    @property
    def summary(self) -> str: ...
    @property
    def schema(self) -> Mapping[str, object]: ...  # its JSON Schema
    @property
    def needs(self) -> frozenset[Capability]: ...  # driver capabilities beyond the core
    # The parsed value (the word's own type), or INVALID after recording a problem in ``ctx``.
    def parse(self, value: object, path: YamlPath, ctx: ParseContext) -> object: ...


class CheckWord(Word, Protocol):
    """A check: a word that may own a key of a step's ``expect:``."""

    @property
    def expect_key(self) -> str | None: ...  # its key under ``expect:`` (None: an always-on check)


@dataclass
class Language:
    actions: Mapping[str, Word] = field(default_factory=dict)
    checks: Mapping[str, CheckWord] = field(default_factory=dict)

    def expect_keys(self) -> dict[str, CheckWord]:
        return {c.expect_key: c for c in self.checks.values() if c.expect_key}


LANGUAGE = Language()


def use(actions: Mapping[str, Word], checks: Mapping[str, CheckWord]) -> None:
    """Give the journey language its actions and checks (the registries themselves, so
    a word registered later is known too)."""
    LANGUAGE.actions = actions
    LANGUAGE.checks = checks


LOCATOR_SCHEMA: JsonObject = {
    "oneOf": [
        {"type": "string", "minLength": 1, "description": "CSS/Playwright selector (web)"},
        {
            "type": "object",
            "minProperties": 1,
            "maxProperties": 2,
            "properties": {
                "css": {"type": "string"},
                "text": {"type": "string", "description": "words on screen, found by OCR"},
                "id": {"type": "string"},
                "accessibility_id": {"type": "string"},
                "xpath": {"type": "string"},
                "uiautomator": {"type": "string"},
                "ios_predicate": {"type": "string"},
                "point": {"type": "array", "items": {"type": "number", "minimum": 0, "maximum": 1}, "minItems": 2, "maxItems": 2},
                "nth": {"type": "integer", "minimum": 1, "description": "which match (from 1) when the selector matches several"},
                "first": {"type": "boolean", "description": "the first match when the selector matches several"},
            },
            "additionalProperties": False,
        },
    ]
}

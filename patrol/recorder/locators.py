"""Choosing the locator a recorded step keeps, from the candidates the page reported.

Preference: a test id (made for tests, survives redesigns), an ``#id``, the role and
accessible name (what a customer sees and a screen reader reads), another telling
attribute (``input[name="amount"]``), the visible text, and a CSS path last (it
breaks when the layout moves). Only a candidate that matched exactly one element when
the action happened is kept; the CSS path is unique by construction."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

PREFERENCE = ("testid", "id", "role", "attr", "text", "css")

# Ids frameworks generate (React's ":r1:", "ember123", long numbers) change between
# builds or page loads: a locator built on them would break the next run.
_GENERATED_ID = re.compile(r"^\d|:|\d{4,}|^(ember|ext-gen|yui_|ui-id-|mui-|radix-|headlessui-|react-select-)", re.I)


@dataclass(frozen=True)
class Candidate:
    kind: str
    selector: str
    unique: bool
    value: str = ""

    @classmethod
    def parse(cls, raw: object) -> Candidate | None:
        """One candidate as the page sent it; anything malformed is dropped."""
        if not isinstance(raw, Mapping):
            return None
        kind, selector, unique = raw.get("kind"), raw.get("selector"), raw.get("unique")
        if not isinstance(kind, str) or kind not in PREFERENCE or not isinstance(selector, str) or not selector.strip():
            return None
        value = raw.get("value")
        return cls(kind, selector, unique is True, value if isinstance(value, str) else "")


def stable_id(value: str) -> bool:
    return bool(value) and not _GENERATED_ID.search(value)


def usable(candidate: Candidate) -> bool:
    if not candidate.unique:
        return False
    if candidate.kind == "id":
        return stable_id(candidate.value)
    return True


def choose_locator(candidates: Iterable[Candidate]) -> str | None:
    """The most robust unique candidate, or None when there is none."""
    ranked = sorted((c for c in candidates if usable(c)), key=lambda c: PREFERENCE.index(c.kind))
    return ranked[0].selector if ranked else None

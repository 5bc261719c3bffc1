"""Recorded events -> journey steps. Pure: times are passed in, nothing touches a browser.

- the first page opened is a ``goto`` relative to ``base_url`` (the origin recorded);
- consecutive typing into one field is one ``fill`` with the final text;
- a password (or one-time code) is a ``${secret:NAME}`` placeholder: the page never
  sends its value, and a step never holds one;
- a navigation soon after an action is that action's doing: it becomes the action's
  ``expect: {url}`` instead of a ``goto`` of its own; any other navigation (an address
  typed, a reload) is a ``goto``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .locators import Candidate, choose_locator

# An action's navigation may wait on a request (signing in): this long after it, a
# navigation is still the action's doing.
CAUSE_WINDOW_S = 5.0
KEYS = ("Enter", "Tab", "Escape", "Space")
SECRET_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass
class RecordedStep:
    name: str
    action: str
    params: str | dict[str, str]
    expect_url: str | None = None
    field: str = ""  # the selector typed into, for collapsing fills


@dataclass
class Target:
    selector: str
    label: str
    field: str

    @classmethod
    def parse(cls, raw: object) -> Target | None:
        if not isinstance(raw, Mapping) or not isinstance(raw.get("candidates"), list):
            return None
        selector = choose_locator(c for c in map(Candidate.parse, raw["candidates"]) if c is not None)
        if selector is None:
            return None
        label, name = raw.get("label"), raw.get("field")
        return cls(selector, label if isinstance(label, str) and label.strip() else selector,
                   name if isinstance(name, str) else "")


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def relative(url: str, base_url: str) -> str:
    """``url`` as a goto target: a path when it is on ``base_url``'s origin."""
    if origin(url) != base_url:
        return url
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "") + (f"#{parts.fragment}" if parts.fragment else "")


def url_pattern(url: str, base_url: str) -> str:
    """What ``expect: {url}`` checks after a navigation: the path, with a ``*`` for a
    query that may differ run to run (an id, an amount)."""
    parts = urlsplit(url)
    if origin(url) != base_url:
        return f"{parts.scheme}://{parts.netloc}{parts.path}*"
    return (parts.path or "/") + ("*" if parts.query else "")


def secret_name(field_name: str) -> str:
    """``#new-password`` -> ``NEW_PASSWORD``: an environment variable's name."""
    name = re.sub(r"[^A-Za-z0-9]+", "_", field_name).strip("_").upper()
    if not name:
        return "PASSWORD"
    return name if SECRET_NAME.match(name) else f"SECRET_{name}"


@dataclass
class Recording:
    """The journey being recorded. ``secret``: the name for the first secret field."""

    base_url: str
    secret: str | None = None
    steps: list[RecordedStep] = field(default_factory=list)
    _last_action_at: float | None = None
    _secrets: dict[str, str] = field(default_factory=dict)

    def opened(self, url: str) -> RecordedStep:
        """The first page: where the journey starts."""
        return self._add(f"open {relative(url, self.base_url)}", "goto", relative(url, self.base_url))

    def navigated(self, url: str, at: float) -> RecordedStep | None:
        """A main-frame navigation; a new step only when no action caused it."""
        if not url.startswith(("http://", "https://")):
            return None  # about:blank, chrome-error://, data: cannot be replayed
        caused = self._last_action_at is not None and at - self._last_action_at <= CAUSE_WINDOW_S
        if caused and self.steps:
            self.steps[-1].expect_url = url_pattern(url, self.base_url)
            return None
        self._last_action_at = None
        return self._add(f"open {relative(url, self.base_url)}", "goto", relative(url, self.base_url))

    def event(self, raw: object, at: float) -> RecordedStep | None:
        """One event from the page; the step it made (or extended), or None."""
        if not isinstance(raw, Mapping):
            return None
        kind = raw.get("type")
        if kind == "submit":  # made by a click or a key already recorded: only a cause
            self._last_action_at = at
            return None
        target = Target.parse(raw.get("target"))
        step = self._step(kind, raw, target)
        if step is not None:
            self._last_action_at = at
        return step

    def _step(self, kind: object, raw: Mapping[str, object], target: Target | None) -> RecordedStep | None:
        if kind == "press":
            return self._press(raw.get("key"), target)
        if target is None:
            return None
        if kind == "click":
            return self._add(f"click {target.label}", "click", target.selector)
        if kind == "fill":
            return self._fill(target, raw)
        value, label = raw.get("value"), raw.get("label")
        if kind == "select" and isinstance(value, str):
            option = label if isinstance(label, str) and label else value
            return self._add(f"choose {option} in {target.label}", "select", {"selector": target.selector, "value": value})
        return None

    def _press(self, key: object, target: Target | None) -> RecordedStep | None:
        if key not in KEYS:
            return None
        if target is None:
            return self._add(f"press {key}", "press", str(key))
        return self._add(f"press {key} in {target.label}", "press", {"key": str(key), "selector": target.selector})

    def _fill(self, target: Target, raw: Mapping[str, object]) -> RecordedStep | None:
        if raw.get("secret") is True:
            text = "${secret:" + self._secret_for(target) + "}"
        elif isinstance(value := raw.get("value"), str):
            text = value
        else:
            return None
        last = self.steps[-1] if self.steps else None
        if last is not None and last.action == "fill" and last.field == target.selector and last.expect_url is None:
            last.params = {"selector": target.selector, "text": text}  # still typing: one fill
            return last
        step = self._add(f"fill {target.label}", "fill", {"selector": target.selector, "text": text})
        step.field = target.selector
        return step

    def _secret_for(self, target: Target) -> str:
        if target.selector not in self._secrets:
            if self.secret and not self._secrets:
                name = self.secret
            else:
                name = secret_name(target.field or target.selector)
            taken = set(self._secrets.values())
            unique, n = name, 2
            while unique in taken:
                unique, n = f"{name}_{n}", n + 1
            self._secrets[target.selector] = unique
        return self._secrets[target.selector]

    def _add(self, name: str, action: str, params: str | dict[str, str]) -> RecordedStep:
        names = {s.name for s in self.steps}
        unique, n = name, 2
        while unique in names:  # step names are the steps' identity in reports
            unique, n = f"{name} ({n})", n + 1
        step = RecordedStep(unique, action, params)
        self.steps.append(step)
        return step

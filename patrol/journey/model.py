"""The journey model: pure, validated data. Built by ``loader``, read by the runner.

Nothing here knows about YAML, Playwright or Appium.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TypeAlias, TypeVar

from ..core.vocabulary import Target

T = TypeVar("T")

# Locator strategies. A plain string in a journey is a CSS/Playwright selector on the
# web and is refused for apps (where a strategy must be named).
LOCATOR_STRATEGIES = {
    "css": "CSS or Playwright selector (web)",
    "text": "words on screen, found by OCR",
    "id": "element id / resource-id",
    "accessibility_id": "accessibility id (content-desc / accessibilityIdentifier)",
    "xpath": "XPath",
    "uiautomator": "Android UiAutomator selector",
    "ios_predicate": "iOS predicate string",
    "point": "coordinates [x, y] as fractions 0-1 of the screen",
}

# Strategies found on the screenshot (OCR, coordinates), not in the UI tree.
SCREEN_STRATEGIES = ("text", "point")


@dataclass(frozen=True)
class Locator:
    strategy: str
    value: str  # the selector, id, XPath, words...; for ``point``, the point as written
    # Which of several matches (web): ``nth`` counts from 1, ``first`` takes the first.
    # Neither: a selector matching several elements is ambiguous for an action.
    nth: int | None = None
    first: bool = False
    # ``point``: where, as fractions (0-1) of the screen's width and height.
    point: tuple[float, float] | None = None

    @classmethod
    def at(cls, x: float, y: float) -> Locator:
        """A ``{point: [x, y]}`` locator."""
        return cls("point", str((x, y)), point=(x, y))

    def describe(self) -> str:
        base = str(self.value) if self.strategy == "css" else f"{self.strategy}={self.value}"
        if self.nth is not None:
            return f"{base} (match {self.nth})"
        return f"{base} (first match)" if self.first else base


@dataclass(frozen=True)
class Device:
    name: str  # "desktop", "mobile" or "custom"
    width: int
    height: int
    scale: float = 1.0
    mobile: bool = False
    user_agent: str | None = None


DEVICES = {
    "desktop": Device("desktop", 1280, 800, 1.0, False),
    # A common phone: 390x844 CSS pixels at 3x is an iPhone 12-15; 2x keeps screenshots small.
    "mobile": Device(
        "mobile",
        390,
        844,
        2.0,
        True,
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0 Mobile Safari/537.36",
    ),
}


# A journey's time limit when neither it nor patrol.yaml sets one: a journey that never
# ends (a page that hangs in a way no step notices) must not hold its slot forever.
DEFAULT_JOURNEY_MS = 600_000.0


@dataclass(frozen=True)
class Budgets:
    step_ms: float = 5000.0  # a step slower than this is a stall
    timeout_ms: float = 15000.0  # hard limit per action/expectation: past it, a breakpoint
    journey_ms: float | None = DEFAULT_JOURNEY_MS  # whole journey (cut off past it: journey_timeout)

    @classmethod
    def project(cls, step_ms: float | None = None, timeout_ms: float | None = None, journey_ms: float | None = None) -> Budgets:
        """Project-wide defaults (patrol.yaml ``budgets:``), the built-in ones where it is silent;
        the hard timeout is never below the step budget."""
        step = step_ms if step_ms is not None else cls.step_ms
        timeout = timeout_ms if timeout_ms is not None else max(cls.timeout_ms, step)
        return cls(step, timeout, journey_ms if journey_ms is not None else DEFAULT_JOURNEY_MS)


# How long a condition may wait for what it asks about (an element still appearing)
# before it is taken as not met: short, because a condition is a question, not a wait.
CONDITION_GRACE_MS = 1000.0


# ``if:`` / ``repeat: {until:}``: a question about the screen or the journey's values,
# one dataclass per kind of question (``Condition``).
@dataclass(frozen=True)
class VisibleCondition:
    """``visible:`` / ``not_visible:`` an element."""

    locator: Locator
    visible: bool = True  # False: ``not_visible``

    def describe(self) -> str:
        return f"{'visible' if self.visible else 'not visible'} {self.locator.describe()}"


@dataclass(frozen=True)
class TextCondition:
    """``text:`` words on screen (by OCR)."""

    words: str

    def describe(self) -> str:
        return f"text {self.words!r} on screen"


@dataclass(frozen=True)
class UrlCondition:
    """``url:`` the page's address matches a pattern (searched)."""

    pattern: re.Pattern[str]

    def describe(self) -> str:
        return f"url matches {self.pattern.pattern!r}"


@dataclass(frozen=True)
class VarCondition:
    """``var:`` a stored value ``equals`` a value (as written, or as numbers)."""

    name: str
    equals: str

    def describe(self) -> str:
        return f"vars.{self.name} equals {self.equals!r}"


Condition: TypeAlias = "VisibleCondition | TextCondition | UrlCondition | VarCondition"


@dataclass(frozen=True)
class Repeat:
    """``repeat:`` over a group: ``times`` rounds, or until ``until`` holds (at most ``max``)."""

    times: int | None = None
    until: Condition | None = None
    max: int = 1


@dataclass(frozen=True)
class StoreSpec:
    """One ``store:`` entry: where a value is read after the step's action."""

    source: str  # text_of | number_of | value | attribute | url
    locator: Locator | None = None
    attribute: str = ""
    pattern: re.Pattern[str] | None = None  # url: group 1 (or the whole match)
    secret: bool = False


@dataclass(frozen=True)
class Expectation:
    """One entry of a step's ``expect:``: the check that judges it (its registered name)
    and the parameters its ``parse`` made, a frozen record of the check's own module (a
    ``Locator``, a ``TextSpec``...). The journey imports no check, so it cannot name
    each check's type: ``params`` is ``object`` here and the check narrows it back."""

    check: str
    params: object


@dataclass
class Step:
    index: int  # 1-based
    name: str  # "" when the author gave none
    action: str  # registered action name
    # Parsed by the action (its ``P``): the model only carries it to the action.
    params: object
    expect: tuple[Expectation, ...] = ()  # in the order written, one per check
    budget_ms: float | None = None
    options: dict[str, object] = field(default_factory=dict)  # step-level extras (redact...), each its key's parsed type
    line: int = 0
    file: str = ""  # where the step is written: the journey, or a flow it includes
    name_at: tuple[int, int] = (0, 0)  # line, column of its name (for problems found after parsing)
    condition: Condition | None = None  # ``if:``: the step runs only when it holds
    optional: bool = False  # its failure is a note, not a finding
    frame: Locator | None = None  # ``frame:``: act inside this iframe
    store: dict[str, StoreSpec] = field(default_factory=dict)  # values read after the action
    phase: str = "steps"  # setup | steps | teardown

    @property
    def label(self) -> str:
        return self.name or f"step {self.index} ({self.action})"

    @property
    def key(self) -> str:
        return self.name or f"#{self.index}"

    def expectation(self, check: str) -> Expectation | None:
        """What the step expects of the check named ``check``; None when it expects nothing of it."""
        return next((e for e in self.expect if e.check == check), None)


@dataclass
class Group:
    """Steps under one ``if:``, ``repeat:`` or ``frame:`` (``steps:`` inside a step)."""

    steps: list[Node]
    name: str = ""
    condition: Condition | None = None
    repeat: Repeat | None = None
    frame: Locator | None = None
    line: int = 0
    file: str = ""

    @property
    def label(self) -> str:
        return self.name or f"group at line {self.line}"


Node: TypeAlias = "Step | Group"


def leaves(nodes: list[Node]) -> Iterator[Step]:
    """The steps of a program, in the order they are written."""
    for node in nodes:
        if isinstance(node, Group):
            yield from leaves(node.steps)
        else:
            yield node


@dataclass
class Journey:
    name: str
    file: str
    steps: list[Step]
    base_url: str | None = None
    description: str = ""
    target: Target = Target.WEB
    device: Device = DEVICES["desktop"]
    tags: list[str] = field(default_factory=list)
    budgets: Budgets = Budgets()
    # Journey-wide extras owned by other subsystems (redact, detectors, forbidden_text,
    # capabilities, schedule...), parsed by their registered key parsers.
    options: dict[str, object] = field(default_factory=dict)
    # The steps as written, with their groups (setup's first); None: ``steps`` in order.
    program: list[Node] | None = None
    teardown: list[Node] = field(default_factory=list)  # always run at the end; reported apart
    warnings: list[str] = field(default_factory=list)  # legal but unwise (patrol validate shows them)

    def option(self, key: str, kind: type[T]) -> T | None:
        """The journey's ``key`` option as its key's parser made it (a ``kind``); None
        when the journey does not set it."""
        value = self.options.get(key)
        return value if isinstance(value, kind) else None

    def text_option(self, key: str) -> str | None:
        value = self.options.get(key)
        return None if value is None else str(value)

    @property
    def body(self) -> list[Node]:
        return self.program if self.program is not None else list(self.steps)

    @property
    def teardown_steps(self) -> list[Step]:
        return list(leaves(self.teardown))

    def with_base_url(self, base_url: str | None) -> Journey:
        if not base_url:
            return self
        from dataclasses import replace

        return replace(self, base_url=base_url)

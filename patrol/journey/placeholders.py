"""Values filled in while the journey runs (``${...}`` left after the environment's):

    ${vars.NAME}          a value a step stored (``store:``)
    ${run.id}             the run's id (unique per patrol run)
    ${now:%Y%m%d-%H%M}    when the journey started, strftime-formatted (``${now}``: ISO 8601)
    ${random:6}           random letters and digits (default 6): one value per journey
                          attempt, the same everywhere in it, so a payee created with
                          it can be found again by a later step

``check`` finds unknown forms at parse time (the loader positions them);
``substitute`` fills a parsed value (strings, tuples, lists, dicts, frozen dataclasses,
compiled patterns) at run time. Pure: no I/O, nothing heavy.
"""

from __future__ import annotations

import dataclasses
import re
import secrets as _random
import string
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TypeVar, cast

PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
_VAR = re.compile(r"^vars\.([A-Za-z_][A-Za-z0-9_]*)$")
_RANDOM = re.compile(r"^random(?::(\d+))?$")
_ENVIRONMENT = re.compile(r"^(secret:)?[A-Za-z_][A-Za-z0-9_]*$")  # ${NAME}, ${secret:NAME}
_ALPHABET = string.ascii_lowercase + string.digits
MAX_RANDOM = 64
FORMS = "${vars.NAME}, ${run.id}, ${now} / ${now:%Y%m%d-%H%M}, ${random} / ${random:N}"


class MissingValue(LookupError):
    """A ``${vars.NAME}`` no step has stored (yet)."""


def problems(text: str, *, params_reported: bool = False) -> list[str]:
    """What is wrong with the placeholders in ``text`` (unknown forms). In a flow, a
    ``${params.X}`` left over was already reported as an unknown param."""
    out = []
    for m in PLACEHOLDER.finditer(text):
        body = m.group(1)
        if params_reported and body.startswith("params."):
            continue
        if _VAR.match(body) or body in ("run.id", "now") or body.startswith("now:"):
            continue
        if _ENVIRONMENT.match(body) and body not in ("random", "now"):
            continue  # an environment value left unfilled: its interpolation said it is not set
        r = _RANDOM.match(body)
        if r and 1 <= int(r.group(1) or 6) <= MAX_RANDOM:
            continue
        if r:
            out.append(f"${{{body}}}: random takes a length from 1 to {MAX_RANDOM}")
        else:
            out.append(f"unknown placeholder ${{{body}}}; use {FORMS} (environment values are ${{NAME}})")
    return out


def var_names(text: str) -> list[str]:
    return [v.group(1) for m in PLACEHOLDER.finditer(text) if (v := _VAR.match(m.group(1)))]


T = TypeVar("T")


def has_placeholders(obj: object) -> bool:
    return any(True for _ in _strings(obj) if PLACEHOLDER.search(_))


def _strings(obj: object) -> Iterator[str]:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, re.Pattern):
        yield obj.pattern
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _strings(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _strings(v)
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            yield from _strings(getattr(obj, f.name))


@dataclasses.dataclass
class Scope:
    """The values one journey attempt fills in."""

    run_id: str = ""
    started: datetime = dataclasses.field(default_factory=lambda: datetime.now().astimezone())
    vars: dict[str, str] = dataclasses.field(default_factory=dict)
    _random: dict[int, str] = dataclasses.field(default_factory=dict)

    def value(self, body: str) -> str:
        if v := _VAR.match(body):
            if v.group(1) not in self.vars:
                raise MissingValue(f"${{{body}}} has no value: the step that stores '{v.group(1)}' did not run")
            return self.vars[v.group(1)]
        if body == "run.id":
            return self.run_id
        if body == "now":
            return self.started.isoformat(timespec="seconds")
        if body.startswith("now:"):
            return self.started.strftime(body[4:])
        if r := _RANDOM.match(body):
            n = int(r.group(1) or 6)
            return self._random.setdefault(n, "".join(_random.choice(_ALPHABET) for _ in range(n)))
        return "${" + body + "}"  # not ours: left as written (the loader refused unknown forms)

    def expand(self, text: str, quote: Callable[[str], str] = str) -> str:
        if "${" not in text:
            return text
        return PLACEHOLDER.sub(lambda m: quote(self.value(m.group(1))), text)


def substitute(obj: T, scope: Scope) -> T:
    """``obj`` with every placeholder filled (a value of the same type); the same object
    when it has none."""
    return cast(T, _fill(obj, scope))  # _fill keeps each value's type: str to str, a dataclass to its own


def _fill(obj: object, scope: Scope) -> object:
    if isinstance(obj, str):
        return scope.expand(obj)
    if isinstance(obj, re.Pattern):
        if "${" not in obj.pattern:
            return obj
        return re.compile(scope.expand(obj.pattern, re.escape), obj.flags)
    if isinstance(obj, dict):
        return {k: _fill(v, scope) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_fill(v, scope) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_fill(v, scope) for v in obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type) and has_placeholders(obj):
        changes = {f.name: _fill(getattr(obj, f.name), scope) for f in dataclasses.fields(obj) if f.init}
        return dataclasses.replace(obj, **changes)
    return obj

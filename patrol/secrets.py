"""``${VAR}`` / ``${VAR:-default}`` / ``${secret:NAME}`` interpolation, and the masker
that keeps secret values out of everything Patrol writes.

Every value that came through ``${secret:...}`` is registered with the process-wide
``MASKER``; every writer (console, logs, report files, payloads) passes its text
through ``mask()`` last, so a secret cannot leak by a path someone forgot.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping
from typing import Any

MASK = "******"
_PATTERN = re.compile(r"\$\{(secret:)?([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class MissingVariable(KeyError):
    def __init__(self, name: str, secret: bool):
        super().__init__(name)
        self.name = name
        self.secret = secret

    def __str__(self) -> str:
        kind = "secret" if self.secret else "variable"
        return f"{kind} {self.name} is not set in the environment (export {self.name}=...)"


class Masker:
    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()
        self._regex: re.Pattern[str] | None = None

    def add(self, value: str) -> None:
        # Very short values would mask innocent text everywhere; they are still
        # masked as whole strings by the fields that hold them.
        if not value or len(value) < 3:
            return
        with self._lock:
            if value not in self._values:
                self._values.add(value)
                longest_first = sorted(self._values, key=len, reverse=True)
                self._regex = re.compile("|".join(re.escape(v) for v in longest_first))

    def values(self) -> list[str]:
        """The registered secret values (for writers that must mask a format of their own)."""
        with self._lock:
            return list(self._values)

    def mask(self, text: str) -> str:
        regex = self._regex
        if regex is None or not isinstance(text, str):
            return text
        return regex.sub(MASK, text)

    def mask_obj(self, obj: Any) -> Any:
        """Mask every string inside a JSON-like structure."""
        if isinstance(obj, str):
            return self.mask(obj)
        if isinstance(obj, dict):
            return {self.mask_obj(k): self.mask_obj(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [self.mask_obj(v) for v in obj]
        return obj


MASKER = Masker()


def mask(text: str) -> str:
    return MASKER.mask(text)


def interpolate(text: str, env: Mapping[str, str] | None = None) -> str:
    """Expand ``${...}`` in ``text``; raises MissingVariable for an unset name."""
    env = os.environ if env is None else env

    def repl(m: re.Match[str]) -> str:
        is_secret, name, default = bool(m.group(1)), m.group(2), m.group(3)
        value = env.get(name)
        if value is None:
            if default is None:
                raise MissingVariable(name, is_secret)
            value = default
        if is_secret:
            MASKER.add(value)
        return value

    return _PATTERN.sub(repl, text)

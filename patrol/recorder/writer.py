"""A recording -> journey YAML, written atomically (a reader never sees half a file).

Written by hand rather than by a YAML dumper so it reads like the shipped journeys:
one step per block, small mappings inline. Every string is double-quoted with JSON's
escaping, which YAML reads the same, so no typed text can change the structure."""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime
from pathlib import Path

from .steps import RecordedStep


def quote(text: str) -> str:
    """A YAML double-quoted scalar. JSON escapes control characters; YAML also refuses
    (or folds) a few that JSON leaves raw, so those are escaped too."""
    out = []
    for ch in json.dumps(text, ensure_ascii=False):
        code = ord(ch)
        if 0x7F <= code <= 0x9F or code in (0x2028, 0x2029, 0xFEFF) or 0xD800 <= code <= 0xDFFF or code in (0xFFFE, 0xFFFF):
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def _value(params: str | dict[str, str]) -> str:
    if isinstance(params, str):
        return quote(params)
    return "{" + ", ".join(f"{key}: {quote(value)}" for key, value in params.items()) + "}"


def render(name: str, url: str, base_url: str, steps: list[RecordedStep], when: datetime) -> str:
    lines = [
        f"# Recorded by `patrol record` on {when:%Y-%m-%d %H:%M}. Review it: add expect: checks",
        "# (visible, text, visual) where the customer must see something, and redact: for personal data.",
        f"name: {quote(name)}",
        f"description: {quote('recorded from ' + url)}",
        f"base_url: {quote(base_url)}",
        "device: desktop",
        "steps:",
    ]
    for step in steps:
        lines.append(f"  - name: {quote(step.name)}")
        lines.append(f"    {step.action}: {_value(step.params)}")
        if step.expect_url:
            lines.append(f"    expect: {{url: {quote(step.expect_url)}}}")
    return "\n".join(lines) + "\n"


def write_atomically(path: Path, text: str) -> None:
    """A temporary file beside ``path``, flushed to disk, then renamed over it."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the journey from a scheduler user
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

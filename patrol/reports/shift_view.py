"""A layout shift as one annotated change: the marks the report and the console's
compare view draw over the baseline and the actual screen (the block that appeared
or went outlined and labelled with its words, the content that moved marked as
moved), from the visual finding's ``evidence["shift"]``. Plain data for a template,
which escapes every label (the words are the app's)."""

from __future__ import annotations

from typing import TypedDict

from ..core.jsontypes import json_objects


class Mark(TypedDict):
    """A box drawn over a screen (screenshot pixels), of a ``kind``, with its label."""

    x: int
    y: int
    w: int
    h: int
    kind: str
    label: str


class ShiftMarks(TypedDict):
    width: int
    height: int
    baseline: list[Mark]
    actual: list[Mark]
    unexplained: int


def _int(v: object) -> int:
    if not isinstance(v, (int, float, str)):
        return 0
    try:
        return int(v)
    except ValueError:
        return 0


def _way(dy: int) -> str:
    return f"{'down' if dy > 0 else 'up'} {abs(dy)} px"


def _with_text(label: str, text: object) -> str:
    return f"{label}: '{text}'" if isinstance(text, str) and text else label


def _mark(x: int, y: int, w: int, h: int, kind: str, label: str) -> Mark:
    return {"x": x, "y": y, "w": w, "h": h, "kind": kind, "label": label}


def shift_marks(shift: object) -> ShiftMarks | None:
    """``{"width", "height", "baseline": [marks], "actual": [marks], "unexplained": px}``,
    each mark ``{x, y, w, h, kind, label}`` in screenshot pixels; None when ``shift`` is
    not a shift's evidence."""
    if not isinstance(shift, dict) or not (shift.get("blocks") or shift.get("moved")):
        return None
    width, height = _int(shift.get("width")), _int(shift.get("height"))
    if width <= 0 or height <= 0:
        return None
    baseline: list[Mark] = []
    actual: list[Mark] = []
    block_moves = set()
    for b in json_objects(shift, "blocks"):
        x, y, w, h, dy = (_int(b.get(k)) for k in ("x", "y", "width", "height", "dy"))
        kind = str(b.get("kind") or "")
        blank = bool(b.get("blank"))
        if kind == "appeared":
            actual.append(_mark(x, y, w, h, "appeared", "new space" if blank else _with_text(
                f"appeared {w}×{h}", b.get("text"))))
        elif kind == "disappeared":
            baseline.append(_mark(x, y, w, h, "disappeared", "space gone" if blank else _with_text(
                f"gone {w}×{h}", b.get("text"))))
        elif kind == "moved_block":
            block_moves.add((y, h))
            baseline.append(_mark(x, y, w, h, "moved", _with_text(f"moves {_way(dy)}", b.get("text"))))
            actual.append(_mark(x, y + dy, w, h, "moved", _with_text(f"moved {_way(dy)}", b.get("text"))))
    for m in json_objects(shift, "moved"):
        from_y, to_y, h, dy = (_int(m.get(k)) for k in ("from_y", "to_y", "height", "dy"))
        if any(abs(from_y - y) <= 1 and n == h for y, n in block_moves):
            continue  # drawn with its block
        state = "unchanged" if m.get("unchanged") else "with changes inside"
        baseline.append(_mark(0, from_y, width, h, "region", f"moves {_way(dy)}"))
        actual.append(_mark(0, to_y, width, h, "region", f"moved {_way(dy)}, {state}"))
    return {"width": width, "height": height, "baseline": baseline, "actual": actual,
            "unexplained": _int(shift.get("unexplained_pixels"))}

"""The compare view's zooms: one close-up per changed cluster (the boxes the visual check
found, in screenshot pixels), drawn as SVG whose viewBox is the cluster with a margin, so
baseline, actual and diff line up at the same spot without any script or inline style;
the masked areas (when the run recorded them) are drawn over them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TypedDict

from ..core.png import png_dimensions

MIN_SIDE = 96  # a few changed pixels still get a close-up you can read
MARGIN = 0.3  # of the cluster's larger side, around it
# Close-ups are for local changes: when this share of the screen changed (a layout shift, a
# new page), the whole screens side by side say more than any close-up.
WHOLE_SCREEN_SHARE = 0.15
MAX_CLOSE_UPS = 4
MIN_SHARE_OF_CHANGE = 0.02  # an area with less of the changed pixels is counted, not shown


Box = tuple[int, int, int, int]


class Area(TypedDict):
    """A changed cluster: its box, the close-up's view of it and its changed pixels (when counted)."""

    box: Box
    view: Box
    pixels: float | None


class Zoom(TypedDict):
    size: tuple[int, int] | None
    masks: list[Box]
    areas: list[Area]


class ZoomView(Zoom):
    """The zooms with what a person would look at: the close-ups shown and a count of the rest."""

    shown: list[Area]
    rest: int
    rest_pixels: float | None
    whole_screen: float | None


def _box(raw: object) -> Box | None:
    """A cluster ({x, y, width, height}) or a mask ([x, y, w, h]) as a tuple; None if neither."""
    try:
        if isinstance(raw, dict):
            return int(raw["x"]), int(raw["y"]), int(raw["width"]), int(raw["height"])
        if not isinstance(raw, (list, tuple)):
            return None
        x, y, w, h = (int(v) for v in raw)
        return x, y, w, h
    except (KeyError, TypeError, ValueError):
        return None


def _pixels(cluster: object) -> float | None:
    value = cluster.get("pixels") if isinstance(cluster, dict) else None
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def view(box: Box, size: tuple[int, int]) -> Box:
    """The box grown by a margin (and to at least MIN_SIDE), kept inside the picture."""
    x, y, w, h = box
    pad = int(max(w, h) * MARGIN) + 8
    vw, vh = min(size[0], max(w + 2 * pad, MIN_SIDE)), min(size[1], max(h + 2 * pad, MIN_SIDE))
    vx = min(max(0, x + w // 2 - vw // 2), size[0] - vw)
    vy = min(max(0, y + h // 2 - vh // 2), size[1] - vh)
    return vx, vy, vw, vh


def zooms(run_dir: Path, screenshot: str, clusters: Sequence[object], masks: Sequence[object]) -> Zoom:
    """The picture's size, its masks and a close-up per cluster, for the template."""
    try:
        with open(run_dir / screenshot, "rb") as f:
            size = png_dimensions(f.read(24))
    except OSError:
        size = None
    if size is None:
        return {"size": None, "masks": [], "areas": []}
    boxes = [b for b in (_box(m) for m in masks) if b]
    areas: list[Area] = []
    for c in clusters:
        box = _box(c)
        if box is not None:
            areas.append({"box": box, "view": view(box, size), "pixels": _pixels(c)})
    return {"size": size, "masks": boxes, "areas": areas}


def worth_a_look(zoom: Zoom, diff_ratio: object, total_areas: int | None = None) -> ZoomView:
    """The close-ups a person would look at: none when much of the screen changed (then the
    whole screens are the evidence), else the largest areas holding a fair share of the
    change, at most MAX_CLOSE_UPS; with a count (and pixels) of the rest."""
    areas = list(zoom["areas"])
    total = max(len(areas), total_areas or 0)
    ratio = float(diff_ratio) if isinstance(diff_ratio, (int, float)) else None
    if ratio is None and zoom["size"]:
        w, h = zoom["size"]
        ratio = sum((a["pixels"] or 0) for a in areas) / float(w * h) if w * h else None
    if ratio is not None and ratio >= WHOLE_SCREEN_SHARE:
        return {**zoom, "shown": [], "rest": total, "rest_pixels": None, "whole_screen": round(ratio * 100, 1)}
    changed = sum((a["pixels"] or 0) for a in areas)
    ranked = sorted(areas, key=lambda a: -(a["pixels"] or a["box"][2] * a["box"][3]))
    shown = [a for a in ranked if not changed or (a["pixels"] or 0) >= MIN_SHARE_OF_CHANGE * changed][:MAX_CLOSE_UPS]
    rest = [a for a in areas if a not in shown]
    return {**zoom, "shown": shown, "rest": total - len(shown), "rest_pixels": sum((a["pixels"] or 0) for a in rest) or None,
            "whole_screen": None}

"""The compare view's zooms: one close-up per changed cluster (the boxes the visual check
found, in screenshot pixels), drawn as SVG whose viewBox is the cluster with a margin, so
baseline, actual and diff line up at the same spot without any script or inline style;
the masked areas (when the run recorded them) are drawn over them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..core.png import png_dimensions

MIN_SIDE = 96  # a few changed pixels still get a close-up you can read
MARGIN = 0.3  # of the cluster's larger side, around it


def _box(raw: Any) -> tuple[int, int, int, int] | None:
    """A cluster ({x, y, width, height}) or a mask ([x, y, w, h]) as a tuple; None if neither."""
    try:
        if isinstance(raw, dict):
            return int(raw["x"]), int(raw["y"]), int(raw["width"]), int(raw["height"])
        x, y, w, h = (int(v) for v in raw)
        return x, y, w, h
    except (KeyError, TypeError, ValueError):
        return None


def view(box: tuple[int, int, int, int], size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The box grown by a margin (and to at least MIN_SIDE), kept inside the picture."""
    x, y, w, h = box
    pad = int(max(w, h) * MARGIN) + 8
    vw, vh = min(size[0], max(w + 2 * pad, MIN_SIDE)), min(size[1], max(h + 2 * pad, MIN_SIDE))
    vx = min(max(0, x + w // 2 - vw // 2), size[0] - vw)
    vy = min(max(0, y + h // 2 - vh // 2), size[1] - vh)
    return vx, vy, vw, vh


def zooms(run_dir: Path, screenshot: str, clusters: list[Any], masks: list[Any]) -> dict[str, Any]:
    """The picture's size, its masks and a close-up per cluster, for the template."""
    try:
        with open(run_dir / screenshot, "rb") as f:
            size = png_dimensions(f.read(24))
    except OSError:
        size = None
    if size is None:
        return {"size": None, "masks": [], "areas": []}
    boxes = [b for b in (_box(m) for m in masks) if b]
    areas = []
    for c in clusters:
        box = _box(c)
        if box is not None:
            areas.append({"box": box, "view": view(box, size), "pixels": c.get("pixels") if isinstance(c, dict) else None})
    return {"size": size, "masks": boxes, "areas": areas}

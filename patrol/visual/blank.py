"""Is an image (or a part of it) nearly one colour? A white page, a black screen,
a chart canvas that drew nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

# Share of pixels that must sit on the dominant colour for "blank". A sparse but
# real page still has well over 0.5% of pixels in text, borders and buttons.
SCREEN_BLANK_SHARE = 0.995
REGION_BLANK_SHARE = 0.999
COLOUR_SLACK = 10  # per channel, so JPEG-ish noise or a faint gradient still counts as one colour


def blank_share(img: np.ndarray, step: int = 2) -> tuple[float, tuple[int, int, int]]:
    """(share of pixels on the dominant colour, that colour) — sampled every ``step`` pixels."""
    import numpy as np  # here, not on import: the checks that use this are loaded to parse journeys

    rgb = img[::step, ::step, :3].reshape(-1, 3).astype(np.int16)
    if rgb.size == 0:
        return 1.0, (0, 0, 0)
    q = (rgb >> 4).astype(np.int32)
    keys = (q[:, 0] << 8) | (q[:, 1] << 4) | q[:, 2]
    dominant_key = np.bincount(keys).argmax()
    sample = rgb[keys == dominant_key]
    colour = np.median(sample, axis=0).astype(np.int16)
    close = np.all(np.abs(rgb - colour) <= COLOUR_SLACK, axis=1)
    r, g, b = (int(c) for c in colour)
    return float(close.mean()), (r, g, b)


def colour_name(rgb: tuple[int, int, int]) -> str:
    lum = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
    return "white" if lum > 235 else "black" if lum < 25 else f"rgb{rgb}"

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
    """(share of pixels on the dominant colour, that colour) — sampled every ``step`` pixels.

    The dominant colour is the per-channel median of the most common 16-level colour
    bucket. It runs on every step's screen, so it counts instead of sorting: the median
    from each channel's histogram and "close" by a 256-entry table per channel, on the
    8-bit channels as they are (no widened copies); the same figures as sorting."""
    import numpy as np  # here, not on import: the checks that use this are loaded to parse journeys

    view = img[::step, ::step]
    count = view.shape[0] * view.shape[1]
    if count == 0:
        return 1.0, (0, 0, 0)
    r, g, b = (np.ravel(view[..., c]) for c in range(3))
    keys = ((r >> 4).astype(np.uint16) << 8) | ((g >> 4).astype(np.uint16) << 4) | (b >> 4)
    dominant = keys == np.bincount(keys).argmax()
    n = int(np.count_nonzero(dominant))
    red, green, blue = (_median(np.bincount(channel[dominant], minlength=256), n) for channel in (r, g, b))
    close = _near(red)[r] & _near(green)[g] & _near(blue)[b]
    return float(np.count_nonzero(close) / count), (red, green, blue)


def _median(histogram: np.ndarray, n: int) -> int:
    """The median of ``n`` 8-bit values from their histogram, truncated as NumPy's median
    cast to an integer is (the mean of the two middle values when ``n`` is even)."""
    import numpy as np

    cumulative = np.cumsum(histogram)
    low = int(np.searchsorted(cumulative, (n - 1) // 2 + 1))
    high = int(np.searchsorted(cumulative, n // 2 + 1))
    return (low + high) // 2


def _near(value: int) -> np.ndarray:
    """Which of the 256 levels are within ``COLOUR_SLACK`` of ``value``."""
    import numpy as np

    table = np.zeros(256, dtype=bool)
    table[max(0, value - COLOUR_SLACK): value + COLOUR_SLACK + 1] = True
    return table


def colour_name(rgb: tuple[int, int, int]) -> str:
    lum = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
    return "white" if lum > 235 else "black" if lum < 25 else f"rgb{rgb}"

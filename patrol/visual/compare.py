"""Patrol's screenshot comparator, on NumPy and OpenCV.

The per-pixel semantics are pixelmatch 7.2.0's (mapbox/pixelmatch, ISC):

* a pixel is a candidate only when its RGBA value differs at all;
* its squared YIQ distance (``colorDelta``) is compared with
  ``maxDelta = 35215 * threshold * threshold``;
* semi-transparent pixels are blended before the distance is taken.  Like
  pixelmatch 7.2.0 by default, they are blended against its "checkerboard"
  background (``checkerboard=True``, including pixelmatch's quirk that the
  pattern is indexed by byte offset); ``checkerboard=False`` blends against
  plain white as pixelmatch up to 6.x did;
* a pixel over the threshold is not counted when pixelmatch's anti-aliasing
  detector (``antialiased()`` with ``hasManySiblings``) says it is
  anti-aliased in either image, unless ``include_aa=True``.

With a C compiler on the machine, pixelmatch's loop and the clustering run in
a small compiled kernel (``kernel.py`` builds ``_kernel.c`` on first use and
caches it): one pass over the pixels on a few threads, several times faster
than the NumPy path below, which is the fallback (``PATROL_DIFF_KERNEL=numpy``
forces it) with exactly the same results.

The NumPy path is arranged so that it scales with the number of *changed* pixels,
not with the image: one vectorised ``!=`` over the images viewed as 32-bit
words finds the changed pixels (this is also the array-equal shortcut), then
the YIQ distance is computed only for those, and the costly anti-aliasing
test only for the few that exceed the threshold.  Clusters are labelled with
OpenCV on the bounding box of the differences only.  Large images use a few
threads (the scan, decoding two PNGs, deflating a PNG).  The PNG codec itself
is ``patrol.core.png``.

Diff pictures: diff_image() returns RGB; diff_png() writes the same picture
as an 8-bit palette PNG straight from palette indices (smaller, and several
times faster than encoding the RGB array).
"""

from __future__ import annotations

import ctypes
import functools
import numbers
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field

import cv2
import numpy as np

from ..core.geometry import Box
from ..core.png import (
    CPUS,
    PARALLEL_MIN_PIXELS,
    decode_bgra,
    decode_png,
    known_pixels,
    png_dimensions,
    to_four_channels,
    worker_pool,
    write_png,
)
from . import kernel
from .tolerance import AreaTolerance, parse_area_tolerance, within_tolerance

__all__ = [
    "AreaTolerance",
    "Cluster",
    "Comparison",
    "compare",
    "diff_image",
    "diff_png",
    "mask_from_boxes",
    "parse_area_tolerance",
    "within_tolerance",
]

# Encoded input: PNG bytes (or anything OpenCV decodes); arrays are RGB(A) uint8.
ImageInput = np.ndarray | bytes | bytearray | memoryview

# pixelmatch's constants, kept as literals so the float64 arithmetic matches.
_MAX_YIQ_DELTA = 35215
_Y_R, _Y_G, _Y_B = 0.29889531, 0.58662247, 0.11448223
_I_R, _I_G, _I_B = 0.59597799, 0.27417610, 0.32180189
_Q_R, _Q_G, _Q_B = 0.21147017, 0.52261711, 0.31114694
_PHI = 1.618033988749895
_PHI2 = 2.618033988749895

# The 8 neighbours in pixelmatch's visiting order (x outer, y inner): ties for
# the darkest / brightest neighbour go to the first one met, as there.
_NEIGHBOUR_DX = np.array([-1, -1, -1, 0, 0, 1, 1, 1], dtype=np.int64)
_NEIGHBOUR_DY = np.array([-1, 0, 1, -1, 1, -1, 0, 1], dtype=np.int64)

# Diff image colours (RGB) and the fading of unchanged pixels.
DIFF_COLOUR = (255, 0, 0)
AA_COLOUR = (255, 255, 0)
BOX_COLOUR = (255, 0, 255)
BOX_THICKNESS = 2
FADE_ALPHA = 0.1


@dataclass
class Cluster:
    """A group of nearby differing pixels: its bounding box and pixel count."""

    x: int
    y: int
    width: int
    height: int
    pixels: int


@dataclass
class Comparison:
    """The outcome of comparing two screenshots."""

    width: int
    height: int
    identical: bool  # byte- or array-equal
    size_mismatch: bool  # different dimensions -> everything differs
    diff_pixels: int  # counted differences (after masks, excluding AA unless include_aa)
    aa_pixels: int
    total_pixels: int
    clusters: list[Cluster] = field(default_factory=list)
    diff_index: np.ndarray | None = field(default=None, repr=False)  # sorted flat indices of counted pixels
    aa_index: np.ndarray | None = field(default=None, repr=False)  # sorted flat indices of anti-aliased ones
    _planes: dict[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    @property
    def diff_mask(self) -> np.ndarray | None:
        """Counted pixels as a bool HxW plane (made on first use: most callers need the count only)."""
        return self._plane("diff", self.diff_index)

    @property
    def aa_mask(self) -> np.ndarray | None:
        """Anti-aliased pixels as a bool HxW plane (made on first use)."""
        return self._plane("aa", self.aa_index)

    def _plane(self, name: str, index: np.ndarray | None) -> np.ndarray | None:
        plane = self._planes.get(name)
        if plane is None and index is not None:
            plane = np.zeros((self.height, self.width), dtype=bool)
            plane.reshape(-1)[index] = True
            self._planes[name] = plane
        return plane

    @property
    def diff_ratio(self) -> float:
        """Counted differing pixels as a fraction of all pixels (0..1)."""
        if self.total_pixels <= 0:
            return 0.0
        return self.diff_pixels / self.total_pixels


_BytesLike = (bytes, bytearray, memoryview)


def _as_rgba(image: ImageInput, what: str) -> np.ndarray:
    if isinstance(image, _BytesLike):
        return decode_png(image)
    return to_four_channels(np.asarray(image), what=what)


def _load_pair(expected: ImageInput, actual: ImageInput) -> tuple[np.ndarray, np.ndarray, bool]:
    """Both inputs as HxWx4 uint8 in one common channel order; returns (a, b, is_bgr).

    Encoded inputs are decoded by OpenCV in BGRA order; when both inputs are
    encoded they stay that way (the colour weights are applied per channel
    index, so no conversion is needed).  Arrays are taken as RGB(A), and so are bytes
    whose pixels this process already has (``known_pixels``: a step's screenshot that
    its checks decoded): no second decode."""
    if (isinstance(expected, _BytesLike) and isinstance(actual, _BytesLike)
            and known_pixels(expected) is None and known_pixels(actual) is None):
        if CPUS > 1:  # decode both at once (OpenCV releases the GIL)
            future = worker_pool().submit(decode_bgra, expected, what="expected")
            b = decode_bgra(actual, what="actual")
            return future.result(), b, True
        return decode_bgra(expected, what="expected"), decode_bgra(actual, what="actual"), True
    return _as_rgba(expected, "expected"), _as_rgba(actual, "actual"), False


# --------------------------------------------------------------------------
# pixelmatch's per-pixel maths, vectorised over a set of pixels


def _rgba_index(bgr: bool) -> tuple[int, int, int]:
    return (2, 1, 0) if bgr else (0, 1, 2)


def _background(pos4: np.ndarray, checkerboard: bool) -> tuple[float | np.ndarray, float | np.ndarray, float | np.ndarray]:
    """Blend background for byte offsets pos4 (pixelmatch's rb, gb, bb)."""
    if not checkerboard:
        return 255.0, 255.0, 255.0
    k = pos4.astype(np.float64)
    rb = 48 + 159 * (pos4 % 2)
    gb = 48 + 159 * (np.floor(k / _PHI) % 2)
    bb = 48 + 159 * (np.floor(k / _PHI2) % 2)
    return rb, gb, bb


def _diffs(
    px1: np.ndarray, px2: np.ndarray, pos4: np.ndarray, bgr: bool, checkerboard: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dr, dg, db (float64) exactly as pixelmatch computes them for pixel pairs
    (..., 4) uint8 (broadcastable), blending where either alpha is below 255;
    pos4 is the byte offset that picks pixelmatch's checkerboard background."""
    ri, gi, bi = _rgba_index(bgr)
    d = px1.astype(np.int16) - px2.astype(np.int16)  # broadcasts (K, 1, 4) against (K, 8, 4)
    dr = d[..., ri].astype(np.float64)
    dg = d[..., gi].astype(np.float64)
    db = d[..., bi].astype(np.float64)
    blend = (px1[..., 3] < 255) | (px2[..., 3] < 255)
    if blend.any():
        sel = np.nonzero(blend)
        p1 = np.broadcast_to(px1, d.shape)[sel].astype(np.float64)
        p2 = np.broadcast_to(px2, d.shape)[sel].astype(np.float64)
        a1, a2 = p1[:, 3], p2[:, 3]
        da = a1 - a2
        rb, gb, bb = _background(np.broadcast_to(pos4, blend.shape)[sel], checkerboard)
        dr[sel] = (p1[:, ri] * a1 - p2[:, ri] * a2 - rb * da) / 255
        dg[sel] = (p1[:, gi] * a1 - p2[:, gi] * a2 - gb * da) / 255
        db[sel] = (p1[:, bi] * a1 - p2[:, bi] * a2 - bb * da) / 255
    return dr, dg, db


def _color_delta(px1: np.ndarray, px2: np.ndarray, pos4: np.ndarray, bgr: bool, checkerboard: bool) -> np.ndarray:
    """|colorDelta| (squared YIQ distance) for pixel pairs (K, 4)."""
    dr, dg, db = _diffs(px1, px2, pos4, bgr, checkerboard)
    y = dr * _Y_R + dg * _Y_G + db * _Y_B
    i = dr * _I_R - dg * _I_G - db * _I_B
    q = dr * _Q_R - dg * _Q_G + db * _Q_B
    delta: np.ndarray = 0.5053 * y * y + 0.299 * i * i + 0.1957 * q * q
    return delta


def _neighbours(idx: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """For flat pixel indices (K,): the flat indices (K, 8) of their 8 neighbours
    in pixelmatch's visiting order, which of those lie inside the image (None
    when all do), and whether each pixel is on the image's edge."""
    xs = idx % width
    ys = idx // width
    edge = (xs == 0) | (xs == width - 1) | (ys == 0) | (ys == height - 1)
    nidx = idx[:, None] + (_NEIGHBOUR_DY * width + _NEIGHBOUR_DX)
    on_edge = np.flatnonzero(edge)
    if on_edge.size == 0:
        return nidx, None, edge
    nx = xs[on_edge, None] + _NEIGHBOUR_DX
    ny = ys[on_edge, None] + _NEIGHBOUR_DY
    inside = (nx >= 0) & (nx < width) & (ny >= 0) & (ny < height)
    # park outside neighbours on the pixel itself; callers discount them via `valid`
    nidx[on_edge] = np.where(inside, nidx[on_edge], idx[on_edge, None])
    valid = np.ones(nidx.shape, dtype=bool)
    valid[on_edge] = inside
    return nidx, valid, edge


def _equal_siblings(
    img32: np.ndarray, idx: np.ndarray, nidx: np.ndarray, valid: np.ndarray | None, edge: np.ndarray
) -> np.ndarray:
    """How many of the 8 neighbours have exactly the pixel's RGBA (+1 on the edge, as pixelmatch counts)."""
    same = img32[nidx] == img32[idx][:, None]
    if valid is not None:
        same &= valid
    count: np.ndarray = same.sum(axis=1) + edge
    return count


def _sibling_plane(img: np.ndarray, r0: int, r1: int) -> np.ndarray:
    """pixelmatch's equal-sibling count (the edge counting one) for every pixel of
    rows r0..r1 of an HxW uint32 image: 4 comparisons of shifted views, each
    equality credited to both pixels, instead of 8 gathers per pixel."""
    height, width = img.shape
    lo, hi = max(r0 - 1, 0), min(r1 + 1, height)  # neighbours' rows too
    s = img[lo:hi]
    cnt = np.zeros(s.shape, dtype=np.uint8)
    for eq, (ya, xa), (yb, xb) in (
        (s[:, 1:] == s[:, :-1], (0, 1), (0, 0)),  # left-right
        (s[1:] == s[:-1], (1, 0), (0, 0)),  # up-down
        (s[1:, 1:] == s[:-1, :-1], (1, 1), (0, 0)),  # diagonal
        (s[1:, :-1] == s[:-1, 1:], (1, 0), (0, 1)),  # anti-diagonal
    ):
        eh, ew = eq.shape
        cnt[ya : ya + eh, xa : xa + ew] += eq
        cnt[yb : yb + eh, xb : xb + ew] += eq
    border = np.zeros(s.shape, dtype=bool)
    border[:, 0] = border[:, -1] = True
    if lo == 0:
        border[0] = True
    if hi == height:
        border[-1] = True
    cnt += border
    return cnt[r0 - lo : r0 - lo + (r1 - r0)].reshape(-1)


class _Siblings:
    """Equal-sibling counts of both images for the AA test: whole planes over the
    candidates' rows when candidates are dense there, else gathered per pixel."""

    def __init__(self, a32: np.ndarray, b32: np.ndarray, idx: np.ndarray, width: int, height: int) -> None:
        self.a32, self.b32, self.width, self.height = a32, b32, width, height
        self.planes: tuple[np.ndarray, np.ndarray] | None = None
        # idx is sorted; extremes are neighbours, one row beyond the candidates at most
        self.r0 = max(int(idx[0]) // width - 1, 0)
        r1 = min(int(idx[-1]) // width + 2, height)
        if idx.size * 12 >= (r1 - self.r0) * width:
            a2, b2 = a32.reshape(height, width), b32.reshape(height, width)
            if CPUS > 1 and (r1 - self.r0) * width >= PARALLEL_MIN_PIXELS // 4:
                fa = worker_pool().submit(_sibling_plane, a2, self.r0, r1)
                pb = _sibling_plane(b2, self.r0, r1)
                self.planes = (fa.result(), pb)
            else:
                self.planes = (_sibling_plane(a2, self.r0, r1), _sibling_plane(b2, self.r0, r1))

    def at(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.planes is not None:
            local = idx - self.r0 * self.width
            return self.planes[0][local], self.planes[1][local]
        nidx, valid, edge = _neighbours(idx, self.width, self.height)
        return (_equal_siblings(self.a32, idx, nidx, valid, edge),
                _equal_siblings(self.b32, idx, nidx, valid, edge))

    def many_in_both(self, idx: np.ndarray) -> np.ndarray:
        """pixelmatch's hasManySiblings(a32) && hasManySiblings(b32)."""
        ca, cb = self.at(idx)
        many: np.ndarray = (ca > 2) & (cb > 2)
        return many


def _antialiased_either(a: np.ndarray, b: np.ndarray, bgr: bool, idx: np.ndarray, width: int, height: int,
                        a32: np.ndarray, b32: np.ndarray, checkerboard: bool) -> np.ndarray:
    """pixelmatch's ``antialiased(img1, ...) || antialiased(img2, ...)`` for sorted flat
    pixel indices (K,), vectorised over the pixels and both images at once."""
    out = np.zeros(idx.shape, dtype=bool)
    if idx.size == 0:
        return out
    sib = _Siblings(a32, b32, idx, width, height)
    # Identical neighbours have a zero brightness delta: more than 2 of them
    # (the edge counting one) rule anti-aliasing out without any colour maths.
    count_a, count_b = sib.at(idx)
    rows_a = np.flatnonzero(count_a <= 2)
    rows_b = np.flatnonzero(count_b <= 2)
    owner = np.concatenate((rows_a, rows_b))  # row in idx for each pixel tested
    if owner.size == 0:
        return out
    pix = idx[owner]
    nbr, valid, edge = _neighbours(pix, width, height)
    flat_a = a.reshape(-1, 4)
    flat_b = b.reshape(-1, 4)
    centre = np.concatenate((flat_a[pix[: rows_a.size]], flat_b[pix[rows_a.size:]]))
    neigh = np.concatenate((flat_a[nbr[: rows_a.size]], flat_b[nbr[rows_a.size:]]))
    dr, dg, db = _diffs(centre[:, None, :], neigh, (pix * 4)[:, None], bgr, checkerboard)
    delta = dr * _Y_R + dg * _Y_G + db * _Y_B  # pixelmatch's brightnessDelta
    zeroes = (delta == 0).sum(axis=1) + edge
    if valid is not None:
        delta[~valid] = 0.0
        zeroes -= (~valid).sum(axis=1)  # outside neighbours were parked on the pixel itself (delta 0)
    lo = delta.min(axis=1)
    hi = delta.max(axis=1)
    # more than 2 equal siblings: not AA; no darker *and* brighter sibling: not AA
    maybe = np.flatnonzero((zeroes <= 2) & (lo < 0) & (hi > 0))
    if maybe.size == 0:
        return out
    d = delta[maybe]
    n = nbr[maybe]
    pick = np.arange(maybe.size)
    # the first darkest and the first brightest sibling in visiting order, as pixelmatch;
    # AA if either has 3+ identical siblings in both images
    many = sib.many_in_both(np.concatenate((n[pick, d.argmin(axis=1)], n[pick, d.argmax(axis=1)])))
    aa = many[: maybe.size] | many[maybe.size:]
    out[owner[maybe[aa]]] = True
    return out


_AA_BLOCK_ROWS = 64


def _antialiased_blocks(a: np.ndarray, b: np.ndarray, bgr: bool, idx: np.ndarray, width: int, height: int,
                        a32: np.ndarray, b32: np.ndarray, checkerboard: bool) -> np.ndarray:
    """_antialiased_either over bands of rows, so that each band picks sibling planes
    or gathers by its own density; many candidates are judged on worker threads."""
    if idx.size < 20_000 or height <= _AA_BLOCK_ROWS:
        return _antialiased_either(a, b, bgr, idx, width, height, a32, b32, checkerboard)
    cuts = np.searchsorted(idx, np.arange(_AA_BLOCK_ROWS, height, _AA_BLOCK_ROWS) * width)
    bounds = [0, *(int(c) for c in cuts), idx.size]
    spans = [(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:]) if hi > lo]

    def judge(span: tuple[int, int]) -> np.ndarray:
        return _antialiased_either(a, b, bgr, idx[span[0] : span[1]], width, height, a32, b32, checkerboard)

    if CPUS > 1 and len(spans) > 1:
        half = len(spans) // 2
        future = worker_pool().submit(lambda: [judge(sp) for sp in spans[:half]])
        rest = [judge(sp) for sp in spans[half:]]
        return np.concatenate(future.result() + rest)
    return np.concatenate([judge(sp) for sp in spans])


# --------------------------------------------------------------------------
# Clusters


def _clusters(diff_idx: np.ndarray, width: int, height: int, gap: int) -> list[Cluster]:
    """Group counted differences: pixels with at most `gap` unchanged pixels between them
    (8-connected after dilation) form one cluster; boxes and counts come from the pixels."""
    if diff_idx.size == 0:
        return []
    ys = diff_idx // width
    xs = diff_idx % width
    k = gap + 1  # kernel width: two pixels join when their Chebyshev distance <= k
    pad = k
    x0 = max(int(xs.min()) - pad, 0)
    y0 = max(int(ys.min()) - pad, 0)
    x1 = min(int(xs.max()) + pad + 1, width)
    y1 = min(int(ys.max()) + pad + 1, height)
    roi: np.ndarray = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
    ry = ys - y0
    rx = xs - x0
    roi[ry, rx] = 255
    if k > 1:
        roi = cv2.dilate(roi, np.ones((k, k), dtype=np.uint8))
    n, labels = cv2.connectedComponents(roi, connectivity=8, ltype=cv2.CV_32S)  # stats unused: 5x slower
    lab = labels[ry, rx]
    counts = np.bincount(lab, minlength=n)
    big = np.iinfo(np.int64).max
    minx = np.full(n, big, dtype=np.int64)
    miny = np.full(n, big, dtype=np.int64)
    maxx = np.full(n, -1, dtype=np.int64)
    maxy = np.full(n, -1, dtype=np.int64)
    np.minimum.at(minx, lab, xs)
    np.minimum.at(miny, lab, ys)
    np.maximum.at(maxx, lab, xs)
    np.maximum.at(maxy, lab, ys)
    labels_present = np.flatnonzero(counts)
    clusters = [
        Cluster(
            x=int(minx[i]),
            y=int(miny[i]),
            width=int(maxx[i] - minx[i] + 1),
            height=int(maxy[i] - miny[i] + 1),
            pixels=int(counts[i]),
        )
        for i in labels_present
    ]
    clusters.sort(key=lambda c: (-c.pixels, c.y, c.x))
    return clusters


# --------------------------------------------------------------------------
# Comparison


@functools.lru_cache(maxsize=64)
def _screen_margin(max_delta: float) -> int:
    """The largest m such that opaque pixels whose R, G and B each differ by at most m
    are surely within the threshold: the YIQ distance is a convex quadratic, so its
    maximum over that cube is at a corner (a margin keeps float rounding out)."""
    m = np.arange(256, dtype=np.float64)[:, None]
    signs = np.array([[1, 1, 1], [1, 1, -1], [1, -1, 1], [-1, 1, 1]], dtype=np.float64)
    dr, dg, db = (m * signs[:, 0], m * signs[:, 1], m * signs[:, 2])
    y = dr * _Y_R + dg * _Y_G + db * _Y_B
    i = dr * _I_R - dg * _I_G - db * _I_B
    q = dr * _Q_R - dg * _Q_G + db * _Q_B
    worst = (0.5053 * y * y + 0.299 * i * i + 0.1957 * q * q).max(axis=1)
    over = np.flatnonzero(worst > max_delta * (1 - 1e-9))
    return int(over[0]) - 1 if over.size else 255


def pixel_margin(threshold: float) -> int:
    """How much each of R, G and B of an opaque pixel may change and surely stay
    within ``threshold`` (e.g. to tell rows that match "within the threshold")."""
    return _screen_margin(_MAX_YIQ_DELTA * threshold * threshold)


def _candidates(a: np.ndarray, b: np.ndarray, margin: int) -> tuple[np.ndarray, bool]:
    """Flat indices of the pixels that may exceed the threshold: some channel
    differs by more than `margin` (0: differs at all).  absdiff and threshold are
    SIMD passes; large images are split across threads (OpenCV and NumPy release
    the GIL), the calling thread doing the last part itself."""
    height, width = a.shape[:2]
    parts = min(4, CPUS) if height * width >= PARALLEL_MIN_PIXELS and height >= 8 else 1

    changed = [False]

    def scan(lo: int, hi: int) -> np.ndarray:
        d = cv2.absdiff(a[lo:hi], b[lo:hi])
        if margin and cv2.countNonZero(d.reshape(hi - lo, -1)):  # also tells equal arrays apart
            changed[0] = True
            cv2.threshold(d, margin, 255, cv2.THRESH_TOZERO, dst=d)
        found = np.flatnonzero(d.reshape(-1).view(np.uint32) != 0)  # bool first: flatnonzero is fast on bool
        return found + lo * width if lo else found

    if parts <= 1:
        found = scan(0, height)
    else:
        bounds = [height * i // parts for i in range(parts + 1)]
        futures = [worker_pool().submit(scan, bounds[i], bounds[i + 1]) for i in range(parts - 1)]
        last = scan(bounds[-2], bounds[-1])
        found = np.concatenate([f.result() for f in futures] + [last])
    return found, changed[0] or found.size > 0


def _check_mask(mask: np.ndarray, width: int, height: int) -> np.ndarray:
    m = np.asarray(mask)
    if m.shape != (height, width):
        raise ValueError(f"mask has shape {m.shape}, expected (height, width) = ({height}, {width})")
    return m if m.dtype == np.bool_ else m.astype(bool)


def _identical(width: int, height: int) -> Comparison:
    return Comparison(
        width=width, height=height, identical=True, size_mismatch=False, diff_pixels=0, aa_pixels=0,
        total_pixels=width * height, clusters=[],
    )


def _size_mismatch(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None, cluster_gap: int) -> Comparison:
    height = max(a.shape[0], b.shape[0])
    width = max(a.shape[1], b.shape[1])
    diff = np.ones((height, width), dtype=bool)
    if mask is not None:
        m = np.asarray(mask)
        if m.shape == (height, width):  # a mask only applies when it fits the combined canvas
            diff &= ~m.astype(bool)
    n = int(np.count_nonzero(diff))
    clusters = [Cluster(0, 0, width, height, n)] if n else []
    if n and n != width * height:
        clusters = _clusters(np.flatnonzero(diff), width, height, cluster_gap)
    return Comparison(
        width=width, height=height, identical=False, size_mismatch=True, diff_pixels=n, aa_pixels=0,
        total_pixels=width * height, clusters=clusters, aa_index=np.zeros(0, dtype=np.int64),
        _planes={"diff": diff},
    )


def _check_options(threshold: float, cluster_gap: int) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or not 0 <= threshold <= 1:
        raise ValueError(f"threshold must be a number from 0 to 1, got {threshold!r}")
    if isinstance(cluster_gap, bool) or not isinstance(cluster_gap, int) or cluster_gap < 0:
        raise ValueError(f"cluster_gap must be a non-negative integer, got {cluster_gap!r}")
    return float(threshold)


def _byte_equal(expected: ImageInput, actual: ImageInput) -> Comparison | None:
    """The byte-equal shortcut: equal encoded inputs need no decoding at all."""
    if not (
        isinstance(expected, _BytesLike)
        and isinstance(actual, _BytesLike)
        and len(expected) == len(actual)
        and bytes(expected) == bytes(actual)
    ):
        return None
    dims = png_dimensions(expected)
    if dims is None:
        h, w = decode_bgra(expected, what="expected").shape[:2]
        dims = (w, h)
    return _identical(*dims)


def compare(
    expected: ImageInput,
    actual: ImageInput,
    *,
    threshold: float = 0.1,
    include_aa: bool = False,
    mask: np.ndarray | None = None,
    cluster_gap: int = 3,
    checkerboard: bool = True,
) -> Comparison:
    """Compare two screenshots (arrays RGB/RGBA uint8, or encoded PNG bytes).

    threshold: pixelmatch's YIQ threshold 0..1 (smaller is more sensitive).
    include_aa: count anti-aliased pixels as differences (skip AA detection).
    mask: bool HxW, True = ignore that pixel.
    cluster_gap: differing pixels with at most this many unchanged pixels
        between them are grouped into one cluster.
    checkerboard: blend semi-transparent pixels like pixelmatch 7.2.0's default
        (True) or against plain white (False).  Irrelevant for opaque images.

    Images of different sizes do not raise: the result has size_mismatch set,
    covers the larger canvas and counts every pixel as different (a mask is
    applied only if it has the canvas's shape); within_tolerance() never
    accepts it.
    """
    threshold = _check_options(threshold, cluster_gap)
    same = _byte_equal(expected, actual)  # 1a. no decode at all
    if same is not None:
        return same
    a, b, bgr = _load_pair(expected, actual)
    if a.shape != b.shape:
        return _size_mismatch(a, b, mask, cluster_gap)
    height, width = a.shape[:2]
    if mask is not None:
        mask = _check_mask(mask, width, height)

    max_delta = _MAX_YIQ_DELTA * threshold * threshold
    lib = kernel.library()
    if lib is not None:  # pixelmatch's loop compiled: one pass, every step
        return _kernel_compare(lib, a, b, bgr, mask, max_delta, include_aa, checkerboard, cluster_gap)

    return _numpy_compare(a, b, bgr, mask, max_delta, include_aa, checkerboard, cluster_gap)


def _numpy_compare(a: np.ndarray, b: np.ndarray, bgr: bool, mask: np.ndarray | None, max_delta: float,
                   include_aa: bool, checkerboard: bool, cluster_gap: int) -> Comparison:
    """compare() on NumPy and OpenCV (no C compiler, or PATROL_DIFF_KERNEL=numpy)."""
    height, width = a.shape[:2]
    # 1b. the pixels that may exceed the threshold: for opaque images a pixel whose
    # channels all differ by less than a margin cannot (most of a photo's noise).
    margin = _screen_margin(max_delta) if _opaque(a) and _opaque(b) else 0
    cand, changed = _candidates(a, b, margin)
    if not changed:
        return _identical(width, height)

    # 2. YIQ distance, only for those
    delta = _color_delta(a.reshape(-1, 4)[cand], b.reshape(-1, 4)[cand], cand * 4, bgr, checkerboard)
    over = cand[delta > max_delta]

    # 3. masks before anything is counted (and before the costly AA test)
    if mask is not None and over.size:
        over = over[~mask.reshape(-1)[over]]

    # 4. anti-aliasing, only for the candidates over the threshold
    if include_aa or over.size == 0:
        diff_idx, aa_idx = over, over[:0]
    else:
        a32, b32 = a.reshape(-1).view(np.uint32), b.reshape(-1).view(np.uint32)
        aa = _antialiased_blocks(a, b, bgr, over, width, height, a32, b32, checkerboard)
        diff_idx, aa_idx = over[~aa], over[aa]
    return _counted(diff_idx, aa_idx, width, height, cluster_gap)


_KERNEL_BAND_PIXELS = 1 << 17  # rows per band: enough work to be worth a thread hand-off


def _kernel_compare(lib: ctypes.CDLL, a: np.ndarray, b: np.ndarray, bgr: bool, mask: np.ndarray | None, max_delta: float,
                    include_aa: bool, checkerboard: bool, cluster_gap: int) -> Comparison:
    """compare() on the compiled kernel: bands of rows judged on the worker threads
    and this one (ctypes releases the GIL), each writing its own slice of the outputs."""
    height, width = a.shape[:2]
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    diff_buf = np.empty(height * width, dtype=np.int64)  # room for every pixel; only written pages are real
    aa_buf = np.empty(height * width, dtype=np.int64)
    mask_u8 = None if mask is None else np.ascontiguousarray(mask).view(np.uint8)
    rows = max(1, _KERNEL_BAND_PIXELS // width)
    bands = [(r, min(r + rows, height)) for r in range(0, height, rows)]
    counts = np.zeros((len(bands), 3), dtype=np.int64)
    margin = _screen_margin(max_delta)
    ptr = (a.ctypes.data, b.ctypes.data, diff_buf.ctypes.data, aa_buf.ctypes.data,
           None if mask_u8 is None else mask_u8.ctypes.data)
    todo = iter(range(len(bands)))  # next() on it is atomic under the GIL: threads take bands in turn

    def work() -> None:
        for k in todo:
            r0, r1 = bands[k]
            out = r0 * width * 8
            lib.patrol_diff(ptr[0], ptr[1], width, height, r0, r1, max_delta, margin, int(bgr), int(checkerboard),
                            int(include_aa), ptr[4], ptr[2] + out, ptr[3] + out,
                            counts.ctypes.data + k * 24)

    helpers = min(CPUS, 4) - 1 if len(bands) > 1 else 0
    futures = [worker_pool().submit(work) for _ in range(helpers)]
    work()
    for f in futures:
        f.result()
    if not counts[:, 2].any():
        return _identical(width, height)
    starts = [r0 * width for r0, _ in bands]
    diff_idx = np.concatenate([diff_buf[s : s + n] for s, n in zip(starts, counts[:, 0])])
    aa_idx = np.concatenate([aa_buf[s : s + n] for s, n in zip(starts, counts[:, 1])])
    return Comparison(
        width=width, height=height, identical=False, size_mismatch=False,
        diff_pixels=int(diff_idx.size), aa_pixels=int(aa_idx.size), total_pixels=width * height,
        clusters=_kernel_clusters(lib, diff_idx, width, cluster_gap), diff_index=diff_idx, aa_index=aa_idx,
    )


def _kernel_clusters(lib: ctypes.CDLL, diff_idx: np.ndarray, width: int, gap: int) -> list[Cluster]:
    """_clusters() by the kernel: union-find over runs of pixels, no image-sized pass."""
    if diff_idx.size == 0:
        return []
    idx = np.ascontiguousarray(diff_idx, dtype=np.int64)
    out = np.empty((idx.size, 5), dtype=np.int64)  # room for one cluster per pixel; pages touched as used
    n = lib.patrol_clusters(idx.ctypes.data, idx.size, width, gap, out.ctypes.data)
    if n < 0:
        raise MemoryError("patrol_clusters: out of memory")
    clusters = [Cluster(x=x0, y=y0, width=x1 - x0 + 1, height=y1 - y0 + 1, pixels=px)
                for x0, y0, x1, y1, px in out[:n].tolist()]
    clusters.sort(key=lambda c: (-c.pixels, c.y, c.x))
    return clusters


def _counted(diff_idx: np.ndarray, aa_idx: np.ndarray, width: int, height: int, cluster_gap: int) -> Comparison:
    """The comparison from the counted and the anti-aliased pixels (flat indices)."""
    return Comparison(
        width=width, height=height, identical=False, size_mismatch=False,
        diff_pixels=int(diff_idx.size), aa_pixels=int(aa_idx.size), total_pixels=width * height,
        clusters=_clusters(diff_idx, width, height, cluster_gap), diff_index=diff_idx, aa_index=aa_idx,
    )


# --------------------------------------------------------------------------
# Masks


def mask_from_boxes(width: int, height: int, boxes: Iterable[Box]) -> np.ndarray:
    """A bool HxW ignore-mask (True = ignore) from pixel boxes, each clipped to the screen.

    Boxes only: a region written in a journey (pixels or fractions) is resolved
    to a ``Box`` by ``Region.resolve`` where the screen size is known, and an
    element's box is pixels already. Nothing here guesses a unit from the numbers."""
    if width <= 0 or height <= 0:
        raise ValueError(f"mask size must be positive, got {width}x{height}")
    mask = np.zeros((height, width), dtype=bool)
    for box in boxes:
        if not isinstance(box, Box):
            raise TypeError(f"a mask is made of Box values (pixels), got {box!r}")
        x, y, w, h = box.clip(width, height)
        if w > 0 and h > 0:
            mask[y : y + h, x : x + w] = True
    return mask


# --------------------------------------------------------------------------
# Diff image


# Diff images are built as palette indices first: the faded actual image only
# takes the 27 greys 229..255 (255 + (Y - 255) * FADE_ALPHA for any Y and
# alpha), so indices 0..26 are those greys, then the marker colours, then the
# greys tinted half red for a size mismatch.  diff_image() expands them to RGB;
# diff_png() writes them as an 8-bit palette PNG, a third of the data to deflate.
_GREY_BASE = 229
_N_GREYS = 256 - _GREY_BASE
_IDX_DIFF, _IDX_AA, _IDX_BOX = _N_GREYS, _N_GREYS + 1, _N_GREYS + 2
_IDX_TINT = _N_GREYS + 3


def _make_palette() -> np.ndarray:
    greys = np.arange(_GREY_BASE, 256, dtype=np.float32)
    plain = np.repeat(greys[:, None], 3, axis=1)
    red = np.array(DIFF_COLOUR, dtype=np.float32)
    tinted = plain * 0.5 + red * 0.5
    marks = np.array([DIFF_COLOUR, AA_COLOUR, BOX_COLOUR], dtype=np.float32)
    return np.concatenate([plain, marks, tinted]).astype(np.uint8)


_PALETTE = _make_palette()  # (57, 3) RGB
_PALETTE_LUT = np.zeros((256, 1, 3), dtype=np.uint8)
_PALETTE_LUT[: len(_PALETTE), 0] = _PALETTE


def _opaque(rgba: np.ndarray) -> bool:
    if sys.byteorder == "little":  # one pass over 32-bit words whose top byte is alpha
        lo, hi, _, _ = cv2.minMaxLoc(rgba.reshape(rgba.shape[0], -1).view(np.int32))
        return lo >= -(1 << 24) and hi < 0
    return cv2.minMaxLoc(cv2.extractChannel(rgba, 3))[0] >= 255  # pragma: no cover


def _faded_index(rgba: np.ndarray) -> np.ndarray:
    """pixelmatch's drawGrayPixel (luminance blended with white, FADE_ALPHA of the
    image left) as palette indices 0..26 (grey = 229 + index)."""
    if _opaque(rgba):  # 255 + (Y - 255) * 0.1 = 229.5 + 0.1 * Y
        return cv2.convertScaleAbs(cv2.cvtColor(rgba, cv2.COLOR_RGBA2GRAY), alpha=FADE_ALPHA, beta=0.5)
    f = rgba.astype(np.float32)
    lum = f[..., 0] * _Y_R + f[..., 1] * _Y_G + f[..., 2] * _Y_B
    val = 255.0 + (lum - 255.0) * (FADE_ALPHA / 255.0) * f[..., 3]
    index: np.ndarray = np.clip(np.rint(val) - _GREY_BASE, 0, _N_GREYS - 1).astype(np.uint8)
    return index


def _outline(img: np.ndarray, c: Cluster, value: int) -> None:
    """A BOX_THICKNESS-wide rectangle just outside the cluster's box (clipped)."""
    h, w = img.shape[:2]
    t = BOX_THICKNESS
    x0, y0 = c.x - t, c.y - t
    x1, y1 = c.x + c.width + t, c.y + c.height + t  # exclusive
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if cx1 <= cx0 or cy1 <= cy0:
        return
    for ya, yb in ((y0, y0 + t), (y1 - t, y1)):  # top and bottom bars
        ya, yb = max(ya, 0), min(yb, h)
        if yb > ya:
            img[ya:yb, cx0:cx1] = value
    for xa, xb in ((x0, x0 + t), (x1 - t, x1)):  # left and right bars
        xa, xb = max(xa, 0), min(xb, w)
        if xb > xa:
            img[cy0:cy1, xa:xb] = value


def _diff_indices(actual: ImageInput, c: Comparison) -> np.ndarray:
    """The diff picture as HxW palette indices into _PALETTE."""
    rgba = _as_rgba(actual, "actual")
    height, width = c.height, c.width
    if c.size_mismatch:
        idx = np.full((height, width), _N_GREYS - 1, dtype=np.uint8)  # white outside the actual image
        ah, aw = min(rgba.shape[0], height), min(rgba.shape[1], width)
        idx[:ah, :aw] = _faded_index(np.ascontiguousarray(rgba[:ah, :aw]))
        if c.diff_mask is not None:
            idx[c.diff_mask] += _IDX_TINT
        return idx
    if rgba.shape[:2] != (height, width):
        raise ValueError(f"actual image is {rgba.shape[1]}x{rgba.shape[0]}, the comparison is {width}x{height}")
    idx = _faded_index(rgba)
    for cl in c.clusters:
        _outline(idx, cl, _IDX_BOX)
    flat = idx.reshape(-1)
    if c.aa_index is not None:
        flat[c.aa_index] = _IDX_AA
    if c.diff_index is not None:
        flat[c.diff_index] = _IDX_DIFF
    return idx


def diff_image(actual: ImageInput, c: Comparison) -> np.ndarray:
    """RGB uint8 picture of a comparison: counted differences red, anti-aliased
    pixels yellow, everything else the actual image faded to light grey, and
    each cluster outlined with a 2px magenta box just outside it.  For a size
    mismatch the whole canvas is tinted red over the faded actual image."""
    idx = _diff_indices(actual, c)
    return cv2.LUT(cv2.cvtColor(idx, cv2.COLOR_GRAY2RGB), _PALETTE_LUT)


def diff_png(actual: ImageInput, c: Comparison, *, level: int = 1) -> bytes:
    """diff_image() encoded as PNG, written straight from palette indices (an
    8-bit palette PNG with the same pixels: smaller and several times faster
    to produce than encoding the RGB array)."""
    return write_png(_diff_indices(actual, c), level, palette=_PALETTE)

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

The work is arranged so that it scales with the number of *changed* pixels,
not with the image: one vectorised ``!=`` over the images viewed as 32-bit
words finds the changed pixels (this is also the array-equal shortcut), then
the YIQ distance is computed only for those, and the costly anti-aliasing
test only for the few that exceed the threshold.  Clusters are labelled with
OpenCV on the bounding box of the differences only.  Large images use a few
threads (the scan, decoding two PNGs, deflating a PNG).

Diff pictures: diff_image() returns RGB; diff_png() writes the same picture
as an 8-bit palette PNG straight from palette indices (smaller, and several
times faster than encoding the RGB array).
"""

from __future__ import annotations

import math
import numbers
import os
import re
import struct
import sys
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import cv2
import numpy as np

__all__ = [
    "Cluster",
    "Comparison",
    "compare",
    "decode_png",
    "diff_image",
    "diff_png",
    "encode_png",
    "mask_from_regions",
    "parse_area_tolerance",
    "within_tolerance",
]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

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


# --------------------------------------------------------------------------
# Worker threads: NumPy, OpenCV and zlib release the GIL on large buffers, so
# the memory-bound passes over big screenshots (and decoding two PNGs) can use
# more than one core.

try:
    _CPUS = max(1, len(os.sched_getaffinity(0)))
except (AttributeError, OSError):  # pragma: no cover - not Linux
    _CPUS = max(1, os.cpu_count() or 1)
_PARALLEL_MIN_PIXELS = 1 << 20  # below ~1 Mpx one thread is as fast
_POOL: ThreadPoolExecutor | None = None
_POOL_PID = 0
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    """The module's worker pool (re-created in a forked child, whose threads are gone)."""
    global _POOL, _POOL_PID
    with _POOL_LOCK:
        if _POOL is None or _POOL_PID != os.getpid():
            _POOL = ThreadPoolExecutor(max_workers=min(4, _CPUS), thread_name_prefix="patrol-compare")
            _POOL_PID = os.getpid()
        return _POOL


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
    diff_mask: np.ndarray | None = field(default=None, repr=False)  # bool HxW
    aa_mask: np.ndarray | None = field(default=None, repr=False)  # bool HxW

    @property
    def diff_ratio(self) -> float:
        """Counted differing pixels as a fraction of all pixels (0..1)."""
        if self.total_pixels <= 0:
            return 0.0
        return self.diff_pixels / self.total_pixels


# --------------------------------------------------------------------------
# Decoding / encoding


def png_dimensions(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG's IHDR chunk, without decoding."""
    if len(data) >= 24 and data[:8] == _PNG_SIGNATURE and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    return None


def _to_four_channels(img: np.ndarray, *, what: str) -> np.ndarray:
    """Any 8-bit (or 16-bit) 1/3/4-channel image to HxWx4 uint8, keeping channel order."""
    if img.dtype == np.uint16:
        img = ((img.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    elif img.dtype != np.uint8:
        raise ValueError(f"{what}: expected an 8-bit image (uint8), got dtype {img.dtype}")
    if img.ndim < 2 or img.shape[0] == 0 or img.shape[1] == 0:
        raise ValueError(f"{what}: empty or not an image, shape {img.shape}")
    if img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 1):
        img = cv2.cvtColor(np.ascontiguousarray(img.reshape(img.shape[0], img.shape[1])), cv2.COLOR_GRAY2BGRA)
    elif img.ndim == 3 and img.shape[2] == 3:
        img = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_BGR2BGRA)  # order kept, alpha 255
    elif img.ndim == 3 and img.shape[2] == 4:
        img = np.ascontiguousarray(img)
    else:
        raise ValueError(f"{what}: expected an HxW, HxWx3 or HxWx4 image, got shape {img.shape}")
    return img


def _imdecode(data: bytes | bytearray | memoryview, what: str) -> np.ndarray:
    buf = np.frombuffer(data, dtype=np.uint8)
    if buf.size == 0:
        raise ValueError(f"{what}: no image data (0 bytes)")
    img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError(f"{what}: could not decode the image data ({buf.size} bytes; is it a PNG?)")
    if img.dtype == np.uint16:
        img = ((img.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    return img


def _decode_bgra(data: bytes | bytearray | memoryview, *, what: str = "image") -> np.ndarray:
    """Encoded image bytes to HxWx4 uint8 in OpenCV's BGRA order."""
    return _to_four_channels(_imdecode(data, what), what=what)


_TO_RGBA = {1: cv2.COLOR_GRAY2RGBA, 3: cv2.COLOR_BGR2RGBA, 4: cv2.COLOR_BGRA2RGBA}


def decode_png(data: bytes) -> np.ndarray:
    """Decode PNG (or any image OpenCV reads) bytes to an RGBA uint8 HxWx4 array."""
    img = _imdecode(data, "PNG")
    channels = 1 if img.ndim == 2 else img.shape[2]
    if channels not in _TO_RGBA:  # pragma: no cover - OpenCV decodes to 1, 3 or 4 channels
        raise ValueError(f"PNG: unexpected {channels}-channel image")
    return cv2.cvtColor(img, _TO_RGBA[channels])  # one pass: channel order and alpha


def _adler32_combine(adler1: int, adler2: int, len2: int) -> int:
    """zlib's adler32_combine: the Adler-32 of A+B from those of A and B (len2 = len(B))."""
    base = 65521
    rem = len2 % base
    sum1 = adler1 & 0xFFFF
    sum2 = (rem * sum1) % base
    sum1 += (adler2 & 0xFFFF) + base - 1
    sum2 += ((adler1 >> 16) & 0xFFFF) + ((adler2 >> 16) & 0xFFFF) + base - rem
    if sum1 >= base:
        sum1 -= base
    if sum1 >= base:
        sum1 -= base
    if sum2 >= (base << 1):
        sum2 -= base << 1
    if sum2 >= base:
        sum2 -= base
    return sum1 | (sum2 << 16)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))


def _write_png(img: np.ndarray, level: int, *, palette: np.ndarray | None = None, parts: int | None = None) -> bytes:
    """A PNG of unfiltered rows (screenshots and diff images compress better that
    way at zlib level 1 than with adaptive filters).  Large images are deflated
    in `parts` independent pieces on threads (zlib releases the GIL) joined into
    one zlib stream, as pigz does: sync-flushed raw deflate pieces, their
    Adler-32s combined.  `palette` (N x 3 RGB) makes an 8-bit palette PNG."""
    height, width = img.shape[:2]
    channels = 1 if img.ndim == 2 else img.shape[2]
    colour_type = 3 if palette is not None else {1: 0, 3: 2, 4: 6}[channels]
    if parts is None:
        big = _CPUS > 1 and height * width >= _PARALLEL_MIN_PIXELS
        parts = min(_CPUS, 4, height) if big else 1
    raw = np.empty((height, 1 + width * channels), dtype=np.uint8)
    raw[:, 0] = 0  # filter type None on every row
    raw[:, 1:] = img.reshape(height, -1)
    flat = memoryview(raw.reshape(-1))
    rows = [height * i // parts for i in range(parts + 1)]
    stride = raw.shape[1]

    def deflate(i: int) -> tuple[bytes, int, int]:
        piece = flat[rows[i] * stride : rows[i + 1] * stride]
        co = zlib.compressobj(level, zlib.DEFLATED, -15)
        data = co.compress(piece) + co.flush(zlib.Z_FINISH if i == parts - 1 else zlib.Z_SYNC_FLUSH)
        return data, zlib.adler32(piece), len(piece)

    futures = [_pool().submit(deflate, i) for i in range(parts - 1)]
    last = deflate(parts - 1)
    pieces = [f.result() for f in futures] + [last]
    adler = pieces[0][1]
    for _data, a, n in pieces[1:]:
        adler = _adler32_combine(adler, a, n)
    header = bytes((0x78, 0x01))  # deflate, 32K window, fastest; (0x7801 % 31 == 0)
    idat = header + b"".join(p[0] for p in pieces) + struct.pack(">I", adler)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    chunks = [_png_chunk(b"IHDR", ihdr)]
    if palette is not None:
        chunks.append(_png_chunk(b"PLTE", np.ascontiguousarray(palette, dtype=np.uint8).tobytes()))
    chunks += [_png_chunk(b"IDAT", idat), _png_chunk(b"IEND", b"")]
    return _PNG_SIGNATURE + b"".join(chunks)


def encode_png(rgb_or_rgba: np.ndarray, *, level: int = 1) -> bytes:
    """Encode an RGB / RGBA (or greyscale) uint8 array as PNG bytes.

    Tuned for screenshots and diff images (flat UI colours): zlib level 1 and
    no row filter, which is both faster and smaller for them than libpng's
    adaptive filtering.  Large images are deflated on several threads."""
    img = np.asarray(rgb_or_rgba)
    if img.dtype != np.uint8:
        raise ValueError(f"encode_png: expected uint8, got {img.dtype}")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] in (3, 4))):
        raise ValueError(f"encode_png: expected HxW, HxWx3 or HxWx4, got shape {img.shape}")
    if img.shape[0] == 0 or img.shape[1] == 0:
        raise ValueError(f"encode_png: empty image {img.shape}")
    if not 0 <= level <= 9:
        raise ValueError(f"encode_png: level must be 0..9, got {level}")
    if _CPUS > 1 and img.shape[0] * img.shape[1] >= _PARALLEL_MIN_PIXELS:
        return _write_png(np.ascontiguousarray(img), level)
    if img.ndim == 3:
        img = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2BGR if img.shape[2] == 3 else cv2.COLOR_RGBA2BGRA)
    params = [cv2.IMWRITE_PNG_COMPRESSION, level]
    if hasattr(cv2, "IMWRITE_PNG_FILTER"):  # OpenCV >= 4.10
        params += [cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_NONE]
    ok, buf = cv2.imencode(".png", img, params)
    if not ok:  # pragma: no cover - OpenCV only fails on impossible input
        raise ValueError("encode_png: OpenCV could not encode the image")
    return buf.tobytes()


_BytesLike = (bytes, bytearray, memoryview)


def _load_pair(expected, actual) -> tuple[np.ndarray, np.ndarray, bool]:
    """Both inputs as HxWx4 uint8 in one common channel order; returns (a, b, is_bgr).

    Encoded inputs are decoded by OpenCV in BGRA order; when both inputs are
    encoded they stay that way (the colour weights are applied per channel
    index, so no conversion is needed).  Arrays are taken as RGB(A)."""
    a_enc = isinstance(expected, _BytesLike)
    b_enc = isinstance(actual, _BytesLike)
    if a_enc and b_enc:  # decode both at once (OpenCV releases the GIL)
        if _CPUS > 1:
            future = _pool().submit(_decode_bgra, expected, what="expected")
            b = _decode_bgra(actual, what="actual")
            return future.result(), b, True
        return _decode_bgra(expected, what="expected"), _decode_bgra(actual, what="actual"), True
    a = decode_png(expected) if a_enc else _to_four_channels(np.asarray(expected), what="expected")
    b = decode_png(actual) if b_enc else _to_four_channels(np.asarray(actual), what="actual")
    return a, b, False


# --------------------------------------------------------------------------
# pixelmatch's per-pixel maths, vectorised over a set of pixels


def _rgba_index(bgr: bool) -> tuple[int, int, int]:
    return (2, 1, 0) if bgr else (0, 1, 2)


def _background(pos4: np.ndarray, checkerboard: bool):
    """Blend background for byte offsets pos4 (pixelmatch's rb, gb, bb)."""
    if not checkerboard:
        return 255.0, 255.0, 255.0
    k = pos4.astype(np.float64)
    rb = 48 + 159 * (pos4 % 2)
    gb = 48 + 159 * (np.floor(k / _PHI) % 2)
    bb = 48 + 159 * (np.floor(k / _PHI2) % 2)
    return rb, gb, bb


def _diffs(px1: np.ndarray, px2: np.ndarray, pos4: np.ndarray, bgr: bool, checkerboard: bool):
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
    return 0.5053 * y * y + 0.299 * i * i + 0.1957 * q * q


def _neighbours(idx: np.ndarray, width: int, height: int):
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


def _equal_siblings(img32: np.ndarray, idx: np.ndarray, nidx: np.ndarray, valid, edge: np.ndarray) -> np.ndarray:
    """How many of the 8 neighbours have exactly the pixel's RGBA (+1 on the edge, as pixelmatch counts)."""
    same = img32[nidx] == img32[idx][:, None]
    if valid is not None:
        same &= valid
    return same.sum(axis=1) + edge


def _antialiased_either(a: np.ndarray, b: np.ndarray, bgr: bool, idx: np.ndarray, width: int, height: int,
                        a32: np.ndarray, b32: np.ndarray, checkerboard: bool) -> np.ndarray:
    """pixelmatch's ``antialiased(img1, ...) || antialiased(img2, ...)`` for flat
    pixel indices (K,), vectorised over the pixels and both images at once."""
    out = np.zeros(idx.shape, dtype=bool)
    if idx.size == 0:
        return out
    nidx, valid, edge = _neighbours(idx, width, height)
    # Identical neighbours have a zero brightness delta: more than 2 of them
    # (the edge counting one) rule anti-aliasing out without any colour maths.
    rows_a = np.flatnonzero(_equal_siblings(a32, idx, nidx, valid, edge) <= 2)
    rows_b = np.flatnonzero(_equal_siblings(b32, idx, nidx, valid, edge) <= 2)
    owner = np.concatenate((rows_a, rows_b))  # row in idx for each pixel tested
    if owner.size == 0:
        return out
    flat_a = a.reshape(-1, 4)
    flat_b = b.reshape(-1, 4)
    pix = idx[owner]
    nbr = nidx[owner]
    centre = np.concatenate((flat_a[pix[: rows_a.size]], flat_b[pix[rows_a.size:]]))
    neigh = np.concatenate((flat_a[nbr[: rows_a.size]], flat_b[nbr[rows_a.size:]]))
    dr, dg, db = _diffs(centre[:, None, :], neigh, (pix * 4)[:, None], bgr, checkerboard)
    delta = dr * _Y_R + dg * _Y_G + db * _Y_B  # pixelmatch's brightnessDelta
    zeroes = (delta == 0).sum(axis=1) + edge[owner]
    if valid is not None:
        v = valid[owner]
        delta[~v] = 0.0
        zeroes -= (~v).sum(axis=1)  # outside neighbours were parked on the pixel itself (delta 0)
    lo = delta.min(axis=1)
    hi = delta.max(axis=1)
    # more than 2 equal siblings: not AA; no darker *and* brighter sibling: not AA
    maybe = np.flatnonzero((zeroes <= 2) & (lo < 0) & (hi > 0))
    if maybe.size == 0:
        return out
    d = delta[maybe]
    n = nbr[maybe]
    pick = np.arange(maybe.size)
    # the first darkest and the first brightest sibling in visiting order, as pixelmatch
    extremes = np.concatenate((n[pick, d.argmin(axis=1)], n[pick, d.argmax(axis=1)]))
    # AA if the darkest or the brightest has 3+ identical siblings in both images
    enidx, evalid, eedge = _neighbours(extremes, width, height)
    many = (_equal_siblings(a32, extremes, enidx, evalid, eedge) > 2) & (
        _equal_siblings(b32, extremes, enidx, evalid, eedge) > 2
    )
    aa = many[: maybe.size] | many[maybe.size:]
    out[owner[maybe[aa]]] = True
    return out


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
    roi = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
    ry = ys - y0
    rx = xs - x0
    roi[ry, rx] = 255
    if k > 1:
        roi = cv2.dilate(roi, np.ones((k, k), dtype=np.uint8))
    n, labels, _stats, _centroids = cv2.connectedComponentsWithStats(roi, connectivity=8, ltype=cv2.CV_32S)
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


def _changed_pixels(a32: np.ndarray, b32: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(bool map of pixels whose RGBA differs at all, their flat indices).

    One memory-bound pass; large images are split across threads (NumPy
    releases the GIL), the calling thread doing the last part itself."""
    n = a32.size
    ne = np.empty(n, dtype=bool)
    parts = min(4, _CPUS) if n >= _PARALLEL_MIN_PIXELS else 1

    def scan(lo: int, hi: int) -> np.ndarray:
        np.not_equal(a32[lo:hi], b32[lo:hi], out=ne[lo:hi])
        found = np.flatnonzero(ne[lo:hi])
        return found + lo if lo else found

    if parts <= 1:
        return ne, scan(0, n)
    bounds = [n * i // parts for i in range(parts + 1)]
    futures = [_pool().submit(scan, bounds[i], bounds[i + 1]) for i in range(parts - 1)]
    last = scan(bounds[-2], bounds[-1])
    found = [f.result() for f in futures] + [last]
    return ne, np.concatenate(found)


def _check_mask(mask, width: int, height: int) -> np.ndarray:
    m = np.asarray(mask)
    if m.shape != (height, width):
        raise ValueError(f"mask has shape {m.shape}, expected (height, width) = ({height}, {width})")
    return m if m.dtype == np.bool_ else m.astype(bool)


def _identical(width: int, height: int) -> Comparison:
    return Comparison(
        width=width, height=height, identical=True, size_mismatch=False, diff_pixels=0, aa_pixels=0,
        total_pixels=width * height, clusters=[], diff_mask=None, aa_mask=None,
    )


def _size_mismatch(a: np.ndarray, b: np.ndarray, mask, cluster_gap: int) -> Comparison:
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
        total_pixels=width * height, clusters=clusters, diff_mask=diff,
        aa_mask=np.zeros((height, width), dtype=bool),
    )


def compare(
    expected: np.ndarray | bytes,
    actual: np.ndarray | bytes,
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
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or not 0 <= threshold <= 1:
        raise ValueError(f"threshold must be a number from 0 to 1, got {threshold!r}")
    if isinstance(cluster_gap, bool) or not isinstance(cluster_gap, int) or cluster_gap < 0:
        raise ValueError(f"cluster_gap must be a non-negative integer, got {cluster_gap!r}")

    threshold = float(threshold)

    # 1a. byte-equal shortcut: no decode at all
    if (
        isinstance(expected, _BytesLike)
        and isinstance(actual, _BytesLike)
        and len(expected) == len(actual)
        and bytes(expected) == bytes(actual)
    ):
        dims = png_dimensions(bytes(expected[:24]))
        if dims is None:
            h, w = _decode_bgra(expected, what="expected").shape[:2]
            dims = (w, h)
        return _identical(*dims)

    a, b, bgr = _load_pair(expected, actual)
    if a.shape != b.shape:
        return _size_mismatch(a, b, mask, cluster_gap)
    height, width = a.shape[:2]
    total = width * height
    if mask is not None:
        mask = _check_mask(mask, width, height)

    # 1b. array-equal shortcut, fused with finding the changed pixels: one pass
    # over the images as 32-bit words (a pixel differs iff its word differs).
    a32 = a.reshape(-1).view(np.uint32)
    b32 = b.reshape(-1).view(np.uint32)
    diff_flat, changed = _changed_pixels(a32, b32)
    if changed.size == 0:
        return _identical(width, height)

    # 2. YIQ distance, only where pixels differ at all
    max_delta = _MAX_YIQ_DELTA * threshold * threshold
    delta = _color_delta(a.reshape(-1, 4)[changed], b.reshape(-1, 4)[changed], changed * 4, bgr, checkerboard)
    over = changed[delta > max_delta]

    # 4. masks before anything is counted (and before the costly AA test)
    if mask is not None and over.size:
        over = over[~mask.reshape(-1)[over]]

    # 3. anti-aliasing, only for the candidates over the threshold
    if include_aa or over.size == 0:
        diff_idx = over
        aa_idx = over[:0]
    else:
        aa = _antialiased_either(a, b, bgr, over, width, height, a32, b32, checkerboard)
        diff_idx = over[~aa]
        aa_idx = over[aa]

    # The changed-pixel map becomes the difference mask: clear what is not counted.
    diff_flat[changed] = False
    diff_flat[diff_idx] = True
    diff_mask = diff_flat.reshape(height, width)
    aa_mask = np.zeros((height, width), dtype=bool)
    aa_mask.reshape(-1)[aa_idx] = True

    # 5. clusters
    clusters = _clusters(diff_idx, width, height, cluster_gap)
    return Comparison(
        width=width, height=height, identical=False, size_mismatch=False,
        diff_pixels=int(diff_idx.size), aa_pixels=int(aa_idx.size), total_pixels=total,
        clusters=clusters, diff_mask=diff_mask, aa_mask=aa_mask,
    )


# --------------------------------------------------------------------------
# Tolerance

_TOLERANCE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(px|%)\s*$", re.IGNORECASE)


def parse_area_tolerance(value: str | int | None) -> tuple[str, float]:
    """How much differing area is acceptable.

    "120px" / 120 -> ("px", 120); "0.2%" -> ("ratio", 0.002); None / 0 / "0" -> ("px", 0).
    Anything else raises ValueError."""
    if value is None:
        return ("px", 0)
    if isinstance(value, bool):
        raise ValueError(f"area tolerance must be like '120px' or '0.2%', got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"area tolerance cannot be negative, got {value!r}")
        return ("px", value)
    if isinstance(value, float):
        if value == 0:
            return ("px", 0)
        raise ValueError(f"area tolerance must be like '120px' or '0.2%' (a bare number is ambiguous), got {value!r}")
    if not isinstance(value, str):
        raise ValueError(f"area tolerance must be like '120px' or '0.2%', got {type(value).__name__} {value!r}")
    text = value.strip()
    if text == "0":
        return ("px", 0)
    m = _TOLERANCE_RE.match(text)
    if not m:
        raise ValueError(
            f"area tolerance {value!r} is not understood: use a pixel count like '120px' or a "
            f"percentage of the screenshot like '0.2%'"
        )
    number, unit = m.group(1), m.group(2).lower()
    if unit == "px":
        if "." in number:
            raise ValueError(f"area tolerance {value!r}: a pixel count must be a whole number")
        return ("px", int(number))
    pct = float(number)
    if pct > 100:
        raise ValueError(f"area tolerance {value!r}: a percentage cannot exceed 100%")
    return ("ratio", pct / 100.0)


def within_tolerance(c: Comparison, tolerance: tuple[str, float]) -> bool:
    """True when the counted differences fit the tolerance; a size mismatch never does."""
    kind, amount = tolerance
    if c.size_mismatch:
        return False
    if kind == "px":
        return c.diff_pixels <= amount
    if kind == "ratio":
        return c.diff_pixels <= amount * c.total_pixels + 1e-9
    raise ValueError(f"unknown tolerance kind {kind!r} (expected 'px' or 'ratio')")


# --------------------------------------------------------------------------
# Masks from regions


def mask_from_regions(width: int, height: int, regions) -> np.ndarray:
    """A bool HxW ignore-mask (True = ignore) from (x, y, w, h) regions.

    A region whose four numbers all lie in 0..1 is taken as fractions of the
    screen (so (0, 0, 1, 0.1) is the top tenth); otherwise as pixels.  Boxes
    are widened to whole pixels and clipped to the screen."""
    if width <= 0 or height <= 0:
        raise ValueError(f"mask size must be positive, got {width}x{height}")
    mask = np.zeros((height, width), dtype=bool)
    for region in regions or ():
        try:
            x, y, w, h = (float(v) for v in region)
        except (TypeError, ValueError):
            raise ValueError(f"region must be four numbers (x, y, width, height), got {region!r}") from None
        if not all(math.isfinite(v) for v in (x, y, w, h)):
            raise ValueError(f"region must be finite numbers, got {region!r}")
        if w < 0 or h < 0:
            raise ValueError(f"region width and height cannot be negative, got {region!r}")
        if all(0.0 <= v <= 1.0 for v in (x, y, w, h)):
            x, w = x * width, w * width
            y, h = y * height, h * height
        x0 = max(int(math.floor(x + 1e-9)), 0)
        y0 = max(int(math.floor(y + 1e-9)), 0)
        x1 = min(int(math.ceil(x + w - 1e-9)), width)
        y1 = min(int(math.ceil(y + h - 1e-9)), height)
        if x1 > x0 and y1 > y0:
            mask[y0:y1, x0:x1] = True
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
    return np.clip(np.rint(val) - _GREY_BASE, 0, _N_GREYS - 1).astype(np.uint8)


def _outline(img: np.ndarray, c: Cluster, value) -> None:
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


def _diff_indices(actual, c: Comparison) -> np.ndarray:
    """The diff picture as HxW palette indices into _PALETTE."""
    if isinstance(actual, _BytesLike):
        actual = decode_png(actual)
    rgba = _to_four_channels(np.asarray(actual), what="actual")
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
    if c.aa_mask is not None:
        flat[np.flatnonzero(c.aa_mask)] = _IDX_AA
    if c.diff_mask is not None:
        flat[np.flatnonzero(c.diff_mask)] = _IDX_DIFF
    return idx


def diff_image(actual: np.ndarray, c: Comparison) -> np.ndarray:
    """RGB uint8 picture of a comparison: counted differences red, anti-aliased
    pixels yellow, everything else the actual image faded to light grey, and
    each cluster outlined with a 2px magenta box just outside it.  For a size
    mismatch the whole canvas is tinted red over the faded actual image."""
    idx = _diff_indices(actual, c)
    return cv2.LUT(cv2.cvtColor(idx, cv2.COLOR_GRAY2RGB), _PALETTE_LUT)


def diff_png(actual: np.ndarray, c: Comparison, *, level: int = 1) -> bytes:
    """diff_image() encoded as PNG, written straight from palette indices (an
    8-bit palette PNG with the same pixels: smaller and several times faster
    to produce than encoding the RGB array)."""
    return _write_png(_diff_indices(actual, c), level, palette=_PALETTE)

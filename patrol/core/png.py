"""PNG in and out: the header reader, the decoder and the fast encoder.

``png_dimensions`` reads the IHDR header with the standard library only, so any
layer (drivers, redaction, journey tooling) can ask a screenshot's size without
pulling in NumPy or OpenCV. The codec imports them inside its functions: loading
this module stays light, and they are loaded the first time a PNG is decoded or
encoded.

``encode_png`` writes unfiltered rows at zlib level 1 (screenshots and diff
images compress better and faster that way than with libpng's adaptive filters);
large images are deflated in pieces on worker threads, joined as pigz does.
"""

from __future__ import annotations

import os
import struct
import threading
import zlib
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "CPUS",
    "PARALLEL_MIN_PIXELS",
    "PNG_SIGNATURE",
    "decode_bgra",
    "decode_png",
    "encode_png",
    "known_pixels",
    "png_dimensions",
    "to_four_channels",
    "worker_pool",
    "write_png",
]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_dimensions(data: bytes | bytearray | memoryview) -> tuple[int, int] | None:
    """(width, height) from a PNG's IHDR chunk, without decoding; None if not a PNG."""
    head = bytes(data[:24])
    if len(head) == 24 and head[:8] == PNG_SIGNATURE and head[12:16] == b"IHDR":
        width, height = struct.unpack(">II", head[16:24])
        return int(width), int(height)
    return None


# --------------------------------------------------------------------------
# Worker threads: NumPy, OpenCV and zlib release the GIL on large buffers, so
# the memory-bound passes over big screenshots (and decoding two PNGs) can use
# more than one core. Shared with the comparator.

try:
    CPUS = max(1, len(os.sched_getaffinity(0)))
except (AttributeError, OSError):  # pragma: no cover - not Linux
    CPUS = max(1, os.cpu_count() or 1)
PARALLEL_MIN_PIXELS = 1 << 20  # below ~1 Mpx one thread is as fast
_POOL: ThreadPoolExecutor | None = None
_POOL_PID = 0
_POOL_LOCK = threading.Lock()


def worker_pool() -> ThreadPoolExecutor:
    """The image workers' pool (re-created in a forked child, whose threads are gone)."""
    global _POOL, _POOL_PID
    with _POOL_LOCK:
        if _POOL is None or _POOL_PID != os.getpid():
            _POOL = ThreadPoolExecutor(max_workers=min(4, CPUS), thread_name_prefix="patrol-compare")
            _POOL_PID = os.getpid()
        return _POOL


# --------------------------------------------------------------------------
# Decoding


def to_four_channels(img: np.ndarray, *, what: str) -> np.ndarray:
    """Any 8-bit (or 16-bit) 1/3/4-channel image to HxWx4 uint8, keeping channel order."""
    import cv2
    import numpy as np

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
    import cv2
    import numpy as np

    buf = np.frombuffer(data, dtype=np.uint8)
    if buf.size == 0:
        raise ValueError(f"{what}: no image data (0 bytes)")
    img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError(f"{what}: could not decode the image data ({buf.size} bytes; is it a PNG?)")
    if img.dtype == np.uint16:
        img = ((img.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    return np.asarray(img)


def decode_bgra(data: bytes | bytearray | memoryview, *, what: str = "image") -> np.ndarray:
    """Encoded image bytes to HxWx4 uint8 in OpenCV's BGRA order (no channel swap: fastest)."""
    return to_four_channels(_imdecode(data, what), what=what)


# The RGBA pixels of the last few PNGs this process encoded or decoded, by the bytes
# object itself (held here, so its id is not reused): a step's screenshot is painted
# (redaction: decoded, encoded), then read by several checks and compared with its
# baseline, each decoding the same bytes; now the first pays and the others copy.
_KNOWN_MAX = 4
_known: OrderedDict[int, tuple[bytes, np.ndarray]] = OrderedDict()
_known_lock = threading.Lock()


def _remember(data: bytes, rgba: np.ndarray) -> None:
    with _known_lock:
        _known[id(data)] = (data, rgba)
        _known.move_to_end(id(data))
        while len(_known) > _KNOWN_MAX:
            _known.popitem(last=False)


def known_pixels(data: bytes | bytearray | memoryview) -> np.ndarray | None:
    """The RGBA pixels of ``data`` when this process encoded or decoded these very bytes
    lately (never to be written to: copy first), else None."""
    if type(data) is not bytes:
        return None
    with _known_lock:
        entry = _known.get(id(data))
        if entry is None or entry[0] is not data:
            return None
        _known.move_to_end(id(data))
        return entry[1]


def decode_png(data: bytes | bytearray | memoryview) -> np.ndarray:
    """Decode PNG (or any image OpenCV reads) bytes to an RGBA uint8 HxWx4 array (a new
    one, the caller's to change)."""
    import cv2
    import numpy as np

    known = known_pixels(data)
    if known is not None:
        return known.copy()
    img = _imdecode(data, "PNG")
    channels = 1 if img.ndim == 2 else img.shape[2]
    to_rgba = {1: cv2.COLOR_GRAY2RGBA, 3: cv2.COLOR_BGR2RGBA, 4: cv2.COLOR_BGRA2RGBA}
    if channels not in to_rgba:  # pragma: no cover - OpenCV decodes to 1, 3 or 4 channels
        raise ValueError(f"PNG: unexpected {channels}-channel image")
    rgba = np.asarray(cv2.cvtColor(img, to_rgba[channels]))  # one pass: channel order and alpha
    if type(data) is bytes:
        _remember(data, rgba)
        return rgba.copy()
    return rgba


# --------------------------------------------------------------------------
# Encoding


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


def write_png(img: np.ndarray, level: int, *, palette: np.ndarray | None = None, parts: int | None = None) -> bytes:
    """A PNG of unfiltered rows (screenshots and diff images compress better that
    way at zlib level 1 than with adaptive filters).  Large images are deflated
    in `parts` independent pieces on threads (zlib releases the GIL) joined into
    one zlib stream, as pigz does: sync-flushed raw deflate pieces, their
    Adler-32s combined.  `palette` (N x 3 RGB) makes an 8-bit palette PNG."""
    import numpy as np

    height, width = img.shape[:2]
    channels = 1 if img.ndim == 2 else img.shape[2]
    colour_type = 3 if palette is not None else {1: 0, 3: 2, 4: 6}[channels]
    if parts is None:
        big = CPUS > 1 and height * width >= PARALLEL_MIN_PIXELS
        parts = min(CPUS, 4, height) if big else 1
    raw = np.empty((height, 1 + width * channels), dtype=np.uint8)
    raw[:, 0] = 0  # filter type None on every row
    raw[:, 1:] = img.reshape(height, -1)
    flat = memoryview(raw.reshape(-1).data)
    rows = [height * i // parts for i in range(parts + 1)]
    stride = raw.shape[1]
    n_parts = parts

    def deflate(i: int) -> tuple[bytes, int, int]:
        piece = flat[rows[i] * stride : rows[i + 1] * stride]
        co = zlib.compressobj(level, zlib.DEFLATED, -15)
        data = co.compress(piece) + co.flush(zlib.Z_FINISH if i == n_parts - 1 else zlib.Z_SYNC_FLUSH)
        return data, zlib.adler32(piece), len(piece)

    futures = [worker_pool().submit(deflate, i) for i in range(parts - 1)]
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
    return PNG_SIGNATURE + b"".join(chunks)


def encode_png(rgb_or_rgba: np.ndarray, *, level: int = 1) -> bytes:
    """Encode an RGB / RGBA (or greyscale) uint8 array as PNG bytes.

    Tuned for screenshots and diff images (flat UI colours): zlib level 1 and
    no row filter, which is both faster and smaller for them than libpng's
    adaptive filtering.  Large images are deflated on several threads."""
    import numpy as np

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
    png = _encode(img, level)
    if img.ndim == 3 and img.shape[2] == 4:  # what decoding these bytes gives back
        _remember(png, img.copy())
    return png


def _encode(img: np.ndarray, level: int) -> bytes:
    import cv2
    import numpy as np

    if CPUS > 1 and img.shape[0] * img.shape[1] >= PARALLEL_MIN_PIXELS:
        return write_png(np.ascontiguousarray(img), level)
    if img.ndim == 3:
        img = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2BGR if img.shape[2] == 3 else cv2.COLOR_RGBA2BGRA)
    params = [cv2.IMWRITE_PNG_COMPRESSION, level]
    if hasattr(cv2, "IMWRITE_PNG_FILTER"):  # OpenCV >= 4.10
        params += [cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_NONE]
    ok, buf = cv2.imencode(".png", img, params)
    if not ok:  # pragma: no cover - OpenCV only fails on impossible input
        raise ValueError("encode_png: OpenCV could not encode the image")
    return bytes(buf.tobytes())

"""A persistent, content-addressed store of OCR readings (``.patrol/ocr-cache/``).

A step whose read region has the same pixels as on any earlier run is not read
again: the words are looked up by a key made of

- the region's pixels: XXH3-128 of the exact bytes of the crop as given (RGBA for
  a step's screenshot) and its shape (see ``pixel_digest``);
- the engine: Tesseract's version and each language file's size and mtime
  (``tess.engine_id``), and the language string;
- the preprocessing: the ``OcrSettings`` (frozen), the upscale and the pixel
  density (the latter comes from the whole screenshot's size, not the crop's);
- ``FORMAT``, bumped when what is stored or how it is read changes.

One small JSON file per entry, written to a temporary file and renamed into place
(``os.replace``), so concurrent writers never leave half an entry, and a reader
sees an old entry or a new one. A file that does not parse (truncated by a full
disk, edited) is a miss and is written again. The folder may be deleted at any
time: it is made again on the next write. The store is bounded: past
``max_entries`` files or ``max_bytes``, the least recently used entries (by
mtime, touched on a hit at most once an hour) are removed.

Words are stored in the crop's own pixels, so the same pixels read elsewhere on
the screen are the same entry; the engine moves them to the region's place.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy.typing as npt

FORMAT = 1
MAX_ENTRIES = 5000
MAX_BYTES = 64 * 1024 * 1024
_TOUCH_AFTER_S = 3600.0  # a hit refreshes an entry's mtime (its LRU age) at most this often
_SUFFIX = ".json"

# One stored word: text, x, y, w, h (in the crop's pixels), confidence.
Word = tuple[str, int, int, int, int, float]


def pixel_digest(pixels: npt.ArrayLike) -> str:
    """XXH3-128 of an image array's exact bytes, with its shape and type.

    XXH3 rather than SHA-256: a phone's 1170x2532 RGBA screen (12 MB) hashes in
    ~1.5 ms instead of ~7 ms on two threads, and that is most of a cached read. It is
    not a cryptographic hash; 128 bits make an accidental collision between two
    screens negligible, and the key also holds the engine, languages and settings."""
    import numpy as np
    import xxhash

    arr = np.ascontiguousarray(pixels)  # a copy only for a strided crop
    h = xxhash.xxh3_128(f"{arr.shape}{arr.dtype.str}|".encode())
    h.update(arr.reshape(-1).view(np.uint8).data)
    return h.hexdigest()


def _default_engine_id(lang: str) -> str:
    from .tess import engine_id

    return engine_id(lang)


class OcrStore:
    """The cache folder. ``engine_id(lang)`` names the engine and its language
    data (injectable, for tests of what a new engine version does)."""

    def __init__(self, root: str | Path, *, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES,
                 engine_id: Callable[[str], str] = _default_engine_id) -> None:
        self.root = Path(root)
        self.folder = self.root / f"v{FORMAT}"
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.engine_id = engine_id
        self.stats = {"hits": 0, "misses": 0, "writes": 0, "corrupt": 0, "evicted": 0}
        self._engines: dict[str, str] = {}
        self._lock = threading.Lock()

    def key(self, pixels: str, lang: str, preprocessing: str, engine: str | None = None) -> str:
        """The entry's name: ``pixels`` is ``pixel_digest`` of the crop,
        ``preprocessing`` the settings, upscale and density, as text. ``engine``: the
        identity of another engine than Tesseract (``rapid.engine_id()``); Tesseract's
        is ``engine_id(lang)``, and its keys are what they were before there was a
        second engine (its entries stay valid)."""
        if engine is None:
            engine = self._engines.get(lang)
            if engine is None:  # once per process and language: a stat of each model file
                engine = self._engines[lang] = self.engine_id(lang)
        text = "\n".join((f"patrol-ocr {FORMAT}", pixels, lang, engine, preprocessing))
        return hashlib.sha256(text.encode()).hexdigest()

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}{_SUFFIX}"

    def get(self, key: str) -> list[list[Word]] | None:
        """The stored lines of words, or None (absent, unreadable or not ours)."""
        path = self._path(key)
        try:
            with open(path, "rb") as f:
                raw = f.read()
            lines = _decode(raw, key)
        except FileNotFoundError:
            self.stats["misses"] += 1
            return None
        except (OSError, ValueError, TypeError, KeyError, IndexError):
            self.stats["corrupt"] += 1  # rewritten by the caller's put
            self.stats["misses"] += 1
            return None
        self.stats["hits"] += 1
        self._touch(path)
        return lines

    def _touch(self, path: Path) -> None:
        try:
            if time.time() - path.stat().st_mtime > _TOUCH_AFTER_S:
                os.utime(path)
        except OSError:
            pass  # deleted meanwhile: nothing to keep fresh

    def put(self, key: str, lines: list[list[Word]]) -> None:
        """Store atomically; then keep the folder within its bounds. A store that
        cannot be written (read-only, full disk) is no error: OCR goes on uncached."""
        data = json.dumps({"format": FORMAT, "key": key, "lines": lines}, ensure_ascii=False,
                          separators=(",", ":")).encode()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-", suffix=_SUFFIX)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                os.replace(tmp, self._path(key))
            except BaseException:
                _unlink(Path(tmp))
                raise
        except OSError:
            return
        self.stats["writes"] += 1
        self.prune()

    def prune(self) -> None:
        """Remove the least recently used entries beyond the bounds (and temporary
        files a killed writer left over an hour ago). Runs after each write, which
        follows a Tesseract read of 0.1 s and more: a folder scan is cheap beside it."""
        with self._lock:
            entries: list[tuple[float, int, Path]] = []
            now = time.time()
            try:
                with os.scandir(self.folder) as it:
                    for e in it:
                        try:
                            st = e.stat()
                        except OSError:
                            continue
                        if e.name.startswith(".tmp-"):
                            if now - st.st_mtime > 3600:
                                _unlink(Path(e.path))
                            continue
                        entries.append((st.st_mtime, st.st_size, Path(e.path)))
            except OSError:
                return
            total = sum(size for _, size, _ in entries)
            if len(entries) <= self.max_entries and total <= self.max_bytes:
                return
            entries.sort(key=lambda e: e[0])
            count = len(entries)
            for _, size, path in entries:
                if count <= self.max_entries and total <= self.max_bytes:
                    break
                _unlink(path)
                count -= 1
                total -= size
                self.stats["evicted"] += 1


def _decode(raw: bytes, key: str) -> list[list[Word]]:
    """The lines of an entry; ValueError/TypeError/KeyError when it is not a whole,
    well-formed entry for ``key``."""
    data = json.loads(raw)
    if data["format"] != FORMAT or data["key"] != key:
        raise ValueError("another format or key")
    lines: list[list[Word]] = []
    for line in data["lines"]:
        words: list[Word] = []
        for text, x, y, w, h, conf in line:
            if not isinstance(text, str) or not text:
                raise ValueError("a word without text")
            words.append((text, int(x), int(y), int(w), int(h), float(conf)))
        if not words:
            raise ValueError("an empty line")
        lines.append(words)
    return lines


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


_stores: dict[Path, OcrStore] = {}
_stores_lock = threading.Lock()


def store_at(root: str | Path | None) -> OcrStore | None:
    """The process's one store for a folder (None: no persistent cache)."""
    if root is None:
        return None
    path = Path(root).absolute()
    with _stores_lock:
        store = _stores.get(path)
        if store is None:
            store = _stores[path] = OcrStore(path)
        return store

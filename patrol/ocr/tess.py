"""Tesseract, run in this process through its C API (``libtesseract``, by ctypes).

The command line Tesseract that pytesseract runs loads its models on every call:
about 0.2 s of the 0.4 s a 400x120 region took, and twice when weak Latin words
are read again with ``chi_sim``. Here each language's engine is loaded once per
process and kept (a small pool: an engine is used by one thread at a time, and
Tesseract releases the GIL, so two journeys read at once). The TSV it returns
is byte for byte what the command line prints for the same image (the image is
given at 96 dpi, what pytesseract's BMP file says).

When the library cannot be loaded, or ``PATROL_OCR_BACKEND=cli``, pytesseract
and the command line are used as before.
"""

from __future__ import annotations

import atexit
import ctypes
import functools
import os
import subprocess
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TypedDict

import numpy as np

# Tesseract's OpenMP threads fight each other (and the browsers) on small machines:
# one thread is about three times as fast there. Set before libgomp is loaded.
os.environ.setdefault("OMP_THREAD_LIMIT", "1")

_LIBRARY = "libtesseract.so.5"
_DPI = 96  # what pytesseract's BMP files carry: the same layout analysis as before
_TSV_FIELDS = ("level", "page_num", "block_num", "par_num", "line_num", "word_num",
               "left", "top", "width", "height", "conf", "text")


class TsvWords(TypedDict):
    """Tesseract's words as pytesseract's ``image_to_data`` dict gives them: a list per
    TSV column, every column but the text as whole numbers."""

    level: list[int]
    page_num: list[int]
    block_num: list[int]
    par_num: list[int]
    line_num: list[int]
    word_num: list[int]
    left: list[int]
    top: list[int]
    width: list[int]
    height: list[int]
    conf: list[int]
    text: list[str]


class EngineError(RuntimeError):
    """An engine could not be started (a missing language) or failed to read."""


def backend() -> str:
    """``"library"`` (in-process C API) or ``"cli"`` (pytesseract)."""
    if os.environ.get("PATROL_OCR_BACKEND", "").lower() == "cli":
        return "cli"
    return "library" if _lib() is not None else "cli"


@functools.lru_cache(maxsize=1)
def _lib() -> ctypes.CDLL | None:
    try:
        lib = ctypes.CDLL(_LIBRARY)
    except OSError:
        return None
    p, s, i = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
    lib.TessVersion.restype = s
    lib.TessBaseAPICreate.restype = p
    lib.TessBaseAPIInit3.argtypes = [p, s, s]
    lib.TessBaseAPISetPageSegMode.argtypes = [p, i]
    lib.TessBaseAPISetImage.argtypes = [p, p, i, i, i, i]
    lib.TessBaseAPISetSourceResolution.argtypes = [p, i]
    lib.TessBaseAPIRecognize.argtypes = [p, p]
    lib.TessBaseAPIGetTsvText.argtypes = [p, i]
    lib.TessBaseAPIGetTsvText.restype = ctypes.POINTER(ctypes.c_char)
    lib.TessDeleteText.argtypes = [ctypes.POINTER(ctypes.c_char)]
    lib.TessBaseAPIClear.argtypes = [p]
    lib.TessBaseAPIEnd.argtypes = [p]
    lib.TessBaseAPIDelete.argtypes = [p]
    lib.TessBaseAPISetVariable.argtypes = [p, s, s]
    return lib


def _library() -> ctypes.CDLL:
    """The loaded library (the ``library`` backend only runs where it loaded)."""
    lib = _lib()
    if lib is None:
        raise EngineError(f"Tesseract's library {_LIBRARY} could not be loaded")
    return lib


@functools.lru_cache(maxsize=4)
def version(kind: str | None = None) -> str:
    """The version of the Tesseract that reads (``backend()``), e.g. ``5.3.0``."""
    if (kind or backend()) == "library":
        return str(_library().TessVersion().decode())
    import pytesseract

    try:
        out = subprocess.run([pytesseract.pytesseract.tesseract_cmd, "--version"], capture_output=True, text=True,
                             timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.split("\n", 1)[0].strip() or "unknown"


_DATA_DIRS = ("/usr/share/tesseract-ocr/5/tessdata", "/usr/share/tesseract-ocr/4.00/tessdata",
              "/usr/share/tessdata", "/usr/local/share/tessdata")


@functools.lru_cache(maxsize=1)
def _listed_data_dir() -> str | None:
    """Where ``tesseract --list-langs`` says the language data is (one subprocess)."""
    import pytesseract

    try:
        out = subprocess.run([pytesseract.pytesseract.tesseract_cmd, "--list-langs"], capture_output=True,
                             text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    first = out.split("\n", 1)[0]
    return first.split('"')[1] if first.count('"') >= 2 else None


def language_file(name: str) -> Path | None:
    """The ``.traineddata`` file Tesseract loads for ``name`` (found as Tesseract
    looks: ``TESSDATA_PREFIX``, then the packaged folders), or None."""
    dirs: list[str] = []
    prefix = os.environ.get("TESSDATA_PREFIX")
    if prefix:
        dirs += [prefix, os.path.join(prefix, "tessdata")]
    else:
        dirs += list(_DATA_DIRS)
    for folder in dirs:
        path = Path(folder) / f"{name}.traineddata"
        if path.is_file():
            return path
    listed = _listed_data_dir()
    found = Path(listed) / f"{name}.traineddata" if listed else None
    return found if found is not None and found.is_file() else None


def engine_id(lang: str) -> str:
    """What identifies the engine's readings of ``lang``: its version and each
    language file's size and modification time (a new model means new readings)."""
    parts = [f"tesseract {version()}", lang]
    for name in lang.split("+"):
        path = language_file(name)
        if path is None:
            parts.append(f"{name}:?")
            continue
        st = path.stat()
        parts.append(f"{name}:{st.st_size}:{st.st_mtime_ns}")
    return "|".join(parts)


# ---------------------------------------------------------------- the pool


class _Pool:
    """Idle engines per language; at most ``limit`` per language exist at once."""

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.idle: dict[str, list[int]] = {}
        self.count: dict[str, int] = {}
        self.limit = max(2, os.cpu_count() or 2)
        self.pid = os.getpid()

    def acquire(self, lang: str) -> int:
        with self.lock:
            if self.pid != os.getpid():  # a forked child: the parent's engines are not ours to share
                self.idle, self.count, self.pid = {}, {}, os.getpid()
            while True:
                idle = self.idle.setdefault(lang, [])
                if idle:
                    return idle.pop()
                if self.count.get(lang, 0) < self.limit:
                    self.count[lang] = self.count.get(lang, 0) + 1
                    break
                self.lock.wait()
        try:
            return _start(lang)  # outside the lock: loading a model takes 0.1-0.2 s
        except BaseException:
            with self.lock:
                self.count[lang] -= 1
                self.lock.notify()
            raise

    def release(self, lang: str, api: int) -> None:
        with self.lock:
            self.idle.setdefault(lang, []).append(api)
            self.lock.notify()

    def close(self) -> None:
        """End the idle engines (at exit: Tesseract complains of leaks otherwise)."""
        lib = _library()
        with self.lock:
            for apis in self.idle.values():
                for api in apis:
                    lib.TessBaseAPIEnd(api)
                    lib.TessBaseAPIDelete(api)
            self.idle.clear()


_pool = _Pool()


_preloaded: set[str] = set()


def preload(langs: list[str]) -> threading.Thread | None:
    """Load the engines for ``langs`` in a background thread (once per process and
    language), so a run's first read does not wait the 0.1-0.5 s it takes. Nothing
    to do with the command line; a missing language is reported by the read."""
    if backend() != "library":
        return None
    with _pool.lock:
        todo = [lang for lang in langs if lang not in _preloaded and not _pool.count.get(lang)]
        _preloaded.update(todo)
    if not todo:
        return None

    def load() -> None:
        for lang in todo:
            try:
                _pool.release(lang, _pool.acquire(lang))
            except EngineError:
                pass

    thread = threading.Thread(target=load, name="ocr-preload", daemon=True)
    thread.start()
    return thread


def _start(lang: str) -> int:
    lib = _library()
    api = lib.TessBaseAPICreate()
    if lib.TessBaseAPIInit3(api, None, lang.encode()) != 0:
        lib.TessBaseAPIDelete(api)
        raise EngineError(f"Tesseract could not load the language data for {lang}")
    return int(api)


@atexit.register
def _close() -> None:
    if _lib.cache_info().currsize and _lib() is not None:
        _pool.close()


def tsv_data(image: np.ndarray, lang: str, psm: int, variables: Mapping[str, str]) -> TsvWords:
    """Tesseract's words (``image_to_data``'s dict: a list per TSV column) of a
    grey uint8 image, read in this process. ``variables``: Tesseract's ``-c``
    settings, set on every call (an engine keeps them between calls)."""
    lib = _library()
    grey = np.ascontiguousarray(image, dtype=np.uint8)
    api = _pool.acquire(lang)
    try:
        for name, value in variables.items():
            if not lib.TessBaseAPISetVariable(api, name.encode(), value.encode()):
                raise EngineError(f"Tesseract has no setting {name}")
        lib.TessBaseAPISetPageSegMode(api, psm)
        lib.TessBaseAPISetImage(api, grey.ctypes.data, grey.shape[1], grey.shape[0], 1, grey.strides[0])
        lib.TessBaseAPISetSourceResolution(api, _DPI)
        if lib.TessBaseAPIRecognize(api, None) != 0:
            raise EngineError("Tesseract failed to read the image")
        text = lib.TessBaseAPIGetTsvText(api, 0)
        try:
            tsv = ctypes.string_at(text).decode("utf-8", "replace")
        finally:
            lib.TessDeleteText(text)
    finally:
        lib.TessBaseAPIClear(api)
        _pool.release(lang, api)
    return parse_tsv(tsv)


def parse_tsv(tsv: str) -> TsvWords:
    """The C API's TSV (no header row) as pytesseract's dict: ints and the text."""
    numbers: list[list[int]] = [[] for _ in _TSV_FIELDS[:10]]
    conf: list[int] = []
    text: list[str] = []
    for row in tsv.split("\n"):
        cells = row.split("\t")
        if len(cells) < len(_TSV_FIELDS):
            continue
        for column, cell in zip(numbers, cells):
            column.append(int(cell))
        conf.append(int(float(cells[10])))  # pytesseract truncates: the same thresholds
        text.append("\t".join(cells[11:]))
    level, page_num, block_num, par_num, line_num, word_num, left, top, width, height = numbers
    return TsvWords(level=level, page_num=page_num, block_num=block_num, par_num=par_num, line_num=line_num,
                    word_num=word_num, left=left, top=top, width=width, height=height, conf=conf, text=text)

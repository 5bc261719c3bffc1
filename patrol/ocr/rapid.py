"""RapidOCR: PaddleOCR's PP-OCR models (detection and recognition, Chinese and
English in one model) run by onnxruntime, as a second OCR engine beside Tesseract.

The models ship inside the ``rapidocr`` wheel (``rapidocr/models/``). RapidOCR
looks a model up in its catalogue and downloads it when no ``model_path`` is
given (and hashes the 21 MB file on every start to see whether it must); here
each model's path is given, so nothing is ever fetched, and a wheel without its
models is an ``EngineError`` naming the missing file, never a download.

The engine (about 3 s to load both models) is made once per process, on the
first read, and kept; one read at a time (a lock): onnxruntime runs with one
thread, as Tesseract does (``OMP_THREAD_LIMIT=1``), since several journeys read at
once on small machines. The text-direction classifier is not loaded: screenshots
are upright.

``read_words`` returns lines of ``(text, x, y, w, h, confidence)`` words in the
crop's pixels (a word is one CJK glyph or one Latin word, as RapidOCR boxes them),
confidence 0-100: the shape Tesseract's reading has, so the OCR cache, ``find``
and the checks treat both engines alike.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

import cv2
import numpy as np
import numpy.typing as npt

from .cache import Word
from .normalize import is_cjk, normalize_chars
from .tess import EngineError

if TYPE_CHECKING:
    from rapidocr import RapidOCR

# The wheel's models, by RapidOCR's config key.
MODELS = {"Det": "PP-OCRv6_det_small.onnx", "Rec": "PP-OCRv6_rec_small.onnx"}
# Screenshots at device scale 1 are enlarged this much first: detection misses
# 12 px grey captions at their own size (measured on the corpus, benchmarks/ocr.py).
UPSCALE_1X = 2.0
_MAX_SIDE = 2560  # RapidOCR's default 2000 shrinks a 2532 px phone screen
BAND = 900  # px: taller images are read in bands (see read_words)
OVERLAP = 120  # px: a line up to this tall (60 CSS px at 2x) is whole in one band
# What changes readings beyond the versions and models (part of the cache key).
SETUP = f"det max {_MAX_SIDE}, no cls, 1x upscale {UPSCALE_1X}, bands {BAND}/{OVERLAP}"


def model_dir() -> Path:
    """Where the installed ``rapidocr`` wheel keeps its models (without importing it)."""
    spec = importlib.util.find_spec("rapidocr")
    if spec is None or not spec.submodule_search_locations:
        raise EngineError("RapidOCR is not installed; install Patrol's dependencies (pip install rapidocr onnxruntime)")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def model_paths() -> dict[str, Path]:
    """Each model's file; ``EngineError`` when one is missing (nothing is downloaded)."""
    folder = model_dir()
    paths = {key: folder / name for key, name in MODELS.items()}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise EngineError(f"RapidOCR's models are not in its wheel ({', '.join(missing)}); "
                          f"reinstall it with: pip install --force-reinstall rapidocr")
    return paths


@functools.lru_cache(maxsize=1)
def engine_id() -> str:
    """What identifies RapidOCR's readings: its version, onnxruntime's, and each
    model file's size and modification time (new models mean new readings)."""
    parts = []
    for dist in ("rapidocr", "onnxruntime"):  # then how they are set up here: a new setup, new readings
        try:
            parts.append(f"{dist} {importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            parts.append(f"{dist} ?")
    try:
        paths = model_paths()
    except EngineError:
        return "|".join(parts + ["models:?"])
    for key, path in paths.items():
        st = path.stat()
        parts.append(f"{key}:{path.name}:{st.st_size}:{st.st_mtime_ns}")
    return "|".join(parts + [SETUP])


_engine: RapidOCR | None = None
_load_lock = threading.Lock()
_read_lock = threading.Lock()


def _load() -> RapidOCR:
    """The process's RapidOCR, made on first use (the models' sessions load then)."""
    global _engine
    if _engine is not None:
        return _engine
    with _load_lock:
        if _engine is None:
            paths = model_paths()
            try:
                from rapidocr import RapidOCR
            except ImportError as e:
                raise EngineError(f"RapidOCR cannot be imported ({e}); install it with: pip install rapidocr onnxruntime") from None
            params: dict[str, str | bool | int] = {
                "Global.log_level": "error",
                "Global.use_cls": False,
                "Global.return_word_box": True,
                "Global.max_side_len": _MAX_SIDE,
                # Detection at the image's own size (up to _MAX_SIDE): RapidOCR's default
                # enlarges the shorter side to 736 px, so a 300x50 label became 4416x736.
                "Det.limit_type": "max",
                "Det.limit_side_len": _MAX_SIDE,
                "Det.model_path": str(paths["Det"]),
                "Rec.model_path": str(paths["Rec"]),
                "EngineConfig.onnxruntime.intra_op_num_threads": 1,
                "EngineConfig.onnxruntime.inter_op_num_threads": 1,
            }
            engine = RapidOCR(params=params)
            # Both sessions now, not inside the first read's timing (RapidOCR loads
            # them on first use otherwise; a version without these loads them then).
            for name in ("_load_det_model", "_load_rec_model"):
                loader = getattr(engine, name, None)
                if callable(loader):
                    loader()
            _engine = engine
    return _engine


def loaded() -> bool:
    return _engine is not None


def preload() -> threading.Thread:
    """Load the models in a background thread (a run whose journeys read with RapidOCR)."""
    def load() -> None:
        try:
            _load()
        except EngineError:
            pass  # the first read says what is wrong
    thread = threading.Thread(target=load, name="ocr-preload-rapidocr", daemon=True)
    thread.start()
    return thread


def scale_for(density: float) -> float:
    return UPSCALE_1X if density < 1.5 else 1.0


def read_words(rgb: np.ndarray, density: float) -> list[list[Word]]:
    """RapidOCR's lines of words of an RGB (or grey) crop, boxes in the crop's pixels,
    top to bottom.

    An image taller than ``BAND`` px (after the upscale) is read in bands of that
    height overlapping by ``OVERLAP`` px, each line kept from the band where its
    middle is away from the cut: PP-OCR's detection loses sparse text on a large
    image (a 2560x1600 screen with two labels gave nothing; each half found both)."""
    from rapidocr.utils.output import RapidOCROutput

    engine = _load()
    image = rgb if rgb.ndim == 3 else cv2.cvtColor(rgb, cv2.COLOR_GRAY2RGB)
    scale = scale_for(density)
    if scale != 1.0:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    # RapidOCR wants BGR, as OpenCV reads files.
    bgr = np.ascontiguousarray(image[..., ::-1])
    height = bgr.shape[0]
    lines: list[list[Word]] = []
    for top, keep_from, keep_to in _bands(height):
        with _read_lock:
            try:
                out = engine(np.ascontiguousarray(bgr[top:top + BAND]))
            except Exception as e:  # onnxruntime's own errors: the robot's failure, not the app's
                raise EngineError(f"RapidOCR failed to read the image: {e}") from None
        if not isinstance(out, RapidOCROutput) or not out.txts or out.boxes is None or out.scores is None:
            continue
        txts, boxes, scores = out.txts, out.boxes, out.scores
        # One tuple of (word, score, quad) per line: RapidOCR annotates it as one word per line.
        words_per_line = cast("Sequence[Iterable[tuple[str, float, npt.ArrayLike]]]", out.word_results or ())
        aligned = len(words_per_line) == len(txts)
        for i, text in enumerate(txts):
            middle = top + float(np.asarray(boxes[i])[:, 1].mean())
            if not keep_from <= middle < keep_to:
                continue  # read whole in the neighbouring band
            line = _word("x", boxes[i], float(scores[i]), scale, top)
            words = _tokens(str(text), words_per_line[i] if aligned else (), line, scale, top)
            if words:
                lines.append(words)
    lines.sort(key=lambda ws: (min(w[2] for w in ws), min(w[1] for w in ws)))
    return lines


def _bands(height: int) -> list[tuple[int, float, float]]:
    """(top, keep lines whose middle is from, to) of each band of an image ``height`` tall."""
    if height <= BAND:
        return [(0, 0.0, float(height))]
    count = -(-(height - OVERLAP) // (BAND - OVERLAP))  # bands needed, spread evenly
    tops = [round(k * (height - BAND) / (count - 1)) for k in range(count)]
    bands = []
    for k, top in enumerate(tops):
        keep_from = 0.0 if k == 0 else (top + tops[k - 1] + BAND) / 2  # the middle of the overlap
        keep_to = float(height) if k == len(tops) - 1 else (tops[k + 1] + top + BAND) / 2
        bands.append((top, keep_from, keep_to))
    return bands


def _split(text: str) -> list[str]:
    """A line's words as Tesseract makes them: one per CJK glyph, one per Latin word."""
    tokens: list[str] = []
    for chunk in text.split():
        cur = ""
        for ch in chunk:
            if is_cjk(ch):
                tokens += [cur, ch] if cur else [ch]
                cur = ""
            else:
                cur += ch
        if cur:
            tokens.append(cur)
    return tokens


def _tokens(text: str, word_results: Iterable[tuple[str, float, npt.ArrayLike]], line: Word, scale: float, top: int = 0) -> list[Word]:
    """The line's words with their boxes. RapidOCR boxes each glyph of a mixed line
    (``¥``, ``1``, ``2``...) and knows the spaces only in the line's text, so the
    words are cut from the text and each takes the union of its glyphs' boxes. A
    line whose glyph boxes do not spell its text shares its box among its words in
    proportion to their characters."""
    tokens = _split(text)
    # One box per character, from the word boxes (a word's box cut in proportion).
    chars: list[tuple[float, float, float, float, float]] = []
    spelt = ""
    for word, score, quad in word_results or ():
        word = str(word).replace(" ", "")
        if not word:
            continue
        pts = (np.asarray(quad, dtype=np.float64).reshape(-1, 2) + (0.0, top)) / scale
        (x0, y0), (x1, y1) = pts.min(axis=0), pts.max(axis=0)
        for k in range(len(word)):
            chars.append((x0 + (x1 - x0) * k / len(word), x0 + (x1 - x0) * (k + 1) / len(word), y0, y1, float(score)))
        spelt += word
    _, lx, ly, lw, lh, conf = line
    out: list[Word] = []
    at = 0
    if spelt == "".join(tokens):
        for t in tokens:
            part = chars[at:at + len(t)]
            at += len(t)
            x0, x1 = min(c[0] for c in part), max(c[1] for c in part)
            y0, y1 = min(c[2] for c in part), max(c[3] for c in part)
            x, y = int(round(x0)), int(round(y0))
            score = 100.0 * sum(c[4] for c in part) / len(part)
            out.append((t, x, y, max(1, int(round(x1)) - x), max(1, int(round(y1)) - y), round(score, 1)))
        return _normalised(out)
    total = sum(len(t) for t in tokens) or 1
    for t in tokens:
        x0, x1 = lx + lw * at // total, lx + lw * (at + len(t)) // total
        out.append((t, x0, ly, max(1, x1 - x0), lh, conf))
        at += len(t)
    return _normalised(out)


def _normalised(words: list[Word]) -> list[Word]:
    """Each word's text normalised as Tesseract's are (full-width forms, punctuation),
    after the boxes were cut: NFKC may change a word's length."""
    out = []
    for text, x, y, w, h, conf in words:
        text = normalize_chars(text).replace(" ", "")
        if text:
            out.append((text, x, y, w, h, conf))
    return out


def _word(text: str, quad: npt.ArrayLike, score: float, scale: float, top: int = 0) -> Word:
    pts = (np.asarray(quad, dtype=np.float64).reshape(-1, 2) + (0.0, top)) / scale
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    x, y = int(round(x0)), int(round(y0))
    return (text, x, y, max(1, int(round(x1)) - x), max(1, int(round(y1)) - y), round(100.0 * score, 1))

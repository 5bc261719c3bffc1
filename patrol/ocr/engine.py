"""Tesseract on real screenshots.

Preprocessing, chosen by measurement on the demo bank's screens: grey scale; text on
dark backgrounds (a red balance card, a dark nav bar) is inverted so all text is dark
on light; the background is flattened to white (divide by a morphological closing);
small screenshots (CSS-pixel scale 1) are upscaled 2x, which lets chi_sim read 12-14 px
labels it otherwise drops. Page segmentation ``--psm 3`` (automatic) read the most
labels; ``--psm 11`` (sparse) split words and misread more.
"""

from __future__ import annotations

import hashlib
import shutil
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..errors import RobotError
from .normalize import is_cjk, normalize

UPSCALE_BELOW_WIDTH = 1700  # px; wider images are already at a device scale >= ~1.5
PSM = 3
_CACHE_SIZE = 64


class OcrUnavailable(RobotError):
    reason = "ocr_unavailable"


@dataclass
class OcrWord:
    text: str
    box: tuple[int, int, int, int]  # x, y, w, h in image pixels
    confidence: float


@dataclass
class OcrLine:
    text: str  # normalised
    box: tuple[int, int, int, int]
    confidence: float
    words: list[OcrWord] = field(default_factory=list)


@dataclass
class OcrResult:
    lines: list[OcrLine]
    duration_ms: float
    region: tuple[int, int, int, int] | None = None

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)

    @property
    def words(self) -> list[OcrWord]:
        return [w for line in self.lines for w in line.words]

    def to_evidence(self) -> dict:
        return {"text": self.text, "lines": [{"text": l.text, "box": list(l.box)} for l in self.lines]}


_cache: "OrderedDict[tuple, OcrResult]" = OrderedDict()
_cache_lock = threading.Lock()
stats = {"tesseract_calls": 0}


def _check_installed(lang: str) -> None:
    import pytesseract

    if shutil.which(pytesseract.pytesseract.tesseract_cmd) is None:
        raise OcrUnavailable("Tesseract is not installed; apt-get install tesseract-ocr tesseract-ocr-chi-sim")
    try:
        available = set(pytesseract.get_languages(config=""))
    except Exception as e:  # noqa: BLE001 - any failure here means "cannot OCR"
        raise OcrUnavailable(f"Tesseract does not run: {e}") from None
    missing = [l for l in lang.split("+") if l not in available]
    if missing:
        pkgs = " ".join(f"tesseract-ocr-{m.replace('_', '-')}" for m in missing)
        raise OcrUnavailable(f"Tesseract has no language data for {', '.join(missing)}; apt-get install {pkgs}")


_checked: set[str] = set()


def to_rgb(image: np.ndarray | bytes) -> np.ndarray:
    if isinstance(image, (bytes, bytearray, memoryview)):
        from ..visual.compare import decode_png

        image = decode_png(bytes(image))
    return image[..., :3] if image.ndim == 3 else image


def resolve_region(region, width: int, height: int) -> tuple[int, int, int, int] | None:
    if region is None:
        return None
    x, y, w, h = (float(v) for v in region)
    if all(0 <= v <= 1 for v in (x, y, w, h)) and any(isinstance(v, float) and not float(v).is_integer() for v in region):
        x, w, y, h = x * width, w * width, y * height, h * height
    x0, y0 = max(0, int(x)), max(0, int(y))
    x1, y1 = min(width, int(round(x + w))), min(height, int(round(y + h)))
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"region {list(region)} is outside the {width}x{height} image")
    return x0, y0, x1 - x0, y1 - y0


def preprocess(rgb: np.ndarray) -> tuple[np.ndarray, float]:
    grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY) if rgb.ndim == 3 else rgb.copy()
    h, w = grey.shape
    # Local background brightness: where it is dark, the text on it is light.
    small = cv2.resize(grey, (max(1, w // 4), max(1, h // 4)), interpolation=cv2.INTER_AREA)
    bg = cv2.resize(cv2.medianBlur(small, 9), (w, h), interpolation=cv2.INTER_LINEAR)
    dark = bg < 140
    grey[dark] = 255 - grey[dark]
    closing = cv2.morphologyEx(grey, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (25, 25)))
    grey = cv2.divide(grey, closing, scale=255)
    # Small crops (one label) get 3x: chi_sim wants glyphs of ~40 px.
    scale = 3.0 if h < 80 else 2.0 if w < UPSCALE_BELOW_WIDTH else 1.0
    if scale != 1.0:
        grey = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    return grey, scale


def read(image: np.ndarray | bytes, *, region=None, lang: str = "chi_sim+eng") -> OcrResult:
    """OCR an RGB(A) screenshot (or PNG bytes), optionally a region of it
    ((x, y, w, h) in pixels, or fractions 0-1). Boxes are in the image's pixels."""
    rgb = to_rgb(image)
    h, w = rgb.shape[:2]
    box = resolve_region(region, w, h)
    key = (hashlib.blake2b(np.ascontiguousarray(rgb).data, digest_size=16).hexdigest(), box, lang)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    result = _run(rgb, box, lang)
    with _cache_lock:
        _cache[key] = result
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return result


def _run(rgb: np.ndarray, box, lang: str) -> OcrResult:
    import pytesseract

    if lang not in _checked:
        _check_installed(lang)
        _checked.add(lang)
    ox, oy = (box[0], box[1]) if box else (0, 0)
    crop = rgb[box[1]: box[1] + box[3], box[0]: box[0] + box[2]] if box else rgb
    prepared, scale = preprocess(crop)
    t0 = time.perf_counter()
    stats["tesseract_calls"] += 1
    try:
        data = pytesseract.image_to_data(prepared, lang=lang, config=f"--psm {PSM}", output_type=pytesseract.Output.DICT)
    except pytesseract.TesseractError as e:
        raise OcrUnavailable(f"Tesseract failed: {e}") from None
    lines: dict[tuple, list[OcrWord]] = {}
    for i, raw in enumerate(data["text"]):
        text = (raw or "").strip()
        if not text:
            continue
        conf = float(data["conf"][i])
        x = int(data["left"][i] / scale) + ox
        y = int(data["top"][i] / scale) + oy
        ww = max(1, int(round(data["width"][i] / scale)))
        hh = max(1, int(round(data["height"][i] / scale)))
        lines.setdefault((data["block_num"][i], data["par_num"][i], data["line_num"][i]), []).append(
            OcrWord(normalize(text), (x, y, ww, hh), conf)
        )
    out = []
    for words in lines.values():
        words = [wd for wd in words if wd.text]
        if not words:
            continue
        x0 = min(wd.box[0] for wd in words)
        y0 = min(wd.box[1] for wd in words)
        x1 = max(wd.box[0] + wd.box[2] for wd in words)
        y1 = max(wd.box[1] + wd.box[3] for wd in words)
        out.append(OcrLine(join_words(words), (x0, y0, x1 - x0, y1 - y0),
                           sum(wd.confidence for wd in words) / len(words), words))
    out.sort(key=lambda l: (l.box[1], l.box[0]))
    return OcrResult(out, round((time.perf_counter() - t0) * 1000, 1), box)


def join_words(words: list[OcrWord]) -> str:
    """Words -> line text: no space between CJK neighbours, one between Latin words."""
    return "".join(_joined(words)[0])


def _joined(words: list[OcrWord]) -> tuple[list[str], list[int]]:
    """Pieces of the line text and, per character, the index of its word (-1 = space)."""
    pieces: list[str] = []
    owner: list[int] = []
    for i, wd in enumerate(words):
        if pieces and not (is_cjk(pieces[-1][-1]) or is_cjk(wd.text[0])):
            pieces.append(" ")
            owner.append(-1)
        pieces.append(wd.text)
        owner.extend([i] * len(wd.text))
    return pieces, owner

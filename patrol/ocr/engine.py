"""Tesseract OCR of browser/app screenshots (Simplified Chinese and English).

``read(image, region=None, lang="chi_sim+eng")`` returns an ``OcrResult``: normalised
text, lines and words with boxes in the *original image's* pixels.

Preprocessing and segmentation were chosen by measurement on a corpus of real
Chromium screenshots: every page of the demo bank at 1280x800 (scale 1) and on a
390x844 phone (scale 3), and a dense banking page in light and dark mode; 347
labels whose DOM boxes are known (``benchmarks/ocr.py --corpus`` reproduces it,
with switches for the alternatives). A label counts as read when ``find`` matches
it with its centre on the label. With everything below: 97.1% (337/347) of the
labels on full screens, and 160/160 read from small regions around them (the
label padded by 8 CSS px; ``--regions 10``).

1. Alpha is ignored (screenshots are opaque); the grey scale is luma, after 2.
2. Coloured backgrounds: Tesseract reads dark text on a light page. Flat
   coloured or dark areas carrying text (a red header or button, a dark-mode
   card, a toast) are found as whole rectangles and repainted as "how far is
   each pixel from the area's colour": background white, text dark, whatever
   the colours (inverting the grey would leave red text on a dark card, grey 61
   on 30, without contrast). Two passes, so a white pill inside a red header
   (dark after the first) comes back right. An area is the largest connected
   patch of one *colour* (a slate toast over a red card are two areas though
   their greys are close; where boxes overlap the smaller wins), and must
   surround its text (most of its box's outline is its colour), which keeps big
   bold glyphs from being taken for backgrounds. Repainting whole rectangles
   rather than the pixels under a blurred "dark background" mask avoids the dark
   fringes such a mask leaves along button edges, which made Tesseract drop
   button labels.
3. Background flattening: divide by a morphological closing (the page with the
   text removed), so grey-on-light-grey text gets full contrast, then a gamma of
   1.5 to darken thin anti-aliased grey strokes (the 12 px grey captions).
   Without the gamma 93.9% of the corpus is read; with 2, 96.0%, and bold labels
   in small regions clog (日期 read as nothing; 157/160 regions).
4. Thin long rules are painted out: the border of an outline button, input
   boxes, table rules. Tesseract takes a label boxed in by a border for a picture
   and drops it (绑定银行卡 on an outline button was never read without this).
5. Upscale: screenshots at device scale 1 are enlarged 2x with INTER_CUBIC (at
   12-14 px chi_sim misses glyphs; at 24-28 px it reads them: 93.9% at 1x, 97.1%
   at 2x, 94.8% at 3x and slower); screenshots at a high device scale
   (phone-shaped and >= 600 px wide, or wider than 1700 px) are read as they are.
   A region is scaled like the screenshot it comes from (3x on small regions:
   158/160, no better).
6. ``--psm 11`` (sparse text) for screens: UI text is scattered labels, not
   paragraphs. ``--psm 3`` (automatic) read 93.4%, ``--psm 6`` (one block)
   96.0% and runs the labels of different columns into one line. A region at
   most ~100 CSS px high (a label, a line or two) is read with ``--psm 6``
   (160/160 against 151/160 with ``--psm 11``, which read a lone ``账号`` as
   ``o = |``).
7. With ``chi_sim+eng`` Tesseract sometimes prefers the English model on small
   Chinese text and returns garbage (总资产 -> ``BAM``, 随时可赎回 -> ``REBT ATE``).
   Latin-only words below 85% confidence are read again with ``chi_sim`` alone,
   all of them in one extra Tesseract call (~0.2 s, only when there are any),
   and the more confident reading is kept: 92.8% -> 97.1%. Real English words on
   the corpus scored 83-96, the garbage 0-81. Lone punctuation below 50% is
   dropped (sparse mode sees a "。" in the gap between two menu items).
8. ``OMP_THREAD_LIMIT=1`` (unless already set): on a 2-core machine one
   Tesseract thread is about three times as fast as its default OpenMP threads
   (0.9 s vs 2.6 s for a 2x-upscaled 1280x800 screen, under load), and several
   journeys read screens at once anyway.
9. Tesseract runs in this process through its C API (``patrol.ocr.tess``): its
   models are loaded once per process instead of once per call (0.2 s of the
   0.4 s a 400x120 region took by the command line), with the same words.
10. Tesseract's second reading of weak lines inverted (``tessedit_do_invert``) is
   off: after 2. the text is dark on light, and the corpus reads the same without
   it (337/347; 159/160 regions, as the command line reads them today), 10-20%
   sooner.

The tuning above is an ``OcrSettings`` (immutable, passed to ``read``;
``DEFAULT_SETTINGS`` is what the robot uses): the benchmark measures alternatives
by passing other settings, never by changing this module.

Results are cached per (pixels of the region, region, lang, scale, settings) in a
small LRU, so each screenshot is read once however many checks ask; and, when
``read`` is given a ``store`` (``patrol.ocr.cache``), on disk, keyed by the
region's pixels, the engine and language versions and the preprocessing, so the
same pixels are read once across runs.
"""

from __future__ import annotations

import functools
import shutil
import threading
import time
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass, field

import cv2
import numpy as np

from ..core.geometry import Box, Region
from ..core.jsontypes import JsonObject
from ..errors import RobotError
from . import tess
from .cache import OcrStore, Word, pixel_digest
from .normalize import fold_space, is_cjk, is_punct, normalize_chars

CACHE_SIZE = 32
DEFAULT_LANG = "chi_sim+eng"
APT_PACKAGES = "tesseract-ocr tesseract-ocr-chi-sim tesseract-ocr-eng"


@dataclass(frozen=True)
class OcrSettings:
    """How screens are prepared and read (the numbers in the module docstring)."""

    psm: int = 11  # page segmentation for screens: sparse text
    psm_small: int = 6  # for a region a few lines high: --psm 11 misreads a lone short label
    small_region_height: int = 100  # CSS px: up to this a region is "a few lines"
    remove_rules: bool = True
    gamma: float = 1.5  # after background flattening; 1 = none
    upscale: float = 2.0  # for screenshots at device scale 1 (high-density ones are read as they are)
    reread_suspects: bool = True  # read weak Latin words again with the CJK model alone
    suspect_confidence: float = 85.0
    phantom_confidence: float = 50.0  # lone punctuation below this is dropped
    invert_retry: bool = False  # Tesseract's second reading of weak lines inverted: the text is dark on light already

    def tesseract_variables(self) -> dict[str, str]:
        """Tesseract's ``-c`` settings these settings imply."""
        return {"tessedit_do_invert": "1" if self.invert_retry else "0"}

    def scale_for(self, width: int, height: int) -> float:
        """Upscale factor for a screenshot of this size (see ``auto_scale``)."""
        return auto_scale(width, height, self.upscale)


DEFAULT_SETTINGS = OcrSettings()


class OcrUnavailable(RobotError):
    """Tesseract or its language data is missing: the robot cannot read screens."""

    reason = "ocr_unavailable"


@dataclass(frozen=True)
class OcrWord:
    """One word as Tesseract segmented it (for CJK often one glyph), normalised."""

    text: str
    box: Box
    confidence: float  # 0-100, Tesseract's word confidence


@dataclass
class OcrLine:
    """One line of text. ``text`` is its words joined: no space between CJK
    glyphs (or CJK and punctuation), one space between Latin words, a space
    between CJK and Latin/digits only where there is a gap, and one space
    wherever the words stand visibly apart on screen (two labels on a row)."""

    text: str
    box: Box
    confidence: float  # mean of the words'
    words: list[OcrWord] = field(default_factory=list)
    # For each character of ``text``: (index of its word, start, end) as a fraction
    # of that word's box width; (-1, 0, 0) for a joining space.
    char_spans: list[tuple[int, float, float]] = field(default_factory=list, repr=False, compare=False)

    def span_box(self, start: int, end: int) -> Box:
        """Box of ``text[start:end]`` in image pixels: the union of the word boxes
        it covers, a partly covered word cut in proportion to its characters'
        widths (full-width glyphs count double)."""
        if not self.char_spans or end <= start:
            return self.box
        x0 = y0 = float("inf")
        x1 = y1 = float("-inf")
        for wi, a, b in self.char_spans[max(0, start):min(end, len(self.char_spans))]:
            if wi < 0:
                continue
            x, y, w, h = self.words[wi].box
            x0, x1 = min(x0, x + w * a), max(x1, x + w * b)
            y0, y1 = min(y0, y), max(y1, y + h)
        if x0 == float("inf"):
            return self.box
        ix0, iy0 = int(round(x0)), int(round(y0))
        return Box(ix0, iy0, max(1, int(round(x1)) - ix0), max(1, int(round(y1)) - iy0))


@dataclass
class OcrResult:
    lines: list[OcrLine]
    duration_ms: float  # time spent preparing the image and running Tesseract
    region: Box | None = None  # the region read, in image pixels (None: whole image)
    scale: float = 1.0  # the upscale factor used

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)

    @property
    def words(self) -> list[OcrWord]:
        return [w for line in self.lines for w in line.words]

    def to_evidence(self) -> JsonObject:
        """JSON-able: the text read and each line's box (for reports and findings)."""
        return {
            "text": self.text,
            "region": list(self.region) if self.region else None,
            "lines": [
                {"text": ln.text, "box": list(ln.box), "confidence": round(ln.confidence, 1)} for ln in self.lines
            ],
            "duration_ms": self.duration_ms,
        }


# ---------------------------------------------------------------- availability

_checked: set[str] = set()
_check_lock = threading.Lock()


def check_available(lang: str = DEFAULT_LANG) -> None:
    """Raise ``OcrUnavailable`` unless Tesseract runs and has every language of ``lang``."""
    if lang in _checked:
        return
    with _check_lock:
        if tess.backend() == "library":
            # In process: the library is loaded, and a language is a file where Tesseract
            # looks for it; no `tesseract --list-langs` (and no pytesseract) on every run.
            _require([part for part in lang.split("+") if part and tess.language_file(part) is None])
            _checked.add(lang)
            return
        import pytesseract

        cmd = pytesseract.pytesseract.tesseract_cmd
        if shutil.which(cmd) is None:
            raise OcrUnavailable(
                f"Tesseract ({cmd!r}) is not installed, so the robot cannot read the screen; "
                f"install it with: apt-get install {APT_PACKAGES}"
            )
        try:
            available = set(pytesseract.get_languages(config=""))
        except Exception as e:
            raise OcrUnavailable(f"Tesseract does not run ({e}); reinstall it with: apt-get install {APT_PACKAGES}") from None
        _require([part for part in lang.split("+") if part and part not in available])
        _checked.add(lang)


def _require(missing: list[str]) -> None:
    if missing:
        pkgs = " ".join(f"tesseract-ocr-{m.replace('_', '-').lower()}" for m in missing)
        raise OcrUnavailable(
            f"Tesseract has no language data for {', '.join(missing)}; install it with: apt-get install {pkgs}"
        )


# ---------------------------------------------------------------- image input


def to_rgb(image: np.ndarray | bytes | bytearray | memoryview) -> np.ndarray:
    """PNG (or any image OpenCV decodes) bytes, or an RGB/RGBA/grey uint8 array ->
    an RGB or grey uint8 array (alpha dropped)."""
    if isinstance(image, (bytes, bytearray, memoryview)):
        buf = np.frombuffer(bytes(image), np.uint8)
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR) if buf.size else None
        if img is None:
            raise ValueError("OCR: the image bytes are not a PNG/JPEG image")
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    if not isinstance(image, np.ndarray):
        raise TypeError(f"OCR: expected PNG bytes or a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"OCR: expected a uint8 image, got {image.dtype}")
    if image.ndim == 3 and image.shape[2] in (3, 4):
        return image[..., :3]
    if image.ndim == 2:
        return image
    raise ValueError(f"OCR: expected an HxW, HxWx3 or HxWx4 image, got shape {image.shape}")


def clip_region(region: Box | None, width: int, height: int) -> Box | None:
    """The part of ``region`` (pixels) inside the image; an empty one is an error.
    Regions written as fractions are resolved by ``Region.resolve`` before this."""
    if region is None:
        return None
    if isinstance(region, Box):
        box = region.clip(width, height)
    else:  # a plain (x, y, w, h) tuple is pixels too (whole pixels covering it)
        box = Region.px(*region).resolve(width, height)
    if box.empty:
        raise ValueError(f"region {list(region)} is empty or outside the {width}x{height} image")
    return box


def pixel_density(width: int, height: int) -> float:
    """A guess of the device scale a screenshot was taken at, from its size alone:
    a portrait (phone) screenshot at least 600 px wide is ``width / 390`` (phones are
    360-430 CSS px wide), a landscape one wider than 1700 px ``width / 1280``, and
    anything else 1."""
    if height > width and width >= 600:
        return width / 390
    if width > 1700:
        return width / 1280
    return 1.0


def auto_scale(width: int, height: int, upscale: float = DEFAULT_SETTINGS.upscale) -> float:
    """Upscale factor for a screenshot of this size: ``upscale`` (2) at device scale 1
    (12-14 px glyphs are too small for chi_sim), 1 when the glyphs are already large."""
    return upscale if pixel_density(width, height) < 1.5 else 1.0


# ---------------------------------------------------------------- preprocessing


def _backgrounds(rgb: np.ndarray, density: float, darker_than: int) -> list[tuple[int, int, int, int, np.ndarray]]:
    """The flat areas darker than ``darker_than`` (grey level) that carry text:
    ``(x, y, w, h, colour)``. Colour, not grey, decides what belongs to an area: a
    slate toast over a red card are two areas though their greys are close."""
    h, w = rgb.shape[:2]
    f = max(2, int(round(2 * density)))  # downsampling: the median window is ~9*f px
    sw, sh = w // f, h // f
    if sw < 9 or sh < 9:
        return []
    small = cv2.medianBlur(cv2.resize(rgb, (sw, sh), interpolation=cv2.INTER_AREA), 9)
    candidates = (cv2.cvtColor(small, cv2.COLOR_RGB2GRAY) < darker_than).astype(np.uint8)
    n, labels, cstats, _ = cv2.connectedComponentsWithStats(candidates, connectivity=4)
    min_side = int(1.5 * 9 * f)  # a background is bigger than the median window
    found = []
    for i in range(1, n):
        cx, cy, cw, ch, _ = cstats[i]
        if cw * f < min_side / 2 or ch * f < min_side / 2:
            continue
        members = labels[cy:cy + ch, cx:cx + cw] == i
        patch = small[cy:cy + ch, cx:cx + cw].astype(np.int16)
        x0, y0 = max(0, (cx - 2) * f), max(0, (cy - 2) * f)
        x1, y1 = min(w, (cx + cw + 2) * f), min(h, (cy + ch + 2) * f)
        # The component may hold several areas that touch (a toast over a card):
        # take its main colour, then the main colour of what is left, and so on.
        for _ in range(3):
            if np.count_nonzero(members) * f * f < min_side * min_side / 2:
                break
            colour = np.median(patch[members], axis=0).astype(np.int16)
            members &= np.abs(patch - colour).max(axis=2) >= _TOL
            box = _area_of(rgb[y0:y1, x0:x1], colour, min_side)
            if box is not None:
                found.append((x0 + box[0], y0 + box[1], box[2], box[3], colour))
    return found


_TOL = 40  # how far (0-255, per channel) a pixel may be from its area's colour


def _area_of(win: np.ndarray, colour: np.ndarray, min_side: int) -> tuple[int, int, int, int] | None:
    """The box, in ``win``, of the largest connected patch of ``colour`` there, if
    it is a background: big, mostly filled, and surrounding its text."""
    near = (np.abs(win.astype(np.int16) - colour).max(axis=2) < _TOL).astype(np.uint8)
    m, lab, st, _ = cv2.connectedComponentsWithStats(near, connectivity=4)
    if m < 2:
        return None
    j = 1 + int(np.argmax(st[1:, cv2.CC_STAT_AREA]))
    bx, by, bw, bh, barea = st[j]
    if bw < min_side or bh < min_side or barea < 0.5 * bw * bh:
        return None
    # Most of the box's outline (a few pixels in, past rounded corners) is the
    # area's colour. The box of a bold glyph's ink is mostly paper there.
    k = max(2, min_side // 8)
    ring = lab[by + k:by + bh - k, bx + k:bx + bw - k] == j
    border = (np.count_nonzero(ring[0]) + np.count_nonzero(ring[-1])
              + np.count_nonzero(ring[:, 0]) + np.count_nonzero(ring[:, -1]))
    if border < 0.7 * 2 * (ring.shape[0] + ring.shape[1]):
        return None
    return int(bx), int(by), int(bw), int(bh)


def _repaint(rgb: np.ndarray, areas: list[tuple[int, int, int, int, np.ndarray]]) -> None:
    """Repaint each area's box, in place, as "how far from the area's colour": the
    background white, its text dark, whatever their colours (plain inversion of
    the grey would leave red text on a dark card, grey 61 on 30, without
    contrast). Where boxes overlap the smaller one wins: the toast over the card,
    the button in the panel."""
    if not areas:
        return
    original = rgb.copy()
    for x, y, w, h, colour in sorted(areas, key=lambda a: -a[2] * a[3]):
        far = np.abs(original[y:y + h, x:x + w].astype(np.int16) - colour).max(axis=2)
        rgb[y:y + h, x:x + w] = (255 - np.minimum(far, 255)).astype(np.uint8)[:, :, None]


def _remove_rules(grey: np.ndarray, density: float) -> None:
    """Paint white, in place, the thin long straight lines: borders of outline
    buttons and input boxes, table rules, underlines, chart grid lines. Tesseract
    takes a label boxed in by a border for a picture and drops it."""
    ink: np.ndarray = (grey < 170).astype(np.uint8)
    t = int(round(density)) + 1  # a rule is at most ~1 CSS px thick (anti-aliased: 2)
    thick_v: np.ndarray = cv2.morphologyEx(ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, t + 1)))
    thick_h: np.ndarray = cv2.morphologyEx(ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (t + 1, 1)))
    lh = max(20, int(round(40 * density)))
    lv = max(12, int(round(24 * density)))
    horizontal: np.ndarray = cv2.morphologyEx(ink & (1 - thick_v), cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (lh, 1)))
    vertical: np.ndarray = cv2.morphologyEx(ink & (1 - thick_h), cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, lv)))
    rules = cv2.dilate(horizontal | vertical, np.ones((3, 3), np.uint8))
    grey[rules.astype(bool)] = 255


def preprocess(rgb: np.ndarray, scale: float, density: float = 1.0, settings: OcrSettings = DEFAULT_SETTINGS) -> np.ndarray:
    """The image Tesseract gets: grey, dark text on white, upscaled by ``scale``."""
    if rgb.ndim == 3:
        rgb = np.array(rgb, dtype=np.uint8, copy=True, order="C")
    else:
        rgb = cv2.cvtColor(rgb, cv2.COLOR_GRAY2RGB)
    # First any non-white area (a red header), then what is dark after that (a
    # white pill in that header, now black).
    _repaint(rgb, _backgrounds(rgb, density, 200))
    _repaint(rgb, _backgrounds(rgb, density, 100))
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    k = max(15, int(round(25 * density)))
    closing = cv2.morphologyEx(grey, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    grey = cv2.divide(grey, closing, scale=255)
    if settings.gamma != 1.0:
        grey = cv2.LUT(grey, _gamma_table(settings.gamma))
    if settings.remove_rules:
        _remove_rules(grey, density)
    if scale != 1.0:
        grey = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    return grey


@functools.lru_cache(maxsize=8)
def _gamma_table(gamma: float) -> np.ndarray:
    return np.array([round(255 * (i / 255) ** gamma) for i in range(256)], np.uint8)


# ---------------------------------------------------------------- reading

# (crop's pixel digest, region read, lang, scale, density, settings, engine)
_Key = tuple[str, Box | None, str, float, float, OcrSettings, str]
_cache: OrderedDict[_Key, OcrResult] = OrderedDict()
_cache_lock = threading.Lock()
_inflight: dict[_Key, threading.Lock] = {}
stats = {"tesseract_calls": 0, "rapidocr_calls": 0, "cache_hits": 0, "store_hits": 0}

# The engines that read (``read(engine=...)``). ``ocr: {engine: both}`` in patrol.yaml
# is not an engine but a policy of the checks: Tesseract reads, and RapidOCR is
# asked only where Tesseract did not find the words (``engines_for``).
ENGINES = ("tesseract", "rapidocr")


def engines_for(choice: str) -> tuple[str, ...]:
    """The engines to ask, in turn, for ``ocr.engine`` = ``choice``: the second
    only when the first did not find what was looked for."""
    if choice == "both":
        return ENGINES
    if choice not in ENGINES:
        raise ValueError(f"unknown OCR engine {choice!r}; expected tesseract, rapidocr or both")
    return (choice,)


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


def warm_up(lang: str = DEFAULT_LANG, engine: str = "tesseract") -> threading.Thread | None:
    """Start loading Tesseract's models for ``lang`` (and the CJK model alone, which
    re-reads weak Latin words) in the background: call it when a journey that
    reads the screen starts, and its first read does not pay for the loading.
    ``engine`` (``ocr.engine``): ``rapidocr`` loads RapidOCR's models instead;
    ``both`` loads Tesseract's only, RapidOCR's wait for the first word Tesseract
    does not find (most runs never need them)."""
    if engine == "rapidocr":
        from . import rapid

        return rapid.preload()
    langs = [lang] + [part for part in lang.split("+") if part.startswith("chi_") and part != lang]
    return tess.preload(langs)


def read(
    image: np.ndarray | bytes,
    *,
    region: Box | None = None,
    lang: str = DEFAULT_LANG,
    scale: float | None = None,
    cache: bool = True,
    settings: OcrSettings = DEFAULT_SETTINGS,
    store: OcrStore | None = None,
    engine: str = "tesseract",
) -> OcrResult:
    """OCR a screenshot: an RGB/RGBA uint8 array or PNG bytes.

    ``region``: a ``Box`` in the image's pixels (clipped to it); only that part is
    read, and every box is still in the whole image's pixels. ``scale``: upscale
    factor, default ``settings.scale_for`` the whole image. ``store``: the
    persistent cache (``patrol.ocr.cache``) to look in before reading and to
    keep the reading in. ``cache=False`` always runs the engine and uses neither
    cache (for timing). ``engine``: ``tesseract`` or ``rapidocr`` (``patrol.ocr.rapid``;
    ``settings`` and ``lang`` tune Tesseract only, RapidOCR's model reads Chinese and
    English). Raises ``OcrUnavailable`` when the engine, its models or the language
    data are missing.
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown OCR engine {engine!r}; expected one of {', '.join(ENGINES)}")
    pixels = image if isinstance(image, np.ndarray) else _decode(image)
    to_rgb(pixels)  # checks the array's type and shape
    height, width = pixels.shape[:2]
    box = clip_region(region, width, height)
    crop = pixels[box.y: box.bottom, box.x: box.right] if box else pixels
    density = pixel_density(width, height)
    if engine == "rapidocr":
        scale = 1.0  # boxes come back in the crop's pixels; RapidOCR upscales by itself
    scale = float(settings.scale_for(width, height) if scale is None else scale)
    if not cache:
        _check_engine(engine, lang)
        return _run(to_rgb(crop), box, lang, scale, density, settings, engine)
    # The crop as given (RGBA for a step's screenshot): hashing it needs no copy.
    key: _Key = (pixel_digest(crop), box, lang, scale, density, settings, engine)
    return _read_cached(key, crop, store)


def _read_cached(key: _Key, crop: np.ndarray, store: OcrStore | None) -> OcrResult:
    """The reading for ``key``, from the memory cache, the store or the engine."""
    with _cache_lock:
        hit = _cache_get(key)
        if hit is not None:
            return hit
        pending = _inflight.setdefault(key, threading.Lock())
    # Two threads asking for the same pixels at once: the second waits for the
    # first's result instead of running Tesseract again.
    with pending:
        with _cache_lock:
            hit = _cache_get(key)
        if hit is not None:
            return hit
        try:
            result = _read_through(store, key, crop)
            with _cache_lock:
                _cache[key] = result
                while len(_cache) > CACHE_SIZE:
                    _cache.popitem(last=False)
        finally:
            with _cache_lock:
                _inflight.pop(key, None)
    return result


def _decode(image: bytes | bytearray | memoryview) -> np.ndarray:
    """PNG bytes as RGBA, decoded as a step's screenshot is (``decode_png``): the
    same pixels, so the same cache entries, whichever of the two is read."""
    from ..core.png import decode_png

    if not isinstance(image, (bytes, bytearray, memoryview)):
        raise TypeError(f"OCR: expected PNG bytes or a numpy array, got {type(image).__name__}")
    try:
        return decode_png(image)
    except ValueError:
        raise ValueError("OCR: the image bytes are not a PNG/JPEG image") from None


def _cache_get(key: _Key) -> OcrResult | None:
    """Look ``key`` up; the caller holds ``_cache_lock``."""
    hit = _cache.get(key)
    if hit is not None:
        _cache.move_to_end(key)
        stats["cache_hits"] += 1
    return hit


def _read_through(store: OcrStore | None, key: _Key, crop: np.ndarray) -> OcrResult:
    """The persistent store's reading of these pixels, or Tesseract's (then stored)."""
    t0 = time.perf_counter()
    digest, box, lang, scale, density, settings, engine = key
    if engine == "tesseract":
        name = store.key(digest, lang, f"{settings!r} scale={scale!r} density={density!r}") if store else ""
    else:
        from .rapid import engine_id, scale_for

        prep = f"density={density!r} upscale={scale_for(density)!r}"
        name = store.key(digest, lang, prep, engine=engine_id()) if store else ""
    words = store.get(name) if store else None
    if words is not None:
        stats["store_hits"] += 1
        return _result(words, box, scale, t0)
    _check_engine(engine, lang)
    words = _words_of(engine, to_rgb(crop), lang, scale, density, settings)
    if store:
        store.put(name, words)
    return _result(words, box, scale, t0)


def _tesseract_data(prepared: np.ndarray, lang: str, psm: int, settings: OcrSettings) -> tess.TsvWords:
    stats["tesseract_calls"] += 1
    variables = settings.tesseract_variables()
    if tess.backend() == "library":
        try:
            return tess.tsv_data(prepared, lang, psm, variables)
        except tess.EngineError as e:
            raise OcrUnavailable(f"{e}; install it with: apt-get install {APT_PACKAGES}") from None
    import pytesseract
    from PIL import Image

    pil = Image.fromarray(prepared)
    pil.format = "BMP"  # what pytesseract hands Tesseract: BMP is quick to write
    try:
        data: tess.TsvWords = pytesseract.image_to_data(
            pil, lang=lang, config=" ".join([f"--psm {psm}", *(f"-c {k}={v}" for k, v in variables.items())]),
            output_type=pytesseract.Output.DICT,
        )
        return data
    except pytesseract.TesseractNotFoundError:
        _checked.clear()
        raise OcrUnavailable(f"Tesseract is not installed; install it with: apt-get install {APT_PACKAGES}") from None
    except pytesseract.TesseractError as e:
        raise OcrUnavailable(f"Tesseract failed: {e.message or e}") from None


@dataclass
class _Raw:
    """A word as Tesseract returned it, in the prepared image's pixels."""

    text: str
    conf: float
    x: int
    y: int
    w: int
    h: int


# Tesseract's (page, block, paragraph, line) numbers: one line of words.
_LineKey = tuple[int, int, int, int]


def _raw_words(data: tess.TsvWords, phantom_confidence: float) -> OrderedDict[_LineKey, list[_Raw]]:
    lines: OrderedDict[_LineKey, list[_Raw]] = OrderedDict()
    for i, raw in enumerate(data["text"]):
        text = normalize_chars(raw or "").replace(" ", "")
        conf = float(data["conf"][i])
        if not text or conf < 0:
            continue
        if conf < phantom_confidence and all(is_punct(c) for c in text):
            continue  # sparse mode's phantom "。" or "|" in the gap between two labels
        key = (data["page_num"][i], data["block_num"][i], data["par_num"][i], data["line_num"][i])
        lines.setdefault(key, []).append(
            _Raw(text, conf, int(data["left"][i]), int(data["top"][i]), int(data["width"][i]), int(data["height"][i]))
        )
    return lines


def _suspect(word: _Raw, width: int, height: int, suspect_confidence: float) -> bool:
    """A word the Latin model won with little confidence: on a Chinese screen that
    is, most of the time, small Chinese text read as Latin garbage (总资产 -> BAM).
    Not text cut by the edge of the image: half a glyph reads no better (a word
    cut at its left or right end may still be mostly readable)."""
    if word.conf >= suspect_confidence or is_cjk_text(word.text):
        return False
    if word.y <= 1 or word.y + word.h >= height - 1:
        return False
    if (word.x <= 1 or word.x + word.w >= width - 1) and word.w < 1.5 * word.h:
        return False
    return any(c.isascii() and c.isalpha() for c in word.text)


def is_cjk_text(text: str) -> bool:
    return any(is_cjk(c) for c in text)


def _suspect_runs(lines: OrderedDict[_LineKey, list[_Raw]], width: int, height: int,
                  suspect_confidence: float) -> list[tuple[_LineKey, int, int]]:
    """Runs of consecutive suspect words: (line key, first index, end index)."""
    runs: list[tuple[_LineKey, int, int]] = []
    for key, words in lines.items():
        i = 0
        while i < len(words):
            if _suspect(words[i], width, height, suspect_confidence):
                j = i + 1
                while j < len(words) and _suspect(words[j], width, height, suspect_confidence):
                    j += 1
                runs.append((key, i, j))
                i = j
            else:
                i += 1
    return runs


def _stack(crops: list[np.ndarray]) -> tuple[np.ndarray, list[tuple[int, int]], int]:
    """The crops one under the other on a white canvas: (canvas, each crop's rows, gap)."""
    gap = max(c.shape[0] for c in crops)
    width = max(c.shape[1] for c in crops) + 2 * gap
    height = sum(c.shape[0] + gap for c in crops) + gap
    canvas = np.full((height, width), 255, np.uint8)
    bands = []
    y = gap
    for c in crops:
        canvas[y:y + c.shape[0], gap:gap + c.shape[1]] = c
        bands.append((y, y + c.shape[0]))
        y += c.shape[0] + gap
    return canvas, bands, gap


def _reread_suspects(prepared: np.ndarray, lines: OrderedDict[_LineKey, list[_Raw]], lang: str,
                     settings: OcrSettings) -> None:
    """Read again, with the CJK model alone, every run of suspect words, all in one
    Tesseract call (the runs stacked on one canvas), and keep the more confident
    reading of each run. Changes ``lines`` in place."""
    cjk = [part for part in lang.split("+") if part.startswith("chi_")]
    if not cjk or cjk == lang.split("+"):
        return
    H, W = prepared.shape
    runs = _suspect_runs(lines, W, H, settings.suspect_confidence)
    if not runs:
        return
    crops, places, spans = [], [], []
    for key, i, j in runs:
        line, words = lines[key], lines[key][i:j]
        x0, y0 = min(w.x for w in words), min(w.y for w in words)
        x1, y1 = max(w.x + w.w for w in words), max(w.y + w.h for w in words)
        spans.append((x0, x1))
        pad = max(4, (y1 - y0) // 3)
        # Pad, but not into the neighbouring words (they would be read twice).
        left = line[i - 1].x + line[i - 1].w if i > 0 else 0
        right = line[j].x if j < len(line) else W
        x0, x1 = max(0, min(x0, max(left, x0 - pad))), min(W, max(x1, min(right, x1 + pad)))
        y0, y1 = max(0, y0 - pad), min(H, y1 + pad)
        crops.append(prepared[y0:y1, x0:x1])
        places.append((x0, y0))
    canvas, bands, gap = _stack(crops)
    again: list[list[_Raw]] = [[] for _ in crops]
    for words in _raw_words(_tesseract_data(canvas, "+".join(cjk), 6, settings), settings.phantom_confidence).values():
        for w in words:
            mid = w.y + w.h / 2
            k = next((k for k, (a, b) in enumerate(bands) if a <= mid < b), None)
            if k is None:
                continue
            (px, py), (a, _) = places[k], bands[k]
            word = _Raw(w.text, w.conf, w.x - gap + px, w.y - a + py, w.w, w.h)
            if spans[k][0] <= word.x + word.w / 2 <= spans[k][1]:
                again[k].append(word)
    # Replace from the last run backwards so earlier indices stay valid.
    for k in range(len(runs) - 1, -1, -1):
        key, i, j = runs[k]
        new = sorted(again[k], key=lambda w: w.x)
        old = lines[key][i:j]
        if new and is_cjk_text("".join(w.text for w in new)):
            if sum(w.conf for w in new) / len(new) > sum(w.conf for w in old) / len(old):
                lines[key][i:j] = new


def _read_words(crop: np.ndarray, lang: str, scale: float, density: float,
                settings: OcrSettings) -> list[list[Word]]:
    """Tesseract's lines of words of an RGB/grey crop, boxes in the crop's pixels."""
    prepared = preprocess(crop, scale, density, settings)
    psm = settings.psm_small if crop.shape[0] <= settings.small_region_height * density else settings.psm
    raw_lines = _raw_words(_tesseract_data(prepared, lang, psm, settings), settings.phantom_confidence)
    if settings.reread_suspects:
        _reread_suspects(prepared, raw_lines, lang, settings)
    return [
        [(w.text, int(round(w.x / scale)), int(round(w.y / scale)),
          max(1, int(round(w.w / scale))), max(1, int(round(w.h / scale))), w.conf) for w in words]
        for words in raw_lines.values() if words
    ]


def _result(words: list[list[Word]], box: Box | None, scale: float, t0: float) -> OcrResult:
    """The reading as lines, moved from the crop's pixels to the image's."""
    ox, oy = (box.x, box.y) if box else (0, 0)
    lines = [make_line([OcrWord(t, Box(x + ox, y + oy, w, h), c) for t, x, y, w, h, c in line]) for line in words]
    return OcrResult(lines, round((time.perf_counter() - t0) * 1000, 1), box, scale)


def _run(crop: np.ndarray, box: Box | None, lang: str, scale: float, density: float, settings: OcrSettings,
         engine: str = "tesseract") -> OcrResult:
    t0 = time.perf_counter()
    return _result(_words_of(engine, crop, lang, scale, density, settings), box, scale, t0)


def _check_engine(engine: str, lang: str) -> None:
    if engine == "tesseract":
        check_available(lang)
        return
    from . import rapid

    try:
        rapid.model_paths()
    except tess.EngineError as e:
        raise OcrUnavailable(str(e)) from None


def _words_of(engine: str, crop: np.ndarray, lang: str, scale: float, density: float,
              settings: OcrSettings) -> list[list[Word]]:
    """The engine's lines of words of an RGB/grey crop, boxes in the crop's pixels."""
    if engine == "tesseract":
        return _read_words(crop, lang, scale, density, settings)
    from . import rapid

    stats["rapidocr_calls"] += 1
    try:
        return rapid.read_words(crop, density)
    except tess.EngineError as e:
        raise OcrUnavailable(str(e)) from None


# ---------------------------------------------------------------- lines


def _char_width(ch: str) -> float:
    if unicodedata.east_asian_width(ch) in ("W", "F"):
        return 1.0
    if ch in ",.:;'!|()[]{}\"`·-" or ch.isspace():
        return 0.3
    return 0.55


def make_line(words: list[OcrWord]) -> OcrLine:
    """Join a line's words into its text (see ``OcrLine``) and record, per
    character, where in which word box it lies. Words must be left to right."""
    heights = sorted(w.box[3] for w in words)
    height = heights[len(heights) // 2]
    parts: list[str] = []
    spans: list[tuple[int, float, float]] = []
    for i, word in enumerate(words):
        if i:
            prev = words[i - 1]
            gap = word.box[0] - (prev.box[0] + prev.box[2])
            left, right = prev.text[-1], word.text[0]
            if gap > 0.6 * height and not (is_punct(left) or is_punct(right)):
                space = True  # visibly apart: two labels (full-width punctuation is wide, though)
            elif fold_space(left, right):  # Tesseract's gap between CJK glyphs
                space = False
            elif is_cjk(left) != is_cjk(right):  # Tesseract splits words where the script changes
                space = gap > 0.2 * height
            else:  # Latin words
                space = True
            if space:
                parts.append(" ")
                spans.append((-1, 0.0, 0.0))
        widths = [_char_width(c) for c in word.text]
        total = sum(widths) or 1.0
        acc = 0.0
        for _c, cw in zip(word.text, widths):
            spans.append((i, acc / total, (acc + cw) / total))
            acc += cw
        parts.append(word.text)
    x0 = min(w.box[0] for w in words)
    y0 = min(w.box[1] for w in words)
    x1 = max(w.box[0] + w.box[2] for w in words)
    y1 = max(w.box[1] + w.box[3] for w in words)
    conf = sum(w.confidence for w in words) / len(words)
    return OcrLine("".join(parts), Box(x0, y0, x1 - x0, y1 - y0), conf, list(words), spans)


def line_from_text(text: str, box: Box, confidence: float = 95.0) -> OcrLine:
    """A line as if Tesseract had read ``text`` in ``box``: one word per CJK glyph
    and per Latin word, laid out left to right by character width (a space in
    ``text`` is a gap). For tests and tools."""
    tokens: list[tuple[str, bool]] = []  # (word, preceded by a space)
    for n, chunk in enumerate(normalize_chars(text).split(" ")):
        cur, first = "", n > 0
        for ch in chunk:
            if is_cjk(ch):
                if cur:
                    tokens.append((cur, first))
                    cur, first = "", False
                tokens.append((ch, first))
                first = False
            else:
                cur += ch
        if cur:
            tokens.append((cur, first))
    if not tokens:
        return OcrLine("", box, confidence, [], [])
    widths = [sum(_char_width(c) for c in t) for t, _ in tokens]
    space = 0.5
    total = sum(widths) + space * sum(1 for _, sp in tokens if sp)
    x, y, w, h = box
    words, pos = [], 0.0
    for (t, sp), tw in zip(tokens, widths):
        pos += space if sp else 0.0
        wx0, wx1 = x + w * pos / total, x + w * (pos + tw) / total
        words.append(OcrWord(t, Box(int(round(wx0)), y, max(1, int(round(wx1 - wx0))), h), confidence))
        pos += tw
    return make_line(words)


def result_from_lines(lines: list[tuple[str, Box]]) -> OcrResult:
    """An ``OcrResult`` from ``(text, box)`` pairs: for tests and tools."""
    return OcrResult([line_from_text(t, b) for t, b in lines], 0.0)


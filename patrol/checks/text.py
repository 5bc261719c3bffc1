"""Text a person reads, by OCR (it sees canvas, images and what is actually painted):

- ``expect: {text: [...]}`` words that must be on screen (fuzzy: one misread glyph still matches);
- ``expect: {not_text: [...]}`` words that must not be;
- the forbidden list (``forbidden_text`` in patrol.yaml and per journey) on every step.

Each takes a list, or ``{values: [...], region: [x, y, w, h] | SELECTOR}``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..journey.loader import journey_key
from ..journey.parsing import INVALID
from ..results import RENDER, Finding
from . import register
from .base import Check
from .detectors import detector_on
from .screen import read_screen

DEFAULT_FORBIDDEN = (
    "NaN", "undefined", "null", "[object Object]",
    "系统繁忙", "网络异常", "加载失败", "服务器错误", "Internal Server Error",
)
TEXT_SCHEMA = {
    "oneOf": [
        {"type": "string"},
        {"type": "array", "items": {"type": "string"}},
        {"type": "object", "required": ["values"], "additionalProperties": False,
         "properties": {"values": {"type": "array", "items": {"type": "string"}}, "region": {}}},
    ]
}
FORBIDDEN_SCHEMA = {
    "oneOf": [
        {"type": "array", "items": {"type": "string"}},
        {"type": "object", "additionalProperties": False,
         "properties": {"add": {"type": "array", "items": {"type": "string"}}, "allow": {"type": "array", "items": {"type": "string"}}}},
    ]
}


@dataclass(frozen=True)
class TextSpec:
    values: tuple[str, ...]
    region: object = None  # None, ("px"|"fraction", box) or Locator


def parse_text_spec(value, path, ctx):
    region = None
    if isinstance(value, dict):
        if ctx.mapping(value, path, {"values": "the words", "region": "[x, y, w, h] or a selector"}, ("values",)) is INVALID:
            return INVALID
        if "region" in value:
            r = value["region"]
            region = ctx.region(r, path + ("region",)) if isinstance(r, list) else ctx.locator(r, path + ("region",))
        value, path = value["values"], path + ("values",)
    values = ctx.string_list(value, path)
    if INVALID in (values, region):
        return INVALID
    if not values:
        return ctx.error(path, "give at least one text")
    return TextSpec(tuple(values), region)


def parse_forbidden(value, path, ctx):
    if isinstance(value, list):
        value = {"add": value}
    if ctx.mapping(value, path, {"add": "more forbidden text", "allow": "default entries to switch off"}) is INVALID:
        return INVALID
    add = ctx.string_list(value.get("add", []), path + ("add",))
    allow = ctx.string_list(value.get("allow", []), path + ("allow",))
    return INVALID if INVALID in (add, allow) else {"add": add, "allow": allow}


@journey_key("forbidden_text", "text that must never be on screen: a list to add, or {add: [...], allow: [...]}", FORBIDDEN_SCHEMA)
def _forbidden_key(value, path, ctx):
    return parse_forbidden(value, path, ctx)


def forbidden_list(config, journey) -> list[str]:
    """Defaults, plus/minus patrol.yaml's setting, plus/minus the journey's."""
    words = list(DEFAULT_FORBIDDEN)
    layers = []
    if config is not None:  # checked with the rest of patrol.yaml at load
        layers.append({"add": list(config.forbidden_text.add), "allow": list(config.forbidden_text.allow)})
    if journey.options.get("forbidden_text"):
        layers.append(journey.options["forbidden_text"])
    for layer in layers:
        words = [w for w in words if w not in layer["allow"]] + [w for w in layer["add"] if w not in words]
    return words


async def _region_box(sc, region):
    if region is None:
        return None
    from ..runner.redaction import boxes_for

    img = sc.evidence.image()
    boxes = await boxes_for(sc.driver, [region], img.shape[1], img.shape[0])
    return tuple(boxes[0]) if boxes else None


async def _read_where_ui_says(sc, word: str, within) -> bool:
    """Small text on a coloured card can be lost in a full-screen read. Where the UI
    tree says the words are, read that area closely; the OCR still decides, so text
    that is covered, clipped or not painted is still missing."""
    from ..ocr import find

    img = sc.evidence.image()
    h, w = img.shape[:2]
    for x, y, bw, bh in await sc.driver.text_boxes(word):
        if within and not (within[0] <= x + bw / 2 <= within[0] + within[2] and within[1] <= y + bh / 2 <= within[1] + within[3]):
            continue
        region = _padded((x, y, bw, bh), 8, w, h)
        if region[2] <= 0 or region[3] <= 0:
            continue
        if find(await read_screen(sc, region), word, exact=_exact(word)) is not None:
            return True
    return False


def _exact(word: str) -> bool:
    # Latin tokens such as NaN or null must match exactly (case, whole word) so that
    # "annulled" is not "null"; CJK phrases are matched fuzzily like a person reads.
    return word.isascii()


def _padded(box, pad: int, width: int, height: int) -> tuple[int, int, int, int]:
    """A UI element's box grown by ``pad`` and clipped to the screen (OCR wants a margin)."""
    x, y, bw, bh = box
    x0, y0 = max(0, x - pad), max(0, y - pad)
    return x0, y0, min(width, x + bw + pad) - x0, min(height, y + bh + pad) - y0


@register
class ExpectText(Check):
    name = "text"
    expect_key = "text"
    summary = "words that must be on screen (OCR, fuzzy): a list, or {values, region}"
    schema = TEXT_SCHEMA
    settle = True

    def parse(self, value, path, ctx):
        return parse_text_spec(value, path, ctx)

    async def run(self, sc, spec: TextSpec):
        from ..ocr import find

        box = await _region_box(sc, spec.region)
        # Read closely where the UI tree says the words are (fast, small areas); read
        # the whole screen (or region) only for words the tree does not know about,
        # such as text painted in a canvas or an image.
        missing = [w for w in spec.values if not await _read_where_ui_says(sc, w, box)]
        if missing:
            result = await read_screen(sc, box)
            missing = [w for w in missing if find(result, w, exact=_exact(w)) is None]
        if not missing:
            return []
        result = await read_screen(sc, box)
        where = " in the region" if box else ""
        return [
            Finding(
                kind=RENDER,
                reason="missing_text",
                message=f"expected to read {', '.join(repr(w) for w in missing)} on screen{where}, but it is not there",
                evidence={"missing": missing, "region": list(box) if box else None, "ocr_text": result.text[:1500], "url": sc.evidence.url},
            )
        ]


@register
class ExpectNotText(Check):
    name = "not_text"
    expect_key = "not_text"
    summary = "words that must not be on screen (OCR): a list, or {values, region}"
    schema = TEXT_SCHEMA

    def parse(self, value, path, ctx):
        return parse_text_spec(value, path, ctx)

    async def run(self, sc, spec: TextSpec):
        box = await _region_box(sc, spec.region)
        return await forbidden_findings(sc, spec.values, box, source="not_text")


async def forbidden_findings(sc, words, box, source: str) -> list[Finding]:
    from ..ocr import find

    result = await read_screen(sc, box)
    findings = []
    for word in words:
        match = find(result, word, exact=_exact(word))
        if match is None or (source == "forbidden_text" and not sc.first_time("forbidden_text", word)):
            continue
        findings.append(
            Finding(
                kind=RENDER,
                reason="forbidden_text",
                message=f"the screen shows {word!r}" + (f" ('{match.line}')" if match.line != word else ""),
                evidence={"text": word, "read": match.text, "score": round(match.score, 1), "box": list(match.box),
                 "line": match.line, "source": source, "url": sc.evidence.url},
            )
        )
    return findings


@register
class ForbiddenText(Check):
    """The project-wide forbidden list, on every step (each word reported once per journey)."""

    name = "forbidden_text"
    always = True
    summary = "text that must never be on screen (NaN, 系统繁忙, ...)"

    def enabled(self, sc):
        return detector_on(sc, self.name)

    async def run(self, sc, params):
        words = sc.memory.get("forbidden_words")
        if words is None:
            words = sc.memory["forbidden_words"] = forbidden_list(sc.config, sc.journey)
        if not words:
            return []
        image = sc.evidence.image()
        previous = sc.memory.get("forbidden_previous_image")
        sc.memory["forbidden_previous_image"] = image
        box = changed_area(previous, image)
        if box == "same":
            return []  # nothing new on screen: what was there was read at an earlier step
        regions = await guided_regions(sc, words, box)
        if regions is None:
            return await forbidden_findings(sc, words, box, source="forbidden_text")
        findings = []
        for region in regions:
            findings += await forbidden_findings(sc, words, region, source="forbidden_text")
        return findings


async def guided_regions(sc, words, changed):
    """Where to read, when the UI tree can say: elements whose text holds a forbidden
    word, and elements whose words are only pixels (canvas, images). Reading a few
    small areas closely is faster and more accurate than the whole screen; the OCR
    still decides. None: no UI tree, read the (changed part of the) screen."""
    pictures = await sc.driver.picture_boxes()
    if pictures is None:
        return None
    boxes = list(pictures)
    for word in words:
        boxes += await sc.driver.text_boxes(word)
    img = sc.evidence.image()
    h, w = img.shape[:2]
    out = []
    for box in boxes:
        region = x0, y0, rw, rh = _padded(box, 6, w, h)
        x1, y1 = x0 + rw, y0 + rh
        if rw < 8 or rh < 8:
            continue
        if changed and (x1 < changed[0] or x0 > changed[0] + changed[2] or y1 < changed[1] or y0 > changed[1] + changed[3]):
            continue  # unchanged since the previous step: already read there
        if region not in out:
            out.append(region)
    return out


# Reading only what changed since the previous step keeps OCR off most steps of a
# form (typing changes one field); a change bigger than this share reads the screen.
CHANGED_SHARE_FOR_FULL_READ = 0.4
CHANGE_PADDING = 24


def changed_area(previous, image):
    """"same", a padded (x, y, w, h) box around what changed, or None for the whole screen."""
    from ..visual.compare import compare

    if previous is None or previous.shape != image.shape:
        return None
    result = compare(previous, image, threshold=0.05, include_aa=True)
    if result.identical or result.diff_pixels == 0:
        return "same"
    h, w = image.shape[:2]
    x0 = min(c.x for c in result.clusters)
    y0 = min(c.y for c in result.clusters)
    x1 = max(c.x + c.width for c in result.clusters)
    y1 = max(c.y + c.height for c in result.clusters)
    x0, y0 = max(0, x0 - CHANGE_PADDING), max(0, y0 - CHANGE_PADDING)
    x1, y1 = min(w, x1 + CHANGE_PADDING), min(h, y1 + CHANGE_PADDING)
    if (x1 - x0) * (y1 - y0) > CHANGED_SHARE_FOR_FULL_READ * w * h:
        return None
    return (x0, y0, x1 - x0, y1 - y0)

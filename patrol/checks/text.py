"""Text a person reads, by OCR (it sees canvas, images and what is actually painted):

- ``expect: {text: [...]}`` words that must be on screen (fuzzy: one misread glyph still matches);
- ``expect: {not_text: [...]}`` words that must not be;
- the forbidden list (``forbidden_text`` in patrol.yaml and per journey) on every step.

Each takes a list, or ``{values: [...], region: [x, y, w, h] | SELECTOR}``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Literal

from ..causes import Cause
from ..config.sections import ForbiddenTextConfig
from ..core.geometry import Box, Region
from ..core.jsontypes import JsonObject
from ..core.png import png_dimensions
from ..core.vocabulary import Kind, Reason
from ..journey.loader import journey_key
from ..journey.model import Locator
from ..journey.parsing import INVALID, Invalid, ParseContext
from ..results import Finding
from . import register
from .base import Check, Verdict, parsed_as
from .detectors import detector_on
from .screen import boxes_for, read_screen, read_screen_again

if TYPE_CHECKING:
    import numpy as np

    from .. import yamlpos
    from ..config import Config
    from ..journey.model import Journey
    from ..step.evidence import StepContext

DEFAULT_FORBIDDEN = (
    "NaN", "undefined", "null", "[object Object]",
    "系统繁忙", "网络异常", "加载失败", "服务器错误", "Internal Server Error",
)
TEXT_SCHEMA: JsonObject = {
    "oneOf": [
        {"type": "string"},
        {"type": "array", "items": {"type": "string"}},
        {"type": "object", "required": ["values"], "additionalProperties": False,
         "properties": {"values": {"type": "array", "items": {"type": "string"}}, "region": {}}},
    ]
}
FORBIDDEN_SCHEMA: JsonObject = {
    "oneOf": [
        {"type": "array", "items": {"type": "string"}},
        {"type": "object", "additionalProperties": False,
         "properties": {"add": {"type": "array", "items": {"type": "string"}}, "allow": {"type": "array", "items": {"type": "string"}}}},
    ]
}


@dataclass(frozen=True)
class TextSpec:
    values: tuple[str, ...]
    region: Region | Locator | None = None


def parse_text_spec(value: object, path: yamlpos.Path, ctx: ParseContext) -> TextSpec | Invalid:
    region: Region | Locator | Invalid | None = None
    if isinstance(value, dict):
        spec = ctx.mapping(value, path, {"values": "the words", "region": "[x, y, w, h] or a selector"}, ("values",))
        if isinstance(spec, Invalid):
            return INVALID
        if "region" in spec:
            r = spec["region"]
            region = ctx.region(r, path + ("region",)) if isinstance(r, list) else ctx.locator(r, path + ("region",))
        value, path = spec["values"], path + ("values",)
    values: list[str] | Invalid = ctx.string_list(value, path)
    if isinstance(values, Invalid) or isinstance(region, Invalid):
        return INVALID
    if not values:
        return ctx.error(path, "give at least one text")
    return TextSpec(tuple(values), region)


def parse_forbidden(value: object, path: yamlpos.Path, ctx: ParseContext) -> ForbiddenTextConfig | Invalid:
    if isinstance(value, list):
        value = {"add": value}
    layer = ctx.mapping(value, path, {"add": "more forbidden text", "allow": "default entries to switch off"})
    if isinstance(layer, Invalid):
        return INVALID
    add: list[str] | Invalid = ctx.string_list(layer.get("add", []), path + ("add",))
    allow: list[str] | Invalid = ctx.string_list(layer.get("allow", []), path + ("allow",))
    if isinstance(add, Invalid) or isinstance(allow, Invalid):
        return INVALID
    return ForbiddenTextConfig(add=tuple(add), allow=tuple(allow))


@journey_key("forbidden_text", "text that must never be on screen: a list to add, or {add: [...], allow: [...]}", FORBIDDEN_SCHEMA)
def _forbidden_key(value: object, path: yamlpos.Path, ctx: ParseContext) -> ForbiddenTextConfig | Invalid:
    return parse_forbidden(value, path, ctx)


def forbidden_list(config: Config | None, journey: Journey) -> list[str]:
    """Defaults, plus/minus patrol.yaml's setting, plus/minus the journey's."""
    words = list(DEFAULT_FORBIDDEN)
    layers: list[ForbiddenTextConfig] = []
    if config is not None:
        layers.append(config.settings.forbidden_text)
    journey_layer = journey.option("forbidden_text", ForbiddenTextConfig)
    if journey_layer is not None:
        layers.append(journey_layer)
    for layer in layers:
        words = [w for w in words if w not in layer.allow] + [w for w in layer.add if w not in words]
    return words


async def _region_box(sc: StepContext, region: Region | Locator | None) -> Box | None:
    if region is None:
        return None
    width, height = _screen_size(sc)
    boxes = await boxes_for(sc.driver, [region], width, height)
    return boxes[0] if boxes else None


def _screen_size(sc: StepContext) -> tuple[int, int]:
    png = sc.evidence.screenshot_png
    size = png_dimensions(png) if png is not None else None
    if size is None:  # not a PNG header we know: ask the decoder
        img = sc.evidence.image()
        return (0, 0) if img is None else (int(img.shape[1]), int(img.shape[0]))
    return size


async def _word_boxes(sc: StepContext, words: Sequence[str]) -> list[list[Box]]:
    """Where the UI tree says each word is, asked all at once."""
    return await sc.driver.text_boxes_each(words)


def _centre_within(box: Box, within: Box | None) -> bool:
    if within is None:
        return True
    cx, cy = box.x + box.w / 2, box.y + box.h / 2
    return within.x <= cx <= within.right and within.y <= cy <= within.bottom


async def _read_where_ui_says(sc: StepContext, word: str, within: Box | None, hints: Sequence[Box]) -> bool:
    """Small text on a coloured card can be lost in a full-screen read. Where the UI
    tree said the words are (``hints``), read that area closely; the OCR still decides,
    so text that is covered, clipped or not painted is still missing."""
    from ..ocr.match import find

    w, h = _screen_size(sc)
    for raw in hints:
        box = Box(*raw)
        if not _centre_within(box, within):
            continue
        region = box.pad(8, w, h)  # OCR wants a margin around the words
        if region.empty:
            continue
        if find(await read_screen(sc, region), word, exact=_exact(word)) is not None:
            return True
    return False


def _exact(word: str) -> bool:
    # Latin tokens such as NaN or null must match exactly (case, whole word) so that
    # "annulled" is not "null"; CJK phrases are matched fuzzily like a person reads.
    return word.isascii()


@register
class ExpectText(Check):
    name = "text"
    order = 1
    expect_key = "text"
    summary = "words that must be on screen (OCR, fuzzy): a list, or {values, region}"
    schema = TEXT_SCHEMA
    settle = True

    def parse(self, value: object, path: yamlpos.Path, ctx: ParseContext) -> TextSpec | Invalid:
        return parse_text_spec(value, path, ctx)

    async def look(self, sc: StepContext, params: object) -> Verdict:
        spec = parsed_as(params, TextSpec)
        box = await _region_box(sc, spec.region)
        return partial(self.judge, sc, spec, box, await _word_boxes(sc, spec.values))

    async def judge(self, sc: StepContext, spec: TextSpec, box: Box | None, hints: list[list[Box]]) -> list[Finding]:
        from ..ocr.match import find

        # Read closely where the UI tree says the words are (fast, small areas); read
        # the whole screen (or region) only for words the tree does not know about,
        # such as text painted in a canvas or an image.
        missing = [w for w, at in zip(spec.values, hints) if not await _read_where_ui_says(sc, w, box, at)]
        if missing:
            result = await read_screen(sc, box)
            missing = [w for w in missing if find(result, w, exact=_exact(w)) is None]
        if missing:  # ocr.engine both: RapidOCR reads what Tesseract did not find
            again = await read_screen_again(sc, box)
            if again is not None:
                missing = [w for w in missing if find(again, w, exact=_exact(w)) is None]
        if not missing:
            return []
        result = await read_screen(sc, box)
        where = " in the region" if box else ""
        return [
            Finding(
                kind=Kind.RENDER,
                reason=Reason.MISSING_TEXT,
                message=f"expected to read {', '.join(repr(w) for w in missing)} on screen{where}, but it is not there",
                evidence={"missing": missing, "region": list(box) if box else None, "ocr_text": result.text[:1500],
                          "url": sc.evidence.url},
            )
        ]


@register
class ExpectNotText(Check):
    name = "not_text"
    order = 2
    expect_key = "not_text"
    summary = "words that must not be on screen (OCR): a list, or {values, region}"
    schema = TEXT_SCHEMA

    def parse(self, value: object, path: yamlpos.Path, ctx: ParseContext) -> TextSpec | Invalid:
        return parse_text_spec(value, path, ctx)

    async def look(self, sc: StepContext, params: object) -> Verdict:
        spec = parsed_as(params, TextSpec)
        box = await _region_box(sc, spec.region)
        return partial(forbidden_findings, sc, spec.values, box, "not_text")


async def forbidden_findings(sc: StepContext, words: Sequence[str], box: Box | None,
                             source: Literal["not_text", "forbidden_text"]) -> list[Finding]:
    from ..ocr.match import find

    result = await read_screen(sc, box)
    findings = []
    for word in words:
        match = find(result, word, exact=_exact(word))
        if match is None or (source == "forbidden_text" and not sc.first_time("forbidden_text", word)):
            continue
        findings.append(
            Finding(
                kind=Kind.RENDER,
                reason=Reason.FORBIDDEN_TEXT,
                message=f"the screen shows {word!r}" + (f" ('{match.line}')" if match.line != word else ""),
                evidence={"text": word, "read": match.text, "score": round(match.score, 1), "box": list(match.box),
                          "line": match.line, "source": source, "url": sc.evidence.url},
                # The message the app showed is the cause (the forbidden word, not the OCR's reading of its line).
                cause=Cause.of_app_message(word),
            )
        )
    return findings


@register
class ForbiddenText(Check):
    """The project-wide forbidden list, on every step (each word reported once per journey)."""

    name = "forbidden_text"
    always = True
    summary = "text that must never be on screen (NaN, 系统繁忙, ...)"

    def enabled(self, sc: StepContext) -> bool:
        return detector_on(sc, self.name)

    async def look(self, sc: StepContext, params: object) -> list[Finding] | Verdict:
        memory = sc.memory
        if memory.forbidden_words is None:
            memory.forbidden_words = forbidden_list(sc.config, sc.journey)
        words = memory.forbidden_words
        if not words or sc.evidence.screenshot_png is None:
            return []
        pictures, word_boxes = await sc.driver.picture_and_text_boxes(words)
        hints = None if pictures is None else [Box(*b) for b in pictures] + [b for at in word_boxes for b in at]
        return partial(self.judge, sc, words, hints)

    async def judge(self, sc: StepContext, words: list[str], hints: list[Box] | None) -> list[Finding]:
        memory = sc.memory
        image = await asyncio.to_thread(sc.evidence.image)
        if image is None:
            return []
        previous, memory.previous_image = memory.previous_image, image
        box = await asyncio.to_thread(changed_area, previous, image)
        if box == "same":
            return []  # nothing new on screen: what was there was read at an earlier step
        if hints is None:
            return await forbidden_findings(sc, words, box, source="forbidden_text")
        regions = guided_regions(sc, hints, box)
        await _read_areas(sc, regions)
        findings = []  # judged in order: which area reports a word first stays the same
        for region in regions:
            findings += await forbidden_findings(sc, words, region, source="forbidden_text")
        return findings


async def _read_areas(sc: StepContext, regions: list[Box]) -> None:
    """OCR ``regions`` (kept on the step's evidence): one at a time while the journey
    still acts (a core left to the browser), the rest at once when it is done
    (Tesseract works outside the GIL)."""
    todo = list(regions)
    while todo:
        if sc.memory.steps_done:
            await asyncio.gather(*(read_screen(sc, region) for region in todo))
            return
        await read_screen(sc, todo.pop(0))


def guided_regions(sc: StepContext, hints: Sequence[Box], changed: Box | None) -> list[Box]:
    """Where to read, as the UI tree said: elements whose text holds a forbidden word,
    and elements whose words are only pixels (canvas, images). Reading a few small
    areas closely is faster and more accurate than the whole screen; the OCR still
    decides. Areas outside what changed since the previous step were read there."""
    w, h = _screen_size(sc)
    out: list[Box] = []
    for box in hints:
        region = box.pad(6, w, h)
        if region.w < 8 or region.h < 8:
            continue
        if changed and (region.right < changed.x or region.x > changed.right
                        or region.bottom < changed.y or region.y > changed.bottom):
            continue  # unchanged since the previous step: already read there
        if region not in out:
            out.append(region)
    return out


# Reading only what changed since the previous step keeps OCR off most steps of a
# form (typing changes one field); a change bigger than this share reads the screen.
CHANGED_SHARE_FOR_FULL_READ = 0.4
CHANGE_PADDING = 24


def changed_area(previous: np.ndarray | None, image: np.ndarray) -> Box | Literal["same"] | None:
    """"same", a padded box around what changed, or None for the whole screen."""
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
    box = Box(x0, y0, x1 - x0, y1 - y0).pad(CHANGE_PADDING, w, h)
    if box.w * box.h > CHANGED_SHARE_FOR_FULL_READ * w * h:
        return None
    return box

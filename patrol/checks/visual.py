"""``expect: {visual: NAME}`` — compare the step's (settled, redacted) screenshot
with the approved baseline.

Tolerances have units: ``color_tolerance`` is pixelmatch's YIQ threshold (0-1,
default 0.1); ``area_tolerance`` is how much may differ, a count ``"120px"`` or a
share ``"0.2%"`` (default 0). Masks hide what legitimately changes: selectors, or
``[x, y, w, h]`` regions in pixels or as fractions 0-1 of the screen.

``level`` (``visual/levels.py``): ``strict`` compares pixels, ``layout`` the boxes of
the page's elements, ``content`` their text and structure; ``dynamic: true`` masks
dates, times, amounts, counters and IDs wherever they are. The page's elements are
read once with the screenshot (one page call) and stored next to the baseline.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from ..core.geometry import Box
from ..core.jsontypes import json_list
from ..core.layout import ScreenLayout
from ..core.png import png_dimensions
from ..core.vocabulary import Kind, Reason
from ..journey.parsing import INVALID, Invalid, ParseContext
from ..results import Finding
from ..secrets import MASKER
from ..visual.baselines import BaselineStore, Environment
from ..visual.levels import MatchLevel
from ..visual.tolerance import AreaTolerance, parse_area_tolerance, within_tolerance
from . import register
from .base import Check, Verdict, parsed_as
from .screen import Area, boxes_for, parse_areas

if TYPE_CHECKING:
    import numpy as np

    from .. import yamlpos
    from ..config import Config
    from ..step.evidence import StepContext
    from ..visual.compare import Comparison
    from ..visual.shift import Labeller, Shift

KEYS = {
    "baseline": "baseline name",
    "mask": "selectors or [x, y, w, h] regions to ignore",
    "color_tolerance": "YIQ threshold 0-1 (default 0.1)",
    "area_tolerance": "differing area allowed: '120px' or '0.2%' (default 0)",
    "level": "strict (pixels, default) | layout (element boxes) | content (text and structure)",
    "dynamic": "mask dates, times, amounts, counters and IDs wherever they are (default false)",
}


@dataclass(frozen=True)
class VisualSpec:
    baseline: str
    mask: tuple[Area, ...] = ()
    color_tolerance: float = 0.1
    area_tolerance: AreaTolerance = AreaTolerance("px", 0.0)
    area_text: str = "0px"
    level: MatchLevel = MatchLevel.STRICT
    dynamic: bool = False


def baseline_store(config: Config) -> BaselineStore:
    return BaselineStore(config.baselines_dir)


@register
class Visual(Check):
    name = "visual"
    expect_key = "visual"
    settle = True  # the runner waits for a still screen before the screenshot
    order = 10  # after the other checks: a new baseline is only taken from a clean screen
    summary = "compare with an approved baseline screenshot"
    schema = {
        "oneOf": [
            {"type": "string"},
            {
                "type": "object",
                "required": ["baseline"],
                "additionalProperties": False,
                "properties": {
                    "baseline": {"type": "string"},
                    "mask": {"type": "array"},
                    "color_tolerance": {"type": "number", "minimum": 0, "maximum": 1},
                    "area_tolerance": {"type": ["string", "integer"]},
                    "level": {"enum": [lv.value for lv in MatchLevel]},
                    "dynamic": {"type": "boolean"},
                },
            },
        ]
    }

    def parse(self, value: object, path: yamlpos.Path, ctx: ParseContext) -> VisualSpec | Invalid:
        if isinstance(value, str):
            baseline: str | Invalid = ctx.string(value, path)
            return INVALID if isinstance(baseline, Invalid) else VisualSpec(baseline)
        spec = ctx.mapping(value, path, KEYS, ("baseline",))
        if isinstance(spec, Invalid):
            return INVALID
        name: str | Invalid = ctx.string(spec["baseline"], path + ("baseline",))
        mask = parse_areas(spec.get("mask", []), path + ("mask",), ctx)
        colour: float | Invalid = ctx.number(spec.get("color_tolerance", 0.1), path + ("color_tolerance",), minimum=0, maximum=1)
        area_raw = spec.get("area_tolerance", 0)
        area: AreaTolerance | Invalid
        try:
            area = parse_area_tolerance(area_raw)
        except ValueError as e:
            area = ctx.error(path + ("area_tolerance",), f"{e}; write a pixel count like '120px' or a share like '0.2%'")
        level: str | Invalid = ctx.choice(spec.get("level", MatchLevel.STRICT.value), path + ("level",), [lv.value for lv in MatchLevel])
        dynamic: bool | Invalid = ctx.boolean(spec.get("dynamic", False), path + ("dynamic",))
        if isinstance(name, Invalid) or isinstance(mask, Invalid) or isinstance(colour, Invalid) or isinstance(area, Invalid) \
                or isinstance(level, Invalid) or isinstance(dynamic, Invalid):
            return INVALID
        area_text = str(area_raw) if "area_tolerance" in spec else "0px"
        return VisualSpec(name, tuple(mask), float(colour), area, area_text, MatchLevel(level), bool(dynamic))

    async def look(self, sc: StepContext, params: object) -> list[Finding] | Verdict:
        spec = parsed_as(params, VisualSpec)
        png = sc.evidence.screenshot_png
        if png is None:
            return []
        env = Environment(**(await sc.driver.environment()))
        size = png_dimensions(png)
        boxes = await boxes_for(sc.driver, spec.mask, *size) if spec.mask and size is not None else []
        # The elements on screen, read with the screenshot (the page moves on while the
        # verdict is reached): the match levels, dynamic masks and the words of a block a
        # shift brought in. What redaction painted over leaves no text here either.
        layout = await sc.driver.screen_layout()
        if layout is not None:
            layout = layout.without_text_in([Box(*b) for b in json_list(sc.report, "redacted") if isinstance(b, list)])
        return partial(self.judge, sc, spec, png, env, boxes, layout)

    async def judge(self, sc: StepContext, spec: VisualSpec, png: bytes, env: Environment, mask_boxes: list[Box],
                    layout: ScreenLayout | None = None) -> list[Finding]:
        journey = sc.journey
        store = baseline_store(sc.config)
        device = journey.device.name
        base_path = store.path(journey.name, spec.baseline, device)
        info: dict[str, object] = {"baseline": spec.baseline, "device": device, "file": str(base_path), "environment": env.to_dict()}
        sc.report["visual"] = info
        layout_json = MASKER.mask(layout.to_json()) if layout is not None else None
        if layout_json is not None:  # kept with the run, so approving the screen keeps its layout too
            step = sc.step
            info["layout"] = sc.artifacts.write(
                sc.artifacts.step_file(sc.journey_dir, step.index, f"{step.key}-layout", ".json"), layout_json.encode())
        if spec.level is not MatchLevel.STRICT:
            info["level"] = spec.level.value
        if spec.dynamic:
            info["dynamic"] = True
        baseline_png = _baseline_to_compare(sc, spec, store, env, png, info, layout_json)
        if baseline_png is None:
            return []
        stored = store.load_layout(journey.name, spec.baseline, device)
        layouts = Layouts(ScreenLayout.from_json(stored) if stored else None, layout)
        return await _compare(sc, spec, baseline_png, png, info, mask_boxes, layouts)


def _baseline_to_compare(sc: StepContext, spec: VisualSpec, store: BaselineStore, env: Environment, png: bytes,
                         info: dict[str, object], layout_json: str | None = None) -> bytes | None:
    """The approved baseline to compare with, or None when there is nothing to
    compare (baselines being updated, a first run, another environment): then
    ``info["status"]`` says why."""
    journey, device = sc.journey, sc.journey.device.name
    if sc.options.update_baselines:
        store.save(journey.name, spec.baseline, device, png, env, layout_json)
        info["status"] = "updated"
        return None
    loaded = store.load(journey.name, spec.baseline, device)
    if loaded is None:
        if sc.findings:
            # Never make a broken screen the reference every later run is judged by.
            info["status"] = "not_stored"
            info["why"] = ["the step had findings, so its screen was not kept as the new baseline"]
            return None
        # A first run has nothing to compare with: keep this screen as the baseline
        # to approve, and say so; it is not a failure of the app.
        store.save(journey.name, spec.baseline, device, png, env, layout_json)
        info["status"] = "new"
        return None
    baseline_png, baseline_env = loaded
    if baseline_env is not None and (why := baseline_env.mismatch(env)):
        info["status"] = "environment_mismatch"
        info["why"] = why
        return None  # not the app's fault: the patrol machine changed; re-approve the baseline
    return baseline_png


@dataclass(frozen=True)
class Layouts:
    """The elements on the baseline (as stored when it was approved) and on this screen."""

    baseline: ScreenLayout | None = None
    actual: ScreenLayout | None = None

    @property
    def both(self) -> bool:
        return self.baseline is not None and self.actual is not None


async def _compare(sc: StepContext, spec: VisualSpec, baseline_png: bytes, png: bytes, info: dict[str, object],
                   mask_boxes: list[Box] | None = None, layouts: Layouts | None = None) -> list[Finding]:
    """``mask_boxes``: the mask's pixels as ``look`` saw them; None asks the driver now."""
    from ..visual import compare as cmp
    from ..visual.levels import dynamic_boxes

    layouts = layouts or Layouts()
    # Decoding and comparing are CPU work (a quarter second for a changed
    # screen): off the event loop, so the other journeys' browsers keep moving.
    image = await asyncio.to_thread(sc.evidence.image)
    assert image is not None  # there is a screenshot (checked by the caller)
    h, w = image.shape[:2]
    if mask_boxes is None:
        mask_boxes = await boxes_for(sc.driver, spec.mask, w, h) if spec.mask else []
    # Dynamic text is masked where it is on this screen and where it was on the baseline
    # (carried along by a shift, below).
    dynamic_here = dynamic_boxes(layouts.actual) if spec.dynamic else []
    dynamic_there = dynamic_boxes(layouts.baseline) if spec.dynamic else []
    if dynamic_here or dynamic_there:
        info["dynamic_masks"] = [[b.x, b.y, b.w, b.h] for b in dynamic_here]
    pixel_boxes = mask_boxes + dynamic_here + dynamic_there
    pixel_mask = cmp.mask_from_boxes(w, h, pixel_boxes) if pixel_boxes else None
    result = await asyncio.to_thread(cmp.compare, baseline_png, png, threshold=spec.color_tolerance, mask=pixel_mask)
    info.update(diff_pixels=result.diff_pixels, diff_ratio=round(result.diff_ratio, 6))
    if mask_boxes:  # where the comparison did not look (the console draws them over the pictures)
        info["masks"] = [[b.x, b.y, b.w, b.h] for b in mask_boxes]
    if result.identical or within_tolerance(result, spec.area_tolerance):
        info["status"] = "match"
        return []
    shift = None
    if not result.size_mismatch:
        here = cmp.mask_from_boxes(w, h, mask_boxes + dynamic_here) if mask_boxes or dynamic_here else None
        there = cmp.mask_from_boxes(w, h, dynamic_there) if dynamic_there else None
        shift = await asyncio.to_thread(_shift, spec, result, baseline_png, image, here, there)
    level_changes = _level_changes(spec, layouts, shift, info)
    if level_changes is not None and not level_changes:
        info["status"] = "match"  # the pixels differ, but not in what this level compares
        return []
    info["status"] = "diff"
    step = sc.step
    base_rel = sc.artifacts.step_file(sc.journey_dir, step.index, f"{step.key}-baseline", ".png")
    diff_rel = sc.artifacts.step_file(sc.journey_dir, step.index, f"{step.key}-diff", ".png")
    sc.artifacts.write(base_rel, baseline_png)
    sc.artifacts.write(diff_rel, await asyncio.to_thread(cmp.diff_png, image, result))
    labels = await _block_labels(sc, shift, layouts, baseline_png) if shift is not None else {}
    if level_changes:
        message = _level_message(spec, level_changes)
    elif shift is not None:
        message = _shift_message(spec, shift, lambda box, side: labels.get((box, side), ""))
    else:
        message = await _diff_message(spec, result, baseline_png, image)
    evidence = _diff_evidence(spec, result, base_rel, diff_rel, level_changes, shift, labels)
    return [Finding(kind=Kind.RENDER, reason=Reason.VISUAL_DIFF, message=message, evidence=evidence)]


def _diff_evidence(spec: VisualSpec, result: Comparison, base_rel: str, diff_rel: str, level_changes: list[str] | None,
                   shift: Shift | None, labels: dict[tuple[Box, str], str]) -> dict[str, object]:
    """The visual_diff finding's evidence: the pictures, the counts, and the shift as blocks."""
    evidence: dict[str, object] = {
        "baseline": spec.baseline,
        "diff_pixels": result.diff_pixels,
        "diff_ratio": round(result.diff_ratio, 6),
        "color_tolerance": spec.color_tolerance,
        "area_tolerance": spec.area_text,
        "clusters": [c.__dict__ for c in result.clusters[:10]],
        "images": [
            {"label": "baseline", "path": base_rel},
            {"label": "actual", "path": None},  # filled with the step screenshot by the runner
            {"label": "diff", "path": diff_rel},
        ],
    }
    if spec.level is not MatchLevel.STRICT:
        evidence["level"] = spec.level.value
        evidence["changes"] = level_changes or []
    if shift is not None:
        moved = shift.to_dict()
        # The blocks as one annotated change (the compare view draws these): what appeared,
        # went or moved, with its words.
        moved["blocks"] = [
            {"kind": p.kind, "side": p.side, "x": p.box.x, "y": p.box.y, "width": p.box.w, "height": p.box.h,
             "dy": p.dy, "text": labels.get((p.box, p.side), ""), "blank": p.blank}
            for p in shift.story if p.box is not None]
        evidence["shift"] = moved
    return evidence


def _level_changes(spec: VisualSpec, layouts: Layouts, shift: Shift | None, info: dict[str, object]) -> list[str] | None:
    """What differs at the spec's level ([]: nothing, the screen matches), or None for
    ``strict``, where the pixels decide. Without the elements of both screens (a
    baseline approved before layouts were kept, an app screen) ``layout`` compares as
    ``strict`` and ``content`` accepts a shift that explains every changed pixel."""
    from ..visual.levels import content_changes, layout_changes

    if spec.level is MatchLevel.STRICT:
        return None
    if layouts.baseline is not None and layouts.actual is not None:
        if spec.level is MatchLevel.LAYOUT:
            return layout_changes(layouts.baseline, layouts.actual)
        return content_changes(layouts.baseline, layouts.actual, dynamic=spec.dynamic)
    info["level_note"] = ("the baseline has no layout stored with it (approve it again to keep one)"
                          if layouts.actual is not None else "this screen's elements are not knowable here")
    if spec.level is MatchLevel.CONTENT and shift is not None and not shift.inserted and not shift.removed \
            and within_tolerance(shift.residual, spec.area_tolerance):
        return []
    return None


def _level_message(spec: VisualSpec, changes: list[str]) -> str:
    from ..visual.levels import summary

    if spec.level is MatchLevel.LAYOUT:
        what = summary(changes, "element(s) moved, resized, new or gone")
        return f"the layout differs from baseline '{spec.baseline}' (level layout): {what}"
    what = summary(changes, "text or structure change(s)")
    return f"the content differs from baseline '{spec.baseline}' (level content): {what}"


async def _block_labels(sc: StepContext, shift: Shift, layouts: Layouts, baseline_png: bytes) -> dict[tuple[Box, str], str]:
    """What each block of the shift says: the page's text inside it, else OCR of its pixels
    (an app screen, a banner drawn as an image). A few blocks at most."""
    from ..core.png import decode_png
    from ..ocr.engine import read
    from ..visual.levels import text_in
    from .screen import ocr_lang, ocr_store, read_screen

    labels: dict[tuple[Box, str], str] = {}
    baseline_image: np.ndarray | None = None
    for p in [p for p in shift.story if p.box is not None and not p.blank][:3]:
        assert p.box is not None
        said = text_in(layouts.actual if p.side == "actual" else layouts.baseline, p.box)
        if not said:
            try:
                if p.side == "actual":
                    said = (await read_screen(sc, p.box)).text
                else:
                    if baseline_image is None:
                        baseline_image = await asyncio.to_thread(decode_png, baseline_png)
                    said = (await asyncio.to_thread(read, baseline_image, region=p.box, lang=ocr_lang(sc.config),
                                                    store=ocr_store(sc.config))).text
            except Exception:  # the words are a courtesy: no OCR, no words, the same finding
                said = ""
            said = " ".join(said.split())
            said = said if len(said) <= 60 else said[:59] + "…"
        labels[(p.box, p.side)] = MASKER.mask(said)
    return labels


def _shift(spec: VisualSpec, result: Comparison, baseline_png: bytes, image: np.ndarray,
           mask: np.ndarray | None, baseline_mask: np.ndarray | None = None) -> Shift | None:
    """The layout shift behind the difference, when one explains most of it."""
    from ..core.png import decode_png
    from ..visual.shift import find_shift

    shift = find_shift(decode_png(baseline_png), image, threshold=spec.color_tolerance, mask=mask,
                       baseline_mask=baseline_mask)
    return shift if shift is not None and shift.explains(result) else None


def _shift_message(spec: VisualSpec, shift: Shift, label: Labeller | None = None) -> str:
    rest = shift.residual
    message = f"looks different from baseline '{spec.baseline}': {shift.describe(label)}"
    if rest.diff_pixels:
        where = ", ".join(f"{c.width}x{c.height} at ({c.x},{c.y})" for c in rest.clusters[:3])
        message += (f"; besides the shift, {rest.diff_pixels} pixels ({rest.diff_ratio:.2%}) changed in "
                    f"{len(rest.clusters)} area(s), e.g. {where}")
    return f"{message}; allowed {spec.area_text}"


async def _diff_message(spec: VisualSpec, result: Comparison, baseline_png: bytes, image: np.ndarray) -> str:
    from ..core.png import decode_png, png_dimensions

    h, w = image.shape[:2]
    if result.size_mismatch:
        size = png_dimensions(baseline_png)
        if size is None:
            base_h, base_w = (await asyncio.to_thread(decode_png, baseline_png)).shape[:2]
        else:
            base_w, base_h = size
        return f"the screen is {w}x{h} but baseline '{spec.baseline}' is {base_w}x{base_h}"
    where = ", ".join(f"{c.width}x{c.height} at ({c.x},{c.y})" for c in result.clusters[:3])
    return (
        f"looks different from baseline '{spec.baseline}': {result.diff_pixels} pixels "
        f"({result.diff_ratio:.2%}) changed in {len(result.clusters)} area(s), e.g. {where}; "
        f"allowed {spec.area_text}"
    )

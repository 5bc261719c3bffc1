"""``expect: {visual: NAME}`` — compare the step's (settled, redacted) screenshot
with the approved baseline.

Tolerances have units: ``color_tolerance`` is pixelmatch's YIQ threshold (0-1,
default 0.1); ``area_tolerance`` is how much may differ, a count ``"120px"`` or a
share ``"0.2%"`` (default 0). Masks hide what legitimately changes: selectors, or
``[x, y, w, h]`` regions in pixels or as fractions 0-1 of the screen.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from ..core.geometry import Box
from ..core.png import png_dimensions
from ..core.vocabulary import Kind, Reason
from ..journey.parsing import INVALID, Invalid, ParseContext
from ..results import Finding
from ..visual.baselines import BaselineStore, Environment
from ..visual.tolerance import AreaTolerance, parse_area_tolerance, within_tolerance
from . import register
from .base import Check, Verdict
from .screen import Area, boxes_for, parse_areas

if TYPE_CHECKING:
    import numpy as np

    from ..config import Config
    from ..step.evidence import StepContext
    from ..visual.compare import Comparison
    from ..visual.shift import Shift

KEYS = {
    "baseline": "baseline name",
    "mask": "selectors or [x, y, w, h] regions to ignore",
    "color_tolerance": "YIQ threshold 0-1 (default 0.1)",
    "area_tolerance": "differing area allowed: '120px' or '0.2%' (default 0)",
}


@dataclass(frozen=True)
class VisualSpec:
    baseline: str
    mask: tuple[Area, ...] = ()
    color_tolerance: float = 0.1
    area_tolerance: AreaTolerance = AreaTolerance("px", 0.0)
    area_text: str = "0px"


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
                },
            },
        ]
    }

    def parse(self, value: Any, path: tuple[Any, ...], ctx: ParseContext) -> VisualSpec | Invalid:
        if isinstance(value, str):
            name = ctx.string(value, path)
            return INVALID if isinstance(name, Invalid) else VisualSpec(name)
        if isinstance(ctx.mapping(value, path, KEYS, ("baseline",)), Invalid):
            return INVALID
        name = ctx.string(value["baseline"], path + ("baseline",))
        mask = parse_areas(value.get("mask", []), path + ("mask",), ctx)
        colour = ctx.number(value.get("color_tolerance", 0.1), path + ("color_tolerance",), minimum=0, maximum=1)
        area_raw = value.get("area_tolerance", 0)
        area: AreaTolerance | Invalid
        try:
            area = parse_area_tolerance(area_raw)
        except ValueError as e:
            area = ctx.error(path + ("area_tolerance",), f"{e}; write a pixel count like '120px' or a share like '0.2%'")
        if isinstance(name, Invalid) or isinstance(mask, Invalid) or isinstance(colour, Invalid) or isinstance(area, Invalid):
            return INVALID
        return VisualSpec(name, tuple(mask), float(colour), area, str(area_raw))

    async def look(self, sc: StepContext, spec: VisualSpec) -> list[Finding] | Verdict:
        png = sc.evidence.screenshot_png
        if png is None:
            return []
        env = Environment(**(await sc.driver.environment()))
        size = png_dimensions(png)
        boxes = await boxes_for(sc.driver, spec.mask, *size) if spec.mask and size is not None else []
        return partial(self.judge, sc, spec, png, env, boxes)

    async def judge(self, sc: StepContext, spec: VisualSpec, png: bytes, env: Environment, mask_boxes: list[Box]) -> list[Finding]:
        journey = sc.journey
        store = baseline_store(sc.config)
        device = journey.device.name
        base_path = store.path(journey.name, spec.baseline, device)
        info: dict[str, Any] = {"baseline": spec.baseline, "device": device, "file": str(base_path), "environment": env.to_dict()}
        sc.report["visual"] = info
        baseline_png = _baseline_to_compare(sc, spec, store, env, png, info)
        if baseline_png is None:
            return []
        return await _compare(sc, spec, baseline_png, png, info, mask_boxes)


def _baseline_to_compare(sc: StepContext, spec: VisualSpec, store: BaselineStore, env: Environment, png: bytes,
                         info: dict[str, Any]) -> bytes | None:
    """The approved baseline to compare with, or None when there is nothing to
    compare (baselines being updated, a first run, another environment): then
    ``info["status"]`` says why."""
    journey, device = sc.journey, sc.journey.device.name
    if sc.options.update_baselines:
        store.save(journey.name, spec.baseline, device, png, env)
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
        store.save(journey.name, spec.baseline, device, png, env)
        info["status"] = "new"
        return None
    baseline_png, baseline_env = loaded
    if baseline_env is not None and (why := baseline_env.mismatch(env)):
        info["status"] = "environment_mismatch"
        info["why"] = why
        return None  # not the app's fault: the patrol machine changed; re-approve the baseline
    return baseline_png


async def _compare(sc: StepContext, spec: VisualSpec, baseline_png: bytes, png: bytes, info: dict[str, Any],
                   mask_boxes: list[Box] | None = None) -> list[Finding]:
    """``mask_boxes``: the mask's pixels as ``look`` saw them; None asks the driver now."""
    from ..visual import compare as cmp

    # Decoding and comparing are CPU work (a quarter second for a changed
    # screen): off the event loop, so the other journeys' browsers keep moving.
    image = await asyncio.to_thread(sc.evidence.image)
    assert image is not None  # there is a screenshot (checked by the caller)
    h, w = image.shape[:2]
    if mask_boxes is None:
        mask_boxes = await boxes_for(sc.driver, spec.mask, w, h) if spec.mask else []
    mask = cmp.mask_from_boxes(w, h, mask_boxes) if mask_boxes else None
    result = await asyncio.to_thread(cmp.compare, baseline_png, png, threshold=spec.color_tolerance, mask=mask)
    info.update(diff_pixels=result.diff_pixels, diff_ratio=round(result.diff_ratio, 6))
    if mask_boxes:  # where the comparison did not look (the console draws them over the pictures)
        info["masks"] = [[b.x, b.y, b.w, b.h] for b in mask_boxes]
    if result.identical or within_tolerance(result, spec.area_tolerance):
        info["status"] = "match"
        return []
    info["status"] = "diff"
    step = sc.step
    base_rel = sc.artifacts.step_file(sc.journey_dir, step.index, f"{step.key}-baseline", ".png")
    diff_rel = sc.artifacts.step_file(sc.journey_dir, step.index, f"{step.key}-diff", ".png")
    sc.artifacts.write(base_rel, baseline_png)
    sc.artifacts.write(diff_rel, await asyncio.to_thread(cmp.diff_png, image, result))
    shift = None if result.size_mismatch else await asyncio.to_thread(_shift, spec, result, baseline_png, image, mask)
    message = await _diff_message(spec, result, baseline_png, image) if shift is None else _shift_message(spec, shift)
    evidence: dict[str, Any] = {
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
    if shift is not None:
        evidence["shift"] = shift.to_dict()
    return [Finding(kind=Kind.RENDER, reason=Reason.VISUAL_DIFF, message=message, evidence=evidence)]


def _shift(spec: VisualSpec, result: Comparison, baseline_png: bytes, image: np.ndarray,
           mask: np.ndarray | None) -> Shift | None:
    """The layout shift behind the difference, when one explains most of it."""
    from ..core.png import decode_png
    from ..visual.shift import find_shift

    shift = find_shift(decode_png(baseline_png), image, threshold=spec.color_tolerance, mask=mask)
    return shift if shift is not None and shift.explains(result) else None


def _shift_message(spec: VisualSpec, shift: Shift) -> str:
    rest = shift.residual
    message = f"looks different from baseline '{spec.baseline}': {shift.describe()}"
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

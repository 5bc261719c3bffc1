"""``expect: {visual: NAME}`` — compare the step's (settled, redacted) screenshot
with the approved baseline.

Tolerances have units: ``color_tolerance`` is pixelmatch's YIQ threshold (0-1,
default 0.1); ``area_tolerance`` is how much may differ, a count ``"120px"`` or a
share ``"0.2%"`` (default 0). Masks hide what legitimately changes: selectors, or
``[x, y, w, h]`` regions in pixels or as fractions 0-1 of the screen.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from ..journey.parsing import INVALID
from ..results import RENDER, Finding
from ..visual import compare as cmp
from ..visual.baselines import BaselineStore, Environment
from . import register
from .base import Check

KEYS = {
    "baseline": "baseline name",
    "mask": "selectors or [x, y, w, h] regions to ignore",
    "color_tolerance": "YIQ threshold 0-1 (default 0.1)",
    "area_tolerance": "differing area allowed: '120px' or '0.2%' (default 0)",
}


@dataclass(frozen=True)
class VisualSpec:
    baseline: str
    mask: list = field(default_factory=list)
    color_tolerance: float = 0.1
    area_tolerance: tuple = ("px", 0.0)
    area_text: str = "0px"


def baseline_store(config) -> BaselineStore:
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

    def parse(self, value, path, ctx):
        from ..runner.redaction import parse_areas

        if isinstance(value, str):
            return VisualSpec(ctx.string(value, path))
        if ctx.mapping(value, path, KEYS, ("baseline",)) is INVALID:
            return INVALID
        name = ctx.string(value["baseline"], path + ("baseline",))
        mask = parse_areas(value.get("mask", []), path + ("mask",), ctx)
        colour = ctx.number(value.get("color_tolerance", 0.1), path + ("color_tolerance",), minimum=0, maximum=1)
        area_raw = value.get("area_tolerance", 0)
        try:
            area = cmp.parse_area_tolerance(area_raw)
        except ValueError as e:
            area = ctx.error(path + ("area_tolerance",), f"{e}; write a pixel count like '120px' or a share like '0.2%'")
        if INVALID in (name, mask, colour, area):
            return INVALID
        return VisualSpec(name, mask, float(colour), area, str(area_raw))

    async def run(self, sc, spec: VisualSpec):
        journey, step, evidence = sc.journey, sc.step, sc.evidence
        store = baseline_store(sc.config)
        env = Environment(**(await sc.driver.environment()))
        png = evidence.screenshot_png
        device = journey.device.name
        base_path = store.path(journey.name, spec.baseline, device)
        info = {"baseline": spec.baseline, "device": device, "file": str(base_path), "environment": env.to_dict()}
        sc.report["visual"] = info
        if getattr(sc.options, "update_baselines", False):
            store.save(journey.name, spec.baseline, device, png, env)
            info["status"] = "updated"
            return []
        loaded = store.load(journey.name, spec.baseline, device)
        if loaded is None:
            if sc.findings:
                # Never make a broken screen the reference every later run is judged by.
                info["status"] = "not_stored"
                info["why"] = ["the step had findings, so its screen was not kept as the new baseline"]
                return []
            # A first run has nothing to compare with: keep this screen as the baseline
            # to approve, and say so; it is not a failure of the app.
            store.save(journey.name, spec.baseline, device, png, env)
            info["status"] = "new"
            return []
        baseline_png, baseline_env = loaded
        if baseline_env is not None and (why := baseline_env.mismatch(env)):
            info["status"] = "environment_mismatch"
            info["why"] = why
            return []  # not the app's fault: the patrol machine changed; re-approve the baseline

        mask = None
        # Decoding and comparing are CPU work (a quarter second for a changed
        # screen): off the event loop, so the other journeys' browsers keep moving.
        image = await asyncio.to_thread(evidence.image)
        h, w = image.shape[:2]
        if spec.mask:
            from ..runner.redaction import boxes_for

            boxes = await boxes_for(sc.driver, spec.mask, w, h)
            mask = cmp.mask_from_regions(w, h, boxes) if boxes else None
        result = await asyncio.to_thread(cmp.compare, baseline_png, png, threshold=spec.color_tolerance, mask=mask)
        info.update(diff_pixels=result.diff_pixels, diff_ratio=round(result.diff_ratio, 6))
        if result.identical or cmp.within_tolerance(result, spec.area_tolerance):
            info["status"] = "match"
            return []
        info["status"] = "diff"
        base_rel = sc.artifacts.step_file(_dir(step, sc), step.index, f"{step.key}-baseline", ".png")
        diff_rel = sc.artifacts.step_file(_dir(step, sc), step.index, f"{step.key}-diff", ".png")
        sc.artifacts.write(base_rel, baseline_png)
        sc.artifacts.write(diff_rel, await asyncio.to_thread(cmp.diff_png, image, result))
        if result.size_mismatch:
            base_h, base_w = (await asyncio.to_thread(cmp.decode_png, baseline_png)).shape[:2]
            message = f"the screen is {w}x{h} but baseline '{spec.baseline}' is {base_w}x{base_h}"
        else:
            where = ", ".join(f"{c.width}x{c.height} at ({c.x},{c.y})" for c in result.clusters[:3])
            message = (
                f"looks different from baseline '{spec.baseline}': {result.diff_pixels} pixels "
                f"({result.diff_ratio:.2%}) changed in {len(result.clusters)} area(s), e.g. {where}; "
                f"allowed {spec.area_text}"
            )
        return [
            Finding(
                kind=RENDER,
                reason="visual_diff",
                message=message,
                evidence={
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
                },
            )
        ]


def _dir(step, sc) -> str:
    """The journey's folder inside the run (where the step screenshot went)."""
    return sc.journey_dir

"""One meaning per region (issue 14): an area written in a journey, or an element's
box from the driver, covers the same pixels in redaction, visual masks and OCR
regions. The unit is decided once, by the parser (``[0, 0, 1, 1]`` is one pixel,
``[0.0, 0.0, 0.5, 0.5]`` a quarter of the screen); nothing below guesses again.

Each path is exercised through the functions it really calls: ``boxes_for`` (every
path), then ``paint`` / ``redact_filter`` (redaction), ``mask_from_boxes`` and the
visual check's comparison (masks), ``read`` / ``clip_region`` (OCR)."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from patrol import yamlpos
from patrol.checks.screen import boxes_for
from patrol.checks.visual import VisualSpec, _compare
from patrol.core.geometry import Box, Region, Unit
from patrol.core.png import decode_png, encode_png
from patrol.journey.model import Locator
from patrol.journey.parsing import ParseContext
from patrol.ocr import engine
from patrol.runner.redaction import REDACT_COLOUR, paint, redact_filter
from patrol.step.evidence import StepEvidence
from patrol.visual.compare import mask_from_boxes

W, H = 100, 60
HAS_TESSERACT = shutil.which("tesseract") is not None


class BoxDriver:
    """Only what the region paths ask a driver: where elements are (screenshot pixels)."""

    def __init__(self, boxes: dict[str, tuple[int, int, int, int]]):
        self.boxes = boxes

    async def element_boxes(self, locators: list[Locator]) -> list[tuple[int, int, int, int]]:
        return [self.boxes[loc.value] for loc in locators if loc.value in self.boxes]


TRACKING_PIXEL = Locator("css", "#pixel")
DRIVER = BoxDriver({"#pixel": (0, 0, 1, 1)})


def parse_region(text: str) -> Region:
    """A region exactly as a journey file writes it (YAML), through the parser."""
    located = yamlpos.load(f"redact: [{text}]\n", "journey.yaml")
    ctx = ParseContext(located)
    region = ctx.region(located.data["redact"][0], ("redact", 0))
    assert isinstance(region, Region), ctx.problems
    return region


def white_png() -> bytes:
    return encode_png(np.full((H, W, 3), 255, np.uint8))


def boxes(area: Region | Locator) -> list[Box]:
    return asyncio.run(boxes_for(DRIVER, [area], W, H))


def redacted_pixels(area: Region | Locator) -> np.ndarray:
    img = decode_png(paint(white_png(), boxes(area)))
    return np.all(img == np.array(REDACT_COLOUR, np.uint8), axis=2)


def masked_pixels(area: Region | Locator) -> np.ndarray:
    return mask_from_boxes(W, H, boxes(area))


def ocr_pixels(area: Region | Locator) -> np.ndarray:
    """The pixels OCR reads for ``expect: {text: {region: ...}}``: the check's box,
    clipped by the engine exactly as ``read`` does before cropping."""
    (box,) = boxes(area)
    clipped = engine.clip_region(box, W, H)
    assert clipped is not None
    out = np.zeros((H, W), bool)
    out[clipped.y:clipped.bottom, clipped.x:clipped.right] = True
    return out


def same_everywhere(area: Region | Locator) -> np.ndarray:
    painted, masked, read = redacted_pixels(area), masked_pixels(area), ocr_pixels(area)
    assert np.array_equal(painted, masked), "redaction and the visual mask cover different pixels"
    assert np.array_equal(painted, read), "redaction and the OCR region cover different pixels"
    return painted


# ---------------------------------------------------------------- the parser decides once


def test_the_parser_decides_the_unit_from_what_was_written():
    assert parse_region("[0, 0, 1, 1]") == Region(Unit.PX, 0, 0, 1, 1)
    assert parse_region("[0.0, 0.0, 0.5, 0.5]") == Region(Unit.FRACTION, 0.0, 0.0, 0.5, 0.5)
    assert parse_region("[0, 0, 1, 0.1]").unit is Unit.FRACTION  # a decimal point says "fraction"
    assert parse_region("[10, 20, 30, 5]").unit is Unit.PX


# ---------------------------------------------------------------- same pixels on every path


def test_zero_zero_one_one_is_one_pixel_everywhere():
    pixels = same_everywhere(parse_region("[0, 0, 1, 1]"))
    assert pixels.sum() == 1 and pixels[0, 0]


def test_a_one_pixel_element_is_one_pixel_everywhere():
    """A 1x1 tracking pixel at (0, 0) must not become a full-screen ignore mask."""
    pixels = same_everywhere(TRACKING_PIXEL)
    assert pixels.sum() == 1 and pixels[0, 0]
    assert np.array_equal(pixels, same_everywhere(parse_region("[0, 0, 1, 1]")))


def test_a_fraction_region_is_the_same_quarter_everywhere():
    pixels = same_everywhere(parse_region("[0.0, 0.0, 0.5, 0.5]"))
    assert pixels.sum() == (W // 2) * (H // 2) and pixels[: H // 2, : W // 2].all()


def test_rounding_is_the_same_everywhere():
    """A third of 100 px is 33.3 px: every path covers 34 (widened outward, so a
    redaction never leaves a sliver of what it hides), none 33."""
    region = parse_region("[0.0, 0.0, 0.333, 0.5]")
    pixels = same_everywhere(region)
    assert pixels[0].sum() == 34 and pixels[:, 0].sum() == 30
    assert region.resolve(W, H) == Box(0, 0, 34, 30)


def test_regions_off_screen_are_clipped_the_same_way():
    pixels = same_everywhere(parse_region("[90, 50, 20, 20]"))
    assert pixels.sum() == 10 * 10 and pixels[50:, 90:].all()


# ---------------------------------------------------------------- through the checks' own functions


def _sc(areas: list[Any], png: bytes) -> Any:
    """The parts of a StepContext the redaction filter and the visual comparison use."""
    evidence = StepEvidence(screenshot_png=png)
    journey = SimpleNamespace(options={"redact": areas}, name="regions", device=SimpleNamespace(name="desktop"))
    return SimpleNamespace(journey=journey, step=SimpleNamespace(options={}, index=1, key="s"), driver=DRIVER,
                           report={}, evidence=evidence, findings=[], journey_dir="j", options=None)


def test_redaction_filter_paints_one_pixel_for_a_one_pixel_area():
    for area in (parse_region("[0, 0, 1, 1]"), TRACKING_PIXEL):
        sc = _sc([area], b"")
        out = asyncio.run(redact_filter(sc, white_png()))
        painted = np.all(decode_png(out) == np.array(REDACT_COLOUR, np.uint8), axis=2)
        assert painted.sum() == 1 and painted[0, 0]
        assert sc.report["redacted"] == [[0, 0, 1, 1]]


@pytest.mark.parametrize("area", [Region.px(0, 0, 1, 1), TRACKING_PIXEL], ids=["[0, 0, 1, 1]", "1x1 element"])
def test_a_one_pixel_visual_mask_cannot_hide_a_change_elsewhere(area):
    """Before issue 14 both masked the whole screen, so this check could never fail."""
    baseline = np.full((H, W, 3), 255, np.uint8)
    actual = baseline.copy()
    actual[0, 0] = (0, 0, 0)  # under the mask: ignored
    baseline_png, actual_png = encode_png(baseline), encode_png(actual)
    spec = VisualSpec("probe", mask=(area,))
    info: dict[str, Any] = {}
    assert asyncio.run(_compare(_sc([], actual_png), spec, baseline_png, actual_png, info)) == []
    assert info["status"] == "match"

    actual[30, 50] = (0, 0, 0)  # outside it: a difference
    actual_png = encode_png(actual)
    sc = _sc([], actual_png)
    sc.artifacts = SimpleNamespace(step_file=lambda d, i, k, s: f"{d}/{i:02d}-{k}{s}", write=lambda rel, data: rel)
    findings = asyncio.run(_compare(sc, spec, baseline_png, actual_png, info))
    assert [f.reason for f in findings] == ["visual_diff"] and info["diff_pixels"] == 1


@pytest.mark.skipif(not HAS_TESSERACT, reason="needs Tesseract")
def test_ocr_reads_exactly_the_region_box():
    png = white_png()
    for area in (parse_region("[0, 0, 1, 1]"), TRACKING_PIXEL, parse_region("[0.0, 0.0, 0.333, 0.5]")):
        (box,) = boxes(area)
        assert engine.read(png, region=box).region == box.clip(W, H)


# ---------------------------------------------------------------- end to end, real Chromium


@pytest.mark.skipif(shutil.which("/usr/bin/chromium") is None, reason="needs Chromium")
def test_one_pixel_region_end_to_end(patrol, bank, tmp_path: Path):
    """A journey with ``redact: [[0, 0, 1, 1]]`` and a visual mask ``[[0, 0, 1, 1]]``:
    one pixel painted, and a one-pixel change elsewhere is still a visual diff."""
    journey = tmp_path / "regions.yaml"
    journey.write_text(
        "name: regions\n"
        "base_url: http://127.0.0.1:1\n"  # --base-url below wins
        "redact: [[0, 0, 1, 1]]\n"
        "steps:\n"
        "  - name: open login page\n"
        "    goto: /login\n"
        "    expect: {visual: {baseline: page, mask: [[0, 0, 1, 1]]}}\n",
        encoding="utf-8",
    )
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"visual: {{baselines: {tmp_path / 'b'}}}\nstate: false\n", encoding="utf-8")
    first = patrol("--config", str(cfg), "run", str(journey), "--base-url", bank.url)
    assert first.code == 0, first.out + first.err
    step = first.journey("regions")["steps"][0]
    assert step["artifacts"]["redacted"] == [[0, 0, 1, 1]]
    assert step["artifacts"]["visual"]["status"] == "new"
    shot = decode_png((first.run_dir / step["screenshot"]).read_bytes())
    assert tuple(shot[0, 0]) == REDACT_COLOUR and tuple(shot[1, 1]) != REDACT_COLOUR

    stored = tmp_path / "b" / "regions" / "page.desktop.png"
    baseline = decode_png(stored.read_bytes())
    baseline[400, 640, :3] = 255 - baseline[400, 640, :3]  # one pixel far from the mask
    stored.write_bytes(encode_png(baseline))
    second = patrol("--config", str(cfg), "run", str(journey), "--base-url", bank.url)
    assert second.code == 1, json.dumps(second.report, ensure_ascii=False)[:2000]
    visual = second.journey("regions")["steps"][0]["artifacts"]["visual"]
    assert visual["status"] == "diff" and visual["diff_pixels"] == 1
    assert visual["masks"] == [[0, 0, 1, 1]]  # where it did not look, for the console to draw

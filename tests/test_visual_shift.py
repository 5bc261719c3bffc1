"""The shift-aware diff: inserted, removed and moved blocks of rows found exactly,
on synthetic screens built with NumPy, and on the demo bank's ``layout_shift``."""

from __future__ import annotations

import time

import numpy as np
import pytest
from conftest import JOURNEYS, config_with_copied_baselines

from patrol.visual.compare import compare
from patrol.visual.shift import find_shift

H, W = 800, 1280
BACKGROUND = (240, 240, 240)


def page(seed: int = 1, height: int = H) -> np.ndarray:
    """A screen like an app's: a white column on a grey background, with bars of
    text-like content (many alike rows, as in real buttons and cards) in between."""
    rng = np.random.default_rng(seed)
    img = np.empty((height, W, 4), np.uint8)
    img[..., :3] = BACKGROUND
    img[..., 3] = 255
    img[:, 160:1120, :3] = 255
    for y in range(10, height, 37):
        img[y:y + 20, 200:200 + int(rng.integers(100, 800)), :3] = rng.integers(0, 200, 3)
        img[y + 5:y + 15, 210:260, :3] = rng.integers(0, 200, 3)
    return img


def banner(rows: int, colour: tuple[int, int, int] = (200, 30, 30)) -> np.ndarray:
    b = np.empty((rows, W, 4), np.uint8)
    b[..., :3] = BACKGROUND
    b[..., 3] = 255
    b[:, 160:1120, :3] = colour
    return b


def test_an_inserted_band_is_one_block_and_the_rest_moved_unchanged():
    base = page()
    actual = np.concatenate([base[:84], banner(96), base[84:H - 96]])
    shift = find_shift(base, actual)
    assert shift is not None
    assert shift.describe() == "a 960×96 block appeared at y=84; the content below moved down 96 px unchanged"
    d = shift.to_dict()
    assert d["inserted"] == [{"x": 160, "y": 84, "width": 960, "height": 96}]
    assert d["removed"] == []
    assert d["moved"] == [{"from_y": 84, "to_y": 180, "height": H - 180, "dy": 96, "unchanged": True}]
    assert d["pushed_out"] == 96 and d["unexplained_pixels"] == 0
    assert shift.explains(compare(base, actual))


def test_a_removed_band_moves_the_content_up_and_reveals_the_bottom():
    tall = page(height=H)
    base = np.concatenate([tall[:200], banner(96), tall[200:H - 96]])
    actual = tall  # the banner gone; the page's end comes into view
    shift = find_shift(base, actual)
    assert shift is not None
    assert shift.describe().startswith("a 960×96 block disappeared from y=200; the content below moved up 96 px")
    assert [(m.from_y, m.to_y, m.dy) for m in shift.moved] == [(296, 200, -96)]
    assert shift.removed[0].y == 200 and shift.removed[0].h == 96
    assert shift.inserted == () and shift.revealed == 96
    assert shift.residual.diff_pixels == 0


def test_two_shifts_in_one_screen():
    base = page(seed=3)
    base = np.concatenate([base[:400], banner(60, (20, 90, 200)), base[400:H - 60]])
    actual = np.concatenate([base[:100], banner(40), base[100:400], base[460:], base[:20]])
    assert actual.shape == base.shape
    shift = find_shift(base, actual)
    assert shift is not None
    assert [(b.y, b.h) for b in shift.inserted] == [(100, 40)]
    assert [(b.y, b.h) for b in shift.removed] == [(400, 60)]
    assert [(m.from_y, m.to_y, m.height) for m in shift.moved][:2] == [(100, 140, 300), (460, 440, 340)]
    text = shift.describe()
    assert "a 960×40 block appeared at y=100" in text and "moved down 40 px unchanged" in text
    assert "a 960×60 block disappeared from y=400" in text and "moved up 20 px" in text


def test_a_real_change_inside_shifted_content_is_still_counted_exactly():
    base = page(seed=5)
    actual = np.concatenate([base[:84], banner(96), base[84:H - 96]]).copy()
    actual[500:510, 600:630, :3] = (0, 0, 255) if actual[500, 600, 2] != 255 else (255, 0, 0)
    original = compare(base, actual)
    shift = find_shift(base, actual)
    assert shift is not None and shift.explains(original)
    assert shift.residual.diff_pixels == 300  # 30x10, every pixel of it and nothing else
    assert [(c.x, c.y, c.width, c.height) for c in shift.residual.clusters] == [(600, 500, 30, 10)]
    assert len(shift.moved) == 1 and not shift.moved[0].unchanged  # one region, with the change inside
    assert "moved down 96 px, with changes inside" in shift.describe()
    # a mask over the change (actual screen's coordinates) hides it, as in any diff
    mask = np.zeros((H, W), bool)
    mask[495:515, 590:640] = True
    masked = find_shift(base, actual, mask=mask)
    assert masked is not None and masked.residual.diff_pixels == 0 and masked.moved[0].unchanged


def test_no_shift_when_content_changes_in_place():
    base = page(seed=7)
    actual = base.copy()
    actual[300:340, 300:700, :3] = (10, 200, 10)
    assert find_shift(base, actual) is None
    assert find_shift(base, page(seed=8)) is None  # another screen altogether
    assert find_shift(base, base[:H // 2]) is None  # different sizes


def test_a_uniform_background_makes_no_false_shift():
    """Every white row hashes alike: a box that changes colour, or a box that
    appears on an empty screen, is no move of anything."""
    blank = np.full((H, W, 4), 255, np.uint8)
    with_box = blank.copy()
    with_box[100:200, 100:400, :3] = (0, 0, 0)
    recoloured = blank.copy()
    recoloured[100:200, 100:400, :3] = (0, 0, 80)
    assert find_shift(with_box, recoloured) is None
    assert find_shift(blank, with_box) is None
    assert find_shift(with_box, blank) is None
    stripes = blank.copy()
    stripes[::2, :, :3] = 0  # a repeating pattern: equal at every even offset
    changed = stripes.copy()
    changed[400:420, :, :3] = 128
    assert find_shift(stripes, changed) is None


def test_a_pair_takes_milliseconds():
    base = page(seed=9)
    actual = np.concatenate([base[:84], banner(96), base[84:H - 96]])
    find_shift(base, actual)
    t = time.perf_counter()
    for _ in range(5):
        find_shift(base, actual)
    assert (time.perf_counter() - t) / 5 < 0.2  # ~10 ms measured; generous for a loaded machine


@pytest.fixture
def baselines(tmp_path):
    return config_with_copied_baselines(tmp_path, "\nstate: false\n")


@pytest.mark.faults("layout_shift")
def test_demo_bank_layout_shift_is_one_inserted_block_and_a_move(patrol, baselines, faulty_bank):
    p = patrol("--config", str(baselines), "run", str(JOURNEYS / "login.yaml"), "--base-url", faulty_bank.url)
    assert p.code == 1, p.out + p.err
    step = next(s for s in p.journey("login")["steps"] if s["name"] == "sign in")
    f = next(f for f in step["findings"] if f["reason"] == "visual_diff")
    shift = f["evidence"]["shift"]
    # the fault's 300px banner in the 960px column, with its 20px margin below
    assert shift["inserted"] == [{"x": 160, "y": 84, "width": 960, "height": 300}], shift
    assert [(m["dy"], m["unchanged"]) for m in shift["moved"]] == [(320, True)], shift
    assert shift["unexplained_pixels"] == 0
    # the new block's words come from the page (the DOM read with the screenshot)
    assert ("a 960×300 block appeared at y=84 ('限时活动：新客理财专享 参考年化 3.20%，1 元起投'); "
            "the content below moved down 320 px unchanged" in f["message"]), f["message"]
    assert shift["blocks"] == [{"kind": "appeared", "side": "actual", "x": 160, "y": 84, "width": 960, "height": 300,
                                "dy": 0, "text": "限时活动：新客理财专享 参考年化 3.20%，1 元起投", "blank": False}], shift
    assert f["evidence"]["diff_pixels"] > 300_000  # the exact count of the whole diff stays in the evidence


def test_the_finding_message_names_the_shift_and_counts_the_rest():
    from patrol.checks.visual import VisualSpec, _shift_message

    base = page(seed=5)
    actual = np.concatenate([base[:84], banner(96), base[84:H - 96]]).copy()
    actual[500:510, 600:630, :3] = (0, 0, 255) if actual[500, 600, 2] != 255 else (255, 0, 0)
    shift = find_shift(base, actual)
    assert shift is not None
    assert _shift_message(VisualSpec("home"), shift) == (
        "looks different from baseline 'home': a 960×96 block appeared at y=84; the content below "
        "moved down 96 px, with changes inside; besides the shift, 300 pixels (0.03%) changed in 1 area(s), "
        "e.g. 30x10 at (600,500); allowed 0px"
    )


def test_a_tall_page_of_text_lines_with_blank_rows_around_the_new_block():
    """Blank rows fit the alignment on either side of a new block: the box is still
    the block's, and a 1280x6000 page stays well under a second."""
    rng = np.random.default_rng(2)
    height = 6000
    base = np.full((height, W, 4), 255, np.uint8)
    for y in range(0, height - 14, 14):  # text-like lines, 9 rows of glyph noise each
        n = int(rng.integers(200, 1100))
        base[y:y + 9, 40:40 + n, :3] = np.where(rng.random((9, n, 1)) < 0.3, 0, 255).astype(np.uint8)
    block = np.full((150, W, 4), 255, np.uint8)
    block[10:140, 40:1200, :3] = (30, 120, 200)
    actual = np.concatenate([base[:700], block, base[700:height - 150]])
    t = time.perf_counter()
    shift = find_shift(base, actual)
    elapsed = time.perf_counter() - t
    assert shift is not None
    assert shift.describe() == "a 1160×130 block appeared at y=710; the content below moved down 150 px unchanged"
    assert shift.residual.diff_pixels == 0 and shift.pushed_out == 150
    assert elapsed < 2  # ~70 ms measured on a loaded 2-core machine


def test_a_block_moved_elsewhere_is_one_moved_block():
    base = page(seed=11)
    base = np.concatenate([base[:100], banner(100, (20, 160, 90)), base[100:H - 100]])
    actual = np.concatenate([base[:100], base[200:500], base[100:200], base[500:]])
    shift = find_shift(base, actual)
    assert shift is not None
    assert shift.describe() == ("the 960×100 block at y=100 moved down 300 px to y=400 unchanged; "
                                "300 rows at y=200 moved up 100 px unchanged")
    assert shift.inserted == () and shift.removed == ()
    assert [(m.from_y, m.to_y, m.height) for m in shift.moved] == [(100, 400, 100), (200, 100, 300)]
    assert shift.residual.diff_pixels == 0

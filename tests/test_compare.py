"""Unit tests of Patrol's image comparator on small synthetic images."""

from __future__ import annotations

import zlib

import cv2
import numpy as np
import pytest

import patrol.core.png as pngmod
import patrol.visual.compare as cmp
from patrol.core.geometry import Box, Region
from patrol.core.png import decode_png, encode_png
from patrol.visual.compare import (
    Cluster,
    compare,
    diff_image,
    diff_png,
    mask_from_boxes,
    parse_area_tolerance,
    within_tolerance,
)

WHITE = (255, 255, 255)
RED = (255, 0, 0)
YELLOW = (255, 255, 0)
MAGENTA = (255, 0, 255)


def canvas(width: int = 40, height: int = 30, colour=WHITE, channels: int = 3) -> np.ndarray:
    img = np.zeros((height, width, channels), dtype=np.uint8)
    img[..., :3] = colour
    if channels == 4:
        img[..., 3] = 255
    return img


def with_box(img: np.ndarray, x: int, y: int, w: int, h: int, colour=(0, 0, 0)) -> np.ndarray:
    out = img.copy()
    out[y : y + h, x : x + w, :3] = colour
    return out


# --------------------------------------------------------------------------
# shortcuts


def test_identical_arrays():
    a = canvas()
    c = compare(a, a.copy())
    assert c.identical and not c.size_mismatch
    assert (c.width, c.height, c.total_pixels) == (40, 30, 1200)
    assert c.diff_pixels == 0 and c.aa_pixels == 0 and c.clusters == []
    assert c.diff_mask is None and c.aa_mask is None
    assert c.diff_ratio == 0.0


def test_rgb_and_rgba_inputs_are_the_same_picture():
    rgb = with_box(canvas(), 5, 5, 4, 4, (10, 200, 30))
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    assert compare(rgb, rgba).identical
    c = compare(canvas(), rgba)
    assert c.diff_pixels == 16


def test_byte_equal_shortcut_does_not_decode(monkeypatch):
    png = encode_png(with_box(canvas(64, 48), 3, 3, 5, 5))

    def no_decode(*args, **kwargs):
        raise AssertionError("decoded although the bytes are equal")

    monkeypatch.setattr(cmp.cv2, "imdecode", no_decode)
    c = compare(png, bytes(png))
    assert c.identical
    assert (c.width, c.height) == (64, 48)
    assert c.diff_mask is None
    c = compare(bytearray(png), png)
    assert c.identical


def test_different_bytes_same_pixels_are_identical():
    img = with_box(canvas(), 3, 4, 6, 2, (40, 50, 60))
    ok, other = cv2.imencode(".png", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    png = encode_png(img)
    assert ok and other.tobytes() != png
    c = compare(png, other.tobytes())
    assert c.identical and c.diff_pixels == 0


def test_png_bytes_and_arrays_give_the_same_result():
    a = canvas(50, 40)
    b = with_box(a, 10, 10, 8, 6, (200, 30, 90))
    from_arrays = compare(a, b)
    from_bytes = compare(encode_png(a), encode_png(b))
    mixed = compare(encode_png(a), b)
    for c in (from_bytes, mixed):
        assert c.diff_pixels == from_arrays.diff_pixels == 48
        assert c.clusters == from_arrays.clusters
        assert np.array_equal(c.diff_mask, from_arrays.diff_mask)


# --------------------------------------------------------------------------
# colour delta and threshold


def test_threshold_decides_small_colour_changes():
    a = canvas()
    b = with_box(a, 0, 0, 40, 30, (250, 250, 250))  # a faint change everywhere
    assert compare(a, b).diff_pixels == 0  # below the default 0.1
    assert not compare(a, b).identical
    assert compare(a, b, threshold=0.0).diff_pixels == 1200
    # pixelmatch's maxDelta = 35215 * t^2; black vs white is 0.5053 * 255^2 = 35215 * 0.933
    black = canvas(colour=(0, 0, 0))
    assert compare(a, black, threshold=0.97).diff_pixels == 0
    assert compare(a, black, threshold=0.96).diff_pixels == 1200


@pytest.mark.parametrize("bad", [-0.1, 1.5, "0.1", None, True, float("nan")])
def test_threshold_is_validated(bad):
    with pytest.raises(ValueError, match="threshold"):
        compare(canvas(), canvas(), threshold=bad)


def test_alpha_is_blended_not_ignored():
    a = canvas(channels=4)
    b = a.copy()
    b[5:10, 5:10, 3] = 0  # fully transparent over white
    assert compare(a, b, checkerboard=False).diff_pixels == 0  # white on white
    assert compare(a, b).diff_pixels == 25  # pixelmatch 7.2.0's default checkerboard background


# --------------------------------------------------------------------------
# anti-aliasing


def _aa_pair():
    """A black | white edge; in b one pixel on the edge turns mid grey, like anti-aliasing."""
    a = canvas(10, 10)
    a[:, :5] = 0
    b = a.copy()
    b[5, 5] = (128, 128, 128)
    return a, b


def test_anti_aliased_pixels_are_not_counted_by_default():
    a, b = _aa_pair()
    c = compare(a, b)
    assert c.diff_pixels == 0 and c.aa_pixels == 1
    assert c.aa_mask[5, 5] and not c.diff_mask.any()
    assert c.clusters == []
    c = compare(a, b, include_aa=True)
    assert c.diff_pixels == 1 and c.aa_pixels == 0 and c.diff_mask[5, 5]


def test_a_solid_new_box_is_not_anti_aliasing():
    c = compare(canvas(), with_box(canvas(), 10, 10, 6, 6))
    assert c.diff_pixels == 36 and c.aa_pixels == 0


# --------------------------------------------------------------------------
# masks


def test_mask_ignores_pixels_before_counting():
    a = canvas()
    b = with_box(a, 10, 10, 6, 6)
    mask = np.zeros((30, 40), dtype=bool)
    mask[10:16, 10:13] = True  # the left half of the box
    c = compare(a, b, mask=mask)
    assert c.diff_pixels == 18
    assert c.clusters == [Cluster(13, 10, 3, 6, 18)]
    assert not c.diff_mask[mask].any()
    full = np.ones((30, 40), dtype=bool)
    c = compare(a, b, mask=full)
    assert c.diff_pixels == 0 and c.clusters == [] and not c.identical
    assert within_tolerance(c, ("px", 0))


def test_mask_must_match_the_image():
    with pytest.raises(ValueError, match="mask"):
        compare(canvas(), with_box(canvas(), 1, 1, 2, 2), mask=np.zeros((10, 10), dtype=bool))


def mask_from_regions(width, height, regions):
    """How a check builds a mask from regions written in a journey: resolved once, then boxes."""
    return mask_from_boxes(width, height, [r.resolve(width, height) for r in regions])


def test_mask_from_pixel_regions():
    m = mask_from_regions(100, 50, [Region.px(10, 20, 30, 5), Region.px(95, 45, 20, 20)])
    assert m.shape == (50, 100) and m.dtype == bool
    assert m[20:25, 10:40].all()
    assert m.sum() == 30 * 5 + 5 * 5  # the second one clipped at the corner
    assert not m[19, 10] and not m[20, 40]
    assert np.array_equal(m, mask_from_boxes(100, 50, [Box(10, 20, 30, 5), Box(95, 45, 20, 20)]))


def test_mask_from_fractional_regions():
    m = mask_from_regions(200, 100, [Region.fraction(0, 0, 1, 0.1)])  # the top tenth
    assert m[:10].all() and not m[10:].any()
    m = mask_from_regions(200, 100, [Region.fraction(0.5, 0.5, 0.25, 0.5)])
    assert m[50:100, 100:150].all() and m.sum() == 50 * 50
    m = mask_from_regions(15, 15, [Region.fraction(0.1, 0.1, 0.1, 0.1)])  # 1.5..3.0: widened to whole pixels
    assert m[1:3, 1:3].all() and m.sum() == 4
    assert not mask_from_boxes(10, 10, []).any()


def test_a_one_pixel_box_masks_one_pixel():
    """No unit guessing below the parser: a 1x1 element box at (0, 0) (a tracking
    pixel) is one pixel, never the whole screen."""
    m = mask_from_boxes(100, 50, [Box(0, 0, 1, 1)])
    assert m.sum() == 1 and m[0, 0]


@pytest.mark.parametrize("bad", [(0, 0, -5, 5), (0, 0, float("inf"), 1)])
def test_regions_reject_nonsense(bad):
    with pytest.raises(ValueError, match="region"):
        Region.px(*bad)


@pytest.mark.parametrize("bad", [(1, 2, 3), (10, 20, 30, 5), 7, "abcd"])
def test_mask_from_boxes_takes_boxes_only(bad):
    with pytest.raises(TypeError, match="Box"):
        mask_from_boxes(10, 10, [bad])


def test_mask_from_boxes_feeds_compare():
    a = canvas(100, 50)
    b = with_box(a, 0, 0, 100, 4)  # a changed clock in the header
    mask = mask_from_regions(100, 50, [Region.fraction(0, 0, 1, 0.1)])
    assert compare(a, b, mask=mask).diff_pixels == 0


# --------------------------------------------------------------------------
# clusters


def test_clusters_boxes_and_counts_biggest_first():
    a = canvas(80, 60)
    b = with_box(a, 5, 5, 4, 3)  # 12 px
    b = with_box(b, 50, 30, 10, 8)  # 80 px
    b = with_box(b, 70, 2, 1, 1)  # 1 px
    c = compare(a, b)
    assert c.diff_pixels == 93
    assert c.clusters == [Cluster(50, 30, 10, 8, 80), Cluster(5, 5, 4, 3, 12), Cluster(70, 2, 1, 1, 1)]


def test_nearby_pixels_group_into_one_cluster():
    a = canvas(60, 20)
    b = with_box(a, 10, 5, 3, 3)
    b = with_box(b, 16, 5, 3, 3)  # 3 unchanged columns between them
    c = compare(a, b)
    assert c.clusters == [Cluster(10, 5, 9, 3, 18)]  # box of the pixels, not of the dilation
    assert [cl.pixels for cl in compare(a, b, cluster_gap=2).clusters] == [9, 9]
    assert len(compare(a, b, cluster_gap=0).clusters) == 2
    b = with_box(a, 10, 5, 1, 1)
    b = with_box(b, 11, 6, 1, 1)  # diagonal neighbours touch even without a gap
    assert compare(a, b, cluster_gap=0).clusters == [Cluster(10, 5, 2, 2, 2)]


def test_clusters_at_the_image_edges():
    a = canvas(30, 20)
    b = with_box(a, 0, 0, 2, 2)
    b = with_box(b, 28, 18, 2, 2)
    c = compare(a, b)
    assert sorted((cl.x, cl.y, cl.width, cl.height, cl.pixels) for cl in c.clusters) == [
        (0, 0, 2, 2, 4),
        (28, 18, 2, 2, 4),
    ]


def test_cluster_gap_is_validated():
    with pytest.raises(ValueError, match="cluster_gap"):
        compare(canvas(), canvas(), cluster_gap=-1)


# --------------------------------------------------------------------------
# size mismatch


def test_size_mismatch_counts_everything_and_never_passes():
    a = canvas(10, 10)
    b = canvas(12, 8)
    c = compare(a, b)
    assert c.size_mismatch and not c.identical
    assert (c.width, c.height) == (12, 10)
    assert c.diff_pixels == c.total_pixels == 120 and c.diff_ratio == 1.0
    assert c.diff_mask.all() and c.clusters == [Cluster(0, 0, 12, 10, 120)]
    assert not within_tolerance(c, ("ratio", 1.0))
    assert not within_tolerance(c, ("px", 10**9))
    img = diff_image(b, c)
    assert img.shape == (10, 12, 3) and img.dtype == np.uint8
    c = compare(encode_png(a), encode_png(b))
    assert c.size_mismatch


# --------------------------------------------------------------------------
# tolerance


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120px", ("px", 120)),
        (" 120 px ", ("px", 120)),
        ("0.2%", ("ratio", 0.002)),
        ("5%", ("ratio", 0.05)),
        ("100%", ("ratio", 1.0)),
        (None, ("px", 0)),
        (0, ("px", 0)),
        ("0", ("px", 0)),
        (0.0, ("px", 0)),
        (7, ("px", 7)),
    ],
)
def test_parse_area_tolerance(value, expected):
    kind, amount = parse_area_tolerance(value)
    assert kind == expected[0]
    assert amount == pytest.approx(expected[1])


@pytest.mark.parametrize("value", ["abc", "12", "-5px", "1.5px", "150%", "", "px", "5 %%", "0.2 percent", True, -3, 1.5, [1]])
def test_parse_area_tolerance_rejects_anything_else(value):
    with pytest.raises(ValueError, match=r"tolerance"):
        parse_area_tolerance(value)


def test_parse_area_tolerance_error_says_what_is_expected():
    with pytest.raises(ValueError, match=r"120px.*0\.2%"):
        parse_area_tolerance("lots")


def test_within_tolerance():
    a = canvas(100, 10)  # 1000 px
    c = compare(a, with_box(a, 0, 0, 5, 2))  # 10 px differ
    assert c.diff_pixels == 10 and c.diff_ratio == pytest.approx(0.01)
    assert within_tolerance(c, ("px", 10))
    assert not within_tolerance(c, ("px", 9))
    assert within_tolerance(c, parse_area_tolerance("1%"))
    assert not within_tolerance(c, parse_area_tolerance("0.9%"))
    assert not within_tolerance(c, parse_area_tolerance(None))
    assert within_tolerance(compare(a, a.copy()), ("px", 0))
    with pytest.raises(ValueError):
        within_tolerance(c, ("furlongs", 1))


# --------------------------------------------------------------------------
# diff image


def test_diff_image_colours():
    a = canvas(40, 30)
    a[:, :5] = 0  # a black | white edge for an anti-aliased pixel
    b = a.copy()
    b[5, 5] = (128, 128, 128)  # anti-aliased
    b = with_box(b, 20, 12, 4, 3, (0, 0, 255))  # a real change
    c = compare(a, b)
    assert c.diff_pixels == 12 and c.aa_pixels == 1
    img = diff_image(b, c)
    assert img.shape == (30, 40, 3) and img.dtype == np.uint8
    assert tuple(img[12, 20]) == RED and tuple(img[14, 23]) == RED
    assert tuple(img[5, 5]) == YELLOW
    # a 2px magenta outline just outside the cluster's box (x 20..23, y 12..14)
    for y, x in [(10, 18), (11, 19), (10, 25), (16, 25), (15, 24), (13, 18), (13, 25), (16, 18), (12, 19)]:
        assert tuple(img[y, x]) == MAGENTA, (y, x)
    for y, x in [(13, 17), (9, 20), (17, 25), (13, 26), (14, 16)]:
        assert tuple(img[y, x]) != MAGENTA, (y, x)
    # everything else: the actual image faded to light grey
    white, black = img[25, 35], img[25, 2]
    assert white[0] == white[1] == white[2] and white[0] >= 250
    assert black[0] == black[1] == black[2] and 225 <= black[0] <= 232


def test_diff_png_is_the_diff_image_as_a_palette_png():
    a = canvas(40, 30)
    a[:, :5] = 0
    b = a.copy()
    b[5, 5] = (128, 128, 128)
    b = with_box(b, 20, 12, 4, 3, (0, 0, 255))
    c = compare(a, b)
    png = diff_png(b, c)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[25] == 3  # colour type 3: palette
    assert np.array_equal(decode_png(png)[..., :3], diff_image(b, c))


def test_diff_png_large_image_parallel_deflate(monkeypatch):
    monkeypatch.setattr(pngmod, "CPUS", 2)
    a = canvas(1200, 900)
    b = with_box(a, 600, 400, 30, 10, (0, 0, 0))
    c = compare(a, b)
    png = diff_png(b, c)
    back = decode_png(png)
    assert np.array_equal(back[..., :3], diff_image(b, c))
    assert tuple(back[405, 610, :3]) == RED


def test_size_mismatch_diff_image_is_tinted_red():
    a = canvas(10, 10)
    b = canvas(12, 8)
    c = compare(a, b)
    img = diff_image(b, c)
    r, g, bl = (int(v) for v in img[2, 2])
    assert r > 200 and g < 140 and bl < 140  # white faded, then half red
    assert np.array_equal(decode_png(diff_png(b, c))[..., :3], img)


def test_diff_image_accepts_png_bytes_and_identical_comparisons():
    a = with_box(canvas(), 2, 2, 3, 3, (0, 0, 0))
    c = compare(a, a.copy())
    img = diff_image(encode_png(a), c)
    assert img.shape == (30, 40, 3)
    assert (img[..., 0] == img[..., 1]).all() and (img[..., 1] == img[..., 2]).all()  # all grey
    with pytest.raises(ValueError):
        diff_image(canvas(10, 10), c)


def test_diff_image_of_semi_transparent_actual():
    a = canvas(channels=4)
    a[..., 3] = 0  # fully transparent: faded to white
    img = diff_image(a, compare(a, a.copy()))
    assert (img == 255).all()


# --------------------------------------------------------------------------
# PNG helpers


@pytest.mark.parametrize("channels", [3, 4])
def test_png_round_trip(channels):
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (17, 23, channels), dtype=np.uint8)
    png = encode_png(img)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    back = decode_png(png)
    assert back.shape == (17, 23, 4)
    assert np.array_equal(back[..., :channels], img)
    if channels == 3:
        assert (back[..., 3] == 255).all()


def test_png_round_trip_greyscale_and_16_bit():
    grey = np.arange(0, 250, dtype=np.uint8).reshape(10, 25)
    back = decode_png(encode_png(grey))
    assert np.array_equal(back[..., 0], grey) and np.array_equal(back[..., 2], grey)
    deep = (np.arange(12, dtype=np.uint16).reshape(3, 4) * 5000).astype(np.uint16)
    ok, png16 = cv2.imencode(".png", deep)
    assert ok
    back = decode_png(png16.tobytes())
    assert back.dtype == np.uint8 and back[0, 1, 0] == round(5000 * 255 / 65535)


def test_large_png_uses_parallel_deflate_and_stays_valid(monkeypatch):
    monkeypatch.setattr(pngmod, "CPUS", 3)
    rng = np.random.default_rng(5)
    img = np.full((1100, 1000, 3), 240, dtype=np.uint8)
    img[rng.integers(0, 1100, 5000), rng.integers(0, 1000, 5000)] = (200, 10, 30)
    img[-1, -1] = (1, 2, 3)
    png = encode_png(img)
    # a single zlib stream whose Adler-32 must check out
    idat_len = int.from_bytes(png[33:37], "big")
    assert png[37:41] == b"IDAT"
    raw = zlib.decompress(png[41 : 41 + idat_len])
    assert len(raw) == 1100 * (1 + 1000 * 3)
    back = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(cv2.cvtColor(back, cv2.COLOR_BGR2RGB), img)


def test_adler32_combine():
    a, b = b"hello screenshot " * 50, b"world" * 77
    assert pngmod._adler32_combine(zlib.adler32(a), zlib.adler32(b), len(b)) == zlib.adler32(a + b)


def test_decode_png_rejects_garbage():
    with pytest.raises(ValueError, match="decode"):
        decode_png(b"not a png at all")
    with pytest.raises(ValueError):
        decode_png(b"")
    with pytest.raises(ValueError):
        compare(b"garbage", b"other garbage")


def test_rejects_non_image_arrays():
    with pytest.raises(ValueError):
        compare(np.zeros((4, 4, 3), dtype=np.float32), canvas(4, 4))
    with pytest.raises(ValueError):
        compare(np.zeros((4, 4, 5), dtype=np.uint8), canvas(4, 4))


# --------------------------------------------------------------------------
# large images: the threaded scan agrees with the single-threaded one


def test_parallel_scan_matches_serial(monkeypatch):
    rng = np.random.default_rng(11)
    h, w = 1100, 1000
    a = np.full((h, w, 3), 255, dtype=np.uint8)
    b = a.copy()
    ys = rng.integers(0, h, 300)
    xs = rng.integers(0, w, 300)
    b[ys, xs] = (0, 0, 0)
    b[0, 0] = b[-1, -1] = b[h // 2, 0] = b[h // 2 - 1, w - 1] = (0, 0, 0)  # part boundaries and corners
    monkeypatch.setattr(cmp, "CPUS", 4)
    threaded = compare(a, b)
    monkeypatch.setattr(cmp, "PARALLEL_MIN_PIXELS", 10**12)
    serial = compare(a, b)
    assert threaded.diff_pixels == serial.diff_pixels > 0
    assert np.array_equal(threaded.diff_mask, serial.diff_mask)
    assert threaded.clusters == serial.clusters
    expected = np.zeros((h, w), dtype=bool)
    expected[ys, xs] = True
    expected[[0, h - 1, h // 2, h // 2 - 1], [0, w - 1, 0, w - 1]] = True
    assert np.array_equal(threaded.diff_mask | threaded.aa_mask, expected)


def test_a_png_this_process_made_is_not_decoded_again_and_compares_the_same():
    """A step's screenshot is painted (encoded here), then decoded by several checks and
    compared with its baseline: the pixels are remembered by the bytes object, every
    decode is a copy of its own, and the comparison counts exactly as from scratch."""
    base = with_box(canvas(200, 120, channels=4), 20, 20, 60, 30)
    shot = with_box(base.copy(), 120, 60, 30, 20, colour=(200, 30, 30))
    png = encode_png(shot)
    assert pngmod.known_pixels(png) is not None and pngmod.known_pixels(bytes(bytearray(png))) is None  # by the object itself
    first = decode_png(png)
    first[:] = 0  # the caller's to change: the next decode is unharmed
    assert np.array_equal(decode_png(png), shot)
    baseline = cv2.imencode(".png", cv2.cvtColor(base, cv2.COLOR_RGBA2BGRA))[1].tobytes()
    fresh = compare(baseline, bytes(bytearray(png)))  # neither known: both decoded (BGRA order)
    known = compare(baseline, png)
    assert (known.diff_pixels, known.aa_pixels, known.clusters) == (fresh.diff_pixels, fresh.aa_pixels, fresh.clusters)
    assert known.diff_pixels == 600

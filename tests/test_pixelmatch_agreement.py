"""Patrol's comparator agrees with pixelmatch 7.2.0 on pixelmatch's own fixtures.

The fixtures and the counts pixelmatch reports for them live in the shared
folder beside the repository (``<repo>/../shared/fixtures/pixelmatch``); they
are read from there, never copied into the repo.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from patrol.core.png import decode_png
from patrol.visual.compare import compare

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "pixelmatch"
CASES_FILE = FIXTURES / "cases.json"
MISSING = f"pixelmatch fixtures not found: expected {CASES_FILE} (the shared/ folder beside the repository)"


def _cases() -> list:
    if not CASES_FILE.is_file():
        return [pytest.param(None, id="fixtures-missing", marks=pytest.mark.skip(reason=MISSING))]
    cases = json.loads(CASES_FILE.read_text())["cases"]
    return [
        pytest.param(
            case,
            id=f"{Path(case['a']).stem}-{Path(case['b']).stem}-t{case['threshold']}" + ("-includeAA" if case["includeAA"] else ""),
        )
        for case in cases
    ]


@pytest.fixture(autouse=True, params=["c", "numpy"])
def _comparator_path(request, monkeypatch):
    """Every agreement test runs on the compiled kernel and on the NumPy fallback."""
    monkeypatch.setenv("PATROL_DIFF_KERNEL", request.param)
    return request.param


def _load(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def _check_count(ours: int, expected: int) -> None:
    if expected == 0:
        assert ours == 0, f"pixelmatch finds no difference, Patrol counts {ours}"
    else:
        assert abs(ours - expected) <= 0.01 * expected, f"Patrol counts {ours}, pixelmatch {expected} (more than 1% apart)"


@pytest.mark.parametrize("case", _cases())
def test_count_matches_pixelmatch_from_png_bytes(case):
    result = compare(_load(case["a"]), _load(case["b"]), threshold=case["threshold"], include_aa=case["includeAA"])
    _check_count(result.diff_pixels, case["expected"])
    assert result.size_mismatch is False


@pytest.mark.parametrize("case", _cases())
def test_count_matches_pixelmatch_from_decoded_arrays(case):
    a = decode_png(_load(case["a"]))
    b = decode_png(_load(case["b"]))
    result = compare(a, b, threshold=case["threshold"], include_aa=case["includeAA"])
    _check_count(result.diff_pixels, case["expected"])
    if case["expected"]:
        assert result.diff_mask is not None and int(result.diff_mask.sum()) == result.diff_pixels
        assert result.clusters and sum(c.pixels for c in result.clusters) == result.diff_pixels


@pytest.mark.parametrize("case", [c for c in _cases() if c.values[0] is None or "pixelmatch_diff" in c.values[0]])
def test_same_pixels_as_pixelmatch_diff_image(case):
    """Pixel by pixel: pixelmatch's diff image leaves every pixel it did not flag
    grey (r == g == b); the flagged ones must be exactly Patrol's counted plus
    anti-aliased pixels, and the anti-aliased ones one colour of their own."""
    result = compare(_load(case["a"]), _load(case["b"]), threshold=case["threshold"], include_aa=case["includeAA"])
    pm = decode_png(_load(case["pixelmatch_diff"]))
    flagged = ~((pm[..., 0] == pm[..., 1]) & (pm[..., 1] == pm[..., 2]))
    assert result.diff_mask is not None and result.aa_mask is not None
    assert np.array_equal(flagged, result.diff_mask | result.aa_mask)
    if result.aa_pixels:
        aa_colours = np.unique(pm[result.aa_mask].reshape(-1, 4), axis=0)
        assert len(aa_colours) == 1, "pixelmatch drew Patrol's anti-aliased pixels in more than one colour"
        diff_colours = {tuple(c) for c in np.unique(pm[result.diff_mask].reshape(-1, 4), axis=0)}
        assert tuple(aa_colours[0]) not in diff_colours


@pytest.mark.skipif(not CASES_FILE.is_file(), reason=MISSING)
def test_white_blending_matches_pixelmatch_checkerboard_false():
    """With checkerboard=False semi-transparent pixels are blended on white, as
    pixelmatch 7.2.0 does with {checkerboard: false}: 8a (opaque white and
    colour) vs 5b (half transparent) then shows no difference, 5a vs 5b none
    either (counts taken from pixelmatch 7.2.0 itself)."""
    assert compare(_load("8a.png"), _load("5b.png"), threshold=0.05, checkerboard=False).diff_pixels == 0
    assert compare(_load("5a.png"), _load("5b.png"), threshold=0.05, checkerboard=False).diff_pixels == 0
    # and pixelmatch's default (checkerboard) sees them
    assert compare(_load("8a.png"), _load("5b.png"), threshold=0.05).diff_pixels == 32896


@pytest.mark.skipif(not CASES_FILE.is_file(), reason=MISSING)
@pytest.mark.parametrize(
    ("a", "b", "threshold", "expected"),
    [  # pixelmatch 7.2.0 with includeAA: true on the same pairs
        ("1a.png", "1b.png", 0.05, 251),
        ("2a.png", "2b.png", 0.05, 13090),
        ("3a.png", "3b.png", 0.05, 404),
        ("4a.png", "4b.png", 0.05, 41623),
        ("6a.png", "6b.png", 0.05, 4900),
        ("7a.png", "7b.png", 0.1, 2737),
    ],
)
def test_include_aa_matches_pixelmatch(a, b, threshold, expected):
    result = compare(_load(a), _load(b), threshold=threshold, include_aa=True)
    assert result.diff_pixels == expected
    assert result.aa_pixels == 0

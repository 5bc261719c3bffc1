"""The compiled comparator kernel: same results as the NumPy path and as pixelmatch,
built into a cache on first use, and a quiet fallback when it cannot be built."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from conftest import in_threads

from patrol.core.png import decode_png, encode_png
from patrol.visual import compare as cmp
from patrol.visual import kernel

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "pixelmatch"
needs_compiler = pytest.mark.skipif(kernel.compiler() is None, reason="no C compiler on this machine")


@pytest.fixture(autouse=True)
def _fresh_kernel(monkeypatch):
    """Each test looks for the kernel anew, and leaves no loaded state behind."""
    monkeypatch.delenv("PATROL_DIFF_KERNEL", raising=False)
    kernel.reset()
    yield
    kernel.reset()


def _both(monkeypatch, *args, **kwargs) -> tuple[cmp.Comparison, cmp.Comparison]:
    monkeypatch.setenv("PATROL_DIFF_KERNEL", "c")
    assert kernel.library() is not None
    fast = cmp.compare(*args, **kwargs)
    monkeypatch.setenv("PATROL_DIFF_KERNEL", "numpy")
    assert kernel.library() is None
    slow = cmp.compare(*args, **kwargs)
    monkeypatch.setenv("PATROL_DIFF_KERNEL", "c")
    return fast, slow


def _assert_same(fast: cmp.Comparison, slow: cmp.Comparison) -> None:
    assert (fast.identical, fast.diff_pixels, fast.aa_pixels) == (slow.identical, slow.diff_pixels, slow.aa_pixels)
    assert fast.clusters == slow.clusters
    for mine, theirs in ((fast.diff_mask, slow.diff_mask), (fast.aa_mask, slow.aa_mask)):
        assert (mine is None) == (theirs is None)
        if mine is not None:
            assert np.array_equal(mine, theirs)


def _noisy_pair(rng: np.random.Generator, alpha: bool) -> tuple[np.ndarray, np.ndarray]:
    """A page-like image (flat blocks, thin lines, noisy patches) and a copy with
    shifted, recoloured and noised parts: plenty of anti-aliasing candidates."""
    h, w = int(rng.integers(1, 90)), int(rng.integers(1, 120))
    a = np.full((h, w, 4), 255, dtype=np.uint8)
    for _ in range(int(rng.integers(1, 12))):
        y, x = int(rng.integers(0, h)), int(rng.integers(0, w))
        a[y : y + int(rng.integers(1, 20)), x : x + int(rng.integers(1, 30)), :3] = rng.integers(0, 256, 3)
    noise = rng.random((h, w)) < rng.random() * 0.3
    a[noise, :3] = rng.integers(0, 256, (int(noise.sum()), 3))
    if alpha:
        a[..., 3] = np.where(rng.random((h, w)) < 0.3, rng.integers(0, 256, (h, w)), 255)
    b = np.roll(a, int(rng.integers(-2, 3)), axis=int(rng.integers(0, 2))).copy()
    b[: h // 2] = a[: h // 2]  # only part of it moved
    change = rng.random((h, w)) < rng.random() * 0.2
    b[change] = np.clip(b[change].astype(int) + rng.integers(-60, 61, (int(change.sum()), 4)), 0, 255)
    if not alpha:
        b[..., 3] = 255
    return a, b


@needs_compiler
@pytest.mark.parametrize("seed", range(40))
def test_kernel_and_numpy_agree_on_noisy_pairs(monkeypatch, seed):
    rng = np.random.default_rng(seed)
    a, b = _noisy_pair(rng, alpha=seed % 3 == 0)
    options = {
        "threshold": float(rng.choice([0.0, 0.05, 0.1, 0.3])),
        "include_aa": bool(seed % 5 == 4),
        "checkerboard": bool(seed % 2),
        "cluster_gap": int(rng.integers(0, 6)),
    }
    if seed % 4 == 1:
        options["mask"] = rng.random(a.shape[:2]) < 0.2
    _assert_same(*_both(monkeypatch, a, b, **options))


@needs_compiler
@pytest.mark.parametrize("seed", range(6))
def test_kernel_and_numpy_agree_from_png_bytes(monkeypatch, seed):
    """Encoded input is compared in OpenCV's BGRA order: the kernel's other specialisation."""
    a, b = _noisy_pair(np.random.default_rng(100 + seed), alpha=bool(seed % 2))
    _assert_same(*_both(monkeypatch, encode_png(a), encode_png(b), threshold=0.1))


@needs_compiler
def test_kernel_tells_identical_arrays_and_one_changed_pixel(monkeypatch):
    a = np.full((300, 500, 4), 200, dtype=np.uint8)
    fast, slow = _both(monkeypatch, a, a.copy())
    assert fast.identical and slow.identical and fast.diff_mask is None
    b = a.copy()
    b[299, 499] = (0, 0, 0, 255)  # the last pixel of the last band
    fast, slow = _both(monkeypatch, a, b)
    _assert_same(fast, slow)
    assert fast.diff_pixels == 1 and fast.clusters == [cmp.Cluster(499, 299, 1, 1, 1)]


@needs_compiler
@pytest.mark.skipif(not (FIXTURES / "cases.json").is_file(), reason="pixelmatch fixtures missing")
def test_kernel_counts_exactly_as_pixelmatch(monkeypatch):
    monkeypatch.setenv("PATROL_DIFF_KERNEL", "c")
    for case in json.loads((FIXTURES / "cases.json").read_text())["cases"]:
        a, b = (FIXTURES / case["a"]).read_bytes(), (FIXTURES / case["b"]).read_bytes()
        for x, y in ((a, b), (decode_png(a), decode_png(b))):
            result = cmp.compare(x, y, threshold=case["threshold"], include_aa=case["includeAA"])
            assert result.diff_pixels == case["expected"], case


@needs_compiler
@pytest.mark.parametrize("gap", [0, 1, 3, 7])
def test_kernel_clusters_match_dilate_and_label(gap):
    lib = kernel.library()
    assert lib is not None
    rng = np.random.default_rng(gap)
    for _ in range(20):
        h, w = int(rng.integers(1, 70)), int(rng.integers(1, 70))
        idx = np.flatnonzero(rng.random(h * w) < rng.random() * 0.1)
        assert cmp._kernel_clusters(lib, idx, w, gap) == cmp._clusters(idx, w, h, gap)


def test_no_compiler_falls_back_to_numpy_with_one_log_line(monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("PATROL_DIFF_CC", str(tmp_path / "no-such-cc"))
    monkeypatch.setenv("PATROL_KERNEL_CACHE", str(tmp_path / "cache"))
    a = np.full((20, 20, 4), 255, dtype=np.uint8)
    b = a.copy()
    b[5:9, 5:9, :3] = 0
    with caplog.at_level(logging.WARNING, logger="patrol.visual.kernel"):
        first = cmp.compare(a, b)
        second = cmp.compare(a, b)
    assert first.diff_pixels == second.diff_pixels == 16
    assert len([r for r in caplog.records if r.name == "patrol.visual.kernel"]) == 1
    assert "NumPy" in caplog.records[0].getMessage()


def test_a_failing_compiler_falls_back_too(monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("PATROL_DIFF_CC", "false")  # exits 1 without writing anything
    monkeypatch.setenv("PATROL_KERNEL_CACHE", str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="patrol.visual.kernel"):
        assert kernel.library() is None
    assert "unavailable" in caplog.text
    assert not list(tmp_path.glob("*.so")) and not list(tmp_path.glob("*.tmp"))


@needs_compiler
def test_built_once_into_the_cache_and_safe_when_raced(monkeypatch, tmp_path):
    monkeypatch.setenv("PATROL_KERNEL_CACHE", str(tmp_path))
    cc = kernel.compiler()
    assert cc is not None
    target = kernel.library_path(cc)
    # several first uses at once each build and rename into place: one whole library results
    assert not in_threads(lambda: kernel._build(cc, target), 3)
    assert [p.name for p in tmp_path.iterdir()] == [target.name]
    stamp = target.stat().st_mtime_ns
    assert kernel.library() is not None
    assert target.stat().st_mtime_ns == stamp  # loaded from the cache, not rebuilt
    # a deleted cache is rebuilt
    kernel.reset()
    target.unlink()
    assert kernel.library() is not None and target.is_file()


@needs_compiler
def test_the_cache_key_follows_the_source_and_the_compiler(monkeypatch, tmp_path):
    cc = kernel.compiler()
    assert cc is not None
    monkeypatch.setenv("PATROL_KERNEL_CACHE", str(tmp_path))
    key = kernel.library_path(cc)
    fake_cc = tmp_path / "cc"
    fake_cc.write_bytes(Path(cc).read_bytes()[:100])
    assert kernel.library_path(str(fake_cc)) != key
    other = tmp_path / "_kernel.c"
    other.write_text(kernel.SOURCE.read_text() + "\n/* changed */\n")
    monkeypatch.setattr(kernel, "SOURCE", other)
    assert kernel.library_path(cc) != key

"""Shift-aware diff: say "a block was inserted and the content below moved
down", not "38% of the pixels changed".

Rows are hashed (one hash per pixel row). Runs of equal rows met in exactly one
place in each image are anchors (as in patience diff); the longest chain of
anchors in the same order in both images gives the candidate offsets. For each
offset, the runs of rows that match at that offset (exactly, or within the
comparator's threshold per channel) are found; the longest runs win, trimmed
where they would cross a run already taken. A run at a non-zero offset must hold
a row of content met in one place of the baseline, so a uniform background
(every white row hashes alike) never makes a shift on its own.

What is left between the runs is inserted rows, removed rows (the same rows
removed in one place and inserted in another are one moved block), or rows
changed in place. The baseline is then rebuilt in the actual screen's layout (each row
from where it came) and compared with the actual screen by the comparator, with
the same threshold and mask: what still differs is what the shift does not
explain, counted exactly as any diff.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeAlias

import cv2
import numpy as np

from ..core.geometry import Box
from ..core.jsontypes import JsonObject
from ..core.png import to_four_channels
from .compare import Comparison, compare, pixel_margin

# More distinct offsets than this is not a layout shift but a different screen.
_MAX_OFFSETS = 32
# Runs considered, longest first: the short ones left over are compared in place
# (still counted exactly), and the choice stays fast on a tall, busy page.
_MAX_RUNS = 256


@dataclass(frozen=True)
class Moved:
    """Rows ``from_y`` .. ``from_y + height`` of the baseline are rows ``to_y`` ..
    of the actual screen; ``unchanged`` when no pixel in them differs."""

    from_y: int
    to_y: int
    height: int
    unchanged: bool

    @property
    def dy(self) -> int:
        return self.to_y - self.from_y


@dataclass(frozen=True)
class Phrase:
    """One part of the shift in words; ``{label}`` is where the block's text goes, read
    from the ``side`` screen (the actual one, or the baseline for a block that went)."""

    text: str
    box: Box | None = None  # the block, in the ``side`` screen's pixels
    side: Literal["actual", "baseline"] = "actual"
    kind: Literal["appeared", "disappeared", "moved", "moved_block"] = "moved"
    dy: int = 0
    blank: bool = False  # the block is empty space (rows alike the ones beside it): nothing to read


# What a block said: (its box, which screen) -> its text, "" when none is known.
Labeller = Callable[[Box, str], str]


@dataclass(frozen=True)
class Shift:
    """How the actual screen's rows came from the baseline's."""

    width: int
    height: int
    inserted: tuple[Box, ...]  # new on the actual screen (its coordinates)
    removed: tuple[Box, ...]  # gone from the baseline (its coordinates)
    moved: tuple[Moved, ...]  # content at another height, dy != 0
    pushed_out: int  # baseline rows pushed past the bottom edge by the move
    revealed: int  # rows at the bottom newly on screen because content moved up
    residual: Comparison  # what the shift does not explain (the comparator's count)
    story: tuple[Phrase, ...] = ()

    def explains(self, original: Comparison) -> bool:
        """True when the shift accounts for most of the original difference."""
        return bool(self.moved) and self.residual.diff_pixels * 2 < original.diff_pixels

    def describe(self, label: Labeller | None = None) -> str:
        """The shift in words, e.g. "a 960×96 block appeared at y=84 ('限时活动：新客理财专享');
        the content below moved down 96 px unchanged"; ``label`` names a block's text."""
        parts = []
        for p in self.story:
            said = label(p.box, p.side) if label is not None and p.box is not None and not p.blank else ""
            parts.append(p.text.replace("{label}", f" ('{said}')" if said else ""))
        return "; ".join(parts)


    def to_dict(self) -> JsonObject:
        return {
            "width": self.width,
            "height": self.height,
            "inserted": [_box_dict(b) for b in self.inserted],
            "removed": [_box_dict(b) for b in self.removed],
            "moved": [{"from_y": m.from_y, "to_y": m.to_y, "height": m.height, "dy": m.dy,
                       "unchanged": m.unchanged} for m in self.moved],
            "pushed_out": self.pushed_out,
            "revealed": self.revealed,
            "unexplained_pixels": self.residual.diff_pixels,
            "unexplained_clusters": [{"x": c.x, "y": c.y, "width": c.width, "height": c.height, "pixels": c.pixels}
                                     for c in self.residual.clusters[:10]],
        }


def _box_dict(b: Box) -> JsonObject:
    return {"x": b.x, "y": b.y, "width": b.w, "height": b.h}


@dataclass(frozen=True)
class _Run:
    a: int  # first baseline row
    b: int  # first actual row
    n: int

    @property
    def dy(self) -> int:
        return self.b - self.a


@dataclass(frozen=True)
class _Block:
    """Rows ``start`` .. ``end`` of one screen the other has not: inserted (the actual
    screen's rows) or removed (the baseline's); ``blank`` when they are empty space."""

    kind: Literal["inserted", "removed"]
    box: Box
    start: int
    end: int
    blank: bool


@dataclass(frozen=True)
class _MovedBlock:
    """A removed block found again, inserted elsewhere: baseline rows ``from_y`` .. are
    actual rows ``to_y`` .."""

    box: Box
    from_y: int
    to_y: int
    height: int


@dataclass(frozen=True)
class _Changed:
    """Rows changed in place (compared row by row)."""


# What happened to the rows, in screen order (a _Run that moved, the others as named).
_Event: TypeAlias = "_Block | _MovedBlock | _Run | _Changed"


def _row_hashes(img: np.ndarray) -> np.ndarray:
    rows = np.ascontiguousarray(img).reshape(img.shape[0], -1)
    return np.fromiter((hash(r.tobytes()) for r in rows), dtype=np.int64, count=rows.shape[0])


def _anchors(ha: np.ndarray, hb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Runs of equal rows (a button is many alike rows) met in exactly one place in
    each image with the same length, by their first row; kept as the longest chain
    in the same order in both."""
    va, ia, la = _unique_runs(ha)
    vb, ib, lb = _unique_runs(hb)
    _, ja, jb = np.intersect1d(va, vb, assume_unique=True, return_indices=True)
    same = la[ja] == lb[jb]
    pa, pb = ia[ja][same], ib[jb][same]
    order = np.argsort(pa)
    pa, pb = pa[order], pb[order]
    # longest increasing subsequence of pb (patience sorting), O(n log n)
    tails: list[int] = []
    tail_at: list[int] = []
    prev = [-1] * len(pb)
    for i, v in enumerate(pb.tolist()):
        k = bisect.bisect_left(tails, v)
        if k == len(tails):
            tails.append(v)
            tail_at.append(i)
        else:
            tails[k] = v
            tail_at[k] = i
        prev[i] = tail_at[k - 1] if k else -1
    chain: list[int] = []
    i = tail_at[-1] if tail_at else -1
    while i >= 0:
        chain.append(i)
        i = prev[i]
    chain.reverse()
    return pa[chain], pb[chain]


def _unique_runs(h: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hash, first row and length of each run of equal rows whose hash has no other run."""
    starts = np.flatnonzero(np.concatenate(([True], h[1:] != h[:-1])))
    lengths = np.diff(np.append(starts, len(h)))
    values, first, counts = np.unique(h[starts], return_index=True, return_counts=True)
    once = counts == 1
    return values[once], starts[first[once]], lengths[first[once]]


def _runs_at(a: np.ndarray, b: np.ndarray, ha: np.ndarray, hb: np.ndarray, dy: int, margin: int) -> list[_Run]:
    """Maximal runs of baseline rows r equal to actual rows r + dy, exactly or within
    ``margin`` per channel (Chromium dithers gradients by screen position, so a
    moved card differs by 1 in places: still the same content to the comparator)."""
    h = len(ha)
    a0, a1 = max(0, -dy), min(h, h - dy)
    if a1 <= a0:
        return []
    eq = ha[a0:a1] == hb[a0 + dy:a1 + dy]
    if margin:
        rows = a0 + np.flatnonzero(~eq)
        if rows.size:  # every 16th pixel first: most rows that differ fail there
            rows = rows[_near(a[rows, ::16], b[rows + dy, ::16], margin)]
        if rows.size:
            eq[rows[_near(a[rows], b[rows + dy], margin)] - a0] = True
    eq = np.concatenate(([False], eq, [False]))
    edges = np.flatnonzero(eq[1:] != eq[:-1])
    return [_Run(a0 + int(s), a0 + int(s) + dy, int(e - s)) for s, e in zip(edges[::2], edges[1::2])]


def _near(a_rows: np.ndarray, b_rows: np.ndarray, margin: int) -> np.ndarray:
    """Per row: every R, G and B within ``margin``."""
    diff: np.ndarray = cv2.absdiff(a_rows[..., :3], b_rows[..., :3])
    return np.asarray((diff.reshape(len(a_rows), -1) <= margin).all(axis=1), dtype=bool)


def _distinct_rows(img: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Rows that place content: not one colour across, and their run of equal rows
    is the only one with that hash (a button's many alike rows count, a uniform
    background or a repeating pattern does not)."""
    starts = np.flatnonzero(np.concatenate(([True], h[1:] != h[:-1])))
    _, inverse, counts = np.unique(h[starts], return_inverse=True, return_counts=True)
    run_of_row = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, len(h))))
    distinct = (counts[inverse] == 1)[run_of_row]
    rows = np.flatnonzero(distinct)
    pixels = np.ascontiguousarray(img[rows]).view(np.uint32)[..., 0]  # one word per pixel
    distinct[rows[(pixels == pixels[:, :1]).all(axis=1)]] = False
    return np.asarray(distinct, dtype=bool)


def _choose(candidates: list[_Run], distinct: np.ndarray) -> list[_Run]:
    """The longest runs first, each trimmed to the rows that cross no run taken.
    ``distinct``: baseline rows that place content (``_distinct_rows``)."""
    taken: list[_Run] = []
    for run in sorted(candidates, key=lambda c: -c.n)[:_MAX_RUNS]:
        k = np.arange(run.n)
        ra, rb = run.a + k, run.b + k
        ok = np.ones(run.n, dtype=bool)
        for t in taken:
            ok &= ((ra < t.a) & (rb < t.b)) | ((ra >= t.a + t.n) & (rb >= t.b + t.n))
        if not ok.any():
            continue
        edges = np.flatnonzero(np.diff(np.concatenate(([0], ok.view(np.int8), [0]))))
        for s, e in zip(edges[::2].tolist(), edges[1::2].tolist()):
            piece = _Run(run.a + s, run.b + s, e - s)
            # content elsewhere needs a row of its own: rows met all over (a uniform
            # background) prove no move
            if piece.dy and not distinct[piece.a:piece.a + piece.n].any():
                continue
            taken.append(piece)
    return sorted(taken, key=lambda r: r.a)


def _blank(img: np.ndarray, y0: int, y1: int) -> bool:
    """Every row of the block is like a row next to it (above or below): empty space."""
    h = img.shape[0]
    refs = [r for r in (y0 - 1, y1) if 0 <= r < h]
    return any(bool((img[y0:y1] == img[r][None]).all()) for r in refs)


def _block_box(img: np.ndarray, y0: int, y1: int) -> Box:
    """The rows' box, narrowed to the pixels that differ from both rows next to it
    (above and below): a banner on a page's background is as big as the banner,
    without the blank rows the alignment may have taken along."""
    h, w = img.shape[:2]
    refs = [r for r in (y0 - 1, y1) if 0 <= r < h]
    if not refs:
        return Box(0, y0, w, y1 - y0)
    differs = np.ones((y1 - y0, w), dtype=bool)
    for r in refs:
        differs &= (img[y0:y1] != img[r][None]).any(axis=2)
    cols, rows = np.flatnonzero(differs.any(axis=0)), np.flatnonzero(differs.any(axis=1))
    if cols.size == 0:
        return Box(0, y0, w, y1 - y0)
    return Box(int(cols[0]), y0 + int(rows[0]), int(cols[-1] - cols[0]) + 1, int(rows[-1] - rows[0]) + 1)


def find_shift(expected: np.ndarray, actual: np.ndarray, *, threshold: float = 0.1,
               mask: np.ndarray | None = None, baseline_mask: np.ndarray | None = None) -> Shift | None:
    """The vertical shift from ``expected`` (the baseline) to ``actual``, or None
    when no content moved (different sizes, or nothing found at another height).

    Arrays as the comparator takes them (RGB(A) uint8, same shape); ``threshold``
    and ``mask`` (bool HxW in the actual screen's coordinates, True = ignore) are
    the comparator's, used for the pixels the shift does not explain; ``baseline_mask``
    (the baseline's coordinates) is carried along with the rows it covers, so what is
    masked on the baseline stays masked wherever the shift put it.
    """
    a = to_four_channels(np.asarray(expected), what="expected")
    b = to_four_channels(np.asarray(actual), what="actual")
    if a.shape != b.shape or a.shape[0] < 2:
        return None
    height, width = a.shape[:2]
    ha, hb = _row_hashes(a), _row_hashes(b)
    pa, pb = _anchors(ha, hb)
    offsets, counts = np.unique(pb - pa, return_counts=True)
    offsets, counts = offsets[offsets != 0], counts[offsets != 0]
    if offsets.size == 0:
        return None
    offsets = offsets[np.argsort(-counts, kind="stable")[:_MAX_OFFSETS]]  # the best-supported ones
    opaque = bool((a[..., 3] == 255).all() and (b[..., 3] == 255).all())
    margin = pixel_margin(threshold) if opaque else 0
    candidates: list[_Run] = []
    for dy in [0, *offsets.tolist()]:
        candidates += _runs_at(a, b, ha, hb, dy, margin)
    runs = _choose(candidates, _distinct_rows(a, ha))
    if not any(r.dy for r in runs):
        return None
    return _explain(a, b, runs, threshold, mask, margin, baseline_mask)


def _explain(a: np.ndarray, b: np.ndarray, runs: list[_Run], threshold: float, mask: np.ndarray | None,
             margin: int, baseline_mask: np.ndarray | None = None) -> Shift:
    height, width = a.shape[:2]
    source = np.arange(height)  # the baseline row each actual row is compared with
    new_rows = np.zeros(height, dtype=bool)  # inserted or revealed: nothing to compare with
    events: list[_Event] = []  # in screen order, for the words
    pushed_out = revealed = 0
    pa = pb = 0
    for i, run in enumerate([*runs, _Run(height, height, 0)]):
        na, nb = run.a - pa, run.b - pb
        last = i == len(runs)
        before = runs[i - 1].dy if i else 0
        if na == 0 and nb > 0:
            new_rows[pb:run.b] = True
            if last and before < 0:
                revealed = nb
            else:
                events.append(_Block("inserted", _block_box(b, pb, run.b), pb, run.b, _blank(b, pb, run.b)))
        elif nb == 0 and na > 0:
            if last and before > 0:
                pushed_out = na
            else:
                events.append(_Block("removed", _block_box(a, pa, run.a), pa, run.a, _blank(a, pa, run.a)))
        elif na > 0:  # changed in place: compared row by row from the gap's start
            k = min(na, nb)
            source[pb:pb + k] = np.arange(pa, pa + k)
            events.append(_Changed())
        if not last:
            source[run.b:run.b + run.n] = np.arange(run.a, run.a + run.n)
            if run.dy:
                events.append(run)
        pa, pb = run.a + run.n, run.b + run.n
    _pair_moved_blocks(a, b, events, source, new_rows, margin)
    inserted = [e.box for e in events if isinstance(e, _Block) and e.kind == "inserted"]
    removed = [e.box for e in events if isinstance(e, _Block) and e.kind == "removed"]
    rebuilt = b.copy()
    keep = ~new_rows
    rebuilt[keep] = a[source[keep]]
    if baseline_mask is not None:
        carried = np.zeros((height, width), dtype=bool)
        carried[keep] = baseline_mask[source[keep]]
        mask = carried if mask is None else (mask | carried)
    residual = compare(rebuilt, b, threshold=threshold, mask=mask)
    dirty = np.zeros(height, dtype=bool)
    if residual.diff_index is not None and residual.diff_index.size:
        dirty[np.unique(residual.diff_index // width)] = True
    moved, story = _moved_and_story(events, dirty)
    return Shift(width, height, tuple(inserted), tuple(removed), tuple(moved), pushed_out, revealed, residual,
                 tuple(story))


def _pair_moved_blocks(a: np.ndarray, b: np.ndarray, events: list[_Event], source: np.ndarray,
                       new_rows: np.ndarray, margin: int) -> None:
    """A block removed in one place and the same rows inserted in another is one
    block that moved (the runs around it cannot both be kept in order)."""
    for ins in [e for e in events if isinstance(e, _Block) and e.kind == "inserted"]:
        b0, b1 = ins.start, ins.end
        for i, e in enumerate(events):
            if not isinstance(e, _Block) or e.kind != "removed":
                continue
            a0, a1 = e.start, e.end
            if a1 - a0 == b1 - b0 and _near(a[a0:a1], b[b0:b1], margin).all():
                source[b0:b1] = np.arange(a0, a1)
                new_rows[b0:b1] = False
                events[i] = _MovedBlock(e.box, a0, b0, a1 - a0)
                events.remove(ins)
                break


def _moved_and_story(events: list[_Event], dirty: np.ndarray) -> tuple[list[Moved], list[Phrase]]:
    """Runs at the same offset split only by rows changed in place are one moved
    region (with a change inside); each event becomes a phrase."""
    merged: list[_Event] = []
    for e in events:
        prev = merged[-2] if len(merged) >= 2 else None
        if isinstance(e, _Run) and isinstance(prev, _Run) and isinstance(merged[-1], _Changed) and prev.dy == e.dy:
            merged[-2:] = [_Run(prev.a, prev.b, e.b + e.n - prev.b)]
        else:
            merged.append(e)
    moved: list[Moved] = []
    story: list[Phrase] = []
    for i, what in enumerate(merged):
        if isinstance(what, _Block) and what.blank:  # rows alike their neighbours: space, not a block
            box, kind = what.box, what.kind
            verb = "appeared at" if kind == "inserted" else "disappeared from"
            story.append(Phrase(f"{box.h} px of empty space {verb} y={box.y}", box,
                                "actual" if kind == "inserted" else "baseline",
                                "appeared" if kind == "inserted" else "disappeared", blank=True))
        elif isinstance(what, _Block) and what.kind == "inserted":
            box = what.box
            story.append(Phrase(f"a {box.w}×{box.h} block appeared at y={box.y}{{label}}", box, "actual", "appeared"))
        elif isinstance(what, _Block):
            box = what.box
            story.append(Phrase(f"a {box.w}×{box.h} block{{label}} disappeared from y={box.y}", box, "baseline",
                                "disappeared"))
        elif isinstance(what, _MovedBlock):
            box, a0, b0, n = what.box, what.from_y, what.to_y, what.height
            m = Moved(a0, b0, n, not dirty[b0:b0 + n].any())
            moved.append(m)
            way = f"{'down' if m.dy > 0 else 'up'} {abs(m.dy)} px"
            state = " unchanged" if m.unchanged else ", with changes inside"
            story.append(Phrase(f"the {box.w}×{box.h} block at y={box.y}{{label}} moved {way} to y={box.y + m.dy}{state}",
                                box, "baseline", "moved_block", m.dy))
        elif isinstance(what, _Run):
            m = Moved(what.a, what.b, what.n, not dirty[what.b:what.b + what.n].any())
            moved.append(m)
            way = f"{'down' if m.dy > 0 else 'up'} {abs(m.dy)} px"
            state = " unchanged" if m.unchanged else ", with changes inside"
            if i and isinstance(merged[i - 1], _Block):
                story.append(Phrase(f"the content below moved {way}{state}", dy=m.dy))
            else:
                story.append(Phrase(f"{m.height} rows at y={m.from_y} moved {way}{state}", dy=m.dy))
    return moved, story

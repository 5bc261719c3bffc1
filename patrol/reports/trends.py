"""History and trends for ``reports/index.html``, from the state database.

Per journey: pass rate over the last 7 and 30 days, a strip of its recent runs (each a
link to its report), its open incidents, and per step the p50/p95 duration as a small
chart (SVG, drawn here: no scripts, readable from disk) with the step's budget as a
line, so a step creeping towards its budget shows before it becomes a stall. A step is
flagged ``creeping`` when its recent p95 is well above what it was before, or close to
its budget.

Points on the charts are days (when the history spans a few days) or single runs (a
fresh install), oldest left.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING

from markupsafe import Markup, escape
from sqlalchemy import RowMapping

from ..core.jsontypes import json_number
from ..core.vocabulary import Outcome
from ..durations import format_ms
from ..store import Store, history, incident_repo

if TYPE_CHECKING:
    from ..store.history import AttemptRow, StepDurationRow

WINDOW_DAYS = 30
STRIP_RUNS = 40
CREEP_RATIO = 1.25  # recent p95 this much above the earlier p95...
CREEP_MIN_MS = 150.0  # ...and by at least this much
NEAR_BUDGET = 0.8  # or the recent p95 is past this share of the budget


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0-100)."""
    if not values:
        return None
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, int(-(-q * len(ordered) // 100)) - 1))
    return ordered[k]


@dataclass
class StepTrend:
    key: str
    index: int
    budget_ms: float | None
    points: list[tuple[str, float, float, int]] = field(default_factory=list)  # (label, p50, p95, samples)
    p50: float | None = None
    p95: float | None = None
    recent_p95: float | None = None
    earlier_p95: float | None = None
    creep: str | None = None  # why it looks like creeping
    chart: Markup = Markup("")
    # Web Vitals over the window, each the 75th percentile as the field reports them, in words
    # ("LCP p75 1.20s · CLS p75 0.01"); None for a step without any (an app step, an API step).
    vitals: str | None = None


@dataclass
class RunDot:
    run_id: str
    status: str
    when: str
    duration_ms: float | None
    href: str | None


@dataclass
class JourneyHistory:
    name: str
    target: str
    device: str
    rate7: tuple[int, int] = (0, 0)  # (passed, counted) - robot errors and interruptions do not count
    rate30: tuple[int, int] = (0, 0)
    robot_errors30: int = 0
    runs: list[RunDot] = field(default_factory=list)
    steps: list[StepTrend] = field(default_factory=list)
    incidents: list[dict[str, object]] = field(default_factory=list)
    by: str = "day"  # what a chart point is: "day" or "run"

    @staticmethod
    def pct(rate: tuple[int, int]) -> str:
        return "–" if not rate[1] else f"{100 * rate[0] / rate[1]:.0f}%"

    @staticmethod
    def rate_class(rate: tuple[int, int]) -> str:
        if not rate[1]:
            return "none"
        share = rate[0] / rate[1]
        return "good" if share >= 0.99 else "warn" if share >= 0.9 else "bad"


def _href(root: Path, run_dir: str | None, pruned: datetime | None) -> str | None:
    if not run_dir or pruned:
        return None
    target = Path(run_dir) / "index.html"
    if not target.exists():
        return None
    try:
        return Path(os.path.relpath(target, root)).as_posix()
    except ValueError:
        return target.resolve().as_uri()


def load_history(store: Store, root: Path, now: datetime | None = None, tz: tzinfo | None = None) -> list[JourneyHistory]:
    now = now or datetime.now(UTC)
    tz = tz or datetime.now().astimezone().tzinfo or UTC
    since = now - timedelta(days=WINDOW_DAYS)
    root = Path(root).resolve()
    with store.read() as conn:
        jrows = history.latest_attempts_since(conn, since)
        srows = history.step_durations_since(conn, since)
        open_rows = incident_repo.all_open(conn)
        wanted = {r["last_run_id"] for r in open_rows} | {r["first_run_id"] for r in open_rows}
        hrefs = {r.id: _href(root, r.run_dir, r.report_pruned_at) for r in history.report_folders(conn, wanted)}
    journeys: dict[str, JourneyHistory] = {}
    jr_info = _pass_rates(journeys, jrows, root, now - timedelta(days=7), tz)
    _step_trends(journeys, srows, jr_info, tz)
    _open_incidents(journeys, open_rows, hrefs, tz)
    return sorted(journeys.values(), key=lambda h: (not h.incidents, h.name))


def _pass_rates(journeys: dict[str, JourneyHistory], jrows: Sequence[AttemptRow], root: Path, since7: datetime,
                tz: tzinfo) -> dict[int, tuple[str, datetime | None]]:
    """Pass rates and the strip of recent runs per journey; returns when each attempt ran."""
    jr_info: dict[int, tuple[str, datetime | None]] = {}
    for r in jrows:
        h = journeys.get(r.journey)
        if h is None:
            h = journeys[r.journey] = JourneyHistory(r.journey, r.target, r.device)
        when = r.started_at or r.jstart
        jr_info[r.id] = (r.journey, when)
        if not r.latest:
            continue
        if r.outcome in (Outcome.HEALTHY, Outcome.FAILING):
            good = int(r.outcome == Outcome.HEALTHY)
            h.rate30 = (h.rate30[0] + good, h.rate30[1] + 1)
            if when and when >= since7:
                h.rate7 = (h.rate7[0] + good, h.rate7[1] + 1)
        elif r.outcome == Outcome.ROBOT_ERROR:
            h.robot_errors30 += 1
        local = when.astimezone(tz).strftime("%Y-%m-%d %H:%M") if when else "?"
        h.runs.append(RunDot(r.run_id, r.status, local, r.duration_ms, _href(root, r.run_dir, r.report_pruned_at)))
    for h in journeys.values():
        h.runs = h.runs[-STRIP_RUNS:]
    return jr_info


def _step_trends(journeys: dict[str, JourneyHistory], srows: Sequence[StepDurationRow],
                 jr_info: dict[int, tuple[str, datetime | None]], tz: tzinfo) -> None:
    # Step durations: journey -> (step index, key) -> [(when, ms)]
    samples: dict[str, dict[tuple[int, str], list[tuple[datetime, float]]]] = defaultdict(lambda: defaultdict(list))
    budgets: dict[tuple[str, int, str], float | None] = {}
    vitals: dict[tuple[str, int, str], list[dict[str, object]]] = defaultdict(list)
    for s in srows:
        info = jr_info.get(s.journey_run_id)
        if info is None or info[1] is None:
            continue
        journey, when = info[0], info[1]
        step = (s.step_index, s.name or f"#{s.step_index}")
        samples[journey][step].append((when, float(s.duration_ms)))
        budgets[(journey, *step)] = s.budget_ms
        if isinstance(getattr(s, "vitals", None), dict):
            vitals[(journey, *step)].append(s.vitals)
    for journey, steps in samples.items():
        h = journeys[journey]
        days = {when.astimezone(tz).date() for per in steps.values() for when, _ in per}
        h.by = "day" if len(days) >= 3 else "run"
        for (index, key), values in sorted(steps.items()):
            h.steps.append(_trend(index, key, values, budgets.get((journey, index, key)), h.by, tz))
            h.steps[-1].vitals = vitals_summary(vitals.get((journey, index, key), []))


# The vitals a step trend names, and how each is written.
_TREND_VITALS = (("lcp_ms", "LCP"), ("cls", "CLS"), ("inp_ms", "INP"), ("fcp_ms", "FCP"), ("ttfb_ms", "TTFB"))


def vitals_summary(readings: Sequence[Mapping[str, object]]) -> str | None:
    """The 75th percentile of each vital a step had (as the field reports Web Vitals), in words."""
    parts = []
    for key, label in _TREND_VITALS:
        values = [float(n) for v in readings if (n := json_number(v, key)) is not None]
        p75 = percentile(values, 75)
        if p75 is not None:
            parts.append(f"{label} p75 {p75:.2g}" if key == "cls" else f"{label} p75 {format_ms(p75)}")
    return " · ".join(parts) or None


def _open_incidents(journeys: dict[str, JourneyHistory], open_rows: Sequence[RowMapping],
                    hrefs: dict[str, str | None], tz: tzinfo) -> None:
    for r in open_rows:
        h = journeys.get(r["journey"])
        if h is None:
            h = journeys[r["journey"]] = JourneyHistory(r["journey"], r["target"], r["device"])
        h.incidents.append({
            "id": r["id"], "kind": r["kind"], "reason": r["reason"], "severity": r["severity"],
            "step": r["step_name"] or r["step_key"], "message": r["message"], "count": r["count"],
            "since": r["opened_at"].astimezone(tz).strftime("%Y-%m-%d %H:%M") if r["opened_at"] else "?",
            "href": hrefs.get(r["last_run_id"]) or hrefs.get(r["first_run_id"]),
        })


def _trend(index: int, key: str, values: list[tuple[datetime, float]], budget: float | None, by: str, tz: tzinfo) -> StepTrend:
    values.sort(key=lambda v: v[0])
    t = StepTrend(key=key, index=index, budget_ms=budget)
    if by == "day":
        groups: dict[str, list[float]] = defaultdict(list)
        for when, ms in values:
            groups[when.astimezone(tz).strftime("%m-%d")].append(ms)
        buckets = sorted(groups.items())
    else:
        buckets = [(when.astimezone(tz).strftime("%m-%d %H:%M"), [ms]) for when, ms in values[-WINDOW_DAYS:]]
    # A bucket is never empty, so its percentiles are numbers.
    t.points = [(label, percentile(ms, 50) or 0.0, percentile(ms, 95) or 0.0, len(ms)) for label, ms in buckets]
    all_ms = [ms for _, ms in values]
    t.p50, t.p95 = percentile(all_ms, 50), percentile(all_ms, 95)
    # Recent (the last third of the points, at least one) against what came before.
    cut = len(buckets) - max(1, len(buckets) // 3)
    if cut >= 1:
        earlier = [ms for _, group in buckets[:cut] for ms in group]
        recent = [ms for _, group in buckets[cut:] for ms in group]
        t.earlier_p95, t.recent_p95 = percentile(earlier, 95), percentile(recent, 95)
    else:
        t.recent_p95 = t.p95
    reasons = []
    if t.earlier_p95 and t.recent_p95 and t.recent_p95 >= t.earlier_p95 * CREEP_RATIO and t.recent_p95 - t.earlier_p95 >= CREEP_MIN_MS:
        reasons.append(f"p95 up {100 * (t.recent_p95 / t.earlier_p95 - 1):.0f}% ({_ms(t.earlier_p95)} → {_ms(t.recent_p95)})")
    if budget and t.recent_p95 and t.recent_p95 >= NEAR_BUDGET * budget:
        reasons.append(f"p95 at {100 * t.recent_p95 / budget:.0f}% of its {_ms(budget)} budget")
    t.creep = "; ".join(reasons) or None
    t.chart = sparkline(t.points, budget, title=f"{key}: p50/p95 per {by}")
    return t


def _ms(ms: float | None) -> str:
    return format_ms(ms)


def sparkline(points: list[tuple[str, float, float, int]], budget: float | None, *, title: str = "",
              width: int = 220, height: int = 48) -> Markup:
    """p50 (blue) and p95 (orange) per point, the budget as a dashed red line."""
    if not points:
        return Markup("")
    pad_x, pad_top, pad_bottom = 3.0, 12.0, 3.0  # the top value is written above the plot
    top = max(p[2] for p in points)
    if budget and budget <= 3 * top:
        top = max(top, budget)
    top = top * 1.05 or 1.0
    n = len(points)

    def x(i: int) -> float:
        return pad_x + (width - 2 * pad_x) * (i / (n - 1) if n > 1 else 0.5)

    def y(v: float) -> float:
        return height - pad_bottom - (height - pad_top - pad_bottom) * (v / top)

    def line(series: list[float], colour: str, w: float) -> str:
        if n == 1:
            return f'<circle cx="{x(0):.1f}" cy="{y(series[0]):.1f}" r="2.2" fill="{colour}"/>'
        pts = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(series))
        return f'<polyline fill="none" stroke="{colour}" stroke-width="{w}" stroke-linejoin="round" points="{pts}"/>'

    parts = [f'<svg class="spark" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img">']
    tips = "; ".join(f"{label}: p50 {_ms(p50)}, p95 {_ms(p95)} ({k})" for label, p50, p95, k in points[-12:])
    parts.append(f"<title>{escape(title)} — {escape(tips)}</title>")
    parts.append(f'<rect x="0" y="0" width="{width}" height="{height}" fill="#fafafa"/>')
    if budget and budget <= top:
        yb = y(budget)
        parts.append(f'<line x1="0" x2="{width}" y1="{yb:.1f}" y2="{yb:.1f}" stroke="#dc2626" stroke-width="1" '
                     f'stroke-dasharray="4 3"/>')
    parts.append(f'<text x="{width - 2}" y="9" font-size="9" text-anchor="end" fill="#9ca3af">{escape(_ms(top / 1.05))}</text>')
    parts.append(line([p[2] for p in points], "#ea580c", 1.6))
    parts.append(line([p[1] for p in points], "#2563eb", 1.6))
    parts.append("</svg>")
    return Markup("".join(parts))

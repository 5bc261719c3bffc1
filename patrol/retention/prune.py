"""Retention: what a service that runs for a year keeps, and for how long.

The ages come from patrol.yaml ``retention:`` (``patrol.retention.settings``). They
never decrease down the list (screenshots <= reports <= runs), so a run record never
points at a folder that outlived it... or the other way round.

Rules that never bend:
- a run an open incident refers to (its first and last run, any run in its timeline)
  and a run whose notification is still pending are never touched;
- only folders inside the reports folder that hold a ``report.json`` are pruned
  (``--output`` folders elsewhere are yours);
- a run still being written has no record and no report yet, so it is never old.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from ..config.schedules import ScheduleSpec, local_zone_name, parse_spec
from ..core.isotime import utcnow
from . import storage
from .settings import AGE_KEYS, RetentionSettings

if TYPE_CHECKING:

    from ..store import Store

Ages = Mapping[str, float | None]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
PRUNED_MARK = ".screenshots-pruned"
_RUN_ID = re.compile(r"^(\d{8}-\d{6})-[0-9a-f]+$")


def prune_spec(settings: RetentionSettings) -> ScheduleSpec | None:
    """The pruning job of ``patrol schedule`` (None: never)."""
    if not settings.enabled or not settings.prune_cron:
        return None
    return parse_spec({"cron": settings.prune_cron, "timezone": settings.timezone or local_zone_name()}, ("retention",),
                      job_id="patrol:retention", name="retention", origin="patrol.yaml", selection=False)


# -- pruning ----------------------------------------------------------------------------------
@dataclass
class PruneStats:
    screenshots: int = 0  # runs whose images were removed
    files: int = 0
    reports: int = 0  # run folders removed
    runs: int = 0  # run records removed
    deliveries: int = 0
    events: int = 0
    protected: int = 0  # old runs kept because an open incident or pending notification needs them
    bytes: int = 0

    def describe(self) -> str:
        parts = []
        if self.screenshots:
            parts.append(f"screenshots of {self.screenshots} run(s) ({self.files} files)")
        if self.reports:
            parts.append(f"{self.reports} report folder(s)")
        if self.runs:
            parts.append(f"{self.runs} run record(s)")
        if self.deliveries:
            parts.append(f"{self.deliveries} old deliveries")
        if self.events:
            parts.append(f"{self.events} old events")
        said = ("pruned " + ", ".join(parts) + f", {self.bytes / 1e6:.1f} MB freed") if parts else "nothing to prune"
        if self.protected:
            said += f"; kept {self.protected} old run(s) that open incidents or pending notifications refer to"
        return said


def _inside(root: Path, folder: str | None) -> Path | None:
    """The run folder, if it is a run folder inside the reports folder."""
    if not folder:
        return None
    try:
        path = Path(folder).resolve()
    except OSError:
        return None
    if path.parent != root or not (path / "report.json").is_file():
        return None
    return path


def _size(path: Path) -> int:
    total = 0
    for p in path.rglob("*"):
        try:
            if p.is_file():
                total += p.stat().st_size
        except OSError:
            pass
    return total


def _remove_folder(path: Path, stats: PruneStats) -> None:
    stats.bytes += _size(path)
    shutil.rmtree(path, ignore_errors=True)


def _remove_images(path: Path, stats: PruneStats) -> None:
    for p in path.rglob("*"):
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file():
            try:
                stats.bytes += p.stat().st_size
                p.unlink()
                stats.files += 1
            except OSError:
                pass
    (path / PRUNED_MARK).write_text("screenshots removed by retention\n", encoding="utf-8")


def _started(folder: Path) -> datetime | None:
    m = _RUN_ID.match(folder.name)
    if m:
        try:
            return datetime.strptime(m.group(1), "%Y%m%d-%H%M%S").replace(tzinfo=UTC)
        except ValueError:
            pass
    try:
        data = json.loads((folder / "report.json").read_text(encoding="utf-8"))
        dt = datetime.fromisoformat(str(data.get("started_at")).replace("Z", "+00:00"))
        return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    except (OSError, ValueError, TypeError):
        return None


def prune(settings: RetentionSettings, reports_root: Path, store: Store | None = None, now: datetime | None = None) -> PruneStats:
    """Apply retention once (idempotent; safe while runs are being written)."""
    stats = PruneStats()
    if not settings.enabled:
        return stats
    now = now or utcnow()
    root = Path(reports_root).resolve()
    ages = {k: settings.age(k) for k in AGE_KEYS}

    def old(when: datetime | None, key: str) -> bool:
        age = ages[key]
        return age is not None and when is not None and (now - when).total_seconds() > age

    known: set[str] = set()
    protected: set[str] = set()
    if store is not None:
        _prune_database_runs(store, root, now, ages, old, stats, known, protected)
        _prune_outbox(store, now, ages, stats)
    if root.is_dir():
        for folder in sorted(root.iterdir()):
            if not folder.is_dir() or folder.name in known or not (folder / "report.json").is_file():
                continue
            if folder.name in protected:
                continue
            started = _started(folder)
            if old(started, "runs") or old(started, "reports"):
                _remove_folder(folder, stats)
                stats.reports += 1
            elif old(started, "screenshots") and not (folder / PRUNED_MARK).exists():
                _remove_images(folder, stats)
                stats.screenshots += 1
    return stats


def _prune_database_runs(store: Store, root: Path, now: datetime, ages: Ages, old: Callable[[datetime | None, str], bool],
                         stats: PruneStats, known: set[str], protected: set[str]) -> None:
    set_ages = [a for k, a in ages.items() if k in ("screenshots", "reports", "runs") and a is not None]
    with store.read() as conn:
        protected.update(storage.runs_in_use(conn))  # open incidents, pending notifications
        known.update(storage.all_run_ids(conn))
        if not set_ages:
            return
        cutoff = now - timedelta(seconds=min(set_ages))
        rows = storage.runs_recorded_before(conn, cutoff)
    drop: list[str] = []
    for row in rows:
        when = row.started_at or row.recorded_at
        if row.id in protected:
            if old(when, "screenshots"):
                stats.protected += 1
            continue
        folder = _inside(root, row.run_dir)
        if old(when, "runs"):
            if folder is not None:
                _remove_folder(folder, stats)
                stats.reports += 1
            drop.append(row.id)
        elif old(when, "reports") and row.report_pruned_at is None:
            if folder is not None:
                _remove_folder(folder, stats)
                stats.reports += 1
            elif row.run_dir and Path(row.run_dir).exists():
                continue  # an --output folder outside the reports folder: not ours to remove
            with store.write() as conn:
                storage.mark_pruned(conn, row.id, report_at=now, screenshots_at=row.screenshots_pruned_at or now)
        elif old(when, "screenshots") and row.screenshots_pruned_at is None:
            if folder is not None:
                _remove_images(folder, stats)
                stats.screenshots += 1
            with store.write() as conn:
                storage.mark_pruned(conn, row.id, screenshots_at=now)
    for i in range(0, len(drop), 500):
        batch = drop[i:i + 500]
        with store.write() as conn:  # journey attempts and steps go with them (ON DELETE CASCADE)
            stats.runs += storage.delete_runs(conn, batch)


def _prune_outbox(store: Store, now: datetime, ages: Ages, stats: PruneStats) -> None:
    keep_deliveries, keep_runs = ages.get("deliveries"), ages.get("runs")
    if keep_deliveries is not None:
        with store.write() as conn:
            stats.deliveries += storage.delete_finished_before(conn, now - timedelta(seconds=keep_deliveries))
    if keep_runs is not None:
        # The timeline of incidents long resolved (and robot notices), as old as the runs it described.
        with store.write() as conn:
            stats.events += storage.delete_closed_events_before(conn, now - timedelta(seconds=keep_runs))


def make_room(settings: RetentionSettings, reports_root: Path, store: Store | None = None) -> PruneStats:
    """``retention: {min_free: …}``: remove whole run folders, oldest first, until the reports disk has
    ``min_free`` bytes free (or nothing more may go). The rules above still hold: a run an open incident or
    a pending notification needs is kept, and only run folders with a ``report.json`` are touched."""
    from ..step.artifacts import free_bytes

    stats = PruneStats()
    root = Path(reports_root).resolve()
    want = settings.min_free
    if not settings.enabled or not want or not root.is_dir():
        return stats
    free = free_bytes(root)
    if free is None or free >= want:
        return stats
    protected: set[str] = set()
    if store is not None:
        with store.read() as conn:
            protected = storage.runs_in_use(conn)
    folders = [f for f in root.iterdir() if f.is_dir() and f.name not in protected and (f / "report.json").is_file()]
    oldest_first = sorted(folders, key=lambda f: (_started(f) or datetime.max.replace(tzinfo=UTC), f.name))
    now = utcnow()
    for folder in oldest_first:
        if (free_bytes(root) or 0) >= want:
            break
        _remove_folder(folder, stats)
        stats.reports += 1
        if store is not None:
            with store.write() as conn:
                storage.mark_pruned(conn, folder.name, report_at=now, screenshots_at=now)
    return stats

"""``reports/index.html``: the runs in the reports folder, newest first, and - when the
state database is on - each journey's history: pass rates over 7 and 30 days, its
recent runs, step-duration trends (p50/p95 charts), open incidents
(``patrol.reports.trends``).

With the state database the run list comes from it (a year of runs every few minutes
is too many report.json files to read each time), plus any folder it does not know;
at most ``MAX_RUNS`` are listed.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import NotRequired, TypedDict

from ..core.jsontypes import json_number, json_objects, json_str
from ..secrets import MASKER
from ..store import Store, history
from .html_report import environment
from .trends import load_history

MAX_RUNS = 300


class RunEntry(TypedDict):
    """A run as the index lists it (from its report.json, or from the state database)."""

    dir: str
    href: str | None
    run_id: str
    started_at: str
    status: object
    duration_ms: object
    journeys: list[dict[str, object]]
    findings: object
    schedule: object
    screenshots_pruned: NotRequired[bool]


def _summary(data: Mapping[str, object], folder: Path) -> RunEntry:
    latest: dict[object, dict[str, object]] = {}
    for j in json_objects(data, "journeys"):
        latest[j.get("name")] = j
    return {
        "dir": folder.name,
        "href": f"{folder.name}/index.html",
        "run_id": json_str(data, "run_id") or folder.name,
        "started_at": json_str(data, "started_at") or "",
        "status": data.get("status", "?"),
        "duration_ms": data.get("duration_ms"),
        "journeys": [{"name": j.get("name"), "status": j.get("status")} for j in latest.values()],
        "findings": sum(json_number(j, "findings_count") or 0 for j in latest.values()),
        "schedule": None,
    }


def list_runs(root: Path, names: list[str] | None = None) -> list[RunEntry]:
    """Runs from the report.json files in the folder (all, or the named folders)."""
    runs = []
    root = Path(root)
    reports = [root / n / "report.json" for n in names] if names is not None else root.glob("*/report.json")
    for report in reports:
        try:
            data: object = json.loads(report.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # a run still being written, or a broken file: skip, never crash the index
        if isinstance(data, dict):
            runs.append(_summary(data, report.parent))
    runs.sort(key=lambda r: (r["started_at"], r["run_id"]), reverse=True)
    return runs


def list_runs_db(store: Store, root: Path, limit: int = MAX_RUNS) -> tuple[list[RunEntry], int]:
    """Runs recorded in the state database whose folder is in ``root``, and folders
    in ``root`` it does not know; newest first, at most ``limit``. Also the total."""
    root = Path(root).resolve()
    prefix = str(root) + os.sep
    with store.read() as conn:
        known = history.folder_names_under(conn, prefix)
        total = len(known)
        rows = history.runs_under(conn, prefix, limit)
        per_run = history.latest_verdicts(conn, [r["id"] for r in rows])
    out: list[RunEntry] = []
    for r in rows:
        folder = Path(r["run_dir"])
        if folder.parent != root:
            continue
        pruned = r["report_pruned_at"] is not None or not (folder / "report.json").exists()
        out.append({
            "dir": folder.name,
            "href": None if pruned else f"{folder.name}/index.html",
            "run_id": r["id"],
            "started_at": r["started_at"].isoformat(timespec="seconds") if r["started_at"] else "",
            "status": r["status"],
            "duration_ms": r["duration_ms"],
            "journeys": per_run.get(r["id"], []),
            "findings": (r["summary"] or {}).get("findings", 0),
            "schedule": r["schedule"],
            "screenshots_pruned": r["screenshots_pruned_at"] is not None,
        })
    # Folders the database does not know (runs from before it, or with state: false).
    if root.is_dir():
        unknown = sorted((p.name for p in root.iterdir() if p.is_dir() and p.name not in known), reverse=True)
        total += len(unknown)
        out += list_runs(root, unknown[:limit])
    out.sort(key=lambda r: (r["started_at"], r["run_id"]), reverse=True)
    return out[:limit], total


def write_text_atomic_unique(path: Path, text: str) -> None:
    """Write through a uniquely named temporary file and rename: two writers (a
    scheduler and a `patrol run`) never leave half a file, or each other's."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(MASKER.mask(text))
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a report is for reading
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_index(root: Path, extra: Mapping[str, object] | None = None, store: Store | None = None) -> Path:
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    trends = None
    if store is not None:
        runs, total = list_runs_db(store, root)
        trends = load_history(store, root)
    else:
        runs = list_runs(root)
        total = len(runs)
    html = environment().get_template("index.html.j2").render(runs=runs[:MAX_RUNS], total=total, history=trends,
                                                              **(extra or {}))
    path = root / "index.html"
    write_text_atomic_unique(path, html)
    return path

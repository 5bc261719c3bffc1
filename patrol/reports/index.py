"""``reports/index.html``: every run in the reports folder, newest first."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .html_report import environment
from .json_report import write_text_atomic


def list_runs(root: Path) -> list[dict[str, Any]]:
    runs = []
    for report in Path(root).glob("*/report.json"):
        try:
            data = json.loads(report.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # a run still being written, or a broken file: skip, never crash the index
        journeys = data.get("journeys", [])
        runs.append(
            {
                "dir": report.parent.name,
                "run_id": data.get("run_id", report.parent.name),
                "started_at": data.get("started_at", ""),
                "status": data.get("status", "?"),
                "duration_ms": data.get("duration_ms"),
                "journeys": [{"name": j.get("name"), "status": j.get("status")} for j in journeys],
                "findings": sum(j.get("findings_count", 0) for j in journeys),
            }
        )
    runs.sort(key=lambda r: (r["started_at"], r["run_id"]), reverse=True)
    return runs


def write_index(root: Path, extra: dict[str, Any] | None = None, store=None) -> Path:
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    html = environment().get_template("index.html.j2").render(runs=list_runs(root), **(extra or {}))
    path = root / "index.html"
    write_text_atomic(path, html)
    return path

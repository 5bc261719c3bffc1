"""How a run is asked to go (CLI flags, a service's firing): read by the runner, its
engines and the checks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class RunOptions:
    output: Path | None = None  # exact run folder
    reports_root: Path = Path("reports")
    base_url: str | None = None
    headed: bool = False
    concurrency: int = 1
    update_baselines: bool = False
    run_id: str | None = None

"""Approving a finished run's screenshots as baselines: the one implementation
behind ``patrol baseline approve`` and the console's Approve."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .baselines import BaselineStore, Environment


@dataclass(frozen=True)
class Screen:
    """A step of a run whose screenshot can become a baseline."""

    journey: str
    attempt: int
    step_index: int
    step_name: str
    baseline: str
    device: str
    screenshot: str  # relative to the run folder
    environment: Environment
    status: str  # what the visual check said: new / match / diff / environment_mismatch
    layout: str | None = None  # the screen's layout captured with it (JSON, relative to the run folder)

    @property
    def key(self) -> str:
        return f"{self.journey}/{self.attempt}/{self.step_index}"


def approvable_screens(report: dict[str, Any]) -> list[Screen]:
    """Every step of the report with a visual check and a screenshot, in report order."""
    out: list[Screen] = []
    for journey in report.get("journeys", []):
        for step in journey.get("steps", []):
            visual = (step.get("artifacts") or {}).get("visual")
            if not visual or not step.get("screenshot"):
                continue
            out.append(Screen(journey["name"], int(journey.get("attempt") or 1), int(step["index"]), step.get("name") or "",
                              visual["baseline"], visual["device"], step["screenshot"],
                              Environment.from_dict(visual["environment"]), str(visual.get("status") or ""),
                              visual.get("layout") if isinstance(visual.get("layout"), str) else None))
    return out


def latest_screens(report: dict[str, Any]) -> list[Screen]:
    """One screen per baseline: the last attempt's (the one that decided the verdict)."""
    chosen: dict[tuple[str, str, str], Screen] = {}
    for s in approvable_screens(report):
        chosen[(s.journey, s.baseline, s.device)] = s
    return list(chosen.values())


def approve_screen(store: BaselineStore, run_dir: Path, screen: Screen) -> Path:
    """Write the screen's screenshot and environment as its baseline (manifest included),
    with the layout captured with it when the run kept one."""
    png = (run_dir / screen.screenshot).read_bytes()
    layout = None
    if screen.layout:
        try:
            layout = (run_dir / screen.layout).read_text(encoding="utf-8")
        except OSError:
            layout = None
    return store.save(screen.journey, screen.baseline, screen.device, png, screen.environment, layout)

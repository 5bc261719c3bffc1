"""Approving a finished run's screenshots as baselines: the one implementation
behind ``patrol baseline approve`` and the console's Approve."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..core.jsontypes import json_objects
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


def approvable_screens(report: Mapping[str, object]) -> list[Screen]:
    """Every step of the report with a visual check and a screenshot, in report order."""
    out: list[Screen] = []
    for journey in json_objects(report, "journeys"):
        for step in json_objects(journey, "steps"):
            artifacts = step.get("artifacts")
            visual = artifacts.get("visual") if isinstance(artifacts, dict) else None
            if not isinstance(visual, dict) or not visual or not step.get("screenshot"):
                continue
            env, layout = visual["environment"], visual.get("layout")
            out.append(Screen(str(journey["name"]), _number(journey.get("attempt") or 1), _number(step["index"]),
                              str(step.get("name") or ""), str(visual["baseline"]), str(visual["device"]),
                              str(step["screenshot"]), Environment.from_dict(env if isinstance(env, dict) else {}),
                              str(visual.get("status") or ""), layout if isinstance(layout, str) else None))
    return out


def _number(value: object) -> int:
    """A whole number the report wrote (a bool or a non-number is not one)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"not a number: {value!r}")
    return int(value)


def latest_screens(report: Mapping[str, object]) -> list[Screen]:
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

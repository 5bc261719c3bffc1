"""What the run page shows first: the verdict and, per failed journey, the step that failed,
its finding in one line, its screenshot and the compare link; then each journey's steps, the
passing ones as a strip of small thumbnails between the ones that need reading."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypedDict
from urllib.parse import quote

from ..core.jsontypes import as_object, json_list, json_objects

ONE_LINE = 180  # characters of a finding's message on the verdict line (the rest is on the step)


class StepGroup(TypedDict):
    """A run of passing steps shown as one strip (``kind: strip``), or one step of its own."""

    kind: str
    steps: list[dict[str, object]]


def member(obj: object, key: str) -> dict[str, object]:
    """The object under ``key`` of a report's (or an evidence's) object; {} when either is not one."""
    return as_object(obj.get(key) if isinstance(obj, dict) else None)


def latest_attempts(report: Mapping[str, object]) -> list[dict[str, object]]:
    """Each journey's last attempt (the one that decides the run), in report order."""
    last: dict[str, dict[str, object]] = {}
    for j in json_objects(report, "journeys"):
        last[str(j.get("name"))] = j
    return list(last.values())


def _line(text: object) -> str:
    words = " ".join(str(text or "").split())
    return words if len(words) <= ONE_LINE else words[: ONE_LINE - 1] + "…"


def screen_key(j: Mapping[str, object], step: Mapping[str, object]) -> str:
    return f"{j.get('name')}/{j.get('attempt') or 1}/{step.get('index')}"


def compare_url(run_id: str, j: Mapping[str, object], step: Mapping[str, object]) -> str:
    return f"/runs/{quote(run_id, safe='')}/compare?screen={quote(screen_key(j, step), safe='')}"


def failures(run_id: str, report: Mapping[str, object]) -> list[dict[str, object]]:
    """One entry per journey that did not pass: where it failed and why, in one line."""
    out: list[dict[str, object]] = []
    for j in latest_attempts(report):
        if j.get("status") == "passed":
            continue
        steps = json_objects(j, "steps")
        step = next((s for s in steps if s.get("status") == "failed"), None) or next((s for s in steps if s.get("findings")), None)
        found = json_list(step, "findings") if step else []
        finding = found[0] if found and isinstance(found[0], dict) else None
        robot = j.get("robot_error")
        if finding:
            line = f"{finding.get('kind')}/{finding.get('reason')}: {_line(finding.get('message'))}"
        elif isinstance(robot, dict) and robot:
            line = f"the robot could not work ({robot.get('reason')}): {_line(robot.get('message'))}"
        else:
            line = f"the journey {j.get('status')}"
        visual = any(isinstance(f, dict) and f.get("reason") == "visual_diff" for f in found)
        out.append({
            "journey": j.get("name"), "status": j.get("status"), "attempt": j.get("attempt") or 1,
            "step": step, "line": line, "more": max(0, sum(len(json_list(s, "findings")) for s in steps) - (1 if finding else 0)),
            "screenshot": step.get("screenshot") if step else None,
            "compare": compare_url(run_id, j, step) if step and visual else None,
        })
    return out


def step_groups(steps: list[dict[str, object]]) -> list[StepGroup]:
    """The journey's steps in order: runs of passing steps (nothing to read) as one strip,
    every other step on its own."""
    groups: list[StepGroup] = []
    for s in steps:
        quiet = s.get("status") == "passed" and not s.get("findings")
        if quiet and groups and groups[-1]["kind"] == "strip":
            groups[-1]["steps"].append(s)
        else:
            groups.append({"kind": "strip" if quiet else "step", "steps": [s]})
    return groups

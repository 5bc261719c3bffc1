"""What the run page shows first: the verdict and, per failed journey, the step that failed,
its finding in one line, its screenshot and the compare link; then each journey's steps, the
passing ones as a strip of small thumbnails between the ones that need reading."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

ONE_LINE = 180  # characters of a finding's message on the verdict line (the rest is on the step)


def latest_attempts(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Each journey's last attempt (the one that decides the run), in report order."""
    last: dict[str, dict[str, Any]] = {}
    for j in report.get("journeys") or []:
        if isinstance(j, dict):
            last[str(j.get("name"))] = j
    return list(last.values())


def _line(text: Any) -> str:
    words = " ".join(str(text or "").split())
    return words if len(words) <= ONE_LINE else words[: ONE_LINE - 1] + "…"


def screen_key(j: dict[str, Any], step: dict[str, Any]) -> str:
    return f"{j.get('name')}/{j.get('attempt') or 1}/{step.get('index')}"


def compare_url(run_id: str, j: dict[str, Any], step: dict[str, Any]) -> str:
    return f"/runs/{quote(run_id, safe='')}/compare?screen={quote(screen_key(j, step), safe='')}"


def failures(run_id: str, report: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per journey that did not pass: where it failed and why, in one line."""
    out = []
    for j in latest_attempts(report):
        if j.get("status") == "passed":
            continue
        steps = [s for s in j.get("steps") or [] if isinstance(s, dict)]
        step = next((s for s in steps if s.get("status") == "failed"), None) or next((s for s in steps if s.get("findings")), None)
        finding = (step.get("findings") or [None])[0] if step else None
        robot = j.get("robot_error") if isinstance(j.get("robot_error"), dict) else None
        if finding:
            line = f"{finding.get('kind')}/{finding.get('reason')}: {_line(finding.get('message'))}"
        elif robot:
            line = f"the robot could not work ({robot.get('reason')}): {_line(robot.get('message'))}"
        else:
            line = f"the journey {j.get('status')}"
        found = (step.get("findings") or []) if step else []
        visual = any(isinstance(f, dict) and f.get("reason") == "visual_diff" for f in found)
        out.append({
            "journey": j.get("name"), "status": j.get("status"), "attempt": j.get("attempt") or 1,
            "step": step, "line": line, "more": max(0, sum(len(s.get("findings") or []) for s in steps) - (1 if finding else 0)),
            "screenshot": step.get("screenshot") if step else None,
            "compare": compare_url(run_id, j, step) if step and visual else None,
        })
    return out


def step_groups(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The journey's steps in order: runs of passing steps (nothing to read) as one strip,
    every other step on its own."""
    groups: list[dict[str, Any]] = []
    for s in steps:
        quiet = s.get("status") == "passed" and not s.get("findings")
        if quiet and groups and groups[-1]["kind"] == "strip":
            groups[-1]["steps"].append(s)
        else:
            groups.append({"kind": "strip" if quiet else "step", "steps": [s]})
    return groups

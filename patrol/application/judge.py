"""The judge stage's timing: how long to wait before confirming a failure with a rerun."""

from __future__ import annotations

from ..results import RunResult


def confirm_delay(configured_s: float, run: RunResult, names: set[str]) -> float:
    """How long to wait before confirming: the configured delay, or longer when the
    app answered 429 with a Retry-After (seconds; up to ``MAX_CONFIRM_DELAY_S``)."""
    from ..config.incidents import MAX_CONFIRM_DELAY_S

    asked = [retry_after(f.evidence) for j in run.latest() if j.name in names for f in j.findings]
    return min(MAX_CONFIRM_DELAY_S, max([configured_s, *(a for a in asked if a is not None)]))


def retry_after(evidence: object) -> float | None:
    """The largest ``retry_after_s`` anywhere in a finding's evidence (the requests it names)."""
    found: list[float] = []
    if isinstance(evidence, dict):
        value = evidence.get("retry_after_s")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            found.append(float(value))
        found += [v for v in map(retry_after, evidence.values()) if v is not None]
    elif isinstance(evidence, list):
        found += [v for v in map(retry_after, evidence) if v is not None]
    return max(found) if found else None

"""The first thing a run's report says: what broke, one line per problem.

The findings of each journey's last attempt, grouped by cause as incidents group them
(``incidents.group_by: cause``): a backend answering in 8 s in every journey is one
line ("first-party API slow: 7 endpoints under /api answered in 8.0 s; 5 of 5
journeys, 18 steps"), a problem of one step its own line. Each names the first
affected step, with its screenshot and, for a visual finding, its diff.
"""

from __future__ import annotations

from ..core.isotime import parse_iso, utcnow
from ..core.jsontypes import JsonObject, json_objects, json_str
from ..core.vocabulary import Severity, Status
from ..incidents.fingerprint import Observation, observations, severity
from ..incidents.grouping import affected_entries, cause_doc, scope, summary
from ..results import JourneyResult, RunResult


def problems(run: RunResult) -> list[JsonObject]:
    """The run's problems, the most severe and widest first."""
    latest = [j for j in run.latest() if j.status not in (Status.ERROR, Status.INTERRUPTED)]
    groups: dict[str, list[Observation]] = {}
    for j in latest:
        for fp, ob in observations(j, "cause").items():
            groups.setdefault(fp, []).append(ob)
    at = parse_iso(run.started_at) or utcnow()
    out: list[tuple[tuple[bool, int, int], JsonObject]] = []
    for fp, obs in groups.items():
        lead = obs[0]
        cause = cause_doc(obs, "cause")
        affected = list(affected_entries(obs, at, run.run_id).values())
        journeys, steps = scope(affected)
        critical = any(f.fatal for ob in obs for _, f in ob.steps)
        images = [i for i in json_objects(lead.finding.evidence, "images") if i.get("label") == "diff"]
        out.append(((not critical, -journeys, -steps), {
            "fingerprint": fp,
            "line": summary(cause, affected, lead.finding.message, len(latest)),
            "kind": str(lead.finding.kind),
            "reason": str(lead.finding.reason),
            "severity": str(Severity.CRITICAL if critical else severity(lead.finding)),
            "cause": cause,
            "journeys": journeys,
            "steps": steps,
            "affected": [{"journey": e["journey"], "device": e["device"],
                          "steps": [{"index": s["index"], "name": s["name"]} for s in e["steps"]]} for e in affected],
            "first": {
                "journey": lead.journey.name,
                "position": _position(run, lead.journey),  # of the journey in the report's list (its anchor)
                "step": lead.step.index,
                "step_name": lead.step.name,
                "screenshot": json_str(lead.finding.evidence, "screenshot") or lead.step.screenshot,
                "diff": json_str(images[0], "path") if images else None,
            },
        }))
    out.sort(key=lambda p: p[0])
    return [p for _, p in out]


def _position(run: RunResult, journey: JourneyResult) -> int:
    return next((i for i, j in enumerate(run.journeys) if j is journey), 0)

"""What a grouped incident says about itself: its cause (``incidents.cause``) and the
journeys and steps it affects (``incidents.affected``), and the one line on-call reads
("first-party API slow: 7 endpoints under /api answered in 8.0 s; 5 of 5 journeys,
18 steps"). Pure functions of observations and stored rows: the lifecycle
(``policy.py`` and ``lifecycle.py``) decides when, this module what.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import NotRequired, TypedDict

from ..causes import Cause, CauseKind, Problem, api_prefix, url_template
from ..core.isotime import iso
from ..core.jsontypes import JsonObject, JsonValue, json_list, json_number, json_str
from ..secrets import MASKER
from .fingerprint import Observation

MAX_ENDPOINTS = 20
MAX_STEPS = 50  # per journey: a journey that loops stays readable

CauseDoc = JsonObject  # the ``cause`` column: ``Cause.to_dict()`` plus key, group_by, endpoints, ms, statuses, title


class AffectedStep(TypedDict):
    """One step of a journey an incident affects (an incident about its one step: no picture, no attempt)."""

    index: int
    key: str
    name: str
    reason: str
    screenshot: NotRequired[str | None]
    attempt: NotRequired[int]


class AffectedEntry(TypedDict):
    """One journey (on one device) an incident affects: an item of the ``affected`` column."""

    journey: str
    target: str
    device: str
    tags: list[str]
    steps: list[AffectedStep]
    first_seen: str | None
    last_seen: str | None
    count: int
    healthy_streak: int
    last_run_id: str | None


def _int(obj: Mapping[str, object], key: str) -> int:
    value = obj.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _step(raw: Mapping[str, object]) -> AffectedStep:
    step = AffectedStep(index=_int(raw, "index"), key=str(raw.get("key") or ""), name=str(raw.get("name") or ""),
                        reason=str(raw.get("reason") or ""))
    if "screenshot" in raw:
        step["screenshot"] = json_str(raw, "screenshot")
    if "attempt" in raw:
        step["attempt"] = _int(raw, "attempt")
    return step


def read_affected(stored: Iterable[Mapping[str, object]]) -> list[AffectedEntry]:
    """The ``affected`` column as written by ``affected_entries`` (read back from JSON)."""
    return [AffectedEntry(journey=str(e.get("journey") or ""), target=str(e.get("target") or ""),
                          device=str(e.get("device") or ""), tags=[str(t) for t in json_list(e, "tags")],
                          steps=[_step(s) for s in json_list(e, "steps") if isinstance(s, dict)],
                          first_seen=json_str(e, "first_seen"), last_seen=json_str(e, "last_seen"),
                          count=_int(e, "count"), healthy_streak=_int(e, "healthy_streak"),
                          last_run_id=json_str(e, "last_run_id"))
            for e in stored]


def state_key(journey: str, target: str, device: str) -> str:
    """A journey on one device, as ``incident_repo.state_key`` writes it (not imported:
    the run report groups problems with this module and needs no database)."""
    return f"{journey}\x1f{target}\x1f{device}"


def _endpoints(cause: Cause, obs: Iterable[Observation]) -> tuple[list[str], float | None, list[int]]:
    """Every ``METHOD /template`` of the group's host and API the observations name
    (the cause, and the other slow or failing requests in their evidence), the
    longest time and the statuses seen."""
    prefix = api_prefix(cause.template or "/")
    found: dict[str, None] = {}
    longest: float | None = None
    statuses: dict[int, None] = {}
    for ob in obs:
        for _, f in ob.steps:
            c = f.cause
            if c.is_step:
                continue
            found.setdefault(c.endpoint, None)
            if c.ms is not None:
                longest = max(longest or 0.0, c.ms)
            if c.status:
                statuses.setdefault(c.status, None)
            if not cause.is_backend:
                continue
            for r in json_list(f.evidence, "slow_requests" if cause.problem == Problem.SLOW else "requests"):
                if not isinstance(r, dict) or not r.get("url"):
                    continue
                host, template = url_template(str(r["url"]))
                if (host or None) != cause.host or api_prefix(template) != prefix:
                    continue
                if cause.problem == Problem.FAILED and not (r.get("error") or (r.get("status") or 0) >= 500):
                    continue
                found.setdefault(f"{str(r.get('method') or 'GET').upper()} {template}", None)
                if cause.problem == Problem.SLOW and r.get("duration_ms"):
                    longest = max(longest or 0.0, float(r["duration_ms"]))
                if isinstance(r.get("status"), int) and r["status"] >= 500:
                    statuses.setdefault(r["status"], None)
    return list(found)[:MAX_ENDPOINTS], longest, list(statuses)


def cause_doc(obs: list[Observation], group_by: str) -> CauseDoc:
    """The incident's ``cause`` column: the lead finding's cause, what it groups by
    (``key``; "" for the step itself), and for a request or file the endpoint templates."""
    cause = obs[0].finding.cause
    doc: CauseDoc = {**cause.to_dict()}
    doc["key"] = cause.group_key() if group_by == "cause" else ""
    doc["group_by"] = group_by
    if cause.kind in (CauseKind.REQUEST, CauseKind.RESOURCE, CauseKind.WEBSOCKET):
        endpoints, longest, statuses = _endpoints(cause, obs)
        doc["endpoints"] = list[JsonValue](endpoints)
        if longest is not None:
            doc["ms"] = round(longest, 1)
        if statuses:
            doc["statuses"] = list[JsonValue](statuses)
        # What routes and silences it (Alertmanager's label): stable over the incident's life.
        doc["endpoint"] = api_prefix(cause.template or "/") if cause.is_backend and group_by == "cause" else cause.endpoint
    elif not cause.is_step:
        doc["endpoint"] = cause.endpoint
    doc["title"] = title(doc)
    masked: CauseDoc = MASKER.mask_obj(doc)
    return masked


def merge_cause(old: CauseDoc | None, new: CauseDoc) -> CauseDoc:
    """A repeat's cause: the first one's identity, the endpoints of both, the longest time."""
    if not old:
        return new
    merged = dict(old)
    endpoints: list[JsonValue] = list(dict.fromkeys(
        e for e in [*json_list(old, "endpoints"), *json_list(new, "endpoints")] if isinstance(e, str)))
    if endpoints:
        merged["endpoints"] = endpoints[:MAX_ENDPOINTS]
    new_ms = json_number(new, "ms")
    if new_ms is not None:
        merged["ms"] = max(float(json_number(old, "ms") or 0.0), float(new_ms))
    statuses: list[JsonValue] = list(dict.fromkeys(
        s for s in [*json_list(old, "statuses"), *json_list(new, "statuses")] if isinstance(s, int)))
    if statuses:
        merged["statuses"] = statuses
    merged["title"] = title(merged)
    return merged


def title(doc: Mapping[str, object]) -> str:
    """What is wrong, without the counts: "first-party API slow: 7 endpoints under /api
    answered in 8.0 s", "the font /static/brand.woff2 did not load"."""
    kind, problem = doc.get("kind"), doc.get("problem")
    endpoints = json_list(doc, "endpoints")
    ms = json_number(doc, "ms")
    backend = kind == CauseKind.REQUEST and doc.get("resource_type") in ("fetch", "xhr") and problem in (Problem.SLOW, Problem.FAILED)
    if backend and doc.get("key"):
        where = doc.get("endpoint") or "/"
        n = len(endpoints) or 1
        what = f"{n} endpoint{'s' if n != 1 else ''} under {where}" if n > 1 else (endpoints[0] if endpoints else where)
        if problem == Problem.SLOW:
            return f"first-party API slow: {what} answered in {float(ms or 0) / 1000:.1f} s"
        statuses = ", ".join(f"HTTP {s}" for s in json_list(doc, "statuses")) or "an error"
        return f"first-party API failing: {what} answered {statuses}"
    if kind == CauseKind.STEP or not kind:
        return ""
    try:
        cause = Cause.from_dict({k: v for k, v in doc.items() if k in Cause.__dataclass_fields__})
    except (TypeError, ValueError):
        return ""
    return cause.describe()


def affected_entries(obs: list[Observation], now: datetime, run_id: str | None) -> dict[str, AffectedEntry]:
    """Per journey (and device) in these observations: its steps and when."""
    out: dict[str, AffectedEntry] = {}
    for ob in obs:
        j = ob.journey
        key = state_key(j.name, j.target, j.device)
        entry = out.setdefault(key, AffectedEntry(
            journey=j.name, target=str(j.target), device=j.device, tags=list(j.tags), steps=[],
            first_seen=iso(now), last_seen=iso(now), count=1, healthy_streak=0, last_run_id=run_id,
        ))
        for step, f in ob.steps:
            if len(entry["steps"]) >= MAX_STEPS or any(s["key"] == step.key for s in entry["steps"]):
                continue
            entry["steps"].append(AffectedStep(index=step.index, key=step.key, name=step.name, reason=str(f.reason),
                                               screenshot=step.screenshot, attempt=j.attempt))
    masked: dict[str, AffectedEntry] = MASKER.mask_obj(out)
    return masked


def merge_affected(old: list[AffectedEntry] | None, seen: dict[str, AffectedEntry], now: datetime,
                   run_id: str | None) -> list[AffectedEntry]:
    """The stored list with this run's sightings: journeys seen again count one more,
    their steps added, their healthy streak reset; new journeys join at the end."""
    out = [e.copy() for e in old or []]
    by_key = {state_key(e["journey"], e["target"], e["device"]): e for e in out}
    for key, fresh in seen.items():
        entry = by_key.get(key)
        if entry is None:
            out.append(fresh)
            continue
        entry["last_seen"], entry["count"], entry["healthy_streak"] = iso(now), entry["count"] + 1, 0
        entry["last_run_id"] = run_id
        steps = list(entry["steps"])
        known = {s["key"] for s in steps}
        steps += [s for s in fresh["steps"] if s["key"] not in known][: max(0, MAX_STEPS - len(steps))]
        entry["steps"] = steps
    return out


def scope(affected: list[AffectedEntry] | None) -> tuple[int, int]:
    """(journeys, steps) affected."""
    entries = affected or []
    return len(entries), sum(len(e["steps"]) for e in entries)


def summary(cause: Mapping[str, object] | None, affected: list[AffectedEntry] | None, fallback: str,
            journeys_in_run: int | None = None) -> str:
    """The incident's one line: a problem no other step shares says what it said (the
    finding's message); a shared one names the cause and how far it reaches."""
    journeys, steps = scope(affected)
    text = str((cause or {}).get("title") or "")
    endpoints = (cause or {}).get("endpoints")
    if not text or (journeys <= 1 and steps <= 1 and not (isinstance(endpoints, list) and endpoints[1:])):
        if journeys <= 1 and steps <= 1:
            return fallback
        text = text or fallback
    of = f" of {journeys_in_run}" if journeys_in_run and journeys_in_run >= journeys else ""
    return f"{text}; {journeys}{of} journey{'s' if journeys != 1 or of else ''}, {steps} step{'s' if steps != 1 else ''}"

"""Fingerprints and evidence summaries: from a finding to an incident's identity.

Grouped by cause (``incidents.group_by: cause``, the default), a finding whose cause is
named (a request, a file, a page error... ``patrol.causes``) has the cause's fingerprint:
every step of every journey that shows it is one incident. A finding about the step
itself, and every finding with ``group_by: step``, has the step's: journey + step
(name, or ``#index`` when unnamed) + kind + reason + target device. Same fingerprint,
same incident.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from ..core.jsontypes import JsonObject, json_list, json_objects
from ..core.vocabulary import Reason, Severity
from ..results import Finding, JourneyResult, StepResult
from ..secrets import MASKER

MAX_TEXT = 500


def fingerprint(journey: str, step_key: str, kind: str, reason: str, target: str, device: str) -> str:
    raw = "\x1f".join(("patrol/1", journey, step_key, kind, reason, target, device))
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:16]


def cause_fingerprint(group_key: str) -> str:
    """One cause, one incident, whichever journey, step or device shows it."""
    return hashlib.sha256(f"patrol/cause\x1f{group_key}".encode()).hexdigest()[:16]


def finding_fingerprint(journey: JourneyResult, step: StepResult, finding: Finding, group_by: str = "step") -> str:
    if group_by == "cause" and not finding.cause.is_step:
        return cause_fingerprint(finding.cause.group_key())
    return fingerprint(journey.name, step.key, finding.kind, finding.reason, journey.target, journey.device)


def severity(finding: Finding) -> Severity:
    """critical when the customer cannot go on (a fatal finding), else warning."""
    return Severity.CRITICAL if finding.fatal else Severity.WARNING


@dataclass
class Observation:
    """One finding as seen in one attempt of one journey (the first with its
    fingerprint); ``also``: the journey's other steps that showed it."""

    fingerprint: str
    finding: Finding
    step: StepResult
    journey: JourneyResult
    also: list[tuple[StepResult, Finding]] = field(default_factory=list)

    @property
    def steps(self) -> list[tuple[StepResult, Finding]]:
        return [(self.step, self.finding), *self.also]


def observations(journey: JourneyResult, group_by: str = "step") -> dict[str, Observation]:
    """The fingerprints an attempt produced (first finding per fingerprint)."""
    out: dict[str, Observation] = {}
    for step in journey.steps:
        for f in step.findings:
            fp = finding_fingerprint(journey, step, f, group_by)
            seen = out.get(fp)
            if seen is None:
                out[fp] = Observation(fp, f, step, journey)
            elif step is not seen.step and all(step is not s for s, _ in seen.also):
                seen.also.append((step, f))
    return out


def _clip(value: object, limit: int = MAX_TEXT) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# Text read on screen around the problem, as the OCR checks record it (most specific first).
_OCR_KEYS = ("ocr_text", "line", "around", "ocr", "screen_text", "read", "matched_text", "text")
_SKIP_DETAILS = {"screenshot", "images", "requests", "errors", "consequences", "url", "clusters", "trace_id",
                 "trace_link"} | set(_OCR_KEYS)


def _ocr_text(finding: Finding, step: StepResult) -> str | None:
    for source in (finding.evidence, step.artifacts.get("ocr") if isinstance(step.artifacts.get("ocr"), dict) else {}):
        for key in _OCR_KEYS:
            value = source.get(key) if isinstance(source, dict) else None
            if isinstance(value, str) and value.strip():
                return _clip(value, 300)
            if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
                return _clip(" / ".join(value), 300)
    ocr = step.artifacts.get("ocr")
    if isinstance(ocr, str) and ocr.strip():
        return _clip(ocr, 300)
    return None


def evidence_summary(finding: Finding, step: StepResult, journey: JourneyResult, run_dir: str | None) -> JsonObject:
    """What a person needs to see the problem, small enough to go into a message.
    Paths are relative to ``run_dir``; everything is masked."""
    ev = finding.evidence or {}
    screenshot = ev.get("screenshot") or step.screenshot
    images = []
    for item in json_objects(ev, "images"):
        if item.get("label"):
            path = item.get("path") or (screenshot if item.get("label") == "actual" else None)
            if path:
                images.append({"label": str(item["label"]), "path": str(path)})
    failed = []
    for r in json_list(ev, "requests")[:5]:
        if isinstance(r, dict):
            failed.append({
                "method": str(r.get("method") or "GET"),
                "url": _clip(r.get("url") or "", 300),
                "status": r.get("status") if isinstance(r.get("status"), int) else None,
                "error": _clip(r["error"], 200) if r.get("error") else None,
            })
    if not failed and finding.reason == Reason.HTTP_ERROR and ev.get("url"):
        failed.append({"method": "GET", "url": _clip(ev["url"], 300), "status": ev.get("status"), "error": None})
    page_errors = []
    for e in json_list(ev, "errors")[:3]:
        msg = e.get("message") if isinstance(e, dict) else e
        if msg:
            page_errors.append(_clip(msg, 300))
    details: dict[str, str | int | float | bool] = {}
    for key, value in ev.items():
        if key in _SKIP_DETAILS or len(details) >= 10:
            continue
        if isinstance(value, (str, int, float, bool)) and value is not None:
            details[str(key)] = _clip(value, 200) if isinstance(value, str) else value
    summary = {
        "run_dir": run_dir,
        "screenshot": screenshot,
        "images": images,
        "failed_requests": failed,
        "page_errors": page_errors,
        "ocr_text": _ocr_text(finding, step),
        "consequences": [_clip(c, 300) for c in json_list(ev, "consequences")[:3]],
        "details": details,
        "attempt": journey.attempt,
        "trace": journey.trace,  # the browser trace of the journey (web), when kept
        # The OpenTelemetry trace of the attempt (tracing:): the backend's spans of the same requests.
        "otel_trace": {"id": journey.trace_id, "url": journey.trace_link} if journey.trace_id else None,
    }
    masked: JsonObject = MASKER.mask_obj(summary)
    return masked

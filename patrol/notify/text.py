"""What a person reads: an event document turned into a title, a headline, labelled
facts and links, in plain (unescaped) text. Each format escapes it its own way.

Every message says what broke and where: journey, step name and number, page URL,
kind and reason, the message, first/last seen, count, screenshot and diff (links
when ``public_url`` is set, else paths), the report, and the evidence summary.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from typing import Any

from ..core.isotime import parse_iso
from ..core.vocabulary import EventType as E
from ..core.vocabulary import Outcome, ResolvedBy, Target

LABELS: dict[str, dict[str, str]] = {
    "en": {
        E.OPENED: "OPENED", E.RESOLVED: "RESOLVED", E.REMINDER: "STILL OPEN", E.FLAPPING: "FLAPPING",
        E.FLAPPING_STOPPED: "SETTLED", E.ROBOT_ERROR: "ROBOT ERROR", E.ROBOT_RECOVERED: "ROBOT RECOVERED",
        "what": "What", "journey": "Journey", "step": "Step", "page": "Page", "first_seen": "First seen",
        "last_seen": "Last seen", "count": "Count", "runs": "runs", "run": "run", "failed_requests": "Failed requests",
        "page_errors": "Page errors", "ocr": "Text on screen", "consequences": "Then", "resolved": "Resolved",
        "by_hand": "by hand", "after_healthy": "after {n} healthy runs in a row", "open_for": "Open for",
        "previous": "Before", "previous_text": "same problem as incident #{id}, which was resolved",
        "screenshot": "Screenshot", "diff": "Diff", "baseline": "Baseline", "report": "Report", "trace": "Trace",
        "otel_trace": "Backend trace",
        "console": "Incident page", "compare": "Compare view",
        "state": "Now", "failing": "failing", "healthy": "healthy", "incidents": "Incidents",
        "flapping_headline": "The journey keeps switching between failing and healthy ({pct:.0f}% weighted state change "
                             "over its last {n} runs). Patrol stays quiet about it until it settles.",
        "settled_failing": "The journey stopped flapping and is failing.",
        "settled_healthy": "The journey stopped flapping and is healthy.",
        "robot_headline": "Patrol itself could not run {n} journey(s): this is the robot's failure, not the app's.",
        "recovered_headline": "Patrol runs journeys on {target} again.",
        "since": "Since", "step_text": "step {index} “{name}”", "in": "in", "note": "Note",
        "escalation": "Escalation", "escalation_text": "level {level}, unacknowledged for {ago}",
        "cause": "Cause", "affected": "Affected", "endpoints": "Endpoints", "first_step": "First affected step",
        "scope": "{j} journey(s), {s} step(s)",
    },
    "zh": {
        E.OPENED: "告警", E.RESOLVED: "已恢复", E.REMINDER: "仍未恢复", E.FLAPPING: "状态抖动",
        E.FLAPPING_STOPPED: "抖动结束", E.ROBOT_ERROR: "巡检机器人故障", E.ROBOT_RECOVERED: "巡检机器人恢复",
        "what": "问题", "journey": "旅程", "step": "步骤", "page": "页面", "first_seen": "首次发现",
        "last_seen": "最近发现", "count": "次数", "runs": "次巡检", "run": "次巡检", "failed_requests": "失败请求",
        "page_errors": "页面错误", "ocr": "屏幕文字", "consequences": "后果", "resolved": "恢复",
        "by_hand": "手动", "after_healthy": "连续 {n} 次巡检正常", "open_for": "持续",
        "previous": "此前", "previous_text": "与已恢复的事件 #{id} 是同一问题",
        "screenshot": "截图", "diff": "差异图", "baseline": "基准图", "report": "报告", "trace": "浏览器追踪",
        "otel_trace": "后端链路追踪",
        "console": "事件页面", "compare": "对比视图",
        "state": "当前", "failing": "失败", "healthy": "正常", "incidents": "事件",
        "flapping_headline": "该旅程在失败与正常之间反复切换（最近 {n} 次巡检加权状态变化 {pct:.0f}%）。"
                             "在稳定之前 Patrol 不再就此发送通知。",
        "settled_failing": "该旅程已停止抖动，当前失败。",
        "settled_healthy": "该旅程已停止抖动，当前正常。",
        "robot_headline": "Patrol 自身无法运行 {n} 个旅程：这是巡检机器人的故障，不是被测应用的问题。",
        "recovered_headline": "Patrol 已恢复在 {target} 上运行旅程。",
        "since": "开始于", "step_text": "第 {index} 步「{name}」", "in": "于", "note": "备注",
        "escalation": "升级", "escalation_text": "第 {level} 级，{ago} 未确认",
        "cause": "原因", "affected": "影响范围", "endpoints": "接口", "first_step": "首个受影响步骤",
        "scope": "{j} 个旅程，{s} 个步骤",
    },
}


@dataclass
class Link:
    label: str
    url: str | None
    path: str | None

    @property
    def target(self) -> str:
        return self.url or self.path or ""


@dataclass
class Message:
    event: str  # event type
    severity: str  # critical / warning / error / ok / info
    title: str
    headline: str
    facts: list[tuple[str, str]] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    footer: str = ""

    @property
    def colour(self) -> str:
        return {"critical": "red", "error": "red", "warning": "orange", "ok": "green"}.get(self.severity, "grey")


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def clean(text: object, limit: int = 400) -> str:
    """One line of plain text: no control or bidi characters, no newlines, bounded."""
    s = _CONTROL.sub("", " ".join(str(text if text is not None else "").split()))
    return s if len(s) <= limit else s[: limit - 1] + "…"


def when(iso_text: str | None, tz: tzinfo) -> str:
    dt = parse_iso(iso_text)
    if dt is None:
        return "-"
    local = dt.astimezone(tz)
    name = local.tzname() or ""
    return local.strftime("%Y-%m-%d %H:%M:%S") + (f" {name}" if name else "")


def span(a: str | None, b: str | None) -> str:
    x, y = parse_iso(a), parse_iso(b)
    if not x or not y:
        return "-"
    s = max(0, int((y - x).total_seconds()))
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    parts = [f"{d}d" if d else "", f"{h}h" if h else "", f"{m}m" if m else ""]
    out = " ".join(p for p in parts if p)
    return out or f"{s}s"


Doc = dict[str, Any]  # an event document (``incidents.documents.build``)
Labels = dict[str, str]


def step_text(inc: Doc, L: Labels) -> str:
    step = inc["step"]
    return L["step_text"].format(index=step["index"], name=step["name"] or step["key"])


def grouped(inc: Doc) -> bool:
    """Whether an incident is about more than its one step (a cause several steps share)."""
    scope = inc.get("scope") or {}
    return int(scope.get("steps") or 1) > 1 or int(scope.get("journeys") or 1) > 1


def affected_text(inc: Doc, limit: int = 8) -> str:
    """``bind_card: sign in, bind card; transfer: sign in (+2 more)``."""
    parts = []
    for e in (inc.get("affected") or [])[:limit]:
        steps = [str(s.get("name") or s.get("key") or f"#{s.get('index')}") for s in e.get("steps") or []]
        shown = ", ".join(steps[:4]) + (f" (+{len(steps) - 4})" if len(steps) > 4 else "")
        parts.append(f"{e.get('journey')}: {shown}")
    more = len(inc.get("affected") or []) - limit
    return "; ".join(parts) + (f"; +{more} more journeys" if more > 0 else "")


def summary_line(doc: Doc) -> str:
    """One plain English sentence (the ``summary`` of the webhook JSON; PagerDuty's summary)."""
    t, data = doc["type"], doc["data"]
    inc = data.get("incident")
    if t.startswith("robot."):
        robot = data.get("robot") or {}
        if t == E.ROBOT_RECOVERED:
            return clean(f"Patrol robot recovered on {robot.get('target')}: journeys run again", 1000)
        first = (robot.get("journeys") or [{}])[0]
        return clean(
            f"Patrol robot error on {robot.get('target')}: could not run {len(robot.get('journeys') or [])} journey(s) "
            f"({first.get('reason')}: {first.get('message')})", 1000)
    if t in (E.FLAPPING, E.FLAPPING_STOPPED):
        fl = data.get("flapping") or {}
        what = "is flapping" if t == E.FLAPPING else f"stopped flapping and is {fl.get('state')}"
        return clean(f"Journey {fl.get('journey')} ({fl.get('device')}) {what} "
                     f"({fl.get('percent', 0):.0f}% weighted state change)", 1000)
    if inc is None:
        return str(t)
    verb = {E.OPENED: "Opened", E.RESOLVED: "Resolved", E.REMINDER: "Still open"}.get(t, t)
    step = inc["step"]
    if grouped(inc):
        return clean(f"{verb}: {inc['kind']} ({inc['reason']}): {inc['message']}", 1000)
    return clean(
        f"{verb}: {inc['kind']} ({inc['reason']}) in journey {inc['journey']['name']}, step {step['index']} "
        f"{step['name'] or step['key']} ({inc['journey']['device']}): {inc['message']}", 1000)


def _evidence_facts(inc: Doc, L: Labels) -> list[tuple[str, str]]:
    ev = inc.get("evidence") or {}
    facts = []
    reqs = ev.get("failed_requests") or []
    if reqs:
        parts = []
        for r in reqs[:3]:
            what = f"HTTP {r['status']}" if r.get("status") else (r.get("error") or "failed")
            parts.append(f"{r.get('method') or 'GET'} {r.get('url')} → {what}")
        facts.append((L["failed_requests"], clean("; ".join(parts), 600)))
    if ev.get("page_errors"):
        facts.append((L["page_errors"], clean("; ".join(ev["page_errors"][:2]), 400)))
    if ev.get("ocr_text"):
        facts.append((L["ocr"], clean(ev["ocr_text"], 300)))
    if ev.get("consequences"):
        facts.append((L["consequences"], clean("; ".join(ev["consequences"][:2]), 300)))
    otel = ev.get("otel_trace") or {}
    if otel.get("id"):  # the trace the backend's spans share with the step (tracing:)
        facts.append((L["otel_trace"], clean(str(otel["id"]), 64)))
    return facts


def _links(inc: Doc | None, run: Doc | None, L: Labels, with_images: bool) -> list[Link]:
    out = []
    console = (inc or {}).get("console") or {}
    if console.get("incident"):  # first: where on-call acknowledges, and (visual) approves
        out.append(Link(L["console"], console["incident"], None))
    if console.get("compare"):
        out.append(Link(L["compare"], console["compare"], None))
    if inc is not None and with_images:
        ev = inc.get("evidence") or {}
        if ev.get("screenshot"):
            out.append(Link(L["screenshot"], ev["screenshot"].get("url"), ev["screenshot"].get("path")))
        for img in ev.get("images") or []:
            if img.get("label") in ("diff", "baseline"):
                out.append(Link(L[img["label"]], img.get("url"), img.get("path")))
        if ev.get("trace"):
            out.append(Link(L["trace"], ev["trace"].get("url"), ev["trace"].get("path")))
    otel = ((inc or {}).get("evidence") or {}).get("otel_trace") or {}
    if otel.get("url"):
        out.append(Link(L["otel_trace"], otel["url"], None))
    report = (run or {}).get("report") or ((inc or {}).get("evidence") or {}).get("report")
    if report:
        out.append(Link(L["report"], report.get("url"), report.get("path")))
    return out


def message(doc: Doc, language: str = "en", tz: tzinfo = UTC) -> Message:
    L = LABELS.get(language, LABELS["en"])
    t, data = doc["type"], doc["data"]
    version = data.get("patrol", {}).get("version", "")
    if t in (E.ROBOT_ERROR, E.ROBOT_RECOVERED):
        m = _robot_message(t, data, L, tz)
        m.footer = f"Patrol {version}"
    elif t in (E.FLAPPING, E.FLAPPING_STOPPED):
        m = _flapping_message(t, data, L)
        m.footer = f"Patrol {version}"
    else:
        m = _incident_message(t, doc, L, tz)
        m.footer = f"incident #{data['incident']['id']} · {data['incident']['fingerprint']} · Patrol {version}"
    return m


def _robot_message(t: str, data: Doc, L: Labels, tz: tzinfo) -> Message:
    robot = data.get("robot") or {}
    target = robot.get("target") or Target.WEB
    word = L.get(t, t)
    if t == E.ROBOT_RECOVERED:
        m = Message(t, "ok", f"Patrol {word} · {target}", L["recovered_headline"].format(target=target))
        m.facts.append((L["since"], when(robot.get("since"), tz)))
    else:
        journeys = robot.get("journeys") or []
        m = Message(t, "error", f"Patrol {word} · {target}", L["robot_headline"].format(n=len(journeys)))
        for j in journeys[:10]:
            m.facts.append((clean(j.get("name"), 100), clean(f"{j.get('reason')}: {j.get('message')}", 400)))
    m.links = _links(None, data.get("run"), L, False)
    return m


def _flapping_message(t: str, data: Doc, L: Labels) -> Message:
    inc, fl = data.get("incident"), data.get("flapping") or {}
    name = clean(fl.get("journey"), 120)
    if t == E.FLAPPING:
        headline = L["flapping_headline"].format(pct=fl.get("percent", 0.0), n=fl.get("window", 21))
        severity = "warning"
    else:
        failing = fl.get("state") == Outcome.FAILING
        headline = L["settled_failing"] if failing else L["settled_healthy"]
        severity = "critical" if failing else "ok"
    m = Message(t, severity, f"Patrol {L.get(t, t)} · {name}", headline)
    m.facts.append((L["journey"], clean(f"{fl.get('journey')} · {fl.get('target')}/{fl.get('device')}", 300)))
    m.facts.append((L["state"], L.get(fl.get("state") or "", fl.get("state") or "-")))
    if inc is not None:
        m.facts.append((L["what"], clean(f"#{inc['id']} {inc['kind']} ({inc['reason']}) {step_text(inc, L)}: {inc['message']}", 500)))
    if fl.get("incidents"):
        m.facts.append((L["incidents"], ", ".join(f"#{i}" for i in fl["incidents"][:10])))
    m.links = _links(inc, data.get("run"), L, t == E.FLAPPING and inc is not None)
    return m


def _incident_message(t: str, doc: Doc, L: Labels, tz: tzinfo) -> Message:
    inc, run = doc["data"]["incident"], doc["data"].get("run")
    j, step = inc["journey"], inc["step"]
    severity = "ok" if t == E.RESOLVED else inc["severity"]
    cause = inc.get("cause") or {}
    if grouped(inc):
        # One problem several steps share: the cause leads, then how far it reaches, then
        # the first step it was seen in (whose screenshot the links carry).
        scope = inc.get("scope") or {}
        reach = L["scope"].format(j=scope.get("journeys", 1), s=scope.get("steps", 1))
        title = f"Patrol {L.get(t, t)} #{inc['id']} · {clean(cause.get('title') or inc['reason'], 120)} · {reach}"
        m = Message(t, severity, title, clean(inc["message"], 500))
        m.facts.append((L["cause"], clean(cause.get("title") or f"{inc['kind']} ({inc['reason']})", 300)))
        m.facts.append((L["affected"], clean(f"{reach}: {affected_text(inc)}", 900)))
        if len(cause.get("endpoints") or []) > 1:
            m.facts.append((L["endpoints"], clean(", ".join(cause["endpoints"][:12]), 600)))
        m.facts.append((L["what"], clean(f"{inc['kind']} ({inc['reason']}), {inc['severity']}", 200)))
        m.facts.append((L["first_step"], clean(f"{j['name']} · {step_text(inc, L)} · {j['target']}/{j['device']}", 300)))
    else:
        title = f"Patrol {L.get(t, t)} #{inc['id']} · {clean(j['name'], 80)} · {clean(step_text(inc, L), 120)} · {inc['kind']}"
        m = Message(t, severity, title, clean(inc["message"], 500))
        if cause.get("title"):
            m.facts.append((L["cause"], clean(cause["title"], 300)))
        m.facts.append((L["what"], clean(f"{inc['kind']} ({inc['reason']}), {inc['severity']}", 200)))
        m.facts.append((L["journey"], clean(f"{j['name']} ({j.get('file') or '-'}) · {j['target']}/{j['device']}", 300)))
        m.facts.append((L["step"], clean(f"{step['index']} “{step['name'] or step['key']}” ({step['action']})", 300)))
    if inc.get("page_url"):
        m.facts.append((L["page"], clean(inc["page_url"], 500)))
    m.facts.append((L["first_seen"], when(inc["first_seen"], tz)))
    m.facts.append((L["last_seen"], when(inc["last_seen"], tz)))
    m.facts.append((L["count"], f"{inc['count']} {L['run'] if inc['count'] == 1 else L['runs']}"))
    if t == E.RESOLVED:
        how = L["by_hand"] if inc.get("resolved_by") == ResolvedBy.MANUAL else L["after_healthy"].format(n=inc.get("healthy_runs"))
        m.facts.append((L["resolved"], f"{when(inc.get('resolved_at'), tz)} ({how})"))
        m.facts.append((L["open_for"], span(inc["first_seen"], inc.get("resolved_at"))))
        if inc.get("resolve_note"):
            m.facts.append((L["note"], clean(inc["resolve_note"], 300)))
    else:
        esc = doc["data"].get("escalation")  # sent by incidents.escalation: a later level, or a re-notification
        if isinstance(esc, dict) and esc.get("level"):
            m.facts.append((L["escalation"], L["escalation_text"].format(level=esc["level"], ago=esc.get("unacknowledged_for"))))
        if t == E.REMINDER:
            m.facts.append((L["open_for"], span(inc["first_seen"], doc.get("timestamp"))))
        m.facts.extend(_evidence_facts(inc, L))
        if inc.get("previous_incident_id"):
            m.facts.append((L["previous"], L["previous_text"].format(id=inc["previous_incident_id"])))
    m.links = _links(inc, run, L, t != E.RESOLVED)
    return m

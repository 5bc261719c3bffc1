"""``PatrolConfig``: the whole of patrol.yaml, typed, built by one parse at load."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from ..core.text import suggest
from .escalation import check_escalation_receivers
from .fleet import FleetSettings, parse_fleet
from .incidents import IncidentSettings, parse_incidents
from .maintenance import MaintenanceSpec, parse_maintenance
from .reader import Reader
from .receivers import ReceiverConfig, parse_receivers
from .retention import RetentionSettings, parse_retention
from .schedules import ScheduleSpec, parse_schedules
from .sections import (
    AppiumConfig,
    BrowserConfig,
    BudgetDefaults,
    DetectorsConfig,
    ForbiddenTextConfig,
    OcrConfig,
    StateConfig,
    TextLayoutConfig,
    VisualConfig,
    parse_appium,
    parse_browser,
    parse_budgets,
    parse_console_url,
    parse_detectors,
    parse_forbidden_text,
    parse_ocr,
    parse_public_url,
    parse_state,
    parse_text_layout,
    parse_visual,
    top_level_scalars,
)
from .tracing import TracingSettings, parse_tracing
from .vitals import VitalsBudgets, parse_vitals
from .web import NetworkSettings, parse_busy, parse_network

# Every section this version understands (the key, what it is for).
SECTIONS = {
    "browser": "Chromium executable, arguments, headless, or connect: ws://... (a browser server); locale, timezone, colours, trace",
    "network": "first-party hosts, requests ignored or blocked, slow and error thresholds",
    "busy": "selectors of the app's own busy indicators (spinners)",
    "budgets": "default step budget and hard timeout",
    "forbidden_text": "text that must never be on screen",
    "detectors": "rendering-error detectors switched on/off",
    "text_layout": "selectors whose text the clipped/overlapping text detectors leave alone",
    "ocr": "OCR engine (tesseract, rapidocr or both), Tesseract languages, OCR cache",
    "visual": "visual comparison defaults",
    "state": "state database URL",
    "incidents": "incident lifecycle settings",
    "receivers": "where incident notifications go",
    "public_url": "base URL under which report folders are served",
    "console_url": "address of the Patrol console (patrol serve): messages link to incidents and compare views",
    "schedules": "when journeys run",
    "maintenance": "windows when patrols run but nothing is sent (deploys)",
    "concurrency": "journeys at once",
    "retention": "how long runs and screenshots are kept",
    "appium": "Appium server URL and devices",
    "journeys": "default journey folder",
    "reports": "default reports folder",
    "fleet": "patrol from many machines: Celery broker (Redis), queues, visibility timeout",
    "vitals": "Web Vitals budgets of web steps (LCP, CLS, INP, FCP, TTFB)",
    "tracing": "W3C trace context on the app's own requests, OpenTelemetry spans per journey and step (OTLP)",
}


@dataclass(frozen=True)
class PatrolConfig:
    browser: BrowserConfig = BrowserConfig()
    network: NetworkSettings = NetworkSettings()
    busy: tuple[str, ...] = ()
    budgets: BudgetDefaults = BudgetDefaults()
    forbidden_text: ForbiddenTextConfig = ForbiddenTextConfig()
    detectors: DetectorsConfig = DetectorsConfig()
    text_layout: TextLayoutConfig = TextLayoutConfig()
    ocr: OcrConfig = OcrConfig()
    visual: VisualConfig = VisualConfig()
    state: StateConfig = StateConfig()
    incidents: IncidentSettings = IncidentSettings()
    receivers: Mapping[str, ReceiverConfig] = field(default_factory=lambda: MappingProxyType({}))
    public_url: str | None = None
    console_url: str | None = None
    schedules: tuple[ScheduleSpec, ...] = ()
    maintenance: tuple[MaintenanceSpec, ...] = ()
    concurrency: int = 1
    retention: RetentionSettings = RetentionSettings()
    appium: AppiumConfig = AppiumConfig()
    journeys: str = "journeys"  # folder, relative to patrol.yaml
    reports: str = "reports"
    fleet: FleetSettings = FleetSettings()
    vitals: VitalsBudgets = VitalsBudgets()
    tracing: TracingSettings = TracingSettings()


def parse_config(r: Reader, data: object) -> PatrolConfig:
    """Every section, every problem recorded in ``r`` (the result holds defaults where
    a value was bad, so it is only to be used when ``r.problems`` is empty)."""
    if data is None:
        return PatrolConfig()
    if not isinstance(data, dict):
        r.error((), "the file must be a mapping of sections")
        return PatrolConfig()
    for key in data:
        if key not in SECTIONS:
            r.error((key,), f"unknown section '{key}'{suggest(key, SECTIONS)}; allowed: {', '.join(sorted(SECTIONS))}",
                    key=True)
    concurrency, journeys, reports = top_level_scalars(r, data)
    incidents = parse_incidents(r, data.get("incidents"))
    receivers = parse_receivers(r, data.get("receivers"))
    raw_receivers = data.get("receivers")  # a receiver with a problem of its own is not also "unknown"
    check_escalation_receivers(r, incidents.escalation, raw_receivers if isinstance(raw_receivers, dict) else {})
    return PatrolConfig(
        browser=parse_browser(r, data.get("browser")),
        network=parse_network(r, data.get("network")),
        busy=parse_busy(r, data.get("busy")),
        budgets=parse_budgets(r, data.get("budgets")),
        forbidden_text=parse_forbidden_text(r, data.get("forbidden_text")),
        detectors=parse_detectors(r, data.get("detectors")),
        text_layout=parse_text_layout(r, data.get("text_layout")),
        ocr=parse_ocr(r, data.get("ocr")),
        visual=parse_visual(r, data.get("visual")),
        state=parse_state(r, data.get("state")),
        incidents=incidents,
        receivers=MappingProxyType(receivers),
        public_url=parse_public_url(r, data.get("public_url")),
        console_url=parse_console_url(r, data.get("console_url")),
        schedules=parse_schedules(r, data.get("schedules"), r.file),
        maintenance=parse_maintenance(r, data.get("maintenance")),
        concurrency=concurrency,
        retention=parse_retention(r, data.get("retention")),
        appium=parse_appium(r, data.get("appium")),
        journeys=journeys,
        reports=reports,
        fleet=parse_fleet(r, data.get("fleet")),
        vitals=parse_vitals(r, data.get("vitals")),
        tracing=parse_tracing(r, data.get("tracing")),
    )

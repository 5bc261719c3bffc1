"""``PatrolConfig``: the whole of patrol.yaml, typed, built by one parse at load."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Generic, TypeVar

from ..core.text import suggest
from .escalation import check_escalation_receivers
from .fleet import FleetSettings, parse_fleet
from .incidents import IncidentSettings, parse_incidents
from .reader import Reader
from .receivers import ReceiverConfig, parse_receivers
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

# Every section this version understands (the key, what it is for); a feature's section is added when
# it registers (``FeatureSection``).
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
    "concurrency": "journeys at once",
    "appium": "Appium server URL and devices",
    "journeys": "default journey folder",
    "reports": "default reports folder",
    "fleet": "patrol from many machines: Celery broker (Redis), queues, visibility timeout",
    "vitals": "Web Vitals budgets of web steps (LCP, CLS, INP, FCP, TTFB)",
    "tracing": "W3C trace context on the app's own requests, OpenTelemetry spans per journey and step (OTLP)",
}


T = TypeVar("T")


class FeatureSection(Generic[T]):
    """The section a feature package owns (``retention:`` in ``patrol.retention.settings``...), and the key
    to read it typed: ``config.settings[RETENTION]``. The features sit above configuration (they keep
    their own tables in the state store), so this assembly cannot import them; each registers its
    section by making its key, and ``patrol.plugins`` imports them all before patrol.yaml is read."""

    def __init__(self, key: str, description: str, kind: type[T], read: Callable[[Reader, object], T],
                 default: T) -> None:
        if key in SECTIONS:
            raise ValueError(f"patrol.yaml already has a section {key!r}")
        self.key, self.kind, self.read, self.default = key, kind, read, default
        SECTIONS[key] = description
        _FEATURES[key] = read

    def value_in(self, sections: Mapping[str, object]) -> T:
        value = sections.get(self.key, self.default)
        if not isinstance(value, self.kind):  # only a reader that broke its own signature gets here
            raise TypeError(f"section {self.key!r} holds a {type(value).__name__}, not a {self.kind.__name__}")
        return value


# What the assembly needs of a registered section: its reader (the value is read back, typed, through the
# FeatureSection that registered it).
_FEATURES: dict[str, Callable[[Reader, object], object]] = {}


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
    concurrency: int = 1
    appium: AppiumConfig = AppiumConfig()
    journeys: str = "journeys"  # folder, relative to patrol.yaml
    reports: str = "reports"
    fleet: FleetSettings = FleetSettings()
    vitals: VitalsBudgets = VitalsBudgets()
    tracing: TracingSettings = TracingSettings()
    # The sections feature packages own, by key, as their readers made them: read one as ``settings[SECTION]``.
    feature_sections: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))

    def __getitem__(self, section: FeatureSection[T]) -> T:
        """A feature's section, typed by its key (the default when patrol.yaml does not have it)."""
        return section.value_in(self.feature_sections)


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
            if not _FEATURES:  # a programming error, not the user's: every entry point loads the plugins
                raise RuntimeError("no feature sections registered: import patrol.plugins before reading patrol.yaml")
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
        concurrency=concurrency,
        appium=parse_appium(r, data.get("appium")),
        journeys=journeys,
        reports=reports,
        fleet=parse_fleet(r, data.get("fleet")),
        vitals=parse_vitals(r, data.get("vitals")),
        tracing=parse_tracing(r, data.get("tracing")),
        feature_sections=MappingProxyType({key: read(r, data.get(key)) for key, read in _FEATURES.items()}),
    )

"""Typed values every stage shares. They are ``StrEnum`` so reports, the state
database and webhook payloads keep the same plain strings they always had."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """Of a step, a journey attempt or a run."""

    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"  # a step never reached (an earlier step broke the flow)
    ERROR = "error"  # the robot failed, not the app
    INTERRUPTED = "interrupted"  # cut short by a stopping service or a lost worker
    RUNNING = "running"  # a step in progress


class Kind(StrEnum):
    """What a finding means for a customer."""

    BREAKPOINT = "breakpoint"  # the flow cannot go on
    STALL = "stall"  # a step is too slow, or the screen froze
    RENDER = "render"  # what a customer's eye sees wrong


class Target(StrEnum):
    WEB = "web"
    APP = "app"


class Reason(StrEnum):
    """Machine-readable cause of a finding (also in fingerprints and payloads)."""

    # the flow broke
    ACTION_FAILED = "action_failed"
    ACTION_TIMEOUT = "action_timeout"
    ELEMENT_NOT_FOUND = "element_not_found"
    ELEMENT_NOT_VISIBLE = "element_not_visible"
    TEXT_NOT_FOUND = "text_not_found"
    BAD_LOCATOR = "bad_locator"
    AMBIGUOUS_LOCATOR = "ambiguous_locator"  # a selector matched several elements and the step did not say which
    BAD_KEY = "bad_key"
    BAD_APP = "bad_app"
    NOT_SUPPORTED = "not_supported"
    EXPECT_FAILED = "expect_failed"
    HTTP_ERROR = "http_error"
    REQUEST_FAILED = "request_failed"
    RESOURCE_FAILED = "resource_failed"  # a first-party script, stylesheet, document, font or image did not load
    CONSOLE_ERROR = "console_error"  # the page logged an error, and the step failed with no other cause
    PAGE_ERROR = "page_error"
    APP_STATE = "app_state"
    APP_CRASHED = "app_crashed"
    APP_LEFT_FOREGROUND = "app_left_foreground"
    SYSTEM_DIALOG = "system_dialog"
    WEBSOCKET_CLOSED = "websocket_closed"  # a socket of the app's own closed or kept reconnecting while the screen waited
    DIALOG_FLOOD = "dialog_flood"  # the page opened dialog after dialog in one step
    # too slow or frozen
    OVER_BUDGET = "over_budget"
    SPINNER_STUCK = "spinner_stuck"
    FROZEN_SCREEN = "frozen_screen"
    SCREEN_UNSETTLED = "screen_unsettled"
    JOURNEY_TIMEOUT = "journey_timeout"
    PAGE_UNRESPONSIVE = "page_unresponsive"  # the page's main thread did not answer within the hard timeout
    APP_NOT_RESPONDING = "app_not_responding"  # the app's UI thread did not answer within the hard timeout
    VITALS_OVER_BUDGET = "vitals_over_budget"  # a Web Vital of the step (LCP, INP, FCP, TTFB) over its budget
    # rendering errors
    VISUAL_DIFF = "visual_diff"
    BLANK_SCREEN = "blank_screen"
    BLANK_REGION = "blank_region"
    BROKEN_IMAGE = "broken_image"
    LAYOUT_SHIFT = "layout_shift"  # the layout jumped with no input to explain it (CLS over its budget)
    CLIPPED_TEXT = "clipped_text"  # text cut by its box, sticking out of it, or off the screen
    OVERLAPPING_TEXT = "overlapping_text"  # text drawn over other text
    FORBIDDEN_TEXT = "forbidden_text"
    MISSING_TEXT = "missing_text"
    WRONG_VALUE = "wrong_value"  # an element's text, count, attribute or value is not what the step expects
    OCR_UNAVAILABLE = "ocr_unavailable"


class Outcome(StrEnum):
    """What one journey attempt says about the app (``journey_runs.outcome``)."""

    HEALTHY = "healthy"
    FAILING = "failing"
    ROBOT_ERROR = "robot_error"  # the robot failed: says nothing about the app
    INTERRUPTED = "interrupted"  # cut short: says nothing either


class IncidentStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class ResolvedBy(StrEnum):
    AUTO = "auto"  # after enough healthy runs in a row
    MANUAL = "manual"  # `patrol incidents resolve`


class Severity(StrEnum):
    """Of an incident: critical when the customer cannot go on (a fatal finding)."""

    CRITICAL = "critical"
    WARNING = "warning"


class EventType(StrEnum):
    """An incident's or the robot's event (``events.type``, the webhook ``type``)."""

    OPENED = "incident.opened"
    RESOLVED = "incident.resolved"
    REMINDER = "incident.reminder"
    FLAPPING = "incident.flapping"
    FLAPPING_STOPPED = "incident.flapping_stopped"
    ROBOT_ERROR = "robot.error"
    ROBOT_RECOVERED = "robot.recovered"
    # timeline-only entries (never sent)
    SEEN = "incident.seen"
    HEALTHY_RUN = "incident.healthy_run"


class DeliveryStatus(StrEnum):
    """Of one outbox row (``deliveries.status``)."""

    PENDING = "pending"
    SENT = "sent"
    DEAD = "dead"

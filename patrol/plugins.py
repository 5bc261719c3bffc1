"""The composition root: every module that registers something (an action, a check,
a journey or step key, a screen filter, a message format) is imported here, once, by
name in code.

Registries (``ACTIONS``, ``CHECKS``, ``JOURNEY_KEYS``/``STEP_KEYS``,
``SCREEN_FILTERS``, ``FORMATS``, the configuration's feature sections) live in small modules low in the tree and import none of their
registrants, so no registry depends on what fills it and there are no import cycles.
Entry points (the CLI, the application core, the scheduler, tests) call ``load()`` before
they parse a journey. Every registrant is cheap to import: heavy libraries (OpenCV,
NumPy, Tesseract, APScheduler, Playwright, Appium) load when first used, so parsing a
journey stays fast.

To add an action, check or key: write its module, then add one import line below.
"""

from __future__ import annotations

# Actions
from .actions import (
    ACTIONS,
    app,
    back,
    click,
    dialog,
    drag,
    fill,
    goto,
    hover,
    press,
    python_step,
    request,
    scroll,
    select,
    switch_to,
    upload,
    wait,
    wait_for,
)

# Checks (the runner orders them by ``Check.order``, not by this list)
from .checks import (
    CHECKS,
    blank_region,
    blank_screen,
    broken_image,
    budget,
    detectors,
    dialogs,
    elements,
    expect_url,
    expect_visible,
    network,
    text,
    text_layout,
    visual,
    vitals,
    websocket,
)

# Journey and step keys owned by other subsystems, and screen filters
from .drivers.app import app_keys
from .drivers.web import web_keys
from .journey import language

# Sections of patrol.yaml that feature packages own (the configuration reads them with the rest)
from .maintenance import settings as maintenance_settings

# Message formats for receivers (patrol.yaml's receivers are checked against them)
from .notify.formats import alertmanager_api, alertmanager_webhook, dingtalk, feishu, pagerduty, slack, webhook, wecom
from .retention import settings as retention_settings
from .runner import redaction, tracing
from .schedule import journey_key

REGISTRANTS = (
    goto, click, fill, press, select, scroll, wait_for, back, app, python_step,
    hover, upload, drag, dialog, switch_to, wait, request, dialogs,
    expect_visible, expect_url, network, budget, detectors, visual, blank_screen, blank_region, broken_image, text, elements,
    text_layout,
    websocket, vitals,
    redaction, tracing, app_keys, web_keys, journey_key,
    webhook, alertmanager_api, alertmanager_webhook, pagerduty, dingtalk, wecom, feishu, slack,
    maintenance_settings, retention_settings,
)


# The journey language reads its actions and checks from these registries.
language.use(actions=ACTIONS, checks=CHECKS)


def load() -> None:
    """Make sure every registrant is registered (importing this module did it; the call
    says so where it matters)."""
    assert REGISTRANTS

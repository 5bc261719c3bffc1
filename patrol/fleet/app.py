"""The Celery application both sides share: the broker, the delivery guarantees and
the queue a journey goes to."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import InputError
from ..secrets import MASKER, MissingVariable, interpolate

if TYPE_CHECKING:
    from celery import Celery

    from ..config import Config
    from ..journey.model import Journey

TASK = "patrol.fleet.run_firing"
APP_NAME = "patrol"


def queue_for(journey: Journey) -> str:
    """``web``; ``app:<device>`` for a journey bound to a patrol.yaml appium device
    (one device runs one session at a time: its workers listen to its queue); ``app``."""
    if journey.target != "app":
        return "web"
    device = journey.options.get("appium_device")
    return f"app:{device}" if isinstance(device, str) and device else "app"


def broker_url(config: Config) -> str:
    """The broker URL with ``${...}`` resolved (its password masked in every output)."""
    settings = config.settings.fleet
    if settings.broker is None:
        raise InputError("this needs a fleet: add `fleet: {broker: redis://host:6379/0}` to patrol.yaml")
    try:
        url = interpolate(settings.broker)
    except MissingVariable as e:
        raise config.problem(("fleet", "broker"), str(e)) from None
    from urllib.parse import urlsplit

    password = urlsplit(url).password
    if password:
        MASKER.add(str(password))
    return url


def make_app(config: Config) -> Celery:
    """A Celery app on the fleet's broker: late acknowledgement (a task a worker took
    is not gone until it finished), requeued when its worker process is lost, one task
    prefetched at a time, and the broker gives an unacknowledged task to another
    worker only after the visibility timeout (longer than any journey)."""
    from celery import Celery

    settings = config.settings.fleet
    url = broker_url(config)
    visibility = settings.visibility_timeout_s
    app = Celery(APP_NAME, broker=url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        task_default_queue="web",
        task_create_missing_queues=True,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # a Redis restart is waited out, not fatal
        worker_hijack_root_logger=False,
        worker_cancel_long_running_tasks_on_connection_loss=False,
        broker_transport_options={
            "visibility_timeout": visibility,
            # Look for tasks of lost workers often enough to notice within ~10% of the timeout.
            "unacked_restore_interval": max(1.0, min(60.0, visibility / 10)),
            "unacked_restore_throttle": 1,
        },
        enable_utc=True,
    )
    return app

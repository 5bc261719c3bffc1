"""``alertmanager_api``: pushes alerts into Alertmanager itself (``POST /api/v2/alerts``,
a JSON list of alerts), so Alertmanager's grouping, routing, silences and inhibition
work on Patrol's incidents. ``url`` is Alertmanager's address (``/api/v2/alerts`` is
added unless it is there); ``secret``, when set, is sent as a bearer token (for an
Alertmanager behind a proxy).

Like Prometheus, Patrol re-sends a firing alert every ``RESEND_EVERY_S`` (the
receiver's ``resend``) while the incident is open (the dispatcher schedules it), each
time valid for four intervals: if Patrol stops, Alertmanager resolves the alert by
itself a few intervals later. A resolved incident sends the alert once more with
``endsAt``, which ends it at once. The dispatcher runs all the time under ``patrol
schedule``; with ``patrol run`` from cron it runs with each run, so ``resend`` should
be the run interval there (else the alert would end between runs).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from ...core.isotime import parse_iso
from ..text import Doc
from . import register
from .alertmanager_labels import alert_annotations, ended_at, firing, generator_url, labels_and_fingerprint, starts_at
from .base import Context, Format, Request, json_bytes, json_headers, masked

if TYPE_CHECKING:
    from ...config.receivers import Receiver

API_PATH = "/api/v2/alerts"
RESEND_EVERY_S = 60.0
VALID_FOR = 4  # Prometheus' rule: an alert not re-sent for four intervals has ended
VALID_FOR_S = VALID_FOR * RESEND_EVERY_S


def alerts_url(url: str) -> str:
    """Alertmanager's address, or its alerts endpoint already: the alerts endpoint."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    if not path.endswith(API_PATH):
        path += API_PATH
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def _rfc3339(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _not_before(value: str, start: str) -> str:
    """Alertmanager refuses an alert that ends before it starts."""
    end, begin = parse_iso(value), parse_iso(start)
    if end is not None and begin is not None and end < begin:
        return start
    return value


@register
class AlertmanagerApi(Format):
    name = "alertmanager_api"
    secret = "optional"
    secret_help = "sent as a bearer token (an Alertmanager behind an authenticating proxy)"
    resend_every_s = RESEND_EVERY_S

    def alert(self, doc: Doc, receiver: Receiver, ctx: Context) -> dict[str, object]:
        labels, _ = labels_and_fingerprint(doc)
        starts = starts_at(doc)
        if firing(doc):
            ends = _rfc3339(ctx.now() + timedelta(seconds=VALID_FOR * (receiver.resend_s or RESEND_EVERY_S)))
        else:
            ends = ended_at(doc)
        alert: dict[str, object] = {
            "labels": labels,
            "annotations": alert_annotations(doc, receiver, ctx),
            "startsAt": starts,
            "endsAt": _not_before(ends, starts),
        }
        generator = generator_url(doc)
        if generator.startswith(("http://", "https://")):  # Alertmanager checks it is a URL: a path is left out
            alert["generatorURL"] = generator
        return alert

    def requests(self, doc: Doc, receiver: Receiver, ctx: Context) -> list[Request]:
        body = json_bytes(masked([self.alert(doc, receiver, ctx)]))
        extra = {"authorization": f"Bearer {receiver.secret}"} if receiver.secret else {}
        return [Request(alerts_url(receiver.url), body, json_headers(extra))]

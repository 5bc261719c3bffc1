"""``alertmanager_webhook``: the body Alertmanager *sends* to its webhook receivers
(version 4), so that bridges built for Alertmanager (DingTalk/WeCom/Feishu relays,
PrometheusAlert, Grafana OnCall...) accept Patrol's incidents as they are. One alert
per message; ``secret``, when set, is sent as ``Authorization: Bearer <secret>``.

To push alerts into Alertmanager itself, use ``alertmanager_api``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..text import Doc
from . import register
from .alertmanager_labels import alert_annotations, ended_at, firing, generator_url, labels_and_fingerprint, starts_at
from .base import Context, Format, Request, json_bytes, json_headers, masked

if TYPE_CHECKING:
    from ...config.receivers import Receiver

ZERO_TIME = "0001-01-01T00:00:00Z"


@register
class AlertmanagerWebhook(Format):
    name = "alertmanager_webhook"
    secret = "optional"
    secret_help = "sent as a bearer token"

    def body(self, doc: Doc, receiver: Receiver, ctx: Context) -> dict[str, object]:
        labels, fp = labels_and_fingerprint(doc)
        status = "firing" if firing(doc) else "resolved"
        generator = generator_url(doc)
        notes = alert_annotations(doc, receiver, ctx)
        alert = {
            "status": status,
            "labels": labels,
            "annotations": notes,
            "startsAt": starts_at(doc),
            "endsAt": ZERO_TIME if status == "firing" else ended_at(doc),
            "generatorURL": generator,
            "fingerprint": fp,
        }
        return {
            "version": "4",
            "groupKey": '{}:{alertname="' + labels["alertname"] + '", fingerprint="' + fp + '"}',
            "truncatedAlerts": 0,
            "status": status,
            "receiver": receiver.name,
            "groupLabels": {"alertname": labels["alertname"]},
            "commonLabels": dict(labels),
            "commonAnnotations": dict(notes),
            "externalURL": generator.rsplit("/", 2)[0] if generator else "",
            "alerts": [alert],
        }

    def requests(self, doc: Doc, receiver: Receiver, ctx: Context) -> list[Request]:
        body = json_bytes(masked(self.body(doc, receiver, ctx)))
        extra = {"authorization": f"Bearer {receiver.secret}"} if receiver.secret else {}
        return [Request(receiver.url, body, json_headers(extra))]

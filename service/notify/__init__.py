"""Notifications: moderators told about new pending comments, portals about changed counts.

Channels are an e-mail digest over SMTP, chat robots (DingTalk, Feishu/Lark,
WeCom) and generic JSON webhooks signed with HMAC-SHA256. Every notification is
a ``Delivery`` row first and is sent by a worker of the job queue
(``service.jobs``), retried with back-off, and shown in the dashboard
(/mod/admin/notifications) as pending, delivered or failed with its last error.
"""

from __future__ import annotations

from flask import Flask

from .config import (
    EMAIL_CHANNEL,
    EVENT_COUNT,
    EVENT_PENDING,
    EVENT_TEST,
    ConfigError,
    NotifySettings,
    Webhook,
    parse_settings,
)
from .deliveries import (
    EXTENSION_KEY,
    Outcome,
    deliver,
    overdue,
    purge_settled,
    record_count_changes,
    run_digests,
    settings,
)
from .models import Delivery, DeliveryStatus, NotifyCursor
from .overview import counts_by_status, failed_count, list_deliveries, retry, send_test
from .signing import SIGNATURE_HEADER, body_signature, dingtalk_sign, feishu_sign

__all__ = [
    "EMAIL_CHANNEL",
    "EVENT_COUNT",
    "EVENT_PENDING",
    "EVENT_TEST",
    "SIGNATURE_HEADER",
    "ConfigError",
    "Delivery",
    "DeliveryStatus",
    "NotifyCursor",
    "NotifySettings",
    "Outcome",
    "Webhook",
    "body_signature",
    "counts_by_status",
    "deliver",
    "dingtalk_sign",
    "failed_count",
    "feishu_sign",
    "init_app",
    "list_deliveries",
    "overdue",
    "purge_settled",
    "record_count_changes",
    "retry",
    "run_digests",
    "send_test",
    "settings",
]


def init_app(app: Flask) -> None:
    """Check the notification settings (ConfigError stops the start) and keep them."""
    app.extensions[EXTENSION_KEY] = parse_settings(app.config)
    app.add_template_global(failed_count, "failed_notifications")

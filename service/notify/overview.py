"""What admins see and do: notifications listed by status, retried, and test messages."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from flask_babel import lazy_gettext
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import func, select, update

from ..audit_log import audit
from ..errors import BadRequest, NotFound
from ..extensions import db
from ..models import Moderator
from . import changes
from .config import EMAIL_CHANNEL, EVENT_TEST
from .deliveries import settings, test_text
from .models import Delivery, DeliveryStatus


def _store(channel: str, event: str, payload: dict[str, Any], now: datetime) -> Delivery:
    delivery = Delivery(
        channel=channel,
        event=event,
        payload=json.dumps(payload, ensure_ascii=False),
        next_attempt_at=now,
        created_at=now,
    )
    db.session.add(delivery)
    return delivery


def list_deliveries(status: DeliveryStatus | None, page: int, per_page: int = 50) -> Pagination:
    """Newest first, optionally of one status."""
    query = select(Delivery).order_by(Delivery.id.desc())
    if status is not None:
        query = query.where(Delivery.status == status)
    return db.paginate(query, page=page, per_page=per_page, max_per_page=100, error_out=False)


def counts_by_status() -> dict[str, int]:
    counts = dict.fromkeys((s.value for s in DeliveryStatus), 0)
    rows = db.session.execute(
        select(Delivery.status, func.count(Delivery.id)).group_by(Delivery.status)
    )
    counts.update({str(status): count for status, count in rows})
    return counts


def failed_count() -> int:
    """Notifications that failed for good, for the dashboard's menu."""
    return db.session.execute(
        select(func.count(Delivery.id)).where(Delivery.status == DeliveryStatus.FAILED)
    ).scalar_one()


def retry(delivery_id: int, by: Moderator | None) -> Delivery:
    """Give a failed (or waiting) notification a fresh set of attempts, starting now."""
    delivery = db.session.get(Delivery, delivery_id)
    if delivery is None:
        raise NotFound(lazy_gettext("No such notification."))
    if delivery.status == DeliveryStatus.DELIVERED:
        raise BadRequest(lazy_gettext("This notification was delivered already."))
    now = datetime.now(UTC)
    changed = db.session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.status != DeliveryStatus.DELIVERED)
        .values(status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=now)
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:
        db.session.rollback()
        raise BadRequest(lazy_gettext("This notification was delivered already."))
    audit(
        "notification_retry", by, detail={"notification": delivery_id, "channel": delivery.channel}
    )
    changes.delivery_created(delivery_id)
    db.session.commit()
    db.session.refresh(delivery)
    return delivery


def send_test(channel: str, by: Moderator | None) -> Delivery:
    """Store a test notification for one configured channel (sent by a worker)."""
    config = settings()
    known = ([EMAIL_CHANNEL] if config.email_enabled else []) + [
        hook.channel for hook in config.webhooks
    ]
    if channel not in known:
        raise BadRequest(lazy_gettext("No such notification channel."))
    delivery = _store(channel, EVENT_TEST, {"message": test_text()}, datetime.now(UTC))
    db.session.flush()
    audit("notification_test", by, detail={"notification": delivery.id, "channel": channel})
    changes.delivery_created(delivery.id)
    db.session.commit()
    return delivery

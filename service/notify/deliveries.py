"""The life of one notification: stored, claimed, sent, retried with back-off, settled.

Sending never happens inside a reader's or moderator's request: the request
stores a ``Delivery`` row in its own transaction (or only asks for a digest),
and a worker of the job queue sends it. Each attempt first claims the row with
a guarded UPDATE, so a notification is sent by one worker at a time even when a
lost job has been re-queued by the sweeper.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import gettext
from sqlalchemy import insert, select, update

from ..extensions import db
from ..models import Article
from . import changes, digest
from .config import EMAIL_CHANNEL, EVENT_COUNT, EVENT_PENDING, EVENT_TEST, NotifySettings
from .email import send_mail
from .models import Delivery, DeliveryStatus
from .webhooks import SendFailed, build_request, send

log = logging.getLogger(__name__)

MAX_BACKOFF = 3600.0  # seconds between attempts at most
SWEEP_GRACE = timedelta(seconds=60)  # a pending row this overdue lost its job
KEEP = timedelta(days=30)  # settled notifications are kept this long
EXTENSION_KEY = "comments_notify"


def settings() -> NotifySettings:
    return current_app.extensions[EXTENSION_KEY]


def record_count_changes(article_ids: Iterable[int]) -> None:
    """Store an ``article.count_changed`` notification per subscriber and article.

    Runs inside the transaction that changed the counts (just before it
    commits), so the notification exists exactly when the change does.
    """
    hooks = settings().subscribers(EVENT_COUNT)
    if not hooks:
        return
    rows = db.session.execute(
        select(
            Article.key,
            Article.url,
            Article.title,
            Article.approved_count,
            Article.public_version,
        )
        .where(Article.id.in_(sorted(article_ids)))
        .order_by(Article.id)
    ).all()
    now = datetime.now(UTC)
    values = []
    for key, url, title, count, version in rows:
        data = json.dumps(
            {
                "article": key,
                "url": url,
                "title": title,
                "approved_count": count,
                "public_version": version,
                "changed_at": now.isoformat(),
            },
            ensure_ascii=False,
        )
        values += [
            {
                "channel": hook.channel,
                "event": EVENT_COUNT,
                "payload": data,
                "status": DeliveryStatus.PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for hook in hooks
        ]
    # One INSERT ... RETURNING for them all: this runs inside a moderator's (or, when
    # comments are published at once, a reader's) request.
    ids = db.session.execute(insert(Delivery).returning(Delivery.id), values).scalars()
    for delivery_id in ids:
        changes.delivery_created(delivery_id)


def run_digests(now: datetime | None = None) -> list[int]:
    """Store the digests that are due (e-mail and chat robots); their ids."""
    channels = settings().pending_channels()
    if not channels:
        return []
    created = digest.make_digests(channels, now or datetime.now(UTC))
    return created


def backoff(attempts: int) -> float:
    """Seconds before the next attempt: doubling from NOTIFY_RETRY_SECONDS, at most an hour,
    plus up to 10 % so that many notifications to one receiver do not retry in step."""
    base = float(current_app.config["NOTIFY_RETRY_SECONDS"])
    delay = min(base * 2 ** max(attempts - 1, 0), MAX_BACKOFF)
    return delay * (1 + random.random() / 10)


@dataclass(frozen=True)
class Outcome:
    """What one call of ``deliver`` did; ``retry_in`` seconds when it failed but will retry."""

    status: DeliveryStatus | None  # None: nothing to do (not pending, or not due yet)
    retry_in: float | None = None
    error: str | None = None


def test_text() -> str:
    return gettext("Test notification from the comment service: this channel works.")


def _send(delivery: Delivery, now: datetime) -> str | None:
    """One attempt at sending; raises SendFailed. Returns a note for a partial success."""
    payload = json.loads(delivery.payload)
    if delivery.event == EVENT_PENDING:
        subject, text = digest.subject(payload), digest.render_text(payload)
    elif delivery.event == EVENT_TEST:
        subject, text = gettext("[Comments] Test notification"), test_text()
    else:
        subject, text = "", ""
    config = settings()
    timeout = float(current_app.config["NOTIFY_TIMEOUT"])
    if delivery.channel == EMAIL_CHANNEL:
        if not config.email_enabled:
            raise SendFailed("e-mail is not configured (COMMENTS_SMTP_HOST, NOTIFY_EMAILS)")
        return send_mail(config.emails, subject, text)
    hook = config.webhook(delivery.channel)
    if hook is None:
        raise SendFailed(f"{delivery.channel} is no longer configured")
    request = build_request(hook, delivery.event, delivery.id, payload, text, now.timestamp())
    send(hook, request, timeout)
    return None


def deliver(delivery_id: int, now: datetime | None = None) -> Outcome:
    """Make one attempt at a pending notification that is due, and record how it went."""
    now = now or datetime.now(UTC)
    config = current_app.config
    # While this attempt runs the row is not due; if the worker dies, the sweeper
    # finds it again once this lease is over.
    lease = timedelta(seconds=float(config["NOTIFY_TIMEOUT"]) * 3 + 60)
    claimed = db.session.execute(
        update(Delivery)
        .where(
            Delivery.id == delivery_id,
            Delivery.status == DeliveryStatus.PENDING,
            Delivery.next_attempt_at <= now + timedelta(seconds=1),
        )
        .values(attempts=Delivery.attempts + 1, next_attempt_at=now + lease)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    if claimed.rowcount != 1:
        return Outcome(None)
    delivery = db.session.execute(
        select(Delivery).where(Delivery.id == delivery_id).execution_options(populate_existing=True)
    ).scalar_one()
    note: str | None = None
    error: str | None = None
    try:
        note = _send(delivery, now)
    except SendFailed as failure:
        error = failure.message
    except Exception as unexpected:  # a bug must cost one attempt, not the notification
        log.exception("notification %d: unexpected error while sending", delivery_id)
        error = f"internal error: {type(unexpected).__name__}"
    finished = datetime.now(UTC)
    values: dict[str, Any]
    if error is None:
        values = {
            "status": DeliveryStatus.DELIVERED,
            "delivered_at": finished,
            "last_error": note,
        }
        outcome = Outcome(DeliveryStatus.DELIVERED)
        log.info("notification %d (%s) delivered", delivery_id, delivery.channel)
    elif delivery.attempts >= int(config["NOTIFY_MAX_ATTEMPTS"]):
        values = {"status": DeliveryStatus.FAILED, "last_error": error}
        outcome = Outcome(DeliveryStatus.FAILED, error=error)
        log.error(
            "notification %d (%s) failed after %d attempts: %s",
            delivery_id,
            delivery.channel,
            delivery.attempts,
            error,
        )
    else:
        delay = backoff(delivery.attempts)
        values = {"next_attempt_at": finished + timedelta(seconds=delay), "last_error": error}
        outcome = Outcome(DeliveryStatus.PENDING, retry_in=delay, error=error)
        log.warning(
            "notification %d (%s) attempt %d failed, next in %.0f s: %s",
            delivery_id,
            delivery.channel,
            delivery.attempts,
            delay,
            error,
        )
    db.session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return outcome


def overdue(now: datetime | None = None, limit: int = 1000) -> list[int]:
    """Pending notifications well past their attempt time: their job was lost."""
    now = now or datetime.now(UTC)
    return list(
        db.session.execute(
            select(Delivery.id)
            .where(
                Delivery.status == DeliveryStatus.PENDING,
                Delivery.next_attempt_at <= now - SWEEP_GRACE,
            )
            .order_by(Delivery.next_attempt_at)
            .limit(limit)
        ).scalars()
    )


def purge_settled(now: datetime | None = None) -> int:
    """Forget delivered and failed notifications older than KEEP (30 days)."""
    now = now or datetime.now(UTC)
    result = db.session.execute(
        Delivery.__table__.delete().where(
            Delivery.status != DeliveryStatus.PENDING, Delivery.created_at < now - KEEP
        )
    )
    db.session.commit()
    return result.rowcount or 0

"""What the notifications keep: each notification to send, and each digest's position."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..models import UTCDateTime, str_enum, utcnow


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for its (next) attempt
    DELIVERED = "delivered"
    FAILED = "failed"  # every attempt failed; shown in the dashboard until retried


class Delivery(db.Model):
    """One notification (an e-mail digest or a webhook call) and how sending it went.

    The row is the truth and the job queue only the messenger: a job lost with its
    queue is found again by the sweeper, and a final failure stays visible.
    """

    __tablename__ = "delivery"
    __table_args__ = (
        # The sweeper: pending notifications whose attempt is overdue.
        Index("ix_delivery_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # "email" or "webhook:<name>" (the webhook's name in COMMENTS_WEBHOOKS).
    channel: Mapped[str] = mapped_column(String(80))
    # "comment.pending", "article.count_changed" or "test".
    event: Mapped[str] = mapped_column(String(40))
    # What to tell, as JSON; each attempt builds (and signs) its request from it.
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[DeliveryStatus] = mapped_column(
        str_enum(DeliveryStatus), default=DeliveryStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Why the last attempt failed; never a URL's query string or a password.
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class NotifyCursor(db.Model):
    """How far one channel's digest of pending comments has got, and when it last sent."""

    __tablename__ = "notify_cursor"

    channel: Mapped[str] = mapped_column(String(80), primary_key=True)
    last_comment_id: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

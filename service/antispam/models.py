"""The records of spam waves: one row per wave, one per comment that joined it."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..models import UTCDateTime, str_enum, utcnow


class WaveStatus(enum.StrEnum):
    OPEN = "open"  # detected; its members go to spam; waits for a moderator's look
    CONFIRMED = "confirmed"  # a moderator said: spam (new members keep going to spam)
    RELEASED = "released"  # a moderator said: not spam (members back to pending, no sweeping)


class SpamWave(db.Model):
    """A cluster of similar comments from several senders, handled as one thing."""

    __tablename__ = "spam_wave"

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[WaveStatus] = mapped_column(str_enum(WaveStatus), default=WaveStatus.OPEN)
    # Why it is a wave, in words the audit log and the dashboard show.
    reason: Mapped[str] = mapped_column(String(200))
    # The folded text with placeholders of the post that made the cluster a wave.
    skeleton: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The batch of the system's own moves (earlier members swept to spam).
    batch: Mapped[str] = mapped_column(String(32))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("moderator.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SpamWaveMember(db.Model):
    """A comment that belongs to a wave (a comment joins one wave at most)."""

    __tablename__ = "spam_wave_member"

    comment_id: Mapped[int] = mapped_column(ForeignKey("comment.id"), primary_key=True)
    wave_id: Mapped[int] = mapped_column(ForeignKey("spam_wave.id"), index=True)

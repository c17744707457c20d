"""The dashboard's numbers: today's work, waiting times and 30 days by status."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import func, select

from .extensions import db
from .models import AuditEntry, Comment, Status

DECISIONS = ("approve", "reject", "spam", "triage")
CHART_STATUSES = (Status.APPROVED, Status.PENDING, Status.REJECTED, Status.SPAM)


@dataclass
class Bar:
    day: date
    counts: dict[str, int]
    total: int
    segments: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Dashboard:
    pending: int
    decided_today: dict[str, int]
    oldest_pending: timedelta | None
    median_decision: timedelta | None
    per_moderator: list[tuple[str, int]]
    bars: list[Bar]
    chart_max: int


def _zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["TIMEZONE"])


def start_of_today(now: datetime | None = None) -> datetime:
    local = (now or datetime.now(UTC)).astimezone(_zone())
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


def _local_day(column: Any) -> Any:
    """SQL for the local calendar day of a UTC timestamp column, per backend."""
    if db.session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone(current_app.config["TIMEZONE"], column))
    offset = datetime.now(_zone()).utcoffset() or timedelta()
    return func.date(column, f"{int(offset.total_seconds())} seconds")


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def chart(days: int = 30, now: datetime | None = None) -> tuple[list[Bar], int]:
    """Comments submitted per local day over ``days`` days, by their current status."""
    today = (now or datetime.now(UTC)).astimezone(_zone()).date()
    first = today - timedelta(days=days - 1)
    since = start_of_today(now) - timedelta(days=days - 1)
    day = _local_day(Comment.created_at)
    rows = db.session.execute(
        select(day, Comment.status, func.count(Comment.id))
        .where(Comment.created_at >= since)
        .group_by(day, Comment.status)
    )
    counts: dict[date, dict[str, int]] = {first + timedelta(d): {} for d in range(days)}
    for raw_day, status, count in rows:
        bucket = counts.get(_as_date(raw_day))
        if bucket is not None:
            bucket[Status(status).value] = count
    bars = [Bar(d, c, sum(c.values())) for d, c in sorted(counts.items())]
    return bars, max([b.total for b in bars] + [1])


def dashboard(now: datetime | None = None) -> Dashboard:
    """Everything the dashboard home shows."""
    now = now or datetime.now(UTC)
    today = start_of_today(now)
    live = Comment.deleted_at.is_(None)
    pending = db.session.execute(
        select(func.count(Comment.id), func.min(Comment.created_at)).where(
            Comment.status == Status.PENDING, live
        )
    ).one()
    decided = dict(
        db.session.execute(
            select(AuditEntry.to_status, func.count(AuditEntry.id))
            .where(AuditEntry.created_at >= today, AuditEntry.action.in_(DECISIONS))
            .group_by(AuditEntry.to_status)
        ).all()
    )
    waits = [
        (moderated - created).total_seconds()
        for created, moderated in db.session.execute(
            select(Comment.created_at, Comment.moderated_at)
            .where(Comment.moderated_at >= today)
            .limit(20_000)
        )
    ]
    per_moderator = [
        (actor, count)
        for actor, count in db.session.execute(
            select(AuditEntry.actor, func.count(AuditEntry.id))
            .where(
                AuditEntry.created_at >= today,
                AuditEntry.action.in_(("approve", "reject", "spam")),
            )
            .group_by(AuditEntry.actor)
            .order_by(func.count(AuditEntry.id).desc())
        )
    ]
    bars, chart_max = chart(now=now)
    oldest = pending[1]
    return Dashboard(
        pending=pending[0],
        decided_today={s: decided.get(s, 0) for s in ("approved", "rejected", "spam")},
        oldest_pending=(now - oldest) if oldest else None,
        median_decision=timedelta(seconds=statistics.median(waits)) if waits else None,
        per_moderator=per_moderator,
        bars=bars,
        chart_max=chart_max,
    )

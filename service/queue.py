"""The moderation queues: what moderators see, filtered and paged."""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import selectinload

from .extensions import db
from .models import Article, Comment, Report, Status
from .params import Paging, check_page, text_filter
from .text import strip_forbidden


class Queue(enum.StrEnum):
    PENDING = "pending"
    REPORTED = "reported"
    APPROVED = "approved"
    REJECTED = "rejected"
    SPAM = "spam"
    DELETED = "deleted"


ARTICLE_FILTER_MAX = 128
IP_FILTER_MAX = 45
TEXT_FILTER_MAX = 100


@dataclass
class QueueFilter:
    queue: Queue = Queue.PENDING
    article: str | None = None
    ip: str | None = None
    text: str | None = None
    page: int = 1

    @classmethod
    def from_args(cls, queue: Queue, args: Mapping[str, str]) -> QueueFilter:
        """The filters typed in the dashboard or sent to the moderation API (?article=&ip=&q=)."""
        return cls(
            queue=queue,
            article=text_filter(args.get("article"), ARTICLE_FILTER_MAX),
            ip=text_filter(args.get("ip"), IP_FILTER_MAX),
            text=text_filter(args.get("q"), TEXT_FILTER_MAX),
            page=check_page(args.get("page")),
        )


@dataclass
class QueuePage(Paging):
    filter: QueueFilter = field(default_factory=QueueFilter)
    items: list[Comment] = field(default_factory=list)
    ip_summary: dict[str, dict[str, int]] = field(default_factory=dict)
    reports: dict[int, list[Report]] = field(default_factory=dict)


def _in_queue(query: Select, queue: Queue) -> Select:  # type: ignore[type-arg]
    if queue == Queue.DELETED:
        return query.where(Comment.deleted_at.is_not(None))
    query = query.where(Comment.deleted_at.is_(None))
    if queue == Queue.REPORTED:
        return query.where(Comment.open_reports > 0)
    return query.where(Comment.status == Status(queue.value))


def _ordered(query: Select, queue: Queue) -> Select:  # type: ignore[type-arg]
    if queue == Queue.PENDING:  # oldest first, so nothing waits forever
        return query.order_by(Comment.created_at, Comment.id)
    if queue == Queue.REPORTED:
        return query.order_by(Comment.open_reports.desc(), Comment.created_at, Comment.id)
    if queue == Queue.DELETED:
        return query.order_by(Comment.deleted_at.desc(), Comment.id.desc())
    return query.order_by(Comment.created_at.desc(), Comment.id.desc())


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _filtered(query: Select, f: QueueFilter) -> Select:  # type: ignore[type-arg]
    # Filters are typed by people: characters no text column can hold match nothing.
    f.article, f.ip, f.text = (strip_forbidden(v) if v else v for v in (f.article, f.ip, f.text))
    if f.article:
        query = query.join(Article, Comment.article_id == Article.id).where(
            Article.key == f.article
        )
    if f.ip:
        query = query.where(Comment.remote_addr == f.ip)
    if f.text:
        pattern = f"%{_escape_like(f.text)}%"
        query = query.where(
            or_(
                Comment.body.ilike(pattern, escape="\\"),
                Comment.author.ilike(pattern, escape="\\"),
            )
        )
    return query


def queue_counts(f: QueueFilter | None = None) -> dict[Queue, int]:
    """How many comments wait in each queue (with the same filters, if given)."""
    counts = {}
    for queue in Queue:
        query = _in_queue(select(func.count(Comment.id)), queue)
        if f is not None:
            query = _filtered(query, f)
        counts[queue] = db.session.execute(query).scalar_one()
    return counts


def list_queue(f: QueueFilter) -> QueuePage:
    """One page of a queue with everything a moderator needs beside each comment."""
    per_page = current_app.config["QUEUE_PAGE_SIZE"]
    base = _filtered(_in_queue(select(Comment), f.queue), f)
    total = db.session.execute(
        _filtered(_in_queue(select(func.count(Comment.id)), f.queue), f)
    ).scalar_one()
    items = list(
        db.session.execute(
            _ordered(base, f.queue)
            .options(selectinload(Comment.article), selectinload(Comment.parent))
            .limit(per_page)
            .offset(Paging(f.page, per_page, total).offset)
        ).scalars()
    )
    page = QueuePage(f.page, per_page, total, f, items)
    page.ip_summary = ip_summary([c.remote_addr for c in items if c.remote_addr])
    page.reports = reports_for([c.id for c in items if c.open_reports])
    return page


def ip_summary(ips: list[str]) -> dict[str, dict[str, int]]:
    """For each IP, how many comments it has sent, by status (deleted counted apart)."""
    summary: dict[str, dict[str, int]] = defaultdict(dict)
    if not ips:
        return summary
    deleted = Comment.deleted_at.is_not(None)
    rows = db.session.execute(
        select(Comment.remote_addr, Comment.status, deleted, func.count(Comment.id))
        .where(Comment.remote_addr.in_(set(ips)))
        .group_by(Comment.remote_addr, Comment.status, deleted)
    )
    for ip, status, is_deleted, count in rows:
        key = "deleted" if is_deleted else str(Status(status).value)
        summary[ip][key] = summary[ip].get(key, 0) + count
        summary[ip]["total"] = summary[ip].get("total", 0) + count
    return summary


def reports_for(comment_ids: list[int]) -> dict[int, list[Report]]:
    reports: dict[int, list[Report]] = defaultdict(list)
    if comment_ids:
        for report in db.session.execute(
            select(Report)
            .where(Report.comment_id.in_(comment_ids), Report.resolved_at.is_(None))
            .order_by(Report.created_at)
        ).scalars():
            reports[report.comment_id].append(report)
    return reports

"""Digests of new pending comments: at most one per channel per DIGEST_MINUTES.

Each channel (the e-mail recipients, each chat robot or webhook subscribed to
``comment.pending``) keeps a cursor: the newest comment it was told about and
when. A digest lists the pending comments past the cursor; moving the cursor
is a guarded UPDATE in the same transaction that stores the digest, so two
workers running the digest at once send it once.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import Article, Comment, Status
from ..text import strip_forbidden
from . import changes
from .config import EVENT_PENDING
from .models import Delivery, NotifyCursor

SHOWN = 10  # comments listed in one digest; the rest are counted
EXCERPT = 80  # characters of each comment's text


def _excerpt(text: str, length: int) -> str:
    flat = " ".join(strip_forbidden(text).split())
    return flat if len(flat) <= length else flat[: length - 1] + "…"


def _local(moment: datetime) -> str:
    zone = ZoneInfo(current_app.config["TIMEZONE"])
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def review_url() -> str | None:
    """The dashboard's pending queue, when the service knows its own address."""
    base = current_app.config.get("PUBLIC_URL")
    return f"{base.rstrip('/')}/mod/queue/pending" if base else None


def _cursor(channel: str) -> NotifyCursor:
    cursor = db.session.get(NotifyCursor, channel)
    if cursor is None:
        # A new channel starts from the beginning: it is told what is pending now.
        db.session.add(NotifyCursor(channel=channel, last_comment_id=0))
        try:
            db.session.commit()
        except IntegrityError:  # another worker made it first
            db.session.rollback()
        cursor = db.session.get(NotifyCursor, channel)
        assert cursor is not None
    return cursor


def _new_pending(after_id: int) -> tuple[list[tuple[Comment, Article]], int, int]:
    """Up to SHOWN new pending comments, how many are new, and how many are pending."""
    waiting = (Comment.status == Status.PENDING, Comment.deleted_at.is_(None))
    new = (*waiting, Comment.id > after_id)
    count, newest = db.session.execute(
        select(func.count(Comment.id), func.max(Comment.id)).where(*new)
    ).one()
    if not count:
        return [], 0, newest or after_id
    rows = db.session.execute(
        select(Comment, Article)
        .join(Article, Comment.article_id == Article.id)
        .where(*new)
        .order_by(Comment.id)
        .limit(SHOWN)
    ).all()
    return [(row[0], row[1]) for row in rows], count, newest


def build_payload(rows: list[tuple[Comment, Article]], count: int) -> dict[str, Any]:
    """What a digest says, as stored: the text is made from it when it is sent."""
    total = db.session.execute(
        select(func.count(Comment.id)).where(
            Comment.status == Status.PENDING, Comment.deleted_at.is_(None)
        )
    ).scalar_one()
    return {
        "count": count,
        "total_pending": total,
        "comments": [
            {
                "id": comment.id,
                "article": article.key,
                "title": article.title,
                "author": _excerpt(comment.author, 32),
                "excerpt": _excerpt(comment.body, EXCERPT),
                "created_at": comment.created_at.isoformat(),
                "local_time": _local(comment.created_at),
            }
            for comment, article in rows
        ],
        "more": max(0, count - len(rows)),
        "review_url": review_url(),
    }


def due_channels(channels: list[str], now: datetime) -> list[str]:
    """Channels whose last digest is at least DIGEST_MINUTES old (or that never sent)."""
    wait = timedelta(minutes=current_app.config["DIGEST_MINUTES"])
    sent = dict(
        db.session.execute(
            select(NotifyCursor.channel, NotifyCursor.last_sent_at).where(
                NotifyCursor.channel.in_(channels)
            )
        ).all()
    )
    return [c for c in channels if sent.get(c) is None or now - sent[c] >= wait]


def advance_cursor(channel: str, seen: int, newest: int, now: datetime) -> bool:
    """Move a channel's cursor from ``seen`` to ``newest``; False if it was not at ``seen``."""
    moved = db.session.execute(
        update(NotifyCursor)
        .where(NotifyCursor.channel == channel, NotifyCursor.last_comment_id == seen)
        .values(last_comment_id=newest, last_sent_at=now)
        .execution_options(synchronize_session=False)
    )
    return moved.rowcount == 1


def make_digests(channels: list[str], now: datetime) -> list[int]:
    """Store a digest for each due channel with new pending comments; their delivery ids."""
    created: list[int] = []
    for channel in due_channels(channels, now):
        cursor = _cursor(channel)
        seen = cursor.last_comment_id
        rows, count, newest = _new_pending(seen)
        if not count:
            db.session.commit()
            continue
        if not advance_cursor(channel, seen, newest, now):  # another worker sent it just now
            db.session.rollback()
            continue
        delivery = Delivery(
            channel=channel,
            event=EVENT_PENDING,
            payload=json.dumps(build_payload(rows, count), ensure_ascii=False),
            next_attempt_at=now,
            created_at=now,
        )
        db.session.add(delivery)
        db.session.flush()
        changes.delivery_created(delivery.id)
        db.session.commit()
        created.append(delivery.id)
    return created


def subject(payload: dict[str, Any]) -> str:
    return gettext("[Comments] %(count)d new comments waiting for review", count=payload["count"])


def render_text(payload: dict[str, Any]) -> str:
    """The digest as plain text, for e-mail and chat robots (untrusted text stays text)."""
    lines = [
        gettext(
            "%(count)d new comments are waiting for review (%(total)d pending in all).",
            count=payload["count"],
            total=payload["total_pending"],
        ),
        "",
    ]
    for item in payload["comments"]:
        title = _excerpt(item["title"] or item["article"], 40)
        lines.append(
            gettext(
                "#%(id)d %(time)s 《%(title)s》 %(author)s: %(text)s",
                id=item["id"],
                time=item["local_time"],
                title=title,
                author=item["author"],
                text=item["excerpt"],
            )
        )
    if payload["more"]:
        lines.append(gettext("… and %(count)d more.", count=payload["more"]))
    if payload.get("review_url"):
        lines += ["", gettext("Review them: %(url)s", url=payload["review_url"])]
    return "\n".join(lines)

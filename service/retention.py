"""Retention: how long submitters' addresses and removed comments are kept.

``run_retention(now)`` is the scheduled job (the CLI's ``retention run``; a job
queue calls the same function):

- a comment's IP address and user agent are kept ``RETENTION_IP_DAYS`` days
  (default 180: the six months of records Chinese rules expect), then the
  address is cut to its network (IPv4 /24, IPv6 /48, stored as
  ``203.0.113.0/24``) and the user agent dropped;
- a rejected, spam or deleted comment is purged ``RETENTION_PURGE_DAYS`` days
  after anyone last acted on it (its time, its deletion and its audit
  entries; default 180, so the record of what was refused is kept as long as
  the addresses). A purged comment that other, kept comments reply to stays
  as an empty shell (no name, text, address or identity) so the thread holds
  together.

Both periods are counted from ``now`` (passed in, so tests can freeze time);
``None`` switches a step off. Pending and published comments are never purged.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import and_, bindparam, delete, exists, func, or_, select, update

from . import addresses
from .audit_log import audit
from .extensions import db
from .models import AuditEntry, Comment, Like, Report, Status

CHUNK = 500


@dataclass
class Removal:
    """What removing a set of comments did."""

    deleted: list[int] = field(default_factory=list)
    kept: list[int] = field(default_factory=list)  # kept as empty shells: others reply to them
    emptied: int = 0  # of those, shells that were not empty before


@dataclass
class RetentionResult:
    truncated: int = 0  # addresses cut to their network
    agents_dropped: int = 0
    purged: int = 0
    emptied: int = 0
    now: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "addresses_truncated": self.truncated,
            "user_agents_dropped": self.agents_dropped,
            "comments_purged": self.purged,
            "comments_emptied": self.emptied,
        }


def check_days(name: str) -> int | None:
    """A retention period from the settings: whole days ≥ 1, or None (kept for ever)."""
    value = current_app.config[name]
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"COMMENTS_{name} must be a whole number of days (1 or more) or null")
    return value


def truncate_addresses(cutoff: datetime) -> tuple[int, int]:
    """Cut addresses of comments sent before ``cutoff``; drop their user agents."""
    old = and_(
        Comment.created_at < cutoff,
        Comment.remote_addr.is_not(None),
        ~Comment.remote_addr.contains("/"),
    )
    truncated = db.session.execute(select(func.count(Comment.id)).where(old)).scalar_one()
    full = db.session.execute(select(Comment.remote_addr).where(old).distinct()).scalars()
    changes = [{"old": address, "new": addresses.truncate(address)} for address in full if address]
    if changes:
        statement = (
            update(Comment.__table__)
            .where(Comment.__table__.c.remote_addr == bindparam("old"))
            .where(Comment.__table__.c.created_at < cutoff)
            .values(remote_addr=bindparam("new"))
        )
        for start in range(0, len(changes), CHUNK):
            db.session.execute(statement, changes[start : start + CHUNK])
    agents = db.session.execute(
        update(Comment)
        .where(Comment.created_at < cutoff, Comment.user_agent.is_not(None))
        .values(user_agent=None)
        .execution_options(synchronize_session=False)
    )
    return int(truncated), agents.rowcount


def purge_candidates(cutoff: datetime) -> list[int]:
    """Rejected, spam and deleted comments nobody has touched since ``cutoff``."""
    touched = exists().where(AuditEntry.comment_id == Comment.id, AuditEntry.created_at >= cutoff)
    removed = or_(
        Comment.deleted_at.is_not(None),
        Comment.status.in_([Status.REJECTED, Status.SPAM]),
    )
    return list(
        db.session.execute(
            select(Comment.id)
            .where(removed, Comment.created_at < cutoff)
            .where(or_(Comment.deleted_at.is_(None), Comment.deleted_at < cutoff))
            .where(~touched)
            .order_by(Comment.id)
        ).scalars()
    )


def remove_comments(ids: Iterable[int]) -> Removal:
    """Delete comments for good, inside the caller's transaction.

    Not for published comments (their articles' counts would go wrong): the
    caller takes those down through ``moderation`` first. A comment that a
    comment outside ``ids`` replies to (or has as its thread starter) is kept,
    emptied of everything about its author, so the reply keeps its place.
    Likes and reports of deleted comments go with them; audit entries stay,
    no longer pointing at a comment.
    """
    wanted = set(ids)
    result = Removal()
    if not wanted:
        return result
    kept: set[int] = set()
    links: dict[int, tuple[int | None, int | None]] = {}
    ordered = sorted(wanted)
    for start in range(0, len(ordered), CHUNK):
        chunk = ordered[start : start + CHUNK]
        for comment_id, parent_id, root_id in db.session.execute(
            select(Comment.id, Comment.parent_id, Comment.root_id).where(Comment.id.in_(chunk))
        ):
            links[comment_id] = (parent_id, root_id)
        for comment_id, parent_id, root_id in db.session.execute(
            select(Comment.id, Comment.parent_id, Comment.root_id).where(
                or_(Comment.parent_id.in_(chunk), Comment.root_id.in_(chunk))
            )
        ):
            if comment_id not in wanted:
                kept.update({parent_id, root_id} & wanted)  # type: ignore[arg-type]
    # A kept comment keeps what it points at, too.
    todo = list(kept)
    while todo:
        for target in links.get(todo.pop(), (None, None)):
            if target in wanted and target not in kept:
                kept.add(target)
                todo.append(target)
    gone = sorted((set(links) - kept), reverse=True)  # replies before what they answer
    for start in range(0, len(gone), CHUNK):
        chunk = gone[start : start + CHUNK]
        db.session.execute(delete(Like).where(Like.comment_id.in_(chunk)))
        db.session.execute(delete(Report).where(Report.comment_id.in_(chunk)))
        db.session.execute(
            update(AuditEntry)
            .where(AuditEntry.comment_id.in_(chunk))
            .values(comment_id=None)
            .execution_options(synchronize_session=False)
        )
        db.session.execute(
            delete(Comment)
            .where(Comment.id.in_(chunk))
            .execution_options(synchronize_session=False)
        )
    shells = sorted(kept & set(links))
    for start in range(0, len(shells), CHUNK):
        emptied = db.session.execute(
            update(Comment)
            .where(Comment.id.in_(shells[start : start + CHUNK]))
            .where(
                or_(
                    Comment.author != "",
                    Comment.body != "",
                    Comment.remote_addr.is_not(None),
                    Comment.user_agent.is_not(None),
                    Comment.author_identity.is_not(None),
                    Comment.owner_key_hash.is_not(None),
                )
            )
            .values(
                author="",
                body="",
                remote_addr=None,
                user_agent=None,
                author_identity=None,
                owner_key_hash=None,
            )
            .execution_options(synchronize_session=False)
        )
        result.emptied += emptied.rowcount
    result.deleted, result.kept = gone, shells
    return result


def run_retention(now: datetime | None = None) -> RetentionResult:
    """Apply both retention periods as of ``now``; one transaction, audited when it did anything."""
    now = now or datetime.now(UTC)
    result = RetentionResult(now=now)
    ip_days = check_days("RETENTION_IP_DAYS")
    purge_days = check_days("RETENTION_PURGE_DAYS")
    if ip_days is not None:
        result.truncated, result.agents_dropped = truncate_addresses(now - timedelta(days=ip_days))
    if purge_days is not None:
        removal = remove_comments(purge_candidates(now - timedelta(days=purge_days)))
        result.purged = len(removal.deleted)
        result.emptied = removal.emptied  # shells emptied by an earlier run are not counted
    if any(result.as_dict().values()):
        detail = result.as_dict() | {"ip_days": ip_days, "purge_days": purge_days}
        audit("retention", None, detail=detail)
    db.session.commit()
    return result

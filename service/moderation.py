"""The ONLY place a comment's status changes.

Every change goes through ``_move``: an allowed-transitions rule, a guarded
UPDATE (``WHERE status = <what we saw> AND deleted_at <as we saw it>``) so two
moderators racing on one comment cannot both win, the article's public count
kept in step in the same transaction, open reports resolved, and one audit
entry saying who did what and when.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import ipaddress
import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from flask_babel import lazy_gettext
from sqlalchemy import select, update

from .errors import BadRequest, NotFound, ServiceError
from .extensions import db
from .models import Article, AuditEntry, Ban, Comment, Moderator, Report, Status
from .text import strip_forbidden


class Action(enum.StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    SPAM = "spam"
    DELETE = "delete"
    RESTORE = "restore"


class InvalidTransition(ServiceError):
    status = 409
    code = "invalid_transition"
    message = lazy_gettext("This action does not apply to the comment in its current status.")


@dataclass(frozen=True)
class State:
    status: Status
    deleted: bool

    @property
    def public(self) -> bool:
        return self.status == Status.APPROVED and not self.deleted


def target_state(comment: Comment, action: Action) -> State:
    """Where ``action`` takes the comment, or InvalidTransition if it makes no sense."""
    status, deleted = Status(comment.status), comment.deleted_at is not None
    if action == Action.DELETE:
        if not deleted:
            return State(status, True)
    elif action == Action.RESTORE:
        if deleted:  # back to the status it had when deleted
            return State(status, False)
        if status in (Status.REJECTED, Status.SPAM):
            return State(Status.PENDING, False)
    elif not deleted:
        target = {
            Action.APPROVE: Status.APPROVED,
            Action.REJECT: Status.REJECTED,
            Action.SPAM: Status.SPAM,
        }[action]
        # Approving an approved comment that readers reported dismisses the reports.
        if status != target or (action == Action.APPROVE and comment.open_reports):
            return State(target, False)
    raise InvalidTransition(
        lazy_gettext(
            "Cannot %(action)s a comment that is %(status)s.",
            action=action_label(action),
            status=status_label(status, deleted),
        )
    )


def allowed_actions(comment: Comment) -> list[Action]:
    """The actions that make sense for a comment in its current state."""
    allowed = []
    for action in Action:
        try:
            target_state(comment, action)
        except InvalidTransition:
            continue
        allowed.append(action)
    return allowed


def action_label(action: Action) -> str:
    return str(
        {
            Action.APPROVE: lazy_gettext("approve"),
            Action.REJECT: lazy_gettext("reject"),
            Action.SPAM: lazy_gettext("mark as spam"),
            Action.DELETE: lazy_gettext("delete"),
            Action.RESTORE: lazy_gettext("restore"),
        }[action]
    )


def status_label(status: Status, deleted: bool = False) -> str:
    if deleted:
        return str(lazy_gettext("deleted"))
    return str(
        {
            Status.PENDING: lazy_gettext("pending"),
            Status.APPROVED: lazy_gettext("approved"),
            Status.REJECTED: lazy_gettext("rejected"),
            Status.SPAM: lazy_gettext("spam"),
        }[status]
    )


def actor_name(by: Moderator | None) -> str:
    return by.username if by is not None else "system"


def audit(
    action: str,
    by: Moderator | None,
    comment: Comment | None = None,
    before: State | None = None,
    after: State | None = None,
    detail: dict[str, Any] | None = None,
    batch: str | None = None,
) -> None:
    """Add an audit entry to the current transaction."""

    def label(state: State | None) -> str | None:
        if state is None:
            return None
        return "deleted" if state.deleted else state.status.value

    db.session.add(
        AuditEntry(
            moderator_id=by.id if by is not None else None,
            actor=actor_name(by),
            action=action,
            comment_id=comment.id if comment is not None else None,
            from_status=label(before),
            to_status=label(after),
            detail=json.dumps(detail, ensure_ascii=False) if detail else None,
            batch=batch,
        )
    )


def _move(
    comment: Comment,
    action: Action,
    by: Moderator | None,
    reason: str | None = None,
    batch: str | None = None,
    audit_action: str | None = None,
) -> State:
    """Apply one action inside the caller's transaction; returns the new state."""
    before = State(Status(comment.status), comment.deleted_at is not None)
    after = target_state(comment, action)
    reason = strip_forbidden(reason)[:200] or None if reason else None
    now = datetime.now(UTC)
    values: dict[str, Any] = {"status": after.status, "open_reports": 0}
    if after.deleted != before.deleted:
        values["deleted_at"] = now if after.deleted else None
    if action in (Action.APPROVE, Action.REJECT, Action.SPAM):
        values["moderated_by_id"] = by.id if by is not None else None
        if comment.moderated_at is None:
            values["moderated_at"] = now
    if action == Action.REJECT:
        values["reject_reason"] = reason
    deleted_guard = (
        Comment.deleted_at.is_not(None) if before.deleted else Comment.deleted_at.is_(None)
    )
    result = db.session.execute(
        update(Comment)
        .where(Comment.id == comment.id, Comment.status == before.status, deleted_guard)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise InvalidTransition(lazy_gettext("Someone else changed this comment just now."))
    delta = after.public - before.public
    if delta:
        db.session.execute(
            update(Article)
            .where(Article.id == comment.article_id)
            .values(approved_count=Article.approved_count + delta)
            .execution_options(synchronize_session=False)
        )
    if comment.open_reports:
        db.session.execute(
            update(Report)
            .where(Report.comment_id == comment.id, Report.resolved_at.is_(None))
            .values(resolved_at=now)
            .execution_options(synchronize_session=False)
        )
    audit(
        audit_action or action.value,
        by,
        comment,
        before,
        after,
        {"reason": reason} if reason else None,
        batch,
    )
    db.session.expire(comment)
    return after


def _get(comment_id: int) -> Comment:
    comment = db.session.get(Comment, comment_id)
    if comment is None:
        raise NotFound(lazy_gettext("No such comment."))
    return comment


def apply(
    comment_id: int, action: Action, by: Moderator | None = None, reason: str | None = None
) -> Comment:
    """Apply a moderation action to one comment and commit."""
    comment = _get(comment_id)
    try:
        _move(comment, action, by, reason)
    except InvalidTransition:
        db.session.rollback()
        raise
    db.session.commit()
    return comment


@dataclass
class BulkResult:
    done: list[int] = field(default_factory=list)
    skipped: dict[int, str] = field(default_factory=dict)
    batch: str | None = None


def apply_many(
    comment_ids: list[int],
    action: Action,
    by: Moderator | None = None,
    reason: str | None = None,
    batch: str | None = None,
) -> BulkResult:
    """Apply an action to many comments in one transaction; skip those it does not fit."""
    result = BulkResult(batch=batch)
    comments = db.session.execute(
        select(Comment).where(Comment.id.in_(comment_ids)).order_by(Comment.id)
    ).scalars()
    for comment in comments:
        try:
            _move(comment, action, by, reason, batch)
        except InvalidTransition as error:
            result.skipped[comment.id] = str(error.message)
        else:
            result.done.append(comment.id)
    db.session.commit()
    return result


def ids_from_ip(ip: str, statuses: tuple[Status, ...] | None = None) -> list[int]:
    """Ids of the non-deleted comments sent from one IP address."""
    query = select(Comment.id).where(Comment.remote_addr == ip, Comment.deleted_at.is_(None))
    if statuses:
        query = query.where(Comment.status.in_(statuses))
    return list(db.session.execute(query).scalars())


def network_of(ip: str, scope: str) -> str:
    """The IP itself (/32, /128) or its neighbourhood (/24 for IPv4, /64 for IPv6)."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        raise BadRequest(lazy_gettext("Not a valid IP address.")) from None
    if scope == "net":
        prefix = 24 if address.version == 4 else 64
    else:
        prefix = address.max_prefixlen
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def act_on_actor(
    comment_id: int, by: Moderator | None, scope: str = "ip", ban_days: int = 7
) -> BulkResult:
    """Reject all pending from a comment's IP (or its /24) and ban it: one undoable step."""
    comment = _get(comment_id)
    if not comment.remote_addr:
        raise BadRequest(lazy_gettext("This comment has no IP address recorded."))
    if not 0 < ban_days <= 3650:
        raise BadRequest(lazy_gettext("Ban length must be 1 to 3650 days."))
    network = ipaddress.ip_network(network_of(comment.remote_addr, scope))
    batch = secrets.token_hex(8)
    pending = db.session.execute(
        select(Comment)
        .where(Comment.status == Status.PENDING, Comment.deleted_at.is_(None))
        .where(Comment.remote_addr.is_not(None))
    ).scalars()
    result = BulkResult(batch=batch)
    for candidate in pending:
        try:
            inside = ipaddress.ip_address(candidate.remote_addr or "") in network
        except ValueError:
            inside = False
        if inside:
            _move(candidate, Action.REJECT, by, "ban", batch)
            result.done.append(candidate.id)
    expires = datetime.now(UTC) + timedelta(days=ban_days)
    db.session.add(
        Ban(
            network=str(network),
            reason=f"comment #{comment.id}",
            expires_at=expires,
            created_by_id=by.id if by else None,
            batch=batch,
        )
    )
    audit("ban", by, comment, detail={"network": str(network), "days": ban_days}, batch=batch)
    db.session.commit()
    return result


def undo_batch(batch: str, by: Moderator | None) -> BulkResult:
    """Undo one step: comments it rejected go back to pending, its bans are lifted."""
    entries = db.session.execute(
        select(AuditEntry).where(AuditEntry.batch == batch, AuditEntry.action == Action.REJECT)
    ).scalars()
    result = BulkResult(batch=batch)
    for entry in entries:
        comment = db.session.get(Comment, entry.comment_id) if entry.comment_id else None
        if comment is None or comment.status != Status.REJECTED or comment.deleted_at:
            continue
        _move(comment, Action.RESTORE, by, batch=batch, audit_action="undo")
        result.done.append(comment.id)
    now = datetime.now(UTC)
    for ban in db.session.execute(
        select(Ban).where(Ban.batch == batch, Ban.lifted_at.is_(None))
    ).scalars():
        ban.lifted_at = now
        audit("unban", by, detail={"network": ban.network}, batch=batch)
    db.session.commit()
    return result


def admit(comment: Comment) -> None:
    """Count and audit a new comment's first status, inside the caller's transaction.

    The comment is already flushed with the status triage gave it.
    """
    if comment.status == Status.APPROVED and comment.deleted_at is None:
        db.session.execute(
            update(Article)
            .where(Article.id == comment.article_id)
            .values(approved_count=Article.approved_count + 1)
            .execution_options(synchronize_session=False)
        )
    if comment.status != Status.PENDING:
        after = State(Status(comment.status), False)
        detail = {"reason": comment.triage_reason} if comment.triage_reason else None
        audit("triage", None, comment, None, after, detail)


def hash_owner_key(key: str) -> str:
    """What is stored of the secret an author gets for their comment."""
    return hashlib.sha256(key.encode()).hexdigest()


def withdraw(comment_id: int, article_key: str, owner_key: object) -> Comment:
    """The author deletes their own comment while it still waits for review."""
    comment = db.session.get(Comment, comment_id)
    if (
        comment is None
        or comment.article.key != article_key
        or not isinstance(owner_key, str)
        or not comment.owner_key_hash
        or not hmac.compare_digest(comment.owner_key_hash, hash_owner_key(owner_key))
    ):
        raise NotFound(lazy_gettext("No such comment."))
    if comment.status != Status.PENDING or comment.deleted_at is not None:
        raise InvalidTransition(
            lazy_gettext("Only a comment still waiting for review can be withdrawn.")
        )
    try:
        _move(comment, Action.DELETE, None, audit_action="withdraw")
    except InvalidTransition:
        db.session.rollback()
        raise
    db.session.commit()
    return comment

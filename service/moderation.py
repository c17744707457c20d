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
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask_babel import format_datetime, lazy_gettext
from sqlalchemy import bindparam, select, update

from . import addresses, bans
from .audit_log import audit
from .errors import BadRequest, NotFound, ServiceError
from .extensions import db
from .models import Article, AuditEntry, Comment, Moderator, Report, State, Status
from .notify import changes
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


class StatusChanged(ServiceError):
    """The moderator acted on a view of the comment that is out of date."""

    status = 409
    code = "status_changed"

    def __init__(self, comment: Comment) -> None:
        self.current_status = comment.state.label
        last = db.session.execute(
            select(AuditEntry)
            .where(AuditEntry.comment_id == comment.id)
            .order_by(AuditEntry.id.desc())
            .limit(1)
        ).scalar_one_or_none()
        status = status_label(comment.state.status, comment.state.deleted)
        if last is not None:
            message = lazy_gettext(
                "Comment #%(id)d is now %(status)s: %(who)s changed it at %(time)s.",
                id=comment.id,
                status=status,
                who=last.actor,
                time=format_datetime(last.created_at, "HH:mm:ss"),
            )
        else:
            message = lazy_gettext(
                "Comment #%(id)d is now %(status)s.", id=comment.id, status=status
            )
        super().__init__(message)

    def extra(self) -> dict[str, Any]:
        return {"current_status": self.current_status}


P, A, R, S = Status.PENDING, Status.APPROVED, Status.REJECTED, Status.SPAM

# Every move a moderator can make: from a state, by an action, to a state.
# A pair that is not here does not apply (InvalidTransition). Deleting keeps the
# status, so that restoring a deleted comment gives back what it was.
TRANSITIONS: dict[State, dict[Action, State]] = {
    State(P): {
        Action.APPROVE: State(A),
        Action.REJECT: State(R),
        Action.SPAM: State(S),
        Action.DELETE: State(P, deleted=True),
    },
    State(A): {
        Action.REJECT: State(R),
        Action.SPAM: State(S),
        Action.DELETE: State(A, deleted=True),
    },
    State(R): {
        Action.APPROVE: State(A),
        Action.SPAM: State(S),
        Action.RESTORE: State(P),
        Action.DELETE: State(R, deleted=True),
    },
    State(S): {
        Action.APPROVE: State(A),
        Action.REJECT: State(R),
        Action.RESTORE: State(P),
        Action.DELETE: State(S, deleted=True),
    },
    State(P, deleted=True): {Action.RESTORE: State(P)},
    State(A, deleted=True): {Action.RESTORE: State(A)},
    State(R, deleted=True): {Action.RESTORE: State(R)},
    State(S, deleted=True): {Action.RESTORE: State(S)},
}


def target_state(comment: Comment, action: Action) -> State:
    """Where ``action`` takes the comment, or InvalidTransition if it makes no sense."""
    before = comment.state
    after = TRANSITIONS[before].get(action)
    if after is None and before == State(A) and action == Action.APPROVE and comment.open_reports:
        # Approving an approved comment that readers reported dismisses the reports.
        after = before
    if after is None:
        raise InvalidTransition(
            lazy_gettext(
                "Cannot %(action)s a comment that is %(status)s.",
                action=action_label(action),
                status=status_label(before.status, before.deleted),
            )
        )
    return after


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


def _move(
    comment: Comment,
    action: Action,
    by: Moderator | None,
    reason: str | None = None,
    batch: str | None = None,
    audit_action: str | None = None,
) -> State:
    """Apply one action inside the caller's transaction; returns the new state."""
    before = comment.state
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
            .values(
                approved_count=Article.approved_count + delta,
                public_version=Article.public_version + 1,
            )
            .execution_options(synchronize_session=False)
        )
        changes.count_changed(comment.article_id)
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


def check_expected(value: object) -> str | None:
    """The status a moderator saw (``expected_status``), if they sent one, else BadRequest."""
    if value is None or value == "":
        return None
    if value not in STATE_LABELS:
        raise BadRequest(
            lazy_gettext(
                "expected_status must be one of: %(labels)s.", labels=", ".join(STATE_LABELS)
            )
        )
    return str(value)


STATE_LABELS = tuple(sorted({state.label for state in TRANSITIONS}))


def apply(
    comment_id: int,
    action: Action,
    by: Moderator | None = None,
    reason: str | None = None,
    expected: str | None = None,
) -> Comment:
    """Apply a moderation action to one comment and commit.

    ``expected`` is the status the moderator saw ("pending", ..., "deleted"):
    when the comment has moved on since, StatusChanged (409) says what happened
    instead of silently overriding another moderator's decision.
    """
    comment = _get(comment_id)
    if expected is not None and comment.state.label != expected:
        raise StatusChanged(comment)
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
    expected: Status | None = None,
) -> BulkResult:
    """Apply an action to many comments in one transaction; skip those it does not fit.

    With ``expected``, only comments (not deleted) in that status are touched:
    the system's sweeps must not override a moderator who decided meanwhile.
    """
    result = BulkResult(batch=batch)
    query = select(Comment).where(Comment.id.in_(comment_ids)).order_by(Comment.id)
    if expected is not None:
        query = query.where(Comment.status == expected, Comment.deleted_at.is_(None))
    comments = db.session.execute(query).scalars()
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
    """The IP itself (/32, /128) or its neighbourhood (/24 for IPv4, /64 for IPv6).

    An address that retention truncated (``203.0.113.0/24``) stands for its whole
    network: both scopes give at least that network.
    """
    network = addresses.stored_network(ip)
    if network is None:
        raise BadRequest(lazy_gettext("Not a valid IP address."))
    prefix = network.max_prefixlen if scope != "net" else 24 if network.version == 4 else 64
    return str(network.supernet(new_prefix=min(prefix, network.prefixlen)))


def act_on_actor(
    comment_id: int, by: Moderator | None, scope: str = "ip", ban_days: int = 7
) -> BulkResult:
    """Reject all pending from a comment's IP (or its /24) and ban it: one undoable step."""
    comment = _get(comment_id)
    if not comment.remote_addr:
        raise BadRequest(lazy_gettext("This comment has no IP address recorded."))
    bans.check_days(ban_days)
    network = ipaddress.ip_network(network_of(comment.remote_addr, scope))
    batch = secrets.token_hex(8)
    pending = db.session.execute(
        select(Comment)
        .where(Comment.status == Status.PENDING, Comment.deleted_at.is_(None))
        .where(Comment.remote_addr.is_not(None))
    ).scalars()
    result = BulkResult(batch=batch)
    for candidate in pending:
        if addresses.covers(network, candidate.remote_addr):
            _move(candidate, Action.REJECT, by, "ban", batch)
            result.done.append(candidate.id)
    bans.ban_network(network, ban_days, f"comment #{comment.id}", by, batch=batch, comment=comment)
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
    bans.lift_batch(batch, by)
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
            .values(
                approved_count=Article.approved_count + 1,
                public_version=Article.public_version + 1,
            )
            .execution_options(synchronize_session=False)
        )
        changes.count_changed(comment.article_id)
    elif comment.status == Status.PENDING and comment.deleted_at is None:
        changes.pending_added()
    if comment.status != Status.PENDING:
        after = State(Status(comment.status))
        detail = {"reason": comment.triage_reason} if comment.triage_reason else None
        audit("triage", None, comment, None, after, detail)


def take_down(
    comment_ids: list[int], by: Moderator | None, audit_action: str, batch: str | None = None
) -> list[int]:
    """Delete (soft) every comment not yet deleted, inside the caller's transaction.

    For erasing a submitter's data: published comments leave their article's
    count here, the one place that keeps it, before the rows go.
    """
    done: list[int] = []
    for start in range(0, len(comment_ids), 500):
        chunk = comment_ids[start : start + 500]
        for comment in db.session.execute(
            select(Comment)
            .where(Comment.id.in_(chunk), Comment.deleted_at.is_(None))
            .order_by(Comment.id)
        ).scalars():
            _move(comment, Action.DELETE, by, batch=batch, audit_action=audit_action)
            done.append(comment.id)
    return done


def admit_imported(public_by_article: dict[int, int]) -> None:
    """Count imported public comments, per article, inside the caller's transaction.

    An import stores thousands of comments at a time: one UPDATE statement run
    for every article at once, and no audit entry per comment (the import
    audits the whole run).
    """
    changes = [{"aid": key, "n": count} for key, count in public_by_article.items() if count]
    if changes:
        table = Article.__table__
        db.session.execute(
            update(table)
            .where(table.c.id == bindparam("aid"))
            .values(
                approved_count=table.c.approved_count + bindparam("n"),
                public_version=table.c.public_version + 1,
            ),
            changes,
        )


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

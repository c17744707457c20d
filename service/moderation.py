"""The ONLY place a comment's status changes.

Every change goes through ``transition``: an allowed-transitions table, a
guarded UPDATE (``WHERE status = <the status we saw>``) so that two moderators
racing on one comment cannot both win, and the article's approved count kept
in step within the same transaction.
"""

from __future__ import annotations

import enum

from flask_babel import lazy_gettext
from sqlalchemy import update

from .errors import NotFound, ServiceError
from .extensions import db
from .models import Article, Comment, Status


class Action(enum.StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    SPAM = "spam"


# action -> (statuses it applies to, status it leads to)
TRANSITIONS: dict[Action, tuple[frozenset[Status], Status]] = {
    Action.APPROVE: (frozenset({Status.PENDING, Status.REJECTED, Status.SPAM}), Status.APPROVED),
    Action.REJECT: (frozenset({Status.PENDING, Status.APPROVED, Status.SPAM}), Status.REJECTED),
    Action.SPAM: (frozenset({Status.PENDING, Status.APPROVED, Status.REJECTED}), Status.SPAM),
}


class InvalidTransition(ServiceError):
    status = 409
    code = "invalid_transition"
    message = lazy_gettext("This action does not apply to the comment in its current status.")


def apply(comment_id: int, action: Action) -> Comment:
    """Apply a moderation action to one comment and commit."""
    comment = db.session.get(Comment, comment_id)
    if comment is None:
        raise NotFound(lazy_gettext("No such comment."))
    allowed_from, target = TRANSITIONS[action]
    if comment.status not in allowed_from:
        raise InvalidTransition()
    transition(comment, target)
    db.session.commit()
    return comment


def transition(comment: Comment, target: Status) -> None:
    """Move one comment to ``target`` inside the caller's transaction."""
    seen = comment.status
    result = db.session.execute(
        update(Comment)
        .where(Comment.id == comment.id, Comment.status == seen)
        .values(status=target)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        db.session.rollback()
        raise InvalidTransition(lazy_gettext("Someone else changed this comment just now."))
    delta = (target == Status.APPROVED) - (seen == Status.APPROVED)
    if delta:
        db.session.execute(
            update(Article)
            .where(Article.id == comment.article_id)
            .values(approved_count=Article.approved_count + delta)
            .execution_options(synchronize_session=False)
        )
    db.session.expire(comment)


def initial_status() -> Status:
    """Status of a new comment: pre-moderation (先审后发) holds everything."""
    return Status.PENDING

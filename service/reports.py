"""Readers' reports (举报) of published comments."""

from __future__ import annotations

import hashlib
import hmac

from flask import current_app
from flask_babel import gettext, lazy_gettext
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from .comments import find_public_comment
from .errors import BadRequest
from .extensions import db
from .models import Comment, Report


def report_reasons() -> dict[str, str]:
    """The reasons a reader can pick, with their labels in the current language."""
    labels = {
        "spam": gettext("Spam or advertising"),
        "abuse": gettext("Abuse or personal attack"),
        "illegal": gettext("Illegal content"),
        "other": gettext("Something else"),
    }
    return {r: labels.get(r, r) for r in current_app.config["REPORT_REASONS"]}


def reporter_key(remote_addr: str | None) -> str:
    """A keyed hash of the reader's IP: one report per reader, no IP kept in clear."""
    key = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, f"reporter:{remote_addr}".encode(), hashlib.sha256).hexdigest()[:32]


def report_comment(article_key: str, comment_id: int, reason: str, remote_addr: str | None) -> bool:
    """Record a report; False if this reader had already reported the comment."""
    if reason not in current_app.config["REPORT_REASONS"]:
        raise BadRequest(lazy_gettext("Please choose a reason."))
    comment = find_public_comment(article_key, comment_id)
    db.session.add(Report(comment_id=comment.id, reporter=reporter_key(remote_addr), reason=reason))
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        return False
    db.session.execute(
        update(Comment)
        .where(Comment.id == comment.id)
        .values(open_reports=Comment.open_reports + 1)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return True

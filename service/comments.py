"""Posting and reading rules: post_comment(), list_comments(), count_comments()."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from flask import current_app
from flask_babel import lazy_gettext
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from . import captcha, moderation, triage
from .articles import check_key, clean_title, clean_url, ensure_article, find_article
from .bans import check_not_banned
from .errors import (
    BadRequest,
    CommentsClosed,
    FieldError,
    NotFound,
    ServiceError,
    ValidationFailed,
)
from .extensions import db
from .models import Article, Comment, Status
from .text import clean_body, clean_nickname

MAX_PAGE = 100_000


class CommentRejected(ServiceError):
    """The comment was stored as rejected (a banned word); the reader is told."""

    status = 422
    code = "comment_rejected"
    message = lazy_gettext("Your comment contains words that cannot be published.")

    def __init__(self, comment_id: int) -> None:
        super().__init__()
        self.comment_id = comment_id


USER_AGENT_MAX_LENGTH = 512


@dataclass
class Submission:
    """What a reader sent, as received (strings not yet checked)."""

    article: str
    author: object = None
    body: object = None
    reply_to: object = None
    captcha_token: object = None
    captcha_answer: object = None
    title: object = None
    url: object = None
    remote_addr: str | None = None
    user_agent: str | None = None
    identity: str | None = None

    FIELDS = ("author", "body", "reply_to", "captcha_token", "captcha_answer", "title", "url")

    @classmethod
    def from_fields(
        cls,
        article: str,
        fields: dict[str, object],
        remote_addr: str | None,
        user_agent: str | None,
    ) -> Submission:
        """A submission from a form's or a JSON object's fields; others are ignored."""
        values = {name: fields.get(name) for name in cls.FIELDS}
        return cls(article=article, remote_addr=remote_addr, user_agent=user_agent, **values)


@dataclass
class CommentPage:
    article_key: str
    title: str | None
    closed: bool
    total: int
    page: int
    per_page: int
    comments: list[Comment] = field(default_factory=list)

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))


def check_page(value: object) -> int:
    """A page number from 1 to MAX_PAGE, else BadRequest."""
    if value is None or value == "":
        return 1
    try:
        page = int(str(value))
    except ValueError:
        raise BadRequest(lazy_gettext("The page number must be a whole number.")) from None
    if not 1 <= page <= MAX_PAGE:
        raise BadRequest(lazy_gettext("The page number is out of range."))
    return page


def list_comments(key: str, page: int = 1) -> CommentPage:
    """Approved comments of an article, newest first, one page at a time."""
    check_key(key)
    per_page = current_app.config["COMMENTS_PER_PAGE"]
    article = find_article(key)
    if article is None:
        return CommentPage(key, None, False, 0, page, per_page)
    comments = (
        db.session.execute(
            select(Comment)
            .where(
                Comment.article_id == article.id,
                Comment.status == Status.APPROVED,
                Comment.deleted_at.is_(None),
            )
            .order_by(Comment.created_at.desc(), Comment.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
            .options(selectinload(Comment.parent))
        )
        .scalars()
        .all()
    )
    return CommentPage(
        key, article.title, article.closed, article.approved_count, page, per_page, list(comments)
    )


def count_comments(keys: list[str]) -> dict[str, int]:
    """Approved-comment counts by article key; unknown keys count 0."""
    counts = dict.fromkeys(keys, 0)
    if keys:
        rows = db.session.execute(
            select(Article.key, Article.approved_count).where(Article.key.in_(keys))
        )
        counts.update({key: count for key, count in rows})
    return counts


def check_count_keys(raw: object) -> list[str]:
    """Article keys for a counts request: valid, de-duplicated, in order, capped."""
    if not isinstance(raw, list):
        raise BadRequest(lazy_gettext("'articles' must be a list of article keys."))
    keys = list(dict.fromkeys(check_key(k) for k in raw))
    limit = current_app.config["COUNTS_MAX_KEYS"]
    if len(keys) > limit:
        raise BadRequest(lazy_gettext("At most %(max)d articles per request.", max=limit))
    return keys


def _check_reply_to(
    raw: object, article: Article | None
) -> tuple[Comment | None, FieldError | None]:
    if raw is None or raw == "":
        return None, None
    bad = FieldError("invalid_reply", lazy_gettext("You can only reply to a published comment."))
    if isinstance(raw, bool):
        return None, bad
    try:
        parent_id = int(str(raw))
    except ValueError:
        return None, bad
    parent = db.session.get(Comment, parent_id) if 0 < parent_id < 2**63 else None
    if parent is None or article is None or parent.article_id != article.id or not parent.is_public:
        return None, bad
    return parent, None


def find_public_comment(key: str, comment_id: int) -> Comment:
    """A published comment of this article, else NotFound."""
    comment = db.session.get(Comment, comment_id)
    if comment is None or not comment.is_public or comment.article.key != key:
        raise NotFound(lazy_gettext("No such comment."))
    return comment


def find_reply_target(key: str, raw: object) -> Comment | None:
    """The published comment a reader is replying to, if it is one of this article."""
    parent, error = _check_reply_to(raw, find_article(key))
    return None if error else parent


def post_comment(submission: Submission) -> Comment:
    """Check, triage and store a reader's comment, or raise with every problem at once.

    The captcha token is spent first, whatever else is wrong, so one challenge
    is never answered twice. A comment with a banned word is stored as rejected
    (moderators see it) and then CommentRejected tells the reader.
    """
    key = check_key(submission.article)
    config = current_app.config
    captcha_error = captcha.spend(
        submission.captcha_token if isinstance(submission.captcha_token, str) else None,
        submission.captcha_answer if isinstance(submission.captcha_answer, str) else None,
    )
    article = find_article(key)
    if article is not None and article.closed:
        raise CommentsClosed()
    check_not_banned(submission.remote_addr)

    errors: dict[str, FieldError] = {}
    author, author_error = clean_nickname(
        submission.author, config["NICKNAME_MAX_LENGTH"], config["DEFAULT_NICKNAME"]
    )
    body, body_error = clean_body(submission.body, config["COMMENT_MAX_LENGTH"])
    parent, reply_error = _check_reply_to(submission.reply_to, article)
    for name, error in (
        ("author", author_error),
        ("body", body_error),
        ("reply_to", reply_error),
        ("captcha_answer", captcha_error),
    ):
        if error is not None:
            errors[name] = error
    if errors:
        raise ValidationFailed(errors)

    article = ensure_article(key, clean_title(submission.title), clean_url(submission.url))
    verdict = triage.decide(
        triage.Candidate(article, body, submission.remote_addr, submission.identity)
    )
    comment = Comment(
        article=article,
        parent=parent,
        author=author,
        body=body,
        status=verdict.status,
        triage_reason=verdict.reason,
        author_identity=submission.identity,
        remote_addr=submission.remote_addr,
        user_agent=(submission.user_agent or "")[:USER_AGENT_MAX_LENGTH] or None,
    )
    db.session.add(comment)
    db.session.flush()
    moderation.admit(comment)
    db.session.commit()
    if comment.status == Status.REJECTED:
        raise CommentRejected(comment.id)
    return comment

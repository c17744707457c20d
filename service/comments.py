"""Posting and reading rules: post_comment(), list_comments(), count_comments()."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext
from sqlalchemy import Connection, bindparam, func, or_, select
from sqlalchemy.orm import aliased, selectinload

from . import antispam, captcha, identity, moderation, region, triage
from .articles import check_key, clean_title, clean_url, ensure_article, find_article
from .bans import Banned, is_banned
from .captcha import ALREADY_USED
from .errors import (
    BadRequest,
    CommentsClosed,
    FieldError,
    NotFound,
    ServiceError,
    ValidationFailed,
)
from .extensions import db
from .metrics import COMMENTS_SUBMITTED
from .models import MAX_ID, Article, Comment, Status
from .params import Paging, Sort
from .text import clean_body, clean_nickname

REPLIES_SHOWN = 50
OWN_LOOKUP_MAX = 50


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
    proof_of_work: object = None
    title: object = None
    url: object = None
    remote_addr: str | None = None
    user_agent: str | None = None
    # The portal's signed identity (a JWT) as sent; service.identity checks it.
    identity: object = None

    FIELDS = (
        "author",
        "body",
        "reply_to",
        "captcha_token",
        "captcha_answer",
        "proof_of_work",
        "title",
        "url",
        "identity",
    )

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
class CommentPage(Paging):
    """One page of an article's public comments (``total`` counts them all)."""

    article_key: str = ""
    title: str | None = None
    closed: bool = False
    comments: list[Comment] = field(default_factory=list)


def _ordering(sort: Sort) -> tuple[Any, ...]:
    if sort == Sort.POPULAR:
        return (Comment.likes.desc(), Comment.created_at.desc(), Comment.id.desc())
    return (Comment.created_at.desc(), Comment.id.desc())


def _public(article: Article) -> tuple[Any, ...]:
    return (
        Comment.article_id == article.id,
        Comment.status == Status.APPROVED,
        Comment.deleted_at.is_(None),
    )


@dataclass
class Thread:
    """A top-level comment and the replies shown under it (one level deep)."""

    root: Comment
    replies: list[Comment]
    more_replies: int = 0


@dataclass
class ThreadPage(Paging):
    """One page of threads; paged by thread, while ``comment_total`` counts every comment."""

    article_key: str = ""
    title: str | None = None
    closed: bool = False
    comment_total: int = 0
    sort: Sort = Sort.NEWEST
    threads: list[Thread] = field(default_factory=list)


class _ThreadTotals:
    """How many threads an article shows, per process, for its current public_version.

    Counting them reads every public comment of the article (a hot one has
    hundreds of thousands); the answer only changes when the public set does,
    and that bumps the version, so a cached count is never stale.
    """

    def __init__(self, size: int = 4096) -> None:
        self._lock = threading.Lock()
        self._size = size
        self._items: OrderedDict[tuple[str, int, int], int] = OrderedDict()

    def get(self, key: tuple[str, int, int]) -> int | None:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            return None

    def clear(self) -> None:
        """Forget everything (a database was replaced under the process, as tests do)."""
        with self._lock:
            self._items.clear()

    def put(self, key: tuple[str, int, int], total: int) -> None:
        with self._lock:
            self._items[key] = total
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


_thread_totals = _ThreadTotals()


def forget_cached_counts() -> None:
    """Drop this process's cached thread counts (after its database was replaced)."""
    _thread_totals.clear()


def _thread_total(article: Article, top_level: Any) -> int:
    key = (str(db.engine.url), article.id, article.public_version)
    total = _thread_totals.get(key)
    if total is None:
        total = db.session.execute(
            select(func.count(Comment.id)).where(*_public(article), top_level)
        ).scalar_one()
        _thread_totals.put(key, total)
    return total


def list_threads(key: str, page: int = 1, sort: Sort = Sort.NEWEST) -> ThreadPage:
    """The widget's page: threads newest (or most liked) first, replies under each.

    A reply whose thread starter is no longer public is shown as a thread itself.
    """
    check_key(key)
    per_page = current_app.config["COMMENTS_PER_PAGE"]
    article = find_article(key)
    if article is None:
        return ThreadPage(page, per_page, 0, key, sort=sort)
    # Top level: no thread starter, or one that is no longer public. NOT EXISTS with a
    # key lookup per row, not NOT IN over every public id (300x slower on a hot article).
    root = aliased(Comment)
    root_public = (
        select(root.id)
        .where(root.id == Comment.root_id, root.status == Status.APPROVED)
        .where(root.deleted_at.is_(None))
        .exists()
    )
    top_level = or_(Comment.root_id.is_(None), ~root_public)
    paging = Paging(page, per_page, _thread_total(article, top_level))
    roots = list(
        db.session.execute(
            select(Comment)
            .where(*_public(article), top_level)
            .order_by(*_ordering(sort))
            .limit(per_page)
            .offset(paging.offset)
            .options(selectinload(Comment.parent))
        ).scalars()
    )
    replies: dict[int, list[Comment]] = {c.id: [] for c in roots}
    if roots:
        for reply in db.session.execute(
            # By thread starter only (replies live in their starter's article): the
            # root_id index then finds them, instead of a scan of the whole article.
            select(Comment)
            .where(Comment.root_id.in_(list(replies)), Comment.status == Status.APPROVED)
            .where(Comment.deleted_at.is_(None))
            .order_by(Comment.created_at, Comment.id)
            .options(selectinload(Comment.parent))
        ).scalars():
            replies[reply.root_id].append(reply)  # type: ignore[index]
    shown = REPLIES_SHOWN
    threads = [
        Thread(root, replies[root.id][:shown], max(0, len(replies[root.id]) - shown))
        for root in roots
    ]
    return ThreadPage(
        page,
        per_page,
        paging.total,
        key,
        article.title,
        article.closed,
        comment_total=article.approved_count,
        sort=sort,
        threads=threads,
    )


def list_comments(key: str, page: int = 1, sort: Sort = Sort.NEWEST) -> CommentPage:
    """Approved comments of an article, newest (or most liked) first, one page at a time."""
    check_key(key)
    per_page = current_app.config["COMMENTS_PER_PAGE"]
    article = find_article(key)
    if article is None:
        return CommentPage(page, per_page, 0, key)
    paging = Paging(page, per_page, article.approved_count)
    comments = (
        db.session.execute(
            select(Comment)
            .where(*_public(article))
            .order_by(*_ordering(sort))
            .limit(per_page)
            .offset(paging.offset)
            .options(selectinload(Comment.parent))
        )
        .scalars()
        .all()
    )
    return CommentPage(
        page, per_page, paging.total, key, article.title, article.closed, list(comments)
    )


# One row per article: the stored counter, never a count over comments, so the cost
# does not grow with the number of comments.
COUNTS_QUERY = select(Article.key, Article.approved_count).where(
    Article.key.in_(bindparam("keys", expanding=True))
)


def count_comments_with(connection: Connection, keys: list[str]) -> dict[str, int]:
    """Approved-comment counts by article key on this connection; unknown keys count 0."""
    counts = dict.fromkeys(keys, 0)
    if keys:
        counts.update(
            {key: count for key, count in connection.execute(COUNTS_QUERY, {"keys": keys})}
        )
    return counts


def count_comments(keys: list[str]) -> dict[str, int]:
    """Approved-comment counts by article key; unknown keys count 0."""
    return count_comments_with(db.session.connection(), keys)


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
    parent = db.session.get(Comment, parent_id) if 0 < parent_id <= MAX_ID else None
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
    if raw is None or raw == "":
        return None  # the common case: no extra query on every widget view
    parent, error = _check_reply_to(raw, find_article(key))
    return None if error else parent


@dataclass(frozen=True)
class Posted:
    """A stored comment and the secret that lets its author see and withdraw it."""

    comment: Comment
    owner_key: str


@dataclass(frozen=True)
class CleanFields:
    """A submission's fields as they will be stored."""

    author: str
    body: str
    parent: Comment | None


def check_fields(submission: Submission, article: Article | None) -> CleanFields:
    """The nickname, text and reply target as they will be stored, or every problem at once.

    Nothing here looks at the captcha: a reader who mistyped the text keeps a
    captcha that is still unspent, and learns nothing about its answer.
    """
    config = current_app.config
    author, author_error = clean_nickname(
        submission.author, config["NICKNAME_MAX_LENGTH"], config["DEFAULT_NICKNAME"]
    )
    body, body_error = clean_body(submission.body, config["COMMENT_MAX_LENGTH"])
    parent, reply_error = _check_reply_to(submission.reply_to, article)
    errors = {
        name: error
        for name, error in (
            ("author", author_error),
            ("body", body_error),
            ("reply_to", reply_error),
        )
        if error is not None
    }
    if errors:
        COMMENTS_SUBMITTED.labels("invalid").inc()
        raise ValidationFailed(errors, captcha_checked=False)
    return CleanFields(author, body, parent)


def post_comment(submission: Submission) -> Posted:
    """Check, triage and store a reader's comment, or raise with what is wrong.

    Order, cheapest first: the article key (400), the portal identity (401 when
    invalid, expired, or required and missing), the fields (422, the captcha
    untouched), a closed article (403), under attack the proof of work (422, the
    captcha untouched), then the captcha is spent (422 when
    wrong; a token is never answered twice), then bans (403). A comment with a
    banned word is stored as rejected (moderators see it) and then
    CommentRejected tells the reader.

    The captcha token is also the submission's idempotency key: the same token
    rightly answered again (a retry after a lost answer) gets the first answer,
    the same comment and owner key, never a second comment.
    """
    key = check_key(submission.article)
    try:
        who = identity.from_field(submission.identity)
    except identity.IdentityError:
        COMMENTS_SUBMITTED.labels("refused").inc()
        raise
    article = find_article(key)
    fields = check_fields(submission, article)
    if article is not None and article.closed:
        COMMENTS_SUBMITTED.labels("refused").inc()
        raise CommentsClosed()
    antispam.check_proof(submission.proof_of_work, submission.captcha_token)
    spent = captcha.answer_challenge(
        submission.captcha_token if isinstance(submission.captcha_token, str) else None,
        submission.captcha_answer if isinstance(submission.captcha_answer, str) else None,
    )
    if spent.replay and spent.nonce is not None:
        return _first_answer(key, spent.nonce)
    if spent.error is not None:
        COMMENTS_SUBMITTED.labels("invalid").inc()
        raise ValidationFailed({"captcha_answer": spent.error})
    if is_banned(submission.remote_addr):
        COMMENTS_SUBMITTED.labels("refused").inc()
        raise Banned()

    article = ensure_article(key, clean_title(submission.title), clean_url(submission.url))
    screening = antispam.screen(key, fields.body, submission.remote_addr)
    verdict = triage.decide(
        triage.Candidate(
            article, fields.body, submission.remote_addr, who.sub if who else None, screening
        )
    )
    owner_key = owner_key_for(spent.nonce) if spent.nonce else secrets.token_urlsafe(24)
    parent = fields.parent
    comment = Comment(
        article=article,
        parent=parent,
        root_id=(parent.root_id or parent.id) if parent is not None else None,
        owner_key_hash=moderation.hash_owner_key(owner_key),
        author=fields.author,
        body=fields.body,
        status=verdict.status,
        triage_reason=verdict.reason,
        author_identity=who.sub if who else None,
        author_identity_name=who.name if who else None,
        region=region.lookup(submission.remote_addr),
        remote_addr=submission.remote_addr,
        user_agent=(submission.user_agent or "")[:USER_AGENT_MAX_LENGTH] or None,
    )
    db.session.add(comment)
    db.session.flush()
    moderation.admit(comment)
    if spent.nonce:
        captcha.link_comment(spent.nonce, comment.id)
    antispam.settle(screening, comment)
    db.session.commit()
    COMMENTS_SUBMITTED.labels(str(comment.status)).inc()
    if comment.status == Status.REJECTED:
        raise CommentRejected(comment.id)
    return Posted(comment, owner_key)


def owner_key_for(nonce: str) -> str:
    """The author's secret for the comment a challenge made: the same on every retry."""
    key = current_app.config["SECRET_KEY"]
    key_bytes = key.encode() if isinstance(key, str) else key
    digest = hmac.new(key_bytes, f"owner-key:{nonce}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode()


def _first_answer(key: str, nonce: str) -> Posted:
    """What the first submission with this challenge was answered, for its retry."""
    comment_id = captcha.comment_made_by(nonce)
    comment = db.session.get(Comment, comment_id) if comment_id is not None else None
    if comment is None or comment.article.key != key:
        raise ValidationFailed({"captcha_answer": FieldError("captcha_invalid", ALREADY_USED)})
    COMMENTS_SUBMITTED.labels("retried").inc()
    if comment.status == Status.REJECTED and (comment.triage_reason or "").startswith("rejected"):
        raise CommentRejected(comment.id)
    return Posted(comment, owner_key_for(nonce))


@dataclass(frozen=True)
class OwnComment:
    """One of a reader's own comments and where it stands.

    ``comment`` is given for those found through the reader's portal identity:
    the device asking may never have seen them, so it needs their text.
    """

    id: int
    status: str
    comment: Comment | None = None


def _own_state(comment: Comment) -> str:
    if comment.is_public:
        return "approved"
    if comment.status == Status.PENDING and comment.deleted_at is None:
        return "pending"
    return "removed"


def own_comments(key: str, claims: object, token: object = None) -> list[OwnComment]:
    """The state of a reader's own comments, for those whose secret they hold.

    ``claims`` is ``[{"id": 1, "key": "..."}]`` as kept in the reader's browser.
    Anything not public and not pending reads "removed": no more is said.
    With a valid portal identity (``token``) the user's comments on this article
    that still await review are added, whichever device sent them: the signature
    proves the user. An invalid or expired identity is refused (401).
    """
    check_key(key)
    who = identity.verify(token) if token not in (None, "") else None
    if claims is None and who is not None:
        claims = []
    if not isinstance(claims, list) or len(claims) > OWN_LOOKUP_MAX:
        raise BadRequest(lazy_gettext("'comments' must be a list of at most 50 items."))
    wanted: dict[int, str] = {}
    for claim in claims:
        if not isinstance(claim, dict):
            raise BadRequest()
        comment_id, secret = claim.get("id"), claim.get("key")
        if isinstance(comment_id, int) and not isinstance(comment_id, bool):
            if isinstance(secret, str) and 0 < comment_id <= MAX_ID:
                wanted[comment_id] = secret
    found: list[OwnComment] = []
    if wanted:
        for comment in db.session.execute(
            select(Comment).where(Comment.id.in_(list(wanted)))
        ).scalars():
            expected = comment.owner_key_hash or ""
            if comment.article.key != key or not hmac.compare_digest(
                expected, moderation.hash_owner_key(wanted[comment.id])
            ):
                continue
            found.append(OwnComment(comment.id, _own_state(comment)))
    if who is not None:
        article = find_article(key)
        known = {own.id for own in found}
        if article is not None:
            for comment in db.session.execute(
                select(Comment)
                .where(Comment.article_id == article.id, Comment.author_identity == who.sub)
                .where(Comment.status == Status.PENDING, Comment.deleted_at.is_(None))
                .order_by(Comment.created_at.desc(), Comment.id.desc())
                .limit(OWN_LOOKUP_MAX)
            ).scalars():
                if comment.id not in known:
                    found.append(OwnComment(comment.id, "pending", comment))
    return found

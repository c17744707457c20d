"""Database models. Rules live in the service modules, not here."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime

from flask_login import UserMixin
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from .extensions import db

# Ids are INTEGER columns: 32 bits on PostgreSQL. Anything larger is no id of ours.
MAX_ID = 2**31 - 1


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime; use datetime.now(UTC)")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Status(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    SPAM = "spam"


STATUS_VALUES = ", ".join(f"'{s.value}'" for s in Status)


@dataclass(frozen=True)
class State:
    """Where a comment stands: its status, and whether it is (soft-)deleted."""

    status: Status
    deleted: bool = False

    @property
    def public(self) -> bool:
        return self.status == Status.APPROVED and not self.deleted

    @property
    def label(self) -> str:
        """What moderators see and send back as ``expected_status``."""
        return "deleted" if self.deleted else self.status.value


class Role(enum.StrEnum):
    MODERATOR = "moderator"
    ADMIN = "admin"


class ModerationMode(enum.StrEnum):
    PRE = "pre"  # 先审后发: held until approved
    POST = "post"  # 先发后审: published at once, still listed for review


def str_enum(enum_class: type[enum.StrEnum], length: int = 16) -> Enum:
    """A StrEnum stored as its text value (no native database enum)."""
    return Enum(
        enum_class,
        native_enum=False,
        create_constraint=False,
        length=length,
        values_callable=lambda e: [m.value for m in e],
    )


class Article(db.Model):
    """A page of the portal that carries comments, known by the portal's key."""

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(128), unique=True)
    title: Mapped[str | None] = mapped_column(String(200))
    url: Mapped[str | None] = mapped_column(String(2048))
    closed: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # Kept in step by service.moderation, the one place a status changes, so the
    # counts API reads one row per article instead of counting comments.
    approved_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Goes up whenever what the public sees of the article changes (a comment
    # published or withdrawn, the title, closed): cached page parts key on it.
    public_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # None: the site-wide mode applies.
    moderation_mode: Mapped[ModerationMode | None] = mapped_column(str_enum(ModerationMode, 8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    comments: Mapped[list[Comment]] = relationship(back_populates="article")


class Comment(db.Model):
    __table_args__ = (
        CheckConstraint(f"status IN ({STATUS_VALUES})", name="status"),
        # The widget's page: approved comments of one article, newest first.
        Index("ix_comment_article_status_created", "article_id", "status", "created_at"),
        # The same, most liked first (最热).
        Index("ix_comment_article_status_likes", "article_id", "status", "likes", "created_at"),
        # The replies shown under a page of thread starters.
        Index("ix_comment_root_status_created", "root_id", "status", "created_at"),
        # Triage looks up a sender's recent comments (duplicates, trust) on every post.
        Index("ix_comment_remote_addr_created", "remote_addr", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("article.id"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("comment.id"))
    # The thread's first comment: replies show one level deep under it.
    root_id: Mapped[int | None] = mapped_column(ForeignKey("comment.id"), index=True)
    author: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[Status] = mapped_column(
        str_enum(Status),
        default=Status.PENDING,
        server_default=Status.PENDING.value,
        index=True,
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # For moderators only; never in a public response.
    remote_addr: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    # The portal's signed identity of the author, when the portal sends one.
    author_identity: Mapped[str | None] = mapped_column(String(128), index=True)
    # The display name the portal signed with it (moderators only, like the id).
    author_identity_name: Mapped[str | None] = mapped_column(String(64))
    # IP 属地 at submission ("广东", "海外"; service.region): kept, never looked up again.
    region: Mapped[str | None] = mapped_column(String(16))
    # Why automatic triage held, rejected or marked it ("held: contains a link").
    triage_reason: Mapped[str | None] = mapped_column(String(200))
    reject_reason: Mapped[str | None] = mapped_column(String(200))
    moderated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    moderated_by_id: Mapped[int | None] = mapped_column(ForeignKey("moderator.id"))
    # Soft delete: kept for the audit trail and for restore; the status is kept.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    open_reports: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    likes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # SHA-256 of the secret handed to the author, who may withdraw it while pending.
    owner_key_hash: Mapped[str | None] = mapped_column(String(64))
    # Where an imported comment came from ("isso:123"): importing again skips it.
    import_ref: Mapped[str | None] = mapped_column(String(96), unique=True, index=True)

    article: Mapped[Article] = relationship(back_populates="comments")
    parent: Mapped[Comment | None] = relationship(remote_side=[id], foreign_keys=[parent_id])
    moderated_by: Mapped[Moderator | None] = relationship()

    @property
    def is_public(self) -> bool:
        return self.status == Status.APPROVED and self.deleted_at is None

    @property
    def state(self) -> State:
        return State(Status(self.status), self.deleted_at is not None)


class SpentCaptcha(db.Model):
    """A captcha nonce that has been answered (rightly or not) and can't be again.

    Issuing a challenge writes nothing; only spending one does, under a primary
    key so that two racing requests with the same token have exactly one winner.
    """

    __tablename__ = "spent_captcha"

    nonce: Mapped[str] = mapped_column(String(32), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    # Answered rightly; and the comment it made, so that a retried submission
    # (same token, right answer) gets the first answer instead of a second comment.
    solved: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    comment_id: Mapped[int | None] = mapped_column(Integer)


class Like(db.Model):
    """A reader's 赞: one per reader (browser cookie, else IP per time window)."""

    __tablename__ = "comment_like"
    __table_args__ = (
        UniqueConstraint("comment_id", "liker", name="uq_comment_like_comment_liker"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    comment_id: Mapped[int] = mapped_column(ForeignKey("comment.id"), index=True)
    liker: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Moderator(UserMixin, db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(str_enum(Role), default=Role.MODERATOR)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    # The session this request is signed in with ("<id>:<secret>"), set by
    # service.auth and never stored in this table.
    session_key = None

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    def get_id(self) -> str:
        """What Flask-Login keeps in the cookie: a session record, not just the account.

        Ending the record (sign-out, password change) then ends every copy of the cookie.
        """
        if self.session_key is None:
            raise RuntimeError("a moderator signs in through service.auth.authenticate")
        return self.session_key

    def __eq__(self, other: object) -> bool:
        # UserMixin compares get_id(), which names a session; an account is an account.
        if isinstance(other, Moderator):
            return self.id == other.id
        return NotImplemented

    __hash__ = UserMixin.__hash__

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN


class ApiToken(db.Model):
    """A moderator's API token: shown once, stored as a SHA-256 hash."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    moderator_id: Mapped[int] = mapped_column(ForeignKey("moderator.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    moderator: Mapped[Moderator] = relationship()


class ModeratorSession(db.Model):
    """One signed-in browser of a moderator, ended by sign-out, password change or disable."""

    __tablename__ = "moderator_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    moderator_id: Mapped[int] = mapped_column(ForeignKey("moderator.id"), index=True)
    # SHA-256 of the secret in the cookie: a copy of the database signs nobody in.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Shown to the moderator in their list of sessions; the address also lets its
    # owner past the per-account sign-in ceiling (service.auth.known_address).
    user_agent: Mapped[str | None] = mapped_column(String(200))
    remote_addr: Mapped[str | None] = mapped_column(String(45))

    moderator: Mapped[Moderator] = relationship()


class AuditEntry(db.Model):
    """Who did what to which comment (or setting), and when."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    moderator_id: Mapped[int | None] = mapped_column(ForeignKey("moderator.id"), index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32), index=True)
    comment_id: Mapped[int | None] = mapped_column(ForeignKey("comment.id"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(Text)
    # Entries made by one step (e.g. "reject all from this IP and ban") share a batch, for undo.
    batch: Mapped[str | None] = mapped_column(String(32), index=True)

    moderator: Mapped[Moderator | None] = relationship()
    comment: Mapped[Comment | None] = relationship()


class Report(db.Model):
    """A reader's report (举报) of a comment: one per reader per comment."""

    __table_args__ = (
        UniqueConstraint("comment_id", "reporter", name="uq_report_comment_reporter"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    comment_id: Mapped[int] = mapped_column(ForeignKey("comment.id"), index=True)
    # A keyed hash of the reader's IP (or browser id): no personal data kept in clear.
    reporter: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WordKind(enum.StrEnum):
    BANNED = "banned"  # rejected at once; the reader is told it cannot be published
    SUSPECT = "suspect"  # held for review, even under post-moderation


class Word(db.Model):
    __table_args__ = (UniqueConstraint("word", "kind", name="uq_word_word_kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    word: Mapped[str] = mapped_column(String(64))
    kind: Mapped[WordKind] = mapped_column(str_enum(WordKind))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Ban(db.Model):
    """A banned IP address or network (CIDR), until it expires or is lifted."""

    id: Mapped[int] = mapped_column(primary_key=True)
    network: Mapped[str] = mapped_column(String(49), index=True)
    reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("moderator.id"))
    batch: Mapped[str | None] = mapped_column(String(32), index=True)


class RuleKind(enum.StrEnum):
    HOLD_FIRST_COMMENT = "hold_first_comment"
    AUTO_APPROVE_TRUSTED = "auto_approve_trusted"
    HOLD_LINKS = "hold_links"
    DUPLICATE_SPAM = "duplicate_spam"


class TrustRule(db.Model):
    """One automatic triage rule; rules are evaluated in ``position`` order."""

    __tablename__ = "trust_rule"

    id: Mapped[int] = mapped_column(primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    kind: Mapped[RuleKind] = mapped_column(str_enum(RuleKind, 32))
    # Meaning by kind: approved comments needed / links allowed; window in minutes.
    threshold: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    window_minutes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")


class Setting(db.Model):
    """Site settings an admin edits in the dashboard, stored as JSON text."""

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)

"""Readers' likes (赞): one per reader per comment, without accounts.

A reader is known by a signed, HttpOnly browser cookie when the browser keeps
it; where third-party cookies are blocked, by a keyed hash of the IP within a
time window (so a shared office IP can like again the next day).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from flask import current_app
from itsdangerous import BadSignature, Signer
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from .comments import find_public_comment
from .extensions import db
from .models import Comment, Like

COOKIE = "cw_reader"


def _signer() -> Signer:
    return Signer(current_app.config["SECRET_KEY"], salt="reader-cookie")


def new_reader_cookie() -> str:
    return _signer().sign(secrets.token_hex(12)).decode()


def reader_from_cookie(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return _signer().unsign(value).decode()
    except BadSignature:
        return None


def liker_key(cookie_reader: str | None, remote_addr: str | None) -> str:
    """Who is liking: the browser's reader id, else the IP in this time window."""
    if cookie_reader:
        return f"c:{cookie_reader}"
    window = int(time.time() // (current_app.config["LIKE_IP_WINDOW_HOURS"] * 3600))
    key = str(current_app.config["SECRET_KEY"]).encode()
    digest = hmac.new(key, f"liker:{remote_addr}".encode(), hashlib.sha256).hexdigest()[:32]
    return f"ip:{digest}:{window}"


def like(article_key: str, comment_id: int, liker: str) -> tuple[int, bool]:
    """Like a published comment once; returns (likes now, whether this one counted)."""
    comment = find_public_comment(article_key, comment_id)
    db.session.add(Like(comment_id=comment.id, liker=liker))
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        return db.session.get(Comment, comment_id).likes, False  # type: ignore[union-attr]
    db.session.execute(
        update(Comment)
        .where(Comment.id == comment.id)
        .values(likes=Comment.likes + 1)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    db.session.refresh(comment)
    return comment.likes, True

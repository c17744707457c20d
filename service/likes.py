"""Readers' likes (赞): once per reader and a few times per address, without accounts.

A reader is known by a signed, HttpOnly browser cookie when the browser keeps
it; where third-party cookies are blocked, by a keyed hash of the address within
a time window (so a shared office address can like again the next day).

A cookie costs nothing to get, so a script that takes a fresh one for every
like would count again and again. Every like therefore also takes one of the
``LIKE_PER_IP`` places its address has on that comment in the window: a second
``Like`` row whose liker names the address, the window and the place. The
unique (comment, liker) constraint makes taking a place race-free, with no
schema change.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import time

from flask import current_app
from itsdangerous import BadSignature, Signer
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from .comments import find_public_comment
from .extensions import db
from .models import Article, Comment, Like

COOKIE = "cw_reader"
# Tries to take a place when another like took the one seen free meanwhile.
ATTEMPTS = 3


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


def _network(remote_addr: str | None) -> str:
    """The address as one client holds it: an IPv4 address, or an IPv6 /64.

    Every IPv6 subscriber gets a /64 at least, so changing the last 64 bits is free.
    """
    try:
        address = ipaddress.ip_address(remote_addr or "")
    except ValueError:
        return str(remote_addr)
    if address.version == 6:
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def address_places(remote_addr: str | None) -> list[str]:
    """The liker keys of this address's places on a comment in the current window.

    The first is also what a reader without a cookie is known by (the key an
    earlier version used for them), so they count once per address and window.
    """
    window = int(time.time() // (current_app.config["LIKE_IP_WINDOW_HOURS"] * 3600))
    key = str(current_app.config["SECRET_KEY"]).encode()
    message = f"liker:{_network(remote_addr)}".encode()
    digest = hmac.new(key, message, hashlib.sha256).hexdigest()[:32]
    first = f"ip:{digest}:{window}"
    count = max(1, int(current_app.config["LIKE_PER_IP"]))
    return [first, *(f"{first}:{n}" for n in range(1, count))]


def like(
    article_key: str, comment_id: int, reader: str | None, remote_addr: str | None
) -> tuple[int, bool]:
    """Like a published comment; returns (likes now, whether this one counted).

    It counts once per reader (cookie) and at most LIKE_PER_IP times per address
    on this comment in the window, whatever the cookies. A reader without a
    cookie can only take the address's first place; readers with one take the
    last free place, leaving the first to a reader without.
    """
    comment = find_public_comment(article_key, comment_id)
    places = address_places(remote_addr)
    own = [f"c:{reader}"] if reader else []
    wanted = list(reversed(places)) if reader else places[:1]
    for _ in range(ATTEMPTS):
        taken = set(
            db.session.scalars(
                select(Like.liker).where(
                    Like.comment_id == comment.id, Like.liker.in_([*own, *wanted])
                )
            )
        )
        free = [place for place in wanted if place not in taken]
        if taken.intersection(own) or not free:
            return comment.likes, False
        db.session.add_all(Like(comment_id=comment.id, liker=key) for key in [*own, free[0]])
        try:
            db.session.flush()
        except IntegrityError:
            db.session.rollback()
            continue
        db.session.execute(
            update(Comment)
            .where(Comment.id == comment.id)
            .values(likes=Comment.likes + 1)
            .execution_options(synchronize_session=False)
        )
        # What the public sees changed (the count, the most-liked order): pages kept
        # per worker (service.pagecache) are made again, so every reader sees it.
        db.session.execute(
            update(Article)
            .where(Article.id == comment.article_id)
            .values(public_version=Article.public_version + 1)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
        db.session.refresh(comment)
        return comment.likes, True
    return comment.likes, False

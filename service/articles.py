"""Articles: the portal's pages, known by the portal's own key."""

from __future__ import annotations

import re

from flask_babel import lazy_gettext
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from .audit_log import audit
from .errors import BadRequest, InvalidArticleKey, NotFound
from .extensions import db
from .models import Article, ModerationMode, Moderator
from .origins import is_allowed_url
from .text import strip_forbidden

KEY_PATTERN = re.compile(r"[A-Za-z0-9_.\-]{1,128}")
# They match the pattern, but no URL path can carry them (/embed/.. is the parent).
DOT_KEYS = frozenset({".", ".."})
TITLE_MAX_LENGTH = 200
URL_MAX_LENGTH = 2048


def check_key(key: object) -> str:
    """The key itself if valid, else InvalidArticleKey (a 400)."""
    if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key) or key in DOT_KEYS:
        raise InvalidArticleKey()
    return key


def find_article(key: str) -> Article | None:
    return db.session.execute(select(Article).where(Article.key == key)).scalar_one_or_none()


def clean_title(title: object) -> str | None:
    """The article title on one line, without control or bidi characters."""
    if not isinstance(title, str):
        return None
    title = " ".join(strip_forbidden(title).split())[:TITLE_MAX_LENGTH]
    return title or None


def clean_url(url: object) -> str | None:
    """The page URL if it is http(s) on an allowed origin, else None."""
    if not isinstance(url, str) or len(url) > URL_MAX_LENGTH or strip_forbidden(url) != url:
        return None
    if not url.isascii() and not url.isprintable():
        return None
    if not is_allowed_url(url):
        return None
    return url


def ensure_article(key: str, title: str | None = None, url: str | None = None) -> Article:
    """The article for a key, created on first use with this title and URL.

    A later comment never changes them: anyone can post, so what a post claims
    about the page is believed only when the page is new. After that a
    moderator (``update_details``) or the portal's signed identity sets them.
    Does not commit: the caller's transaction creates the article together
    with the comment that brought it into being.
    """
    dialect = db.session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    db.session.execute(
        insert(Article)
        .values(key=key, title=title, url=url, closed=False, approved_count=0)
        .on_conflict_do_nothing(index_elements=["key"])
    )
    article = find_article(key)
    assert article is not None
    return article


def update_details(key: str, title: object, url: object, by: Moderator) -> Article:
    """A moderator sets an article's title and link (an empty value clears it); audited."""
    article = find_article(check_key(key))
    if article is None:
        raise NotFound()
    new_title = clean_title(title)
    new_url = clean_url(url) if url else None
    if url and new_url is None:
        raise BadRequest(
            lazy_gettext("The link must be an http(s) address on one of the portal's origins.")
        )
    detail: dict[str, object] = {"article": key}
    if new_title != article.title:
        detail["title"] = [article.title, new_title]
        article.title = new_title
    if new_url != article.url:
        detail["url"] = [article.url, new_url]
        article.url = new_url
    if len(detail) > 1:
        article.public_version += 1
        audit("article_details", by, detail=detail)
    db.session.commit()
    return article


def update_article(
    key: str,
    *,
    closed: bool | None = None,
    mode: ModerationMode | None = None,
    clear_mode: bool = False,
    by: Moderator | None = None,
) -> Article:
    """Open or close an article's comments, or set its own moderation mode; audited."""
    article = find_article(key)
    if article is None:
        raise NotFound()
    detail: dict[str, object] = {"article": key}
    if closed is not None and article.closed != closed:
        article.closed = closed
        detail["closed"] = closed
    if clear_mode and article.moderation_mode is not None:
        article.moderation_mode = None
        detail["mode"] = "site"
    elif mode is not None and article.moderation_mode != mode:
        article.moderation_mode = mode
        detail["mode"] = mode.value
    if len(detail) > 1:
        article.public_version += 1
        audit("article", by, detail=detail)
    db.session.commit()
    return article

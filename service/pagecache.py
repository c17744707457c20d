"""Public pages kept per process while their article has not changed.

The widget page and the comments JSON of an article are the same for every
reader until what the public sees of the article changes, and every such change
(a comment published or withdrawn, a like, the title, closing) bumps
``Article.public_version`` in the same transaction. So a rendered page is kept
per worker under the article's key, its ``public_version`` and everything in
the request that shapes the page (query, language), and reused while both the
version is unchanged and it is younger than ``PAGE_CACHE_TTL`` seconds. The
version is read on every request (one indexed row), so a moderation action or
a like shows at once; the TTL only bounds what does not bump the version: the
"3 minutes ago" times.

Profiling showed the hottest article (1,800 comments) rendering at a third of
a median one's speed: thread queries and template rendering. With the page
kept, both cost one lookup, and so does their compression (each encoding is
made once per page).
"""

from __future__ import annotations

import gzip
import hashlib
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

import brotli
from flask import Response, current_app, request
from flask_babel import get_locale
from sqlalchemy import bindparam, select

from .extensions import db
from .fastcounts import SqliteChanges
from .i18n import LANG_ALIASES
from .models import Article

MAX_ENTRIES = 512
MAX_VERSIONS = 10_000


@dataclass
class Page:
    """A rendered page, its ETag and its compressed forms (made on first demand)."""

    body: bytes
    etag: str
    made: float = field(default_factory=time.monotonic)
    encoded: dict[str, bytes] = field(default_factory=dict)

    def encode(self, encoding: str) -> bytes:
        data = self.encoded.get(encoding)
        if data is None:
            config = current_app.config
            if encoding == "br":
                data = brotli.compress(self.body, quality=config.get("COMPRESS_BR_LEVEL", 4))
            else:
                data = gzip.compress(self.body, compresslevel=config.get("COMPRESS_LEVEL", 6))
            self.encoded[encoding] = data
        return data


class PageCache:
    """A small LRU of pages per process (gunicorn workers each keep their own)."""

    def __init__(self, size: int = MAX_ENTRIES, changes: SqliteChanges | None = None) -> None:
        self._lock = threading.Lock()
        self._size = size
        self._pages: OrderedDict[Hashable, Page] = OrderedDict()
        self.changes = changes
        # article key -> (the database's data_version, the article's public_version)
        self.versions: dict[str, tuple[int, int | None]] = {}

    def get(self, key: Hashable, ttl: float) -> Page | None:
        with self._lock:
            page = self._pages.get(key)
            if page is None:
                return None
            if time.monotonic() - page.made >= ttl:
                del self._pages[key]
                return None
            self._pages.move_to_end(key)
            return page

    def put(self, key: Hashable, page: Page) -> None:
        with self._lock:
            self._pages[key] = page
            self._pages.move_to_end(key)
            while len(self._pages) > self._size:
                self._pages.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._pages.clear()


# The article's version, read with SQLAlchemy Core on a pooled connection: on a
# cache hit this is the only query, and the ORM's machinery cost more than it.
_article = Article.__table__
VERSION_QUERY = select(_article.c.public_version).where(_article.c.key == bindparam("key"))


def public_version(key: str) -> int | None:
    """The article's public_version (None when nobody has commented on it yet).

    On SQLite it is read again only when something was committed since it was
    last read (``PRAGMA data_version``, see service/fastcounts.py).
    """
    cache = _cache()
    try:
        changed = cache.changes.version() if cache.changes else None
    except sqlite3.Error:
        changed = None  # the query below says what is wrong (503 when unreachable)
    if changed is not None:
        known = cache.versions.get(key)
        if known is not None and known[0] == changed:
            return known[1]
    with db.engine.connect() as connection:
        version = connection.execute(VERSION_QUERY, {"key": key}).scalar_one_or_none()
    if changed is not None:
        if len(cache.versions) >= MAX_VERSIONS:
            cache.versions.clear()
        cache.versions[key] = (changed, version)
    return version


def page_key(kind: str, article: str) -> tuple[Hashable, ...]:
    """Everything that shapes a public page of this article, its version included."""
    # The embed always asks for a language (?lang=): then Accept-Language is not parsed.
    locale = LANG_ALIASES.get(request.args.get("lang", "").lower()) or str(get_locale())
    return (
        kind,
        article,
        public_version(article),
        locale,
        tuple(sorted(request.args.items(multi=True))),
    )


def _cache() -> PageCache:
    """This app's pages (tests run several apps in one process)."""
    cache = current_app.extensions.get("pagecache")
    if cache is None:
        cache = current_app.extensions.setdefault(
            "pagecache", PageCache(changes=SqliteChanges.of(db.engine))
        )
    return cache


def cached_response(
    kind: str, article: str, render: Callable[[], str | bytes], mimetype: str
) -> Response:
    """The page from this worker's cache, else rendered now and kept; with ETag and encoding.

    The caller sets Cache-Control and makes the answer conditional.
    """
    ttl = current_app.config["PAGE_CACHE_TTL"]
    key = page_key(kind, article) if ttl > 0 else None
    page = _cache().get(key, ttl) if key is not None else None
    if page is None:
        body = render()
        data = body.encode() if isinstance(body, str) else body
        page = Page(data, hashlib.sha1(data).hexdigest())  # noqa: S324 - an ETag
        if key is not None:
            _cache().put(key, page)
    encoding = choose_encoding(len(page.body))
    if encoding is None:
        response = Response(page.body, mimetype=mimetype)
        response.set_etag(page.etag)
        return response
    # Flask-Compress leaves an answer that already has its Content-Encoding alone.
    response = Response(page.encode(encoding), mimetype=mimetype)
    response.headers["Content-Encoding"] = encoding
    response.set_etag(f"{page.etag}:{encoding}")  # as Flask-Compress names it
    return response


def choose_encoding(size: int) -> str | None:
    """br or gzip, by the client's Accept-Encoding, for a body worth compressing."""
    if size < current_app.config["COMPRESS_MIN_SIZE"]:
        return None
    offered = [a for a in current_app.config["COMPRESS_ALGORITHM"] if a in ("br", "gzip")]
    best = request.accept_encodings.best_match(offered)
    return best if best in offered else None

"""Counts answered before Flask: the hottest public request, at the cost of one query.

Every listing page of a portal asks for comment counts on every view, so
``GET /api/v1/counts?article=...`` (and its HTML fragment ``counts.html``) is
answered here, in a WSGI layer under the proxy handling, without a request
context, session, URL matching, rate-limit or metrics hooks. The profile of
the Flask way showed those hooks costing more than the query itself.

The answer is exact: the counts are read from ``Article.approved_count`` (kept
in step by moderation in the same transaction). On SQLite an answer is reused
only while ``PRAGMA data_version`` says nothing was committed since, so a
moderation action shows at once; on PostgreSQL every request reads them. Shared
caches keep an answer at most ``PUBLIC_MAX_AGE`` seconds.

Only requests the fast path can answer exactly as the Flask view would are
answered here: GET, only ``article`` parameters, every key valid, within the
limit, a body small enough that it would not be compressed, and a working
database. Anything else (errors, HEAD, big bodies for a client taking gzip,
a database that is down) goes on to the Flask view, which answers it with the
usual rules. ``tests/test_counts_fragment.py`` checks that both ways give the
same status, headers and body.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from flask import Flask
from flask_cors.core import get_cors_headers, get_cors_options
from markupsafe import escape
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.datastructures import Headers
from werkzeug.http import http_date

from .articles import DOT_KEYS, KEY_PATTERN
from .comments import COUNTS_QUERY
from .extensions import db
from .logs import REQUEST_ID
from .metrics import COUNTS_FAST as FAST_ANSWERS
from .security import API_RESOURCES, BASE_POLICY, cors_settings

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

COUNTS_PATH = "/api/v1/counts"
FRAGMENT_PATH = "/api/v1/counts.html"
FRAGMENT_POLICY = f"{BASE_POLICY}; frame-ancestors 'none'"


def fragment_html(key: str, count: int) -> str:
    """The server-side fragment for one article: its count in a span a portal can style."""
    return f'<span class="comment-count" data-comment-count="{escape(key)}">{count}</span>\n'


def etag_of(body: bytes) -> str:
    """The strong ETag werkzeug's ``add_etag`` would give this body."""
    return f'"{hashlib.sha1(body).hexdigest()}"'  # noqa: S324 - an ETag, not a secret


class _Clock:
    """The Date header, formatted once a second."""

    second = -1
    text = ""

    def date(self) -> str:
        now = int(time.time())
        if now != self.second:
            self.second, self.text = now, http_date(now)
        return self.text


class CountsFastPath:
    """WSGI middleware answering plain counts requests; the rest goes to ``app``."""

    def __init__(self, flask_app: Flask, app: WSGIApplication) -> None:
        self.flask_app = flask_app
        self.app = app
        config = flask_app.config
        self.max_keys = int(config["COUNTS_MAX_KEYS"])
        self.cache_control = f"public, max-age={int(config['PUBLIC_MAX_AGE'])}"
        # Flask-Compress compresses answers of this size or more for clients taking it.
        self.compress_min = int(config.get("COMPRESS_MIN_SIZE", 500))
        self.cors_options: Any = None
        self.cors_by_origin: dict[str | None, list[tuple[str, str]]] = {}
        self.engine: Any = None
        self.changes: SqliteChanges | None = None
        self.remembered = RememberedCounts()
        self.clock = _Clock()

    def _setup(self) -> None:
        """Things that need the app's extensions bound (done once, on first use)."""
        with self.flask_app.app_context():
            self.engine = db.engine
            self.changes = SqliteChanges.of(self.engine)
            # The options Flask-CORS computes for the API's resource, the same way.
            settings = cors_settings(self.flask_app.config["ALLOWED_ORIGINS"])
            resource = settings["resources"][API_RESOURCES]
            self.cors_options = get_cors_options(self.flask_app, {}, settings, resource)

    def _cors(self, origin: str | None) -> list[tuple[str, str]]:
        """Flask-CORS's headers for a request from this origin (remembered for a few)."""
        found = self.cors_by_origin.get(origin)
        if found is None:
            request_headers = Headers({"Origin": origin}) if origin is not None else Headers()
            found = [
                (name, str(value))
                for name, value in get_cors_headers(
                    self.cors_options, request_headers, "GET"
                ).items(multi=True)
            ]
            if len(self.cors_by_origin) < 64:
                self.cors_by_origin[origin] = found
        return found

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO")
        if (path == COUNTS_PATH or path == FRAGMENT_PATH) and environ.get(
            "REQUEST_METHOD"
        ) == "GET":
            answer = self._answer(environ, path == FRAGMENT_PATH)
            if answer is not None:
                status, headers, body = answer
                start_response(status, headers)
                return [body]
        return self.app(environ, start_response)

    def _keys(self, environ: WSGIEnvironment, fragment: bool) -> list[str] | None:
        """The request's article keys, sorted and unique, if the fast path may answer it."""
        query = environ.get("QUERY_STRING", "")
        keys = set()
        for pair in query.split("&") if query else ():
            name, _, value = pair.partition("=")
            if name != "article":
                return None
            if "%" in value or "+" in value:
                value = unquote_plus(value, errors="strict")
            if not KEY_PATTERN.fullmatch(value) or value in DOT_KEYS:
                return None
            keys.add(value)
        if len(keys) > self.max_keys or (fragment and len(keys) != 1):
            return None
        return sorted(keys)

    def _answer(
        self, environ: WSGIEnvironment, fragment: bool
    ) -> tuple[str, list[tuple[str, str]], bytes] | None:
        try:
            keys = self._keys(environ, fragment)
        except UnicodeError:
            return None
        if keys is None:
            return None
        if self.engine is None:
            self._setup()
        try:
            version = self.changes.version() if self.changes else None
            counts = self.remembered.get(tuple(keys), version)
            if counts is None:
                counts = read_counts(self.engine, keys)
                self.remembered.put(tuple(keys), version, counts)
        except (SQLAlchemyError, sqlite3.Error, self.engine.dialect.loaded_dbapi.Error):
            return None  # the Flask view answers it (503 when the database is down)
        if fragment:
            body = fragment_html(keys[0], counts[keys[0]]).encode()
            mimetype = "text/html; charset=utf-8"
        else:
            # Keys are letters, digits, "_", "." and "-": nothing to escape, already sorted.
            members = ",".join(f'"{key}":{counts[key]}' for key in keys)
            body = f'{{"counts":{{{members}}}}}\n'.encode()
            mimetype = "application/json"
        if len(body) >= self.compress_min and accepts_compression(environ):
            return None  # Flask-Compress gives it its encoding
        return self._response(environ, body, mimetype, fragment)

    def _response(
        self, environ: WSGIEnvironment, body: bytes, mimetype: str, fragment: bool
    ) -> tuple[str, list[tuple[str, str]], bytes]:
        etag = etag_of(body)
        not_modified = etag_matches(environ.get("HTTP_IF_NONE_MATCH"), etag)
        headers = (
            []
            if not_modified
            else [
                ("Content-Type", mimetype),
                ("Content-Length", str(len(body))),
            ]
        )
        headers += [
            ("Cache-Control", self.cache_control),
            ("ETag", etag),
            ("Date", self.clock.date()),  # werkzeug's make_conditional sets it too
            # Flask-Compress's, then security.vary_on_origin's (every answer under /api/v1/).
            ("Vary", "Accept-Encoding, Origin"),
            *self._cors(environ.get("HTTP_ORIGIN")),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "strict-origin-when-cross-origin"),
        ]
        if fragment:
            headers.append(("Content-Security-Policy", FRAGMENT_POLICY))
        incoming = environ.get("HTTP_X_REQUEST_ID", "")
        headers.append(
            ("X-Request-ID", incoming if REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex)
        )
        if not_modified:
            FAST_ANSWERS.labels("not_modified").inc()
            return "304 NOT MODIFIED", headers, b""
        FAST_ANSWERS.labels("html" if fragment else "json").inc()
        return "200 OK", headers, body


class SqliteChanges:
    """Tells whether anything was committed to an SQLite file since it last looked.

    ``PRAGMA data_version`` on a connection of its own changes whenever any other
    connection (another worker, another thread, the moderation that just ran)
    commits to the file, and only then. While it is unchanged, counts read
    earlier are still exact. PostgreSQL has no such cheap question; there every
    request reads the counts.
    """

    def __init__(self, path: str) -> None:
        self._lock = threading.Lock()
        self._path = path
        self._connection: sqlite3.Connection | None = None

    @classmethod
    def of(cls, engine: Engine) -> SqliteChanges | None:
        database = engine.url.database
        if engine.dialect.name != "sqlite" or not database or database == ":memory:":
            return None
        return cls(database)

    def version(self) -> int:
        """A number that changes when another connection commits (sqlite3.Error if unreadable)."""
        with self._lock:
            try:
                if self._connection is None:
                    self._connection = sqlite3.connect(
                        self._path, check_same_thread=False, timeout=30
                    )
                return self._connection.execute("PRAGMA data_version").fetchone()[0]
            except sqlite3.Error:
                if self._connection is not None:
                    self._connection.close()
                self._connection = None  # a new one next time
                raise


class RememberedCounts:
    """Counts answered since the database last changed (SQLite only), by key set."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._version: int | None = None
        self._counts: dict[tuple[str, ...], dict[str, int]] = {}

    def get(self, keys: tuple[str, ...], version: int | None) -> dict[str, int] | None:
        if version is None or version != self._version:
            return None
        return self._counts.get(keys)

    def put(self, keys: tuple[str, ...], version: int | None, counts: dict[str, int]) -> None:
        if version is None:
            return
        if version != self._version or len(self._counts) >= self._size:
            # Read before the query: what is kept is never older than its version.
            self._counts, self._version = {}, version
        self._counts[keys] = counts


def read_counts(engine: Engine, keys: list[str]) -> dict[str, int]:
    """The stored counters of these articles through the driver itself (one indexed query).

    SQLAlchemy's result machinery cost more than the query; the statement is the
    same one the Flask view runs (``comments.COUNTS_QUERY``).
    """
    counts = dict.fromkeys(keys, 0)
    if not keys:
        return counts
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        try:
            cursor.execute(*_statement(engine, len(keys), keys))
            counts.update(cursor.fetchall())
        finally:
            cursor.close()
    except engine.dialect.loaded_dbapi.Error:
        # The driver's own error: this connection may be dead, so the pool drops it.
        connection.invalidate()
        raise
    finally:
        connection.close()
    return counts


_STATEMENTS: dict[tuple[str, int], str] = {}


def _statement(engine: Engine, size: int, keys: list[str]) -> tuple[str, Any]:
    """``COUNTS_QUERY`` compiled for this dialect and number of keys, with its parameters."""
    name = engine.dialect.name
    sql = _STATEMENTS.get((name, size))
    if sql is None:
        compiled = COUNTS_QUERY.params(keys=[""] * size).compile(
            dialect=engine.dialect,
            compile_kwargs={"render_postcompile": True},
        )
        sql = compiled.string
        if len(_STATEMENTS) < 1024:
            _STATEMENTS[(name, size)] = sql
    if engine.dialect.paramstyle in ("qmark", "format", "numeric"):
        return sql, tuple(keys)
    return sql, {f"keys_{i + 1}": key for i, key in enumerate(keys)}


def accepts_compression(environ: WSGIEnvironment) -> bool:
    accepted = environ.get("HTTP_ACCEPT_ENCODING", "").lower()
    return "gzip" in accepted or "br" in accepted


def etag_matches(header: str | None, etag: str) -> bool:
    """Whether If-None-Match names this ETag (or ``*``), weak or strong."""
    if not header:
        return False
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == etag:
            return True
    return False


def init_app(app: Flask) -> None:
    """Put the fast path in front of the Flask app (inside any proxy handling added later)."""
    app.wsgi_app = CountsFastPath(app, app.wsgi_app)  # type: ignore[method-assign]
